"""--model smollm2 on screen: every stage at 6 and 16 tokens (and the shortest, 2) shows the trace's own numbers
with a sound layout after every animation; the explainer tells the GPT's story (rope, the
causal mask, the heads sharing keys and values, the overview, the next word); the CLI refuses
what the model does not have."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attention import compute

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = {6: "The cat sat on the", 16: "The quick brown fox jumps over the lazy dog "
             "and then it runs back home"}


def xdist_group(item):
    return "smollm2-scenes"  # one process: the model's weights loaded once


@pytest.fixture(scope="module")
def traces():
    out = {}
    for n, sentence in SENTENCES.items():
        t = compute(sentence, model="smollm2")
        assert t.n == n, (n, t.tokens)
        out[n] = t
    return out


@pytest.mark.parametrize("scene,arrays", [
    ("embeddings", {"X"}),
    ("projections", {"X", "Wq", "Wk", "Wv", "Q", "K", "V"}),
    ("rope", {"Q", "K", "Q_rope", "K_rope", "rope_angles", "scores_unturned", "scores",
              "q_pair_at", "score_shifted"}),
    ("scores", {"Q_rope", "K_rope", "K_ropeT", "scores", "scaled"}),
    ("softmax", {"scaled", "exps", "exp_sums", "weights", "weight_sums"}),
    ("mixing", {"weights", "V", "weighted_values", "output", "X"}),
    ("next", {"weights", "next_tokens"}),
    ("heads", {"kv_keys"}),
])
@pytest.mark.parametrize("n", [6, 16])
def test_gpt_stages_show_the_traces_numbers(traces, scene, arrays, n):
    from qkv.registry import load
    from tests.scene_tools import (check_numbers, construct, drawn_number_problems,
                                   layout_problems)

    t = traces[n]
    beats = []
    s, seen, _ = construct(load(scene), t, after_play=lambda sc: beats.append(
        layout_problems(sc) + drawn_number_problems(t, sc)))
    assert check_numbers(t, seen) == arrays
    assert [(k, p) for k, problems in enumerate(beats) for p in problems] == []


def test_one_token_is_the_start_token_and_a_word():
    """The shortest sentence is the start token and one word: two rows, every stage draws."""
    from qkv.registry import load
    from tests.scene_tools import construct, layout_problems

    t = compute("Hi", model="smollm2")
    assert t.tokens == ("[start]", "Hi")
    for scene in ("rope", "scores", "heads", "next", "overview"):
        beats = []
        construct(load(scene), t, after_play=lambda sc: beats.append(layout_problems(sc)))
        assert [p for problems in beats for p in problems] == [], scene


def test_the_gpt_explainer(traces):
    """The story of a GPT: rope before the scores, the overview, the next word; the captions
    name the start token's pull and end on the model's guess with its probability."""
    from attention.display import format_number
    from scenes.explainer import ExplainerScene
    from tests.scene_tools import construct, layout_problems

    t = traces[6]
    beats = []
    s, seen, _ = construct(ExplainerScene, t, after_play=lambda sc: beats.append(
        layout_problems(sc)))
    assert s.qkv_sections == ["title", "embeddings", "projections", "rope", "scores", "softmax",
                              "mixing", "heads", "overview", "next", "recap"]
    assert [p for problems in beats for p in problems] == []
    captions = [c.content for c in s.renderer.file_writer.subcaptions]
    assert sum("a real trained GPT" in c for c in captions) == 1
    best = t.next_tokens[0]
    assert best.text == " mat"
    assert any(f"'mat' first, with probability {format_number(best.probability)}" in c
               for c in captions)
    layer = t.model.layer - 1
    k = int(t.sink_share[layer].argmax())
    sinks = [c for c in captions if "attention sink" in c]
    assert len(sinks) == 1 and sinks[0].endswith(
        f"Head {k + 1} gives it {format_number(t.sink_share[layer, k])}.")
    assert f"{int((t.sink_share[layer] > 0.5).sum())} of these 9 heads" in sinks[0]
    assert any(c.startswith("The sentence, split into 6 of the model's tokens: [start] first")
               for c in captions)
    assert captions[-1] == (f"And after 30 layers of this, the model guesses what comes next: "
                            f"'mat', {format_number(best.probability)}.")  # the story's end
    assert any("Causal mask" in c for c in captions)


@pytest.mark.parametrize("args,fragment", [
    (["--no-causal"], "drop --no-causal"),
    (["--heads", "3"], "drop --heads"),
    (["--positions", "sinusoidal"], "drop --positions"),
    (["--seed", "1"], "drop --seed"),
    (["--layer", "31"], "from 1 to 30"),
    (["--head", "10"], "from 1 to 9"),
])
def test_refusals(tmp_path, args, fragment):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "qkv", "render", "The cat sat",
                        "--model", "smollm2", "--out", str(out), *args],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: ")
    assert fragment in p.stderr
    assert not out.exists()


def test_seventeen_tokens_are_refused_with_the_count_and_the_tokens(tmp_path):
    p = subprocess.run([sys.executable, "-m", "qkv", "export", SENTENCES[16] + " now",
                        "--model", "smollm2"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "17" in p.stderr and "\u2423now" in p.stderr


def test_export_of_a_gpt():
    """The export names the model, its shared key/value heads, every head's weights, the
    explained head's Q and K before and after the turn, and the top 10 next tokens."""
    p = subprocess.run([sys.executable, "-m", "qkv", "export", "The capital of France is",
                        "--model", "smollm2", "--layer", "3", "--head", "5"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["model"] == {"name": "SmolLM2-135M-Instruct", "layers": 30, "heads": 9,
                          "kv_heads": 3, "d_model": 576, "d_head": 64, "layer": 3, "head": 5}
    n = len(d["tokens"])
    assert d["tokens"][0] == "[start]" and n == 6
    assert len(d["attention"]) == 30 and len(d["attention"][0]) == 9
    assert len(d["attention"][2][4]) == n
    head = d["heads"][0]
    assert len(head["Q"]) == len(head["Q_rope"]) == n and len(head["Q"][0]) == 64
    assert head["Q"][0] == head["Q_rope"][0]  # position 0 turns by nothing
    assert head["Q"][1] != head["Q_rope"][1]
    assert np.allclose(head["weights"], d["attention"][2][4], rtol=0, atol=1e-12)
    assert [c["text"] for c in d["next_tokens"]][0] == " Paris"
    assert len(d["next_tokens"]) == 10
    assert d["options"]["causal"] is True
    demo = d["rope_demo"]
    assert abs(demo["score_shifted"] - head["scores"][demo["query"]][demo["key"]]) < 1e-9
    assert np.allclose(demo["q_pair_at"][demo["query"]], head["Q_rope"][demo["query"]][:2],
                       rtol=0, atol=1e-12)


def test_a_gpt_explainer_can_be_cut_into_parts(traces):
    """--jobs cuts the explainer by each section's measured cost: the GPT's own sections
    have one too, and the parts cover every section once, in order."""
    from qkv.parts import explainer_parts
    from scenes.stages import explainer_sections

    sections = explainer_sections(traces[6])
    for jobs in (2, 3):
        parts = explainer_parts(jobs, sections)
        assert [s for part in parts for s in part] == list(sections)
