"""qkv's rendering: real low-quality renders read back with PyAV, captions beside every video
and clip, the explainer in one process and in parts (the same packets), every format,
staging that renames only complete files."""

import datetime
import os
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from attention import compute
from qkv.captions import video_seconds
from qkv.output import output_folder, staging
from qkv.parts import SECTION_COST, explainer_parts
from qkv.pool import plan, render_scenes
from qkv.registry import SCENES, load
from qkv.render import RenderOptions, render_scene
from scenes.explainer import ExplainerScene
from scenes.stages import explainer_sections

STAGES = ["embeddings", "projections", "scores", "softmax", "mixing"]


def read_srt(path: Path, header: int = 0):
    """[(start, end, text)] of an .srt (or, with header=1, a .vtt) file."""
    cues = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n")[header:]:
        lines = block.splitlines()
        start, end = (_seconds(x) for x in lines[1].split(" --> "))
        cues.append((start, end, " ".join(lines[2:])))
    return cues


def _seconds(stamp: str) -> float:
    hh, mm, rest = stamp.strip().split(":")
    return round(int(hh) * 3600 + int(mm) * 60 + float(rest.replace(",", ".")), 3)


def video_info(path: Path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height, float(c.duration) / av.time_base


CAPTIONS = (".srt", ".vtt", ".txt")


def check_captions(video: Path, paths: list[Path]) -> list:
    """The video has .srt, .vtt and .txt beside it, saying the same cues; the last ends
    before the video does. Returns the cues."""
    for suffix in CAPTIONS:
        assert video.with_suffix(suffix) in paths, suffix
    cues = read_srt(video.with_suffix(".srt"))
    vtt = video.with_suffix(".vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n")
    assert read_srt(video.with_suffix(".vtt"), header=1) == cues
    assert video.with_suffix(".txt").read_text(encoding="utf-8").splitlines() == [
        c[2] for c in cues]
    if cues:
        assert cues[-1][1] <= video_info(video)[2]
    return cues


def audio_of(path: Path):
    """(samples as floats, sample rate, codec name) of a video's soundtrack."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(stream)])
        return samples.astype(float), stream.codec_context.sample_rate, stream.codec_context.name


def speech_onsets(samples, rate: int) -> list[float]:
    """Where speech starts after a quiet spell (0.3 s or more), from the energy of 10 ms
    windows: a window is loud above 5% of the loudest window's RMS."""
    win = rate // 100
    n = len(samples) // win
    rms = np.sqrt((samples[: n * win].reshape(n, win) ** 2).mean(axis=1))
    loud = rms > 0.05 * rms.max()
    quiet = 30  # windows
    return [k * win / rate for k in range(n)
            if loud[k] and not loud[max(0, k - quiet):k].any()]


def check_narration(video: Path, cues, fps: int) -> None:
    """The soundtrack lasts as long as the picture (within a frame); each caption's speech
    starts within 0.15 s of its cue; no speech is heard outside a cue."""
    samples, rate, _ = audio_of(video)
    picture = video_seconds(video)
    assert abs(len(samples) / rate - picture) <= 1 / fps, (len(samples) / rate, picture)
    onsets = speech_onsets(samples, rate)
    for start, _, text in cues:
        assert any(abs(o - start) <= 0.15 for o in onsets), (start, text, onsets)
    for o in onsets:
        assert any(s - 0.15 <= o <= e for s, e, _ in cues), (o, cues)


def test_render_scores_low_quality(tmp_path):
    t = compute("The cat sat on the mat")
    paths = render_scene(t, RenderOptions(scene="scores", quality="low", out=tmp_path,
                                          silent=True))
    folder = output_folder(t, tmp_path)
    assert folder.name.startswith("the-cat-sat-on-the-mat-")
    assert paths == [folder / f"scores{s}" for s in (".mp4", *CAPTIONS)]
    assert sorted(folder.iterdir()) == sorted(paths)
    w, h, duration = video_info(paths[0])
    assert (w, h) == (854, 480)
    assert 10 < duration < 60
    cues = check_captions(paths[0], paths)
    assert len(cues) >= 6
    with av.open(str(paths[0])) as c:  # --silent: no soundtrack at all
        assert [s.type for s in c.streams] == ["video"]


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.dts is not None]


def timestamps(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts) for p in c.demux(video=0) if p.dts is not None]


def frame_differences(a: Path, b: Path) -> str:
    """Where two videos' decoded frames differ (to tell content from encoding when their
    packets do not match)."""
    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    fa, fb = frames(a), frames(b)
    diff = [(k, int(abs(x.astype(int) - y.astype(int)).max()))
            for k, (x, y) in enumerate(zip(fa, fb)) if x.shape != y.shape or (x != y).any()]
    return f"{len(fa)} vs {len(fb)} frames; differing (frame, max pixel difference): {diff[:8]}"


def test_render_explainer_end_to_end_in_one_process_and_in_parts(tmp_path):
    t = compute("The cat sat on the mat")
    options = RenderOptions(scene="explainer", quality="low", fps=3, sections=True)
    paths = render_scene(t, replace(options, out=tmp_path / "one"))
    videos = [p for p in paths if p.suffix == ".mp4"]
    video, clips = videos[0], videos[1:]
    w, h, duration = video_info(video)
    assert (w, h) == (854, 480)
    assert 120 <= duration <= 240  # narrated: each beat lasts as long as its speech
    cues = check_captions(video, paths)
    check_narration(video, cues, fps=3)
    # One cue per narrated step, in order, inside the video, never overlapping.
    assert len(cues) >= 30
    for (s0, e0, text), (s1, _, _) in zip(cues, cues[1:]):
        assert text and 0 <= s0 < e0 <= s1
    assert any("'sat'" in c[2] and "'mat'" in c[2] for c in cues)
    # --sections: one clip per stage, in order, adding up to the whole video, each with its
    # share of the captions.
    names = [f"explainer-{k}-{name}.mp4" for k, name in enumerate(
        ["title", *STAGES, "recap"], start=1)]
    assert [c.name for c in clips] == names
    assert abs(sum(video_info(c)[2] for c in clips) - duration) < 0.5
    clip_cues = [check_captions(c, paths) for c in clips]
    assert [c[2] for cs in clip_cues for c in cs] == [c[2] for c in cues]
    assert all(clip_cues)
    # Each clip carries its own narration: its slice of the whole soundtrack.
    whole, rate, codec = audio_of(video)
    assert (rate, codec) == (22050, "aac")
    for clip, cs in zip(clips, clip_cues):
        check_narration(clip, cs, fps=3)
    # With 2 jobs the explainer is drawn in two parts and joined: the very same packets,
    # captions and clips as one process writes, and nothing else left in the folder.
    assert len(plan(t, options, ["explainer"], 2)) == 2
    joined = render_scenes(t, replace(options, out=tmp_path / "two"), ["explainer"], jobs=2)
    assert [p.name for p in joined] == [p.name for p in paths]
    assert sorted(os.listdir(joined[0].parent)) == sorted(p.name for p in paths)
    for a, b in zip(paths, joined):
        if a.suffix == ".mp4":
            # The same pictures, frame for frame: joined without re-encoding, the packets are
            # one process's. (Their bytes matched in every quiet run; under a full-suite load
            # x264's threaded encoder once wrote one frame's bytes differently, decoding to
            # the very same pixels.)
            assert len(packets(a)) == len(packets(b)), a.name
            assert timestamps(a) == timestamps(b), a.name
            assert frame_differences(a, b).endswith("[]"), frame_differences(a, b)
            # The same soundtrack, sample for sample (decoded: AAC's bytes are not compared)
            assert np.array_equal(audio_of(a)[0], audio_of(b)[0]), a.name
        else:
            assert a.read_text() == b.read_text(), a.name


def test_joined_captions_are_the_captions_one_process_writes():
    """Each part's cues are in its own time (its first section starts at 0); joined, they
    are moved by the parts before and only then cut to the millisecond, so they read as one
    process's .srt does. At 3 fps a part starts at 1/3 s; its cue at 2/3 s lands at 1 s,
    where moving the .srt's 0.666 by 0.333 would have said 0.999."""
    import srt

    from qkv.parts import Piece, join_captions

    def cue(start, end, text):
        return srt.Subtitle(0, *(datetime.timedelta(seconds=t) for t in (start, end)), text)

    first = Piece(Path("a"), Path("a.mp4"), (cue(0.0, 0.3, "one"),), 1 / 3, ())
    second = Piece(Path("b"), Path("b.mp4"), (cue(0.0, 0.6, "two"), cue(2 / 3, 0.9, "three"),
                                              cue(4 / 3, 11 / 6, "four")), 3.0, ())
    third = Piece(Path("c"), Path("c.mp4"), (cue(1 / 3, 1.0, "five"),), 1.0, ())
    one_process = [cue(0.0, 0.3, "one"), cue(1 / 3, 1 / 3 + 0.6, "two"),
                   cue(1 / 3 + 2 / 3, 1 / 3 + 0.9, "three"),
                   cue(1 / 3 + 4 / 3, 1 / 3 + 11 / 6, "four"),
                   cue(1 / 3 + 3.0 + 1 / 3, 1 / 3 + 3.0 + 1.0, "five")]
    joined = join_captions([first, second, third])
    assert joined == srt.compose(one_process)
    assert "00:00:01,000 --> 00:00:01,233\nthree" in joined


def test_a_clip_keeps_the_cue_it_starts_with():
    """At 3 fps a section clip starts at 34/3 s = 11.3333…; its first cue, written to the .srt
    cut to 11.333, is that clip's, at 0 (it was once dropped: it began 0.3 ms before 0)."""
    import srt

    from qkv.captions import cut

    def cue(start, end, text):
        return srt.Subtitle(0, *(datetime.timedelta(seconds=t) for t in (start, end)), text)

    cues = [cue(7.0, 10.244, "title"), cue(11.333, 17.828, "tokens"),
            cue(18.333, 21.445, "features")]
    start = 34 / 3
    assert [c.content for c in cut(cues, 0.0, start)] == ["title"]
    clip = cut(cues, start, 26 + 2 / 3)
    assert [c.content for c in srt.parse(srt.compose(clip))] == ["tokens", "features"]
    assert clip[0].start == datetime.timedelta(0)
    assert abs(clip[1].start.total_seconds() - (18.333 - start)) < 1e-6


def test_vtt_says_the_millisecond_srt_says():
    """A clip's cue can end between milliseconds (17.828 s less a clip start of 34/3 s is
    6.49467 s): .srt cuts it to 6.494, and .vtt, once rounding, said 6.495."""
    import srt

    from qkv.captions import to_vtt

    cues = [srt.Subtitle(0, datetime.timedelta(seconds=0), datetime.timedelta(
        seconds=17.828) - datetime.timedelta(seconds=34 / 3), "tokens"),
            srt.Subtitle(0, datetime.timedelta(seconds=6.6), datetime.timedelta(
                seconds=3599.9996), "late")]
    assert "00:00:00,000 --> 00:00:06,494" in srt.compose(cues)
    assert "00:00:00.000 --> 00:00:06.494" in to_vtt(cues)
    assert "00:00:06.600 --> 00:59:59.999" in to_vtt(cues)


def test_staging_renames_into_place_only_when_all_went_well(tmp_path):
    t = compute("Hi there")
    options = RenderOptions(out=tmp_path)

    def stage_files(stage):
        (stage.work / "clips").mkdir()
        (stage.work / "a.mp4").write_text("new")
        stage.pairs = [(stage.work / "a.mp4", stage.folder / "a.mp4"),
                       (stage.work / "clips", stage.folder / "clips")]

    with pytest.raises(RuntimeError), staging(t, options.out) as stage:
        stage_files(stage)
        raise RuntimeError("a failure after the files were staged")
    assert os.listdir(tmp_path) == []  # nothing renamed, no temporary folder, no empty folder
    for _ in range(2):  # the second time, a file and a folder replace the first ones
        with staging(t, options.out) as stage:
            stage_files(stage)
        assert sorted(os.listdir(stage.folder)) == ["a.mp4", "clips"]
        assert stage.written == [stage.folder / "a.mp4", stage.folder / "clips"]


@pytest.mark.parametrize("positions", ["none", "sinusoidal"])
def test_explainer_parts_cover_every_section_once_in_order(positions):
    sections = explainer_sections(compute("Hi there", positions=positions))
    assert len(sections) == 7 + (positions != "none")
    assert set(SECTION_COST) == set(explainer_sections(compute("Hi", positions="sinusoidal",
                                                               heads=3))) | set(
        explainer_sections(compute("Hi", model="minilm")))  # every section has a cost
    for jobs in range(1, 10):
        parts = explainer_parts(jobs, sections)
        assert len(parts) == min(jobs, len(sections))
        assert tuple(name for part in parts for name in part) == sections


def test_render_formats(tmp_path):
    """Every --format, named <scene>.<ext>; png is the last frame; --transparent has alpha."""
    from PIL import Image

    t = compute("Hi there")
    folder = output_folder(t, tmp_path)
    for fmt in ("png", "gif", "webm", "mov"):
        paths = render_scene(t, RenderOptions(scene="scores", quality="low", fps=3, fmt=fmt,
                                              out=tmp_path))
        assert paths[0] == folder / f"scores.{fmt}"
        if fmt == "png":
            assert Image.open(paths[0]).size == (854, 480)
            continue
        assert 10 < video_info(paths[0])[2] < 60
        with av.open(str(paths[0])) as c:  # narrated, in the container's own codec
            codecs = [s.codec_context.name for s in c.streams.audio]
        assert codecs == {"gif": [], "webm": ["opus"], "mov": ["aac"]}[fmt], fmt
        if fmt == "webm":
            check_narration(paths[0], read_srt(paths[0].with_suffix(".srt")), fps=3)
    clear = render_scene(t, RenderOptions(scene="scores", quality="low", fps=3, fmt="webm",
                                          transparent=True, out=tmp_path / "alpha"))[0]
    with av.open(str(clear)) as c:
        stream = c.streams.video[0]
        assert stream.metadata.get("alpha_mode") == "1"
        decoder = av.codec.Codec("libvpx-vp9", "r").create()
        decoder.extradata = stream.codec_context.extradata
        frames = [f for p in c.demux(stream) for f in decoder.decode(p)]
    last = frames[-1].to_ndarray(format="rgba")
    assert last[..., 3].min() == 0 and last[..., 3].max() == 255  # clear background, opaque text
    assert sorted(p.name for p in folder.iterdir()) == [
        "scores.gif", "scores.mov", "scores.png", "scores.srt", "scores.txt", "scores.vtt",
        "scores.webm"]


def test_registry_loads_every_scene():
    """Each name leads to the scene class of that stage (the default scene is tested by
    rendering it: tests/test_cli.py)."""
    from scenes.base import AttentionScene

    stages = ["embeddings", "positions", *STAGES[1:], "heads", "overview"]
    assert list(SCENES) == [*stages, "explainer"]
    classes = [load(name) for name in SCENES]
    assert all(issubclass(c, AttentionScene) for c in classes)
    assert len(set(classes)) == len(classes) and classes[-1] is ExplainerScene
    for name, cls in zip(stages, classes):
        assert hasattr(cls, f"{name}_stage")


def test_encoder_settings_keep_the_picture(tmp_path, monkeypatch):
    """qkv's x264 settings and still holds converted once (qkv/encoder.py) against Manim's own
    writer, on every frame of the explainer (every stage): SSIM at least 0.99 on every frame,
    the same number of frames, and a file at most 1.5 times the size."""
    from tests.ssim import luma_frames, ssim

    t = compute("The cat sat on the mat")
    options = RenderOptions(scene="explainer", quality="low", fps=2, silent=True)
    monkeypatch.setenv("QKV_X264", "manim")
    manim = render_scene(t, replace(options, out=tmp_path / "manim"))[0]
    monkeypatch.delenv("QKV_X264")
    ours = render_scene(t, replace(options, out=tmp_path / "qkv"))[0]
    scores = [ssim(a, b) for a, b in zip(luma_frames(manim), luma_frames(ours))]
    assert len(scores) == len(packets(manim)) == len(packets(ours)) > 200
    assert min(scores) >= 0.99, (min(scores), int(np.argmin(scores)))
    assert ours.stat().st_size <= 1.5 * manim.stat().st_size


def test_a_text_parsed_once_is_read_back_as_it_was_made(tmp_path, monkeypatch):
    """scenes/components.py keeps each text it parsed beside Manim's SVGs; a process that finds
    one there reads it instead of asking Pango and parsing the SVG: the very same Text (every
    value, all the way down), scaled as a fresh one would be. One that cannot be read (cut
    short) is made again and replaced."""
    import manim

    import scenes.components as components
    from scenes.theme import get_theme

    theme = get_theme("dark")
    made = []
    init = manim.Text.__init__
    monkeypatch.setattr(manim.Text, "__init__", lambda self, *a, **k: made.append(a) or
                        init(self, *a, **k))
    monkeypatch.setattr(components, "_TEXTS", {})

    def text():
        components._TEXTS.clear()  # as in a new process
        return components.plain_text("Wąż knights", theme, font_size=20, color=theme.q)

    with manim.tempconfig({"media_dir": str(tmp_path)}):
        fresh = text()
        files = list((tmp_path / "texts").glob("qkv-*.pickle"))
        assert len(files) == 1 and len(made) == 1
        read = text()
        assert len(made) == 1  # read from the file: Pango not asked, nothing parsed
        _same_tree(read, fresh, skip=("original_id",))
        files[0].write_bytes(files[0].read_bytes()[:-40])  # cut short
        again = text()
        assert len(made) == 2
        _same_tree(again, fresh, skip=("original_id",))
        text()
        assert len(made) == 2  # the file was replaced with a whole one


def test_ssim_of_the_differing_part_is_the_ssim_of_the_whole():
    """tests/ssim.py computes only the windows that hold a differing pixel: the same mean as
    every window's, wherever the differences are (edges and corners too)."""
    from tests.ssim import ssim, ssim_map

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (60, 90), dtype=np.uint8)
    a[10:50, 20:70] = 30  # a flat patch, as a frame's background
    for box in [(slice(20, 30), slice(30, 40)), (slice(0, 3), slice(0, 90)),
                (slice(55, 60), slice(85, 90)), (slice(0, 60), slice(0, 1))]:
        b = a.copy()
        b[box] = rng.integers(0, 256, b[box].shape, dtype=np.uint8)
        assert abs(ssim(a, b) - float(ssim_map(a, b).mean())) < 1e-12
        assert ssim(a, b) < 1
    assert ssim(a, a.copy()) == 1.0 == float(ssim_map(a, a).mean())


def test_encoding_beside_drawing_writes_the_same_packets(tmp_path, monkeypatch):
    """Animations encoded while the next ones are drawn (qkv/render.py ENCODERS_IN_FLIGHT)
    give the very packets of Manim's one-at-a-time default."""
    import qkv.render

    t = compute("Cats chase mice")
    options = RenderOptions(scene="scores", quality="low", fps=4, silent=True)
    assert qkv.render.ENCODERS_IN_FLIGHT > 1
    beside = render_scene(t, replace(options, out=tmp_path / "beside"))[0]
    monkeypatch.setattr(qkv.render, "ENCODERS_IN_FLIGHT", 1)
    serial = render_scene(t, replace(options, out=tmp_path / "serial"))[0]
    a, b = packets(beside), packets(serial)
    assert len(a) == len(b) > 50
    assert a == b


def test_qkv_renderer_draws_what_manims_draws(tmp_path, monkeypatch):
    """qkv/drawing.py (cairo paths kept and replayed, cheaper copies and families) against
    Manim's own renderer: every decoded frame the same, pixel for pixel, for a --jobs part
    of the explainer (two of its stages)."""
    import qkv.drawing
    from manim.renderer.cairo_renderer import CairoRenderer

    from qkv.encoder import QkvFileWriter

    t = compute("Cats chase mice", causal=True)
    options = RenderOptions(scene="explainer", quality="low", fps=2, silent=True,
                            part=("softmax", "mixing"))
    ours = render_scene(t, replace(options, out=tmp_path / "qkv"))[0]
    monkeypatch.setattr(qkv.drawing, "QkvRenderer",
                        lambda: CairoRenderer(file_writer_class=QkvFileWriter))
    manims = render_scene(t, replace(options, out=tmp_path / "manim"))[0]

    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    a, b = frames(manims), frames(ours)
    assert len(a) == len(b) > 30
    for k, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"frame {k} differs"


def _tricky_frames(renderer_class, tmp_path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame a scene made to catch a background drawn too early writes, and for each
    play how many moving mobjects qkv's renderer had drawn into the background at its end."""
    from manim import (DOWN, LEFT, RIGHT, UP, AnimationGroup, Circle, Create, Dot, FadeIn,
                       FadeOut, LaggedStart, ReplacementTransform, Scene, Square, Succession,
                       Transform, VGroup, always_redraw, tempconfig)

    frames, settled = [], []

    class Tricky(Scene):
        def construct(self):
            row = VGroup(*(Square(0.9, fill_opacity=0.7, color=c).shift(RIGHT * 0.45 * k)
                           for k, c in enumerate(["#e07a5f", "#81b29a", "#f2cc8f", "#3d5a80",
                                                  "#98c1d9", "#ee6c4d"]))).shift(UP + LEFT)
            row[2].set_z_index(-1)  # drawn before its neighbours, whatever the scene order
            self.add(Circle(2, color="#555555"))  # static, under everything
            # overlapping parts: each later one drawn over the earlier ones as they finish
            self.play(LaggedStart(*(FadeIn(s) for s in row), lag_ratio=0.4), run_time=2)
            dots = VGroup(*(Dot(0.5 * RIGHT * k + DOWN) for k in range(5)))
            led = [row[5]]
            follower = always_redraw(lambda: Dot(led[0].get_center() + DOWN * 0.3,
                                                 color="#ffffff"))
            self.add(dots, follower)  # updated every frame, drawn after the dots
            # groups of groups; a part that moves over finished ones; the row moving as a
            # whole while its parts' group is done with some
            self.play(LaggedStart(*(AnimationGroup(d.animate.shift(UP * 0.4),
                                                   FadeOut(row[k]))
                                    for k, d in enumerate(dots)), lag_ratio=0.5),
                      row[5].animate.shift(LEFT * 2), run_time=2)
            more = VGroup(*(Square(0.3).shift(DOWN * 2 + RIGHT * 0.4 * k) for k in range(5)))
            self.play(Succession(Create(dots[0].copy()), ReplacementTransform(dots[1], more)),
                      Transform(dots[2], VGroup(*(Dot(UP * 2 + RIGHT * k) for k in range(3)))),
                      run_time=1.5)
            led[0] = more[0]  # the follower, before the squares, follows the first
            self.play(LaggedStart(*(m.animate.set_color("#ffdd00").shift(UP * 0.2)
                                    for m in more), lag_ratio=0.6), run_time=1.5)

    with tempconfig({"media_dir": str(tmp_path), "pixel_width": 320, "pixel_height": 180,
                     "frame_rate": 15, "disable_caching": True, "write_to_movie": False,
                     "verbosity": "ERROR", "progress_bar": "none"}):
        renderer = renderer_class()
        add, play = renderer.add_frame, renderer.play
        renderer.add_frame = lambda frame, num_frames=1: (
            frames.extend([frame.copy()] * num_frames), add(frame, num_frames))
        renderer.play = lambda *a, **k: (play(*a, **k),
                                         settled.append(len(getattr(renderer, "_settled", []))))
        Tricky(renderer=renderer).render()
    return frames, settled


def test_settled_parts_drawn_into_the_background_leave_every_frame_as_manim_draws_it(tmp_path):
    """qkv/drawing.py draws the finished parts of a LaggedStart into the background once
    instead of on every frame: every frame of a scene made to trip it (overlapping parts, a
    z-index against the scene order, an updater after the animated parts, groups of groups, a
    Succession, a Transform that changes the number of parts, a part moving over finished
    ones) is the one Manim's own renderer draws, pixel for pixel, and the background did take
    parts in."""
    from manim.renderer.cairo_renderer import CairoRenderer

    from qkv.drawing import QkvRenderer

    manims, _ = _tricky_frames(CairoRenderer, tmp_path / "manim")
    ours, settled = _tricky_frames(QkvRenderer, tmp_path / "qkv")
    assert len(manims) == len(ours) > 90
    for k, (a, b) in enumerate(zip(manims, ours)):
        assert np.array_equal(a, b), f"frame {k} differs"
    assert settled[0] >= 5  # the first LaggedStart's parts went into the background
    assert sum(settled) > settled[0]  # and more later


def test_stages_fade_in_as_manims_fade_in_would():
    """scenes/base.py's FadeInPlace (what fade_in plays when nothing moves) against Manim's
    FadeIn, on every part of a whole stage, alone and staggered in a LaggedStart: the same
    colours at every step, points left as they are, each part added to the scene, and at the
    end exactly its own colours."""
    from manim import FadeIn, LaggedStart, Scene, VMobject

    from scenes.base import FadeInPlace, fade_in
    from tests.scene_tools import construct

    scene, _, _ = construct(load("softmax"), compute("Cats chase mice", causal=True))
    stage = [p for m in scene.mobjects for p in m.submobjects] + scene.mobjects
    assert len(stage) > 10 and all(isinstance(fade_in(m), FadeInPlace) for m in stage)
    assert type(fade_in(stage[0], shift=[0.2, 0, 0])) is FadeIn  # one that moves: Manim's
    ours = [m.copy() for m in stage]
    manims = [m.copy() for m in stage]
    own = [[(f.points.copy(), f.fill_rgbas.copy(), f.stroke_rgbas.copy(),
             f.background_stroke_rgbas.copy()) for f in m.family_members_with_points()]
           for m in ours]
    for make in (lambda fade, ms: [fade(m) for m in ms],
                 lambda fade, ms: [LaggedStart(*(fade(m) for m in ms), lag_ratio=0.2)]):
        fades = make(FadeInPlace, ours), make(FadeIn, manims)
        holders = Scene(), Scene()
        for holder, anims in zip(holders, fades):
            for anim in anims:
                anim._setup_scene(holder)
                anim.begin()
        assert holders[0].mobjects == ours and holders[1].mobjects == manims
        for alpha in (0.0, 0.1, 0.35, 0.5, 0.8, 1.0):
            for a, b in zip(*fades):
                a.interpolate(alpha)
                b.interpolate(alpha)
            for x, y, was in zip(ours, manims, own):
                xs, ys = x.family_members_with_points(), y.family_members_with_points()
                assert all(isinstance(f, VMobject) for f in xs)
                for f, g, (points, *_) in zip(xs, ys, was):
                    for name in ("fill_rgbas", "stroke_rgbas", "background_stroke_rgbas"):
                        assert np.allclose(getattr(f, name), getattr(g, name), atol=1e-12), name
                    assert np.array_equal(f.points, points)
                    assert np.allclose(g.points, points, atol=1e-12)
        for holder, anims in zip(holders, fades):
            for anim in anims:
                anim.finish()
                anim.clean_up_from_scene(holder)
        assert holders[0].mobjects == ours
        for m, was in zip(ours, own):
            for f, (_, fill, stroke, back) in zip(m.family_members_with_points(), was):
                assert np.array_equal(f.fill_rgbas, fill) and np.array_equal(f.stroke_rgbas, stroke)
                assert np.array_equal(f.background_stroke_rgbas, back)


def _same_tree(a, b, path="", seen=None, skip=()):
    """Assert that ``a`` and ``b`` hold the same values, attribute by attribute, down through
    every mobject, list, dict and array (nothing but the objects themselves, and attributes
    named in ``skip``, may differ)."""
    from manim import Mobject

    seen = set() if seen is None else seen
    assert type(a) is type(b), (path, type(a), type(b))
    if (id(a), id(b)) in seen:
        return
    seen.add((id(a), id(b)))
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), path
    elif isinstance(a, Mobject):
        assert a.__dict__.keys() - set(skip) == b.__dict__.keys() - set(skip), path
        for k in a.__dict__.keys() - set(skip):
            _same_tree(a.__dict__[k], b.__dict__[k], f"{path}.{k}", seen, skip)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _same_tree(x, y, f"{path}[{k}]", seen, skip)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same_tree(a[k], b[k], f"{path}[{k!r}]", seen, skip)
    else:
        assert a == b, (path, a, b)


def test_copies_are_the_copies_manim_makes():
    """qkv/drawing.py's Mobject.__deepcopy__ (atomic attributes shared, not handed to
    copy.deepcopy) against Manim's own, on everything a scene shows: the same values all the
    way down, the same sharing inside the copy, and nothing shared with the original but
    what cannot change."""
    import copy

    from manim import RIGHT, MathTex, Mobject, Text

    import qkv.drawing
    from tests.scene_tools import construct

    scene, _, _ = construct(load("scores"), compute("Hi there", causal=True))
    shown = [*scene.mobjects, MathTex(r"\frac{QK^T}{\sqrt{d_k}}")]
    assert Mobject.__deepcopy__ is qkv.drawing.mobject_deepcopy  # a QkvRenderer installed it
    ours = [m.copy() for m in shown]
    try:
        Mobject.__deepcopy__ = qkv.drawing.MANIMS_DEEPCOPY
        manims = [m.copy() for m in shown]
    finally:
        Mobject.__deepcopy__ = qkv.drawing.mobject_deepcopy
    assert sum(len(m.get_family()) for m in shown) > 150
    for original, a, b in zip(shown, ours, manims):
        _same_tree(a, b)
        _same_tree(a, original, skip=("original_id",))  # (the id of what it was copied from)
        family = a.get_family()
        assert not {id(m) for m in family} & {id(m) for m in original.get_family()}
        for m, o in zip(family, original.get_family()):
            for k, v in m.__dict__.items():
                if isinstance(v, (np.ndarray, list, dict)) and len(v):
                    assert v is not o.__dict__[k], k  # nothing mutable is shared
    texts = [m for top in ours for m in top.get_family() if isinstance(m, Text)]
    assert texts and all(t.chars[0] is t.submobjects[0] for t in texts)  # glyphs in 2 lists
    before = shown[0].get_center().copy()
    ours[0].shift(RIGHT)
    assert np.array_equal(shown[0].get_center(), before)
    assert copy.deepcopy(ours[0]).get_center()[0] == ours[0].get_center()[0]


def test_numbers_split_their_outlines_as_manim_does():
    """Number's own outline split and point comparison (scenes/components.py: one numpy step)
    against VMobject's, for numbers as made and halfway through morphing into another (a
    Transform adds points to both to align them), and for points just inside and just
    outside the tolerance."""
    import math

    from manim import Transform, VMobject

    from scenes.components import Number

    values = [0.0, -1.5, 0.123, 12.5, -0.004, 88.88, -math.inf, 1 / 3]
    numbers = [Number(v, digits=d) for v in values for d in (1, 2, 3)]
    for a, b in zip(numbers, numbers[5:] + numbers[:5]):
        morph = a.copy()
        anim = Transform(morph, b.copy())
        anim.begin()
        anim.interpolate(0.5)
        for n in (a, morph):
            ours = n.get_subpaths_from_points(n.points)
            manims = VMobject.get_subpaths_from_points(n, n.points)
            assert len(ours) == len(manims) > 1
            assert all(np.array_equal(x, y) for x, y in zip(ours, manims))
    rng = np.random.default_rng(0)
    n = numbers[0]
    for a in numbers:  # curves that start a hair (about the tolerance) from where one ended
        points = a.points.copy()
        points[4::4] += rng.normal(size=points[4::4].shape) * 1e-6
        ours = a.get_subpaths_from_points(points)
        manims = VMobject.get_subpaths_from_points(a, points)
        assert len(ours) == len(manims)
        assert all(np.array_equal(x, y) for x, y in zip(ours, manims))
    for _ in range(2000):
        p0 = rng.normal(size=3) * 10.0 ** rng.integers(-3, 3)
        p1 = p0 + rng.normal(size=3) * 10.0 ** rng.integers(-9, -3)
        assert n.consider_points_equals(p0, p1) == VMobject.consider_points_equals(n, p0, p1)
    assert sum(n.consider_points_equals(p, p + 1e-6) for p in rng.normal(size=(50, 3))) > 0


def test_stages_fade_away_as_manims_fade_out_would():
    """scenes/base.py's FadeAway (between stages) against Manim's FadeOut, on a whole stage:
    the same colours at every point of the fade, points left as they are, and afterwards the
    stage removed from the scene and its colours as before."""
    from manim import FadeOut, Scene, VMobject

    from scenes.base import FadeAway
    from tests.scene_tools import construct

    scene, _, _ = construct(load("softmax"), compute("Cats chase mice", causal=True))
    stage = scene.mobjects
    assert all(FadeAway.fades_away(m) for m in stage)
    ours = [m.copy() for m in stage]
    manims = [m.copy() for m in stage]
    before = [[(f.points.copy(), *((f.fill_rgbas.copy(), f.stroke_rgbas.copy())
                                   if isinstance(f, VMobject) else (None, None)))
               for f in m.get_family()] for m in ours]
    fades = [FadeAway(m) for m in ours], [FadeOut(m) for m in manims]
    for anim in (*fades[0], *fades[1]):
        anim.begin()
    for alpha in (0.0, 0.1, 0.35, 0.5, 0.8, 1.0):
        for a, b in zip(*fades):
            a.interpolate(alpha)
            b.interpolate(alpha)
            for x, y, (points, _, _) in zip(a.mobject.get_family(), b.mobject.get_family(),
                                            before[ours.index(a.mobject)]):
                if not len(x.points):  # not drawn, and not changed by FadeOut either
                    assert not isinstance(x, VMobject) or np.array_equal(
                        x.fill_rgbas, y.fill_rgbas)
                    continue
                for name in ("fill_rgbas", "stroke_rgbas", "background_stroke_rgbas"):
                    assert np.allclose(getattr(x, name), getattr(y, name), atol=1e-12), name
                assert np.array_equal(x.points, points)
                assert np.allclose(y.points, points, atol=1e-12)
    assert max(abs(f.fill_rgbas[:, 3]).max() for m in ours
               for f in m.family_members_with_points()) == 0
    holder = Scene()
    holder.add(*ours)
    for anim in fades[0]:
        anim.clean_up_from_scene(holder)
    assert holder.mobjects == []
    for m, was in zip(ours, before):
        for f, (_, fill, stroke) in zip(m.get_family(), was):
            if isinstance(f, VMobject):
                assert np.array_equal(f.fill_rgbas, fill) and np.array_equal(f.stroke_rgbas, stroke)


def test_families_are_the_families_manim_lists():
    """qkv/drawing.py's Mobject.get_family (a leaf answered at once) against Manim's, for
    every mobject a stage adds and for a group that holds one part twice."""
    from manim import Circle, Mobject, Square, VGroup

    import qkv.drawing
    from tests.scene_tools import construct

    _, seen, _ = construct(load("mixing"), compute("Cats chase mice", heads=2))
    s, c = Square(), Circle()
    twice = VGroup(VGroup(s, c), s, VGroup())
    assert Mobject.get_family is qkv.drawing.mobject_get_family
    ours = [m.get_family() for m in [*seen, twice]]
    try:
        Mobject.get_family = qkv.drawing.MANIMS_GET_FAMILY
        manims = [m.get_family() for m in [*seen, twice]]
    finally:
        Mobject.get_family = qkv.drawing.mobject_get_family
    assert ours == manims and sum(map(len, ours)) > 500
    assert twice.get_family() == [twice, twice[0], c, s, twice[2]]
