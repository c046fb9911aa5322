"""The stages of the story and which options add them. No Manim here: the CLI asks this
before it loads any scene."""

from __future__ import annotations

# Every stage the explainer can tell, in story order.
STAGES = ("embeddings", "positions", "projections", "scores", "softmax", "mixing", "heads")
# The stages an option adds: stage -> (is it on for these math options?, how to turn it on)
OPTIONAL = {"positions": (lambda config: config.positions != "none", "--positions sinusoidal"),
            "heads": (lambda config: config.heads > 1, "--heads 3")}


def applicable(name: str, config) -> bool:
    """Whether stage (or scene) ``name`` has something to show for these math options."""
    return name not in OPTIONAL or OPTIONAL[name][0](config)
