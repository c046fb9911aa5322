"""Scenes: numbers on screen are the trace's, layout stays in the frame, rendering works."""

import av
import pytest
from manim import config

from attention import compute
from scenes.render import RenderOptions, render_scene
from scenes.scores import ScoresScene
from tests.scene_tools import check_numbers, construct, numbers_in


@pytest.mark.parametrize("kwargs", [{}, {"causal": True}, {"scale": False, "temperature": 2.0},
                                    {"heads": 2, "seed": 1}],
                         ids=["default", "causal", "temperature", "two-heads"])
def test_scores_scene_shows_the_trace_numbers(kwargs):
    t = compute("The cat sat on the mat", **kwargs)
    scene, seen = construct(ScoresScene, t)
    count = check_numbers(t, seen)
    # Q (n x d_k), K^T (d_k x n), the scores and the scaled grid, and one dot product line.
    assert count >= 2 * t.n * t.d_k + 2 * t.n * t.n + 2 * t.d_k
    final = [m for top in scene.mobjects for m in top.get_family()]
    shown = {n.qkv_source.split("[")[0] for n in numbers_in(final)}
    assert shown == {"Q", "KT", "scaled"}


@pytest.mark.parametrize("sentence", ["Hi", "The cat sat on the mat",
                                      "one two three four five six seven eight nine ten "
                                      "eleven twelve thirteen fourteen fifteen sixteen",
                                      "a extraordinarilylong word"],
                         ids=["2", "6", "16", "long-word"])
def test_scores_final_frame_inside_frame(sentence):
    t = compute(sentence)
    scene, _ = construct(ScoresScene, t)
    w, h = config.frame_width / 2, config.frame_height / 2
    for top in scene.mobjects:
        for m in top.get_family():
            if len(m.points) == 0:
                continue
            assert m.get_left()[0] >= -w - 1e-6 and m.get_right()[0] <= w + 1e-6, m
            assert m.get_bottom()[1] >= -h - 1e-6 and m.get_top()[1] <= h + 1e-6, m


def test_render_scores_low_quality(tmp_path):
    t = compute("The cat sat on the mat")
    paths = render_scene(t, RenderOptions(scene="scores", quality="low", out=tmp_path))
    folder = tmp_path / "the-cat-sat-on-the-mat"
    assert paths == [folder / "scores.mp4", folder / "scores.srt"]
    assert sorted(p.name for p in folder.iterdir()) == ["scores.mp4", "scores.srt"]
    with av.open(str(paths[0])) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (854, 480)
        duration = float(c.duration) / av.time_base
    assert 10 < duration < 60
    cues = paths[1].read_text(encoding="utf-8").strip().split("\n\n")
    assert len(cues) >= 6
    last_end = cues[-1].splitlines()[1].split(" --> ")[1]
    hh, mm, rest = last_end.split(":")
    assert int(hh) * 3600 + int(mm) * 60 + float(rest.replace(",", ".")) <= duration + 0.05
