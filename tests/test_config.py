"""--config FILE.toml: options and a teacher's own numbers, validated key by key."""

import json
import subprocess
import sys

import numpy as np
import pytest

from attention import AttentionConfig, QKVError, compute_config
from attention.config_file import parse_config
from scenes.explainer import ExplainerScene
from tests.reference import naive_attention
from tests.scene_tools import check_numbers, construct, layout_problems

TEACHER = """
sentence = "The cat sat"
causal = true
temperature = 0.5
theme = "light"
feature_names = ["animal", "action", "article"]
[embeddings]
the = [0.0, 0.0, 1.0]
cat = [1.0, 0.0, 0.0]
sat = [0.0, 1.0, 0.0]
[weights]
Wq = [[0, 1], [1, 0], [1, 0]]
Wk = [[1, 0], [0, 1], [0, 0]]
Wv = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qkv", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_teacher_numbers_are_used_exactly(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(TEACHER)
    p = run("export", "--config", str(path))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["tokens"] == ["The", "cat", "sat"]
    assert data["feature_names"] == ["animal", "action", "article"]
    assert data["options"]["causal"] is True and data["options"]["temperature"] == 0.5
    assert data["X"] == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    h = data["heads"][0]
    ref = naive_attention(data["X"], h["Wq"], h["Wk"], h["Wv"], causal=True, temperature=0.5)
    np.testing.assert_allclose(h["weights"], ref["weights"], atol=1e-12)


def test_command_line_beats_the_file(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(TEACHER)
    p = run("export", "The sat cat", "--config", str(path), "--temperature", "2")
    data = json.loads(p.stdout)
    assert data["tokens"] == ["The", "sat", "cat"] and data["options"]["temperature"] == 2.0
    assert data["options"]["causal"] is True  # from the file


BAD = [
    ("not-toml", "sentence = ", "not valid TOML"),
    ("unknown-key", 'sentense = "x"', "'sentense' is not a known key"),
    ("sentence-type", "sentence = 3", "sentence must be a string"),
    ("theme", 'theme = "neon"', "theme must be one of dark, light"),
    ("heads-type", 'heads = "two"', "heads must be a number"),
    ("causal-type", "causal = 1", "causal must be a true/false"),
    ("temperature-nan", "temperature = nan", "temperature must be a finite number"),
    ("temperature-inf", "temperature = inf", "temperature must be a finite number"),
    ("embeddings-no-names", "[embeddings]\ncat = [1.0]", "needs feature_names"),
    ("embedding-nan", 'feature_names = ["a"]\n[embeddings]\ncat = [nan]\n'
     "[weights]\nWq = [[1]]\nWk = [[1]]\nWv = [[1]]", "embeddings.cat contains nan"),
    ("embedding-length", 'feature_names = ["a", "b"]\n[embeddings]\ncat = [1.0]\n'
     "[weights]\nWq = [[1], [1]]\nWk = [[1], [1]]\nWv = [[1], [1]]", "has 1 numbers; it needs 2"),
    ("weights-missing", 'feature_names = ["a"]\n[embeddings]\ncat = [1.0]\n[weights]\n'
     "Wq = [[1]]", "exactly Wq, Wk and Wv"),
    ("weights-rows", 'feature_names = ["a", "b"]\n[embeddings]\ncat = [1, 2]\n[weights]\n'
     "Wq = [[1]]\nWk = [[1]]\nWv = [[1]]", "weights.Wq has 1 rows; it needs 2"),
    ("weights-ragged", "[weights]\nWq = [[1, 2], [1], [1], [1], [1], [1]]\nWk = [[1]]\n"
     "Wv = [[1]]", "rows of one length"),
    ("weights-inf", "[weights]\nWq = [[inf], [1], [1], [1], [1], [1]]\n"
     "Wk = [[1], [1], [1], [1], [1], [1]]\nWv = [[1], [1], [1], [1], [1], [1]]", "nan or inf"),
    ("names-without-weights", 'feature_names = ["a"]\n[embeddings]\ncat = [1.0]',
     "weights are needed"),
]


@pytest.mark.parametrize("name,text,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_line_exit_2(tmp_path, name, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    p = run("export", "cat", "--config", str(path), cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config: "), p.stderr
    assert fragment in lines[0]
    assert "Traceback" not in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.toml"]


def test_missing_word_and_missing_file(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(TEACHER)
    p = run("export", "The dog sat", "--config", str(path))
    assert p.returncode == 2 and "no vector for 'dog'" in p.stderr
    p = run("export", "--config", str(tmp_path / "nope.toml"))
    assert p.returncode == 2 and "does not exist" in p.stderr
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    p = run("export", "--config", str(tmp_path / "bin.toml"))
    assert p.returncode == 2 and "UTF-8" in p.stderr


def test_teacher_numbers_on_screen():
    """Three features, d_k = 2, d_v = 3: every stage lays out and shows the teacher's numbers."""
    import tomllib

    cfg = parse_config(tomllib.loads(TEACHER))
    opts = AttentionConfig(**{**cfg.math})
    t = compute_config(cfg.sentence, opts, cfg.custom)
    problems = []
    _, seen, _ = construct(ExplainerScene, t, theme=cfg.theme,
                           after_play=lambda s: problems.extend(layout_problems(s)))
    assert problems == []
    assert {"X", "Wq", "Q", "K", "V", "scores", "weights", "output"} <= check_numbers(t, seen)


def test_own_weights_refuse_heads():
    import tomllib

    cfg = parse_config(tomllib.loads(TEACHER))
    with pytest.raises(QKVError, match="one head"):
        compute_config("The cat", AttentionConfig(heads=3), cfg.custom)


HUGE = """
feature_names = ["a", "b"]
[embeddings]
big = [1e300, 0.0]
numbers = [0.0, 1e300]
[weights]
Wq = [[1, 0], [0, 1]]
Wk = [[1, 0], [0, 1]]
Wv = [[1, 0], [0, 1]]
"""


@pytest.mark.parametrize("command", [["export"], ["export", "--format", "pdf", "-o", "w.pdf"],
                                     ["render", "--out", "renders"]])
def test_numbers_that_overflow_are_refused_in_one_line(tmp_path, command):
    """1e300 squared is past the largest float: refused where it overflows, naming the
    matrix, with exit status 2, no numpy warning and no file (not exported as nulls)."""
    (tmp_path / "huge.toml").write_text(HUGE)
    p = run(*command, "big numbers", "--config", "huge.toml", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert p.stderr.splitlines() == [
        "error: scores = Q K\u1d40 overflows (a value beyond \u00b11.8e308); use smaller "
        "embeddings or weights in your --config"]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["huge.toml"]


def test_a_flag_from_the_file_can_be_turned_off_on_the_command_line(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(TEACHER)
    data = json.loads(run("export", "--config", str(path), "--no-causal").stdout)
    assert data["options"]["causal"] is False
