"""The stages of the story and which options add them. No Manim here: the CLI asks this
before it loads any scene."""

from __future__ import annotations

# Every stage the explainer can tell, in story order.
STAGES = ("embeddings", "positions", "projections", "rope", "scores", "softmax", "mixing",
          "heads", "overview", "next")
# The stages an option adds: stage -> (is it on for these math options?, how to turn it on)
OPTIONAL = {"positions": (lambda config: config.positions != "none", "--positions sinusoidal"),
            "heads": (lambda config: config.heads > 1 or config.model != "toy", "--heads 3"),
            "overview": (lambda config: config.heads > 1 or config.model != "toy",
                         "--heads 3 or --model minilm or smollm2"),
            "rope": (lambda config: config.model == "smollm2", "--model smollm2"),
            "next": (lambda config: config.model == "smollm2", "--model smollm2")}
# What a trained model's trace can be drawn as (its vectors of 384 and 32 numbers shown in
# part); positions and heads are the toy's options.
TRAINED_SCENES = ("embeddings", "projections", "rope", "scores", "softmax", "mixing", "heads",
                  "overview", "next", "explainer")
# One sentence on what each trained model is, for the title card and the overview.
ABOUT = {"minilm": "a real trained model: it learned to give sentences with similar meanings "
                   "similar vectors",
         "smollm2": "a real trained GPT: it learned to guess the next word of a text"}


# The explainer tells the overview for a trained model only (the toy's heads stage covers it;
# a trained model's --scene heads is its overview).
IN_EXPLAINER = {"overview": lambda config: config.model != "toy",
                "heads": lambda config: config.model in ("toy", "smollm2")}


def applicable(name: str, config, explainer: bool = False) -> bool:
    """Whether stage (or scene) ``name`` has something to show for these math options (as a
    stage of the explainer, with ``explainer``)."""
    if config.model != "toy" and name not in TRAINED_SCENES:
        return False
    if explainer and name in IN_EXPLAINER and not IN_EXPLAINER[name](config):
        return False
    return name not in OPTIONAL or OPTIONAL[name][0](config)


def explainer_stages(trace) -> tuple[str, ...]:
    """The stages the explainer tells for this trace (the options decide the optional ones)."""
    return tuple(s for s in STAGES if applicable(s, trace.config, explainer=True))


def explainer_sections(trace) -> tuple[str, ...]:
    """The explainer's Manim sections: a title, one per stage, a recap. (The parts of a
    parallel render are cut from them before any Manim is loaded.)"""
    return ("title", *explainer_stages(trace), "recap")


def refusal(name: str, config) -> str | None:
    """Why scene ``name`` cannot be drawn for these options, and the fix; None if it can."""
    if config.model != "toy" and name not in TRAINED_SCENES:
        drawn = [s for s in TRAINED_SCENES if applicable(s, config)]
        return (f"--scene {name} is not built for --model {config.model} yet; use --scene "
                f"{' or '.join(drawn)}, or 'qkv export --model {config.model}' for "
                "every number")
    if not applicable(name, config):
        return f"--scene {name} shows an option that is off; add {OPTIONAL[name][1]}"
    return None
