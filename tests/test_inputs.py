"""Every way in: manim's own CLI (QKV_* variables), Python, and Jupyter's %%manim magic."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from manim import tempconfig

from attention import QKVError, compute
from scenes.base import trace_from_env
from scenes.scores import ScoresScene

ROOT = Path(__file__).resolve().parent.parent
FAST = ["-ql", "--fps", "5", "-v", "ERROR"]


def test_manims_own_cli_reads_the_sentence_from_the_environment(tmp_path):
    env = {**os.environ, "QKV_SENTENCE": "Dogs bark loudly", "QKV_CAUSAL": "1"}
    p = subprocess.run([sys.executable, "-m", "manim", "render", *FAST, "--media_dir",
                        str(tmp_path), str(ROOT / "scenes" / "scores.py"), "ScoresScene"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    srt = next(tmp_path.rglob("ScoresScene.srt")).read_text(encoding="utf-8")
    # QKV_SENTENCE and QKV_CAUSAL=1 reached the trace: the mask's caption names the sentence's
    # first word, its last, and how many there are
    assert "Causal mask" in srt and "'Dogs' sees only itself; 'loudly' sees all 3 words" in srt
    assert next(tmp_path.rglob("ScoresScene.mp4")).stat().st_size > 10_000


def test_bad_environment_value_is_one_line():
    with pytest.raises(QKVError, match="QKV_HEADS='two' is not a whole number"):
        trace_from_env({"QKV_HEADS": "two"})


def test_python_scene_from_a_trace(tmp_path):
    trace = compute("Birds sing", temperature=0.5)
    with tempconfig({"media_dir": str(tmp_path), "frame_rate": 5, "pixel_width": 854,
                     "pixel_height": 480, "verbosity": "ERROR", "progress_bar": "none"}):
        scene = ScoresScene(trace=trace, theme="light")
        scene.render()
        movie = Path(scene.renderer.file_writer.movie_file_path)
        captions = " ".join(c.content for c in scene.renderer.file_writer.subcaptions)
        corner = scene.renderer.get_frame()[0, 0, :3]
    assert movie.exists() and movie.stat().st_size > 10_000
    # This trace was drawn: its sentence and its temperature are in the captions; and in the
    # light theme: the last frame's background is white (the dark theme's is not)
    assert "'Birds'" in captions and "the temperature 0.5 divides them too" in captions
    assert tuple(corner) == (255, 255, 255)


def test_jupyter_manim_magic(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from manim import config
    from manim.utils.ipython_magic import ManimMagic

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QKV_SENTENCE", "Fish swim")
    monkeypatch.setattr(config, "media_dir", "./media")  # as in a notebook (conftest moves it)

    shell = InteractiveShell.instance()
    # `from manim import *` registers the magic when IPython is already running; here manim
    # was imported first (by pytest), so register it the same way by hand.
    shell.register_magics(ManimMagic)
    assert shell.run_cell("from manim import *").success
    result = shell.run_cell("%%manim " + " ".join(FAST) + " ScoresScene\n"
                            "from scenes.scores import ScoresScene\n")
    assert result.success, result.error_in_exec
    movies = list(tmp_path.rglob("ScoresScene.mp4"))
    assert movies and movies[0].stat().st_size > 10_000
    # QKV_SENTENCE reached the scene: the caption of the highest score names the two words it
    # joins, found here from the trace's own scores
    t = compute("Fish swim")
    a, b = divmod(int(np.argmax(t.scores)), t.n)
    srt = "".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("ScoresScene.srt"))
    assert f"4 scores in all. The highest: '{t.tokens[a]}' with '{t.tokens[b]}'," in srt
