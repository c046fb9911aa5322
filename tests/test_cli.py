"""The qkv command as a user runs it: a subprocess, its exit status, its files."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attention.export import to_json
from attention import compute
from tests.reference import naive_attention

QKV = [sys.executable, "-m", "qkv"]


def run(*args, cwd=None):
    return subprocess.run([*QKV, *args], capture_output=True, text=True, cwd=cwd)


def test_export_json_schema():
    p = run("export")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert list(data) == ["sentence", "tokens", "feature_names", "options", "X", "P", "X_in",
                          "heads", "Wo", "output"]
    assert data["sentence"] == "The cat sat on the mat"
    assert data["tokens"] == ["The", "cat", "sat", "on", "the", "mat"]
    assert data["options"] == {"causal": False, "scale": True, "temperature": 1.0, "heads": 1,
                               "seed": None, "positions": "none", "model": "toy",
                               "layer": None, "head": None}
    assert data["P"] is None and data["X_in"] == data["X"]
    assert data["Wo"] is None and len(data["heads"]) == 1
    head = data["heads"][0]
    assert list(head) == ["Wq", "Wk", "Wv", "Q", "K", "V", "scores", "scaled", "row_max",
                          "exps", "exp_sums", "weights", "weight_sums", "weighted_values",
                          "output"]
    assert np.array(head["weights"]).shape == (6, 6)
    assert np.array(head["weighted_values"]).shape == (6, 6, 4)
    assert np.array(head["exp_sums"]).shape == (6,)


def test_export_is_byte_identical_and_masked_cells_are_null(tmp_path):
    args = ("export", "A dog ran.", "--causal", "--heads", "2", "--seed", "3")
    a, b = run(*args), run(*args)
    assert a.returncode == 0 and a.stdout == b.stdout
    data = json.loads(a.stdout)
    assert data["heads"][0]["scaled"][0][1] is None
    assert data["heads"][0]["weights"][0][1] == 0.0
    assert len(data["Wo"]) == 6
    out = tmp_path / "t.json"
    assert run(*args, "--output", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == a.stdout
    assert sorted(os.listdir(tmp_path)) == ["t.json"]  # no temporary file left


def test_sentence_starting_with_dash():
    p = run("export", "--", "-not an option")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["tokens"][0] == "-"


@pytest.mark.parametrize("fmt", ["csv", "md"])
def test_other_formats(fmt):
    p = run("export", "--format", fmt)
    assert p.returncode == 0
    if fmt == "csv":
        lines = p.stdout.splitlines()
        assert lines[0] == "head,matrix,row,col,row_label,col_label,value"
        row = [r for r in lines if r.startswith("1,weights,2,5,")][0]
        t = compute("The cat sat on the mat")
        assert float(row.split(",")[-1]) == t.weights[2, 5]
    else:
        assert "### Weights: softmax of each row" in p.stdout and "| sat |" in p.stdout


@pytest.mark.parametrize("args,fragment", [
    (["export", ""], "empty"),
    (["export", "   "], "empty"),
    (["export", " ".join(["w"] * 17)], "at most 16"),
    (["export", "--heads", "4"], "does not divide"),
    (["export", "--heads", "two"], "not a valid integer"),
    (["export", "--temperature", "0"], "greater than 0"),
    (["export", "--temperature", "-2"], "greater than 0"),
    (["export", "--temperature", "nan"], "finite"),
    (["export", "--format", "xml"], "xml"),
    (["export", "--bogus"], "No such option"),
    (["render", "--scene", "nope"], "nope"),
    (["render", "--quality", "8k"], "8k"),
    (["render", ""], "empty"),
    (["render", "--heads", "5"], "does not divide"),
    (["export", "a\x07b"], "unprintable"),
    (["render", "--transparent"], "--format webm"),
    (["render", "--fps", "0"], "between 1 and 120"),
    (["render", "--sections", "--format", "gif"], "--sections"),
    (["render", "--format", "avi"], "avi"),
    (["render", "--voice-speed", "2"], "between 0.8 and 1.25"),
    (["render", "--voice-speed", "fast"], "'fast' is not a number"),
    (["slides", "--quality", "8k"], "8k"),
    (["batch", "rows.csv", "--voice-speed", "2"], "between 0.8 and 1.25"),
    (["batch", "rows.csv", "--make", "film"], "film"),
], ids=lambda a: str(a)[:40])
def test_bad_input_one_line_exit_2_no_file(tmp_path, args, fragment):
    if args[0] == "render":
        args = [*args, "--out", str(tmp_path / "renders")]
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert fragment in lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args", [
    ["render", "--out", "/proc/qkv/renders"],
    ["slides", "--to", "pptx", "--out", "/proc/qkv"],
    ["export", "--output", "/proc/qkv.json"],
    ["export", "--output", "/proc"],
], ids=["render-out", "slides-out", "export-output", "export-output-folder"])
def test_a_place_that_cannot_be_written_is_one_line_exit_2(tmp_path, args):
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/proc" in lines[0], lines
    assert p.stdout == "" and os.listdir(tmp_path) == []


def test_render_without_a_scene_renders_the_explainer(tmp_path):
    """What ./render.sh does with no options: the explainer (here as a quick still)."""
    from qkv.output import output_folder

    p = run("render", "Hi there", "--format", "png", "--quality", "low", "--jobs", "1",
            "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [str(output_folder(compute("Hi there"), tmp_path) /
                                         "explainer.png")]


def test_output_to_missing_folder_is_an_error(tmp_path):
    p = run("export", "--output", str(tmp_path / "no" / "x.json"))
    assert p.returncode == 2 and p.stderr.startswith("error: ")
    assert os.listdir(tmp_path) == []


def test_scenes_lists_names():
    """`qkv scenes` lists, one a line with what it shows, every stage of the story in the
    story's order (scenes.stages, which the explainer tells from), the explainer last, and
    only names `qkv render --scene` renders: each a scene class of its own."""
    from qkv.registry import load
    from scenes.base import AttentionScene
    from scenes.stages import STAGES

    p = run("scenes")
    assert p.returncode == 0
    lines = [line.split(None, 1) for line in p.stdout.splitlines()]
    names = [name for name, _ in lines]
    assert all(len(summary.split()) >= 3 for _, summary in lines), lines
    assert len(set(names)) == len(names) and names[-1] == "explainer"
    assert [n for n in names if n in STAGES] == list(STAGES)  # every stage, in story order
    classes = [load(name) for name in names]
    assert all(issubclass(c, AttentionScene) for c in classes)
    assert len({c.__name__ for c in classes}) == len(classes)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["The", "cat", "sat", "on", "the", "mat", "quickly", "zorp",
                                 "42", "!", "über", "and", "dog"]), min_size=1, max_size=16),
       st.booleans(), st.sampled_from([1, 2, 3]), st.sampled_from([None, 5]))
def test_export_agrees_with_independent_recomputation(ws, causal, heads, seed):
    """Recompute everything from the export's own X and W matrices, by plain loops."""
    data = json.loads(to_json(compute(" ".join(ws), causal=causal, heads=heads, seed=seed)))
    outs = []
    for h in data["heads"]:
        ref = naive_attention(data["X"], h["Wq"], h["Wk"], h["Wv"], causal=causal)
        for name in ("Q", "K", "V", "scores", "row_max", "exps", "exp_sums", "weights",
                     "weight_sums", "weighted_values", "output"):
            np.testing.assert_allclose(h[name], ref[name], rtol=0, atol=1e-9)
        d = len(h["Wq"][0])
        for i, row in enumerate(h["scaled"]):
            for j, x in enumerate(row):
                if x is None:
                    assert causal and j > i
                else:
                    assert math.isclose(x, ref["scores"][i][j] / math.sqrt(d), abs_tol=1e-9)
        outs.append(ref["output"])
    final = np.concatenate(outs, axis=1) @ np.array(data["Wo"]) if heads > 1 else outs[0]
    np.testing.assert_allclose(data["output"], final, rtol=0, atol=1e-9)


def drawing(folder, workers: int, process, pattern: str = "") -> bool:
    """Wait until ``workers`` renders under ``folder`` have each written a first animation
    (Manim's partial movie files in their temporary folders): a render under way."""
    import time

    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        busy = {f.relative_to(folder).parts[: pattern.count("/") + 1] for f in
                folder.glob(f"{pattern}.rendering-*/**/partial_movie_files/*/*.mp4")}
        if len(busy) >= workers:
            return True
        time.sleep(0.05)
    return False


def test_interrupted_render_leaves_no_partial_file_and_keeps_the_old_one(tmp_path):
    """SIGTERM in the middle of a render: exit non-zero with a message, no temporary folder
    left, and the earlier good file untouched."""
    import signal

    from qkv.output import output_folder

    folder = output_folder(compute("The cat sat on the mat"), tmp_path / "renders")
    folder.mkdir(parents=True)
    old = folder / "scores.mp4"
    old.write_bytes(b"an earlier good render")
    p = subprocess.Popen([*QKV, "render", "--scene", "scores", "--quality", "low",
                          "--out", str(tmp_path / "renders")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert drawing(folder, 1, p)  # Manim has written an animation: well inside the render
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted; no file was written"
    assert "Traceback" not in err
    assert sorted(x.name for x in folder.iterdir()) == ["scores.mp4"]
    assert old.read_bytes() == b"an earlier good render"


def test_output_folders_are_slug_plus_hash():
    from qkv.output import output_folder

    a = output_folder(compute("The cat sat on the mat"), "renders")
    assert a.parent.name == "renders" and a.name.startswith("the-cat-sat-on-the-mat-")
    assert a == output_folder(compute("The cat sat on the mat"), "renders")  # stable
    # same slug, different sentence or options: different folders
    assert a != output_folder(compute("The cat sat on the mat!"), "renders")
    assert a != output_folder(compute("the cat sat on the mat"), "renders")
    assert a != output_folder(compute("The cat sat on the mat", causal=True), "renders")
    assert a != output_folder(compute("The cat sat on the mat", seed=1), "renders")


def test_jobs_render_every_scene_with_the_same_frames(tmp_path):
    """--scene all --jobs 2: every scene, in separate processes, each frame identical to a
    render of that scene on its own (same inputs, same pixels)."""
    import numpy as np
    from PIL import Image

    from qkv.output import output_folder

    common = ["--quality", "low", "--format", "png", "--fps", "5"]
    p = run("render", "Hi there", "--scene", "all", "--jobs", "2", *common, "--out",
            str(tmp_path / "a"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == ["a"]  # nothing written where the command ran
    folder = output_folder(compute("Hi there"), tmp_path / "a")
    names = ["embeddings", "projections", "scores", "softmax", "mixing", "explainer"]
    assert p.stdout.splitlines() == [str(folder / f"{n}.png") for n in names]
    q = run("render", "Hi there", "--scene", "softmax", "--jobs", "1", *common, "--out",
            str(tmp_path / "b"))
    assert q.returncode == 0, q.stderr
    one = output_folder(compute("Hi there"), tmp_path / "b") / "softmax.png"
    assert np.array_equal(np.asarray(Image.open(folder / "softmax.png")),
                          np.asarray(Image.open(one)))


def test_two_renders_at_once_do_not_corrupt_each_other(tmp_path):
    import av

    from qkv.output import output_folder

    args = [*QKV, "render", "Hi there", "--scene", "scores", "--quality", "low", "--fps", "5",
            "--out", str(tmp_path)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        p.wait(timeout=300)
        assert p.returncode == 0, p.stderr.read()
    folder = output_folder(compute("Hi there"), tmp_path)
    assert sorted(x.name for x in folder.iterdir()) == [
        "scores.mp4", "scores.srt", "scores.txt", "scores.vtt"]
    with av.open(str(folder / "scores.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) > 50


def test_interrupting_parallel_render_cleans_up(tmp_path):
    import signal

    p = subprocess.Popen([*QKV, "render", "Hi there", "--scene", "all", "--jobs", "2",
                          "--quality", "low", "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert drawing(tmp_path, 2, p, "*/")  # both workers are drawing
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted; no file was written"
    assert "Traceback" not in err and "\n\n" not in err
    assert not list(tmp_path.glob("*/.rendering-*"))
    for f in tmp_path.glob("*/*"):  # whatever finished before the signal is whole
        assert f.suffix in (".mp4", ".srt", ".vtt", ".txt")


def test_the_usage_docs_name_every_option_of_every_command():
    """Options are derived (the math ones from attention.MATH_OPTIONS): docs/usage.md, which
    documents every command and every option, must keep up with them."""
    from pathlib import Path

    from qkv.cli import cli

    usage = Path(__file__).resolve().parent.parent / "docs" / "usage.md"
    docs = usage.read_text(encoding="utf-8")
    missing = []
    for name, command in cli.commands.items():
        if f"qkv {name}" not in docs:
            missing.append(f"qkv {name}")
        for param in command.params:
            for flag in param.opts + param.secondary_opts:
                if flag.startswith("--") and f"`{flag}" not in docs and flag != "--help":
                    missing.append(f"{name} {flag}")
    assert missing == [], f"not documented in {usage}"


def test_every_math_option_reaches_every_interface(tmp_path):
    """One list, four interfaces: a CLI flag, a QKV_ variable, a config key, a JSON key."""
    from attention import MATH_OPTIONS
    from attention.config_file import MATH_KEYS
    from qkv.cli import cli

    flags = {f for p in cli.commands["export"].params for f in p.opts}
    names = [o.name for o in MATH_OPTIONS]
    assert {f"--{n}" for n in names} <= flags
    assert list(MATH_KEYS) == names
    assert list(json.loads(run("export").stdout)["options"]) == names
    from scenes.base import trace_from_env

    values = {bool: ("0", False), int: ("1", 1), float: ("1", 1.0)}
    trained = ("model", "layer", "head")  # a trained model refuses the toy's options
    toy = [o for o in MATH_OPTIONS if o.name not in trained]
    env = {o.env: o.choices[-1] if o.choices else values[o.kind][0] for o in toy}
    config = trace_from_env({**env, "QKV_SENTENCE": "Hi"}).config
    assert [getattr(config, o.name) for o in toy] == [
        o.choices[-1] if o.choices else values[o.kind][1] for o in toy]
    config = trace_from_env({"QKV_MODEL": "minilm", "QKV_LAYER": "2", "QKV_HEAD": "3",
                             "QKV_SENTENCE": "Hi"}).config
    assert [getattr(config, n) for n in trained] == ["minilm", 2, 3]
