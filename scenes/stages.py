"""The stages of the story and which options add them. No Manim here: the CLI asks this
before it loads any scene."""

from __future__ import annotations

# Every stage the explainer can tell, in story order.
STAGES = ("embeddings", "positions", "projections", "scores", "softmax", "mixing", "heads")
# The stages an option adds: stage -> (is it on for these math options?, how to turn it on)
OPTIONAL = {"positions": (lambda config: config.positions != "none", "--positions sinusoidal"),
            "heads": (lambda config: config.heads > 1, "--heads 3"),
            "overview": (lambda config: config.heads > 1 or config.model != "toy",
                         "--heads 3 or --model minilm")}
# What a trained model's trace can be drawn as so far: its vectors have 384 numbers, which the
# stages (built for 6 named features) do not abbreviate yet.
TRAINED_SCENES = ("embeddings", "projections", "scores", "softmax", "overview")


def applicable(name: str, config) -> bool:
    """Whether stage (or scene) ``name`` has something to show for these math options."""
    if config.model != "toy" and name not in TRAINED_SCENES:
        return False
    return name not in OPTIONAL or OPTIONAL[name][0](config)


def refusal(name: str, config) -> str | None:
    """Why scene ``name`` cannot be drawn for these options, and the fix; None if it can."""
    if config.model != "toy" and name not in TRAINED_SCENES:
        return (f"--scene {name} is not built for --model {config.model} yet; use --scene "
                f"{' or '.join(TRAINED_SCENES)}, or 'qkv export --model {config.model}' for "
                "every number")
    if not applicable(name, config):
        return f"--scene {name} shows an option that is off; add {OPTIONAL[name][1]}"
    return None
