"""Scenes: every number on screen is the trace's (its value, its glyphs, its cell), layout holds
for 1 to 16 tokens, and frames match the committed control images. (Real renders:
tests/test_render.py.)"""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from attention import compute
from qkv.registry import load
from scenes.layout import MIN_NUMBER_FONT
from tests.scene_tools import (
    check_numbers,
    construct,
    drawn_number_problems,
    layout_problems,
    on_screen_numbers,
    text_mobjects,
)

STAGES = ["embeddings", "projections", "scores", "softmax", "mixing"]
SENTENCES = {
    "1": "Hello",
    "2": "Cats sleep",
    "6": "The cat sat on the mat",
    "12": "The quick brown fox jumps over the lazy dog near the river",
    "16": "A small child quietly read an old book about brave knights while rain fell "
          "outside tonight",
    "20char": "Internationalization is hard",
}
MIN_TEXT_FONT = 10  # Manim font size 10 is about 18 px (em) at 1080p
CONTROL = Path(__file__).parent / "control_data"


def build(scene: str, sentence: str, theme: str = "dark", **kwargs):
    """Construct once per case (per test process: see :func:`xdist_group`): (trace, scene,
    every mobject added, last frame, and for each animation the layout problems and the
    drawn-number problems seen after it). The checks after each animation (a third of a
    build) are made only for the builds a test reads them from (:func:`checks_every_beat`);
    the others have None there."""
    return _build(scene, sentence, theme, tuple(sorted(kwargs.items())))


def checks_every_beat(scene: str, sentence: str, theme: str, options: tuple) -> bool:
    """Whether some test reads the after-each-animation checks of this build (the
    parametrisations of the tests that read ``beats``)."""
    if theme != "dark":
        return False
    if scene == "explainer":
        return options in {tuple(sorted(o)) for o in BEAT_OPTIONS} and sentence in (
            SENTENCES[size] for size in BEAT_SIZES)
    if sentence != SENTENCES["6"]:
        return False
    if scene in STAGES:
        return options in {tuple(sorted(o)) for o in OPTIONS}
    return options in {tuple(sorted(o)) for o in {"positions": POSITION_OPTIONS,
                                                  "heads": HEAD_OPTIONS}.get(scene, ())}


def build_key(scene: str, size: str, theme: str = "dark", options=()) -> str:
    """(No brackets: pytest-xdist reads a group name only if no "]" follows its "@".)"""
    given = "-".join(f"{k}={v}" for k, v in sorted(dict(options).items()))
    return f"build-{scene}-{size}-{theme}-{given}"


def xdist_group(item) -> str | None:
    """The build a test reads (conftest.py puts the tests of one build in one xdist group, so
    one process builds it once and serves them all)."""
    p = getattr(item, "callspec", None)
    p = p.params if p else {}
    name = item.originalname
    if name == "test_every_number_drawn_is_the_traces":
        return build_key(p["scene"], "6", options=p["options"])
    if name in ("test_positions_stage_numbers", "test_heads_stage_numbers"):
        return build_key(name.split("_")[1], "6", options=p["options"])
    if name == "test_explainer_numbers_and_sections":
        return build_key("explainer", "6")
    if name == "test_explainer_with_every_option_tells_every_stage":
        return build_key("explainer", "6", options=EVERYTHING)
    if name == "test_final_frame_layout":
        return build_key(p["scene"], p["size"], options=p["options"])
    if name == "test_every_beat_layout":
        return build_key("explainer", p["size"], options=p["options"])
    if name == "test_last_frame_matches_control":
        options = {"positions": POSITIONS, "heads": HEADS}.get(p["scene"], ())
        return build_key(p["scene"], "6", p["theme"], options)
    return None


@lru_cache(maxsize=None)
def _build(scene: str, sentence: str, theme: str, kwargs: tuple):
    t = compute(sentence, **dict(kwargs))
    beats = [] if checks_every_beat(scene, sentence, theme, kwargs) else None

    def after_play(sc):
        beats.append((layout_problems(sc), drawn_number_problems(t, sc)))

    s, seen, frame = construct(load(scene), t, theme=theme,
                               after_play=after_play if beats is not None else None)
    return t, s, seen, frame, beats


def test_sentences_have_the_advertised_sizes():
    assert [len(compute(s).tokens) for s in SENTENCES.values()] == [1, 2, 6, 12, 16, 3]
    assert max(map(len, compute(SENTENCES["20char"]).tokens)) == 20


# -- proof of numbers -----------------------------------------------------------------------

EXPECTED = {
    "embeddings": {"X"},
    "projections": {"X", "Wq", "Wk", "Wv", "Q", "K", "V"},
    "scores": {"Q", "K", "KT", "scores", "scaled"},
    "softmax": {"scaled", "exps", "exp_sums", "weights", "weight_sums"},
    "mixing": {"weights", "V", "weighted_values", "output", "X"},
}
POSITIONS = (("positions", "sinusoidal"),)
# every optional stage and beat: positions, the mask, several (hand-designed) heads
EVERYTHING = (("positions", "sinusoidal"), ("causal", True), ("heads", 3))
HEADS = (("heads", 3),)
OPTIONS = [(), (("causal", True),), (("heads", 2), ("seed", 1)),
           (("scale", False), ("temperature", 0.5)), POSITIONS]
OPTION_IDS = ["default", "causal", "two-heads", "unscaled-hot", "positions"]


def expected(scene: str, options) -> set:
    """What a stage shows; with positions, X + P (X_in) is what enters the projections."""
    names = EXPECTED[scene]
    if dict(options).get("positions", "none") != "none" and scene in ("projections", "mixing"):
        names = names - {"X"} | {"X_in"}
    return names


@pytest.mark.parametrize("scene", STAGES)
@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_every_number_drawn_is_the_traces(scene, options):
    """Every number ever added says its trace entry; after every animation, every number on
    screen is drawn with the glyphs of that text, inside its cell, under its labels."""
    t, s, seen, _, beats = build(scene, SENTENCES["6"], **dict(options))
    assert check_numbers(t, seen) == expected(scene, options)
    assert [(k, p) for k, (_, drawn) in enumerate(beats) for p in drawn] == []


POSITION_OPTIONS = [POSITIONS, EVERYTHING, POSITIONS + (("heads", 2),)]
HEAD_OPTIONS = [HEADS, (("heads", 2),), HEADS + (("causal", True),)]


@pytest.mark.parametrize("options", POSITION_OPTIONS,
                         ids=["positions", "and-causal", "and-two-heads"])
def test_positions_stage_numbers(options):
    t, s, seen, _, beats = build("positions", SENTENCES["6"], **dict(options))
    assert check_numbers(t, seen) == {"X", "P", "X_in", "weights"}
    assert [(k, p) for k, (_, drawn) in enumerate(beats) for p in drawn] == []
    assert len(beats) >= 6  # waves, dots, X + P, the sum, the repeated word, its attention


@pytest.mark.parametrize("options", HEAD_OPTIONS, ids=["three", "two", "three-causal"])
def test_heads_stage_numbers(options):
    t, s, seen, _, beats = build("heads", SENTENCES["6"], **dict(options))
    assert check_numbers(t, seen) == {"X", "Q", "K", "V", "weights", "output", "Wo"}
    assert [(k, p) for k, (_, drawn) in enumerate(beats) for p in drawn] == []
    sources = [getattr(m, "qkv_source", "") for m in seen]
    for k in range(1, len(t.heads) + 1):  # every head's own Q, K, V and weights are shown
        shown = {src.split(".")[1].split("[")[0] for src in sources
                 if src.startswith(f"head{k}.")}
        assert shown >= {"Q", "K", "V", "weights", "output"}, (k, shown)
    captions = [c.content for c in s.renderer.file_writer.subcaptions]
    for k, role in enumerate(t.head_roles, start=1):
        assert any(f"Head {k} ({role}): '" in c for c in captions)
    if t.config.causal:  # every head's grid has the hatched triangle, and no weight in it
        hatched = {id(m) for m in seen if getattr(m, "qkv_masked", False)}
        assert len(hatched) == 3 * int(t.mask.sum())
        assert not [src for src in sources if src.endswith(".weights[0,5]")]


def test_stages_refuse_a_trace_without_their_option():
    from attention import QKVError

    with pytest.raises(QKVError, match="--heads 2 or --heads 3"):
        build("heads", SENTENCES["6"])


def test_positions_stage_refuses_a_trace_without_positions():
    from attention import QKVError

    with pytest.raises(QKVError, match="--positions sinusoidal"):
        build("positions", SENTENCES["6"])


def test_explainer_numbers_and_sections():
    t, s, seen, _, _ = build("explainer", SENTENCES["6"])
    shown = check_numbers(t, seen)
    assert set().union(*EXPECTED.values()) <= shown
    assert s.qkv_sections == ["title", *STAGES, "recap"]


def test_explainer_with_every_option_tells_every_stage():
    t, s, seen, _, _ = build("explainer", SENTENCES["6"], **dict(EVERYTHING))
    assert check_numbers(t, seen) >= {"X", "P", "X_in", "exps", "weighted_values"}
    assert s.qkv_sections == ["title", "embeddings", "positions", *STAGES[1:], "heads", "recap"]
    # Each section alone (as a --jobs part draws it, from time 0) tells what it tells in the
    # whole: the same captions at the same times, once moved after the sections before it.
    from scenes.explainer import ExplainerScene
    from tests.scene_tools import construct

    def cues(scene, offset=0.0):
        return [(round(c.start.total_seconds() + offset, 6), round(c.end.total_seconds() + offset,
                                                                  6), c.content)
                for c in scene.renderer.file_writer.subcaptions]

    alone, offset = [], 0.0
    for name in s.qkv_sections:
        part = type("Part", (ExplainerScene,), {"only_sections": (name,)})
        scene, _, _ = construct(part, t)
        assert scene.qkv_sections == [name]
        alone += cues(scene, offset)
        offset += scene.renderer.time
    assert alone == cues(s) and len(alone) > 40
    assert abs(offset - s.renderer.time) < 1e-6


def masked_on_screen(scene) -> list:
    return [m for top in scene.mobjects for m in top.get_family() if getattr(m, "qkv_masked",
                                                                              False)]


@pytest.mark.parametrize("scene", ["scores", "softmax"])
def test_causal_mask_is_drawn_as_hatched_empty_cells(scene):
    """The masked triangle is its own thing: every masked cell hatched at the end, −∞ where
    the scaled scores are shown, and no weight at all (not a 0.00 that could be a weight)."""
    t, s, seen, _, _ = build(scene, SENTENCES["6"], causal=True)
    assert len(masked_on_screen(s)) == int(t.mask.sum()) == 15
    on_screen = {n.qkv_source: n.text for n in on_screen_numbers(s)}
    for (i, j), masked in np.ndenumerate(t.mask):
        if masked and scene == "scores":
            assert on_screen[f"scaled[{i},{j}]"] == "\u2212\u221e"
        if masked and scene == "softmax":
            assert f"weights[{i},{j}]" not in on_screen
    captions = " ".join(c.content for c in s.renderer.file_writer.subcaptions)
    assert "Causal mask" in captions if scene == "scores" else "e^(\u2212\u221e) = 0" in captions
    assert not masked_on_screen(build(scene, SENTENCES["6"])[1])


# -- layout ------------------------------------------------------------------------------------

# The explainer's last frame is the recap: three sizes cover it.
LAYOUT_CASES = [(scene, size, ()) for size in SENTENCES for scene in STAGES] + [
    ("positions", size, POSITIONS) for size in SENTENCES] + [
    ("heads", size, HEADS) for size in SENTENCES] + [
    ("explainer", size, ()) for size in ("1", "16", "20char")]


@pytest.mark.parametrize("scene,size,options", LAYOUT_CASES,
                         ids=[f"{a}-{b}" for a, b, _ in LAYOUT_CASES])
def test_final_frame_layout(scene, size, options):
    """The last frame: inside the frame, no text over other text, no text under ~18 px."""
    t, s, _, _, _ = build(scene, SENTENCES[size], **dict(options))
    assert text_mobjects(s)
    assert layout_problems(s, MIN_TEXT_FONT, MIN_NUMBER_FONT) == []


BEAT_SIZES = ["1", "6", "16", "20char"]
BEAT_OPTIONS = [(), EVERYTHING]


@pytest.mark.parametrize("size", BEAT_SIZES)
@pytest.mark.parametrize("options", BEAT_OPTIONS, ids=["default", "every-option"])
def test_every_beat_layout(size, options):
    """The same after every animation of the explainer (every stage and the recap), with the
    default options and with every optional stage and beat on."""
    *_, beats = build("explainer", SENTENCES[size], **dict(options))
    assert len(beats) > 40
    problems = [(k, p) for k, (layout, drawn) in enumerate(beats) for p in layout + drawn]
    assert problems == []


# -- snapshots -----------------------------------------------------------------------------------

@pytest.mark.parametrize("scene", STAGES + ["positions", "heads", "explainer"])
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_last_frame_matches_control(scene, theme, request):
    options = {"positions": POSITIONS, "heads": HEADS}.get(scene, ())
    _, _, _, frame, _ = build(scene, SENTENCES["6"], theme, **dict(options))
    rgb = frame[..., :3].astype(np.int16)
    path = CONTROL / f"{scene}-{theme}.png"
    from PIL import Image

    if request.config.getoption("--update-snapshots") or not path.exists():
        if not request.config.getoption("--update-snapshots"):
            pytest.fail(f"no control image {path.name}; run with --update-snapshots")
        CONTROL.mkdir(exist_ok=True)
        Image.fromarray(frame[..., :3].astype(np.uint8)).save(path, optimize=True)
    control = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    assert control.shape == rgb.shape
    diff = np.abs(control - rgb).max(axis=2)
    assert (diff > 48).mean() < 0.002, f"{(diff > 48).mean():.4f} of pixels differ"
    assert diff.mean() < 1.5


def test_the_scores_caption_names_the_highest_score_on_screen():
    """With --causal the worked example is the largest score a word may use (in a row that
    hides keys), not always the largest on screen: the caption that says 'The highest' names
    the pair with the largest of all the scores drawn, and its value."""
    from attention.core import pick_example
    from attention.display import format_number
    from scenes.scores import ScoresScene
    from tests.scene_tools import construct

    t = compute("The cat sat on the mat", causal=True)
    a, b = np.unravel_index(int(np.argmax(t.scores)), t.scores.shape)
    assert (a, b) != pick_example(t)  # the case the caption used to get wrong
    s, _, _ = construct(ScoresScene, t)
    said = [c.content for c in s.renderer.file_writer.subcaptions if "The highest" in c.content]
    assert said == [f"36 scores in all. The highest: '{t.tokens[a]}' with '{t.tokens[b]}', "
                    f"{format_number(t.scores[a, b])}."]
