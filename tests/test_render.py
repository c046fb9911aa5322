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
        explainer_sections(compute("Hi", model="minilm"))) | set(
        explainer_sections(compute("Hi", model="smollm2")))  # every section has a cost
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
    """The registry (what the CLI offers) names every stage the story tells (scenes.stages,
    kept apart from it), in the story's order, then the explainer; each name leads to the
    scene class of that stage (the default scene is tested by rendering it:
    tests/test_cli.py)."""
    from scenes.base import AttentionScene
    from scenes.stages import STAGES as STORY

    assert list(SCENES) == [*STORY, "explainer"]
    classes = [load(name) for name in SCENES]
    assert all(issubclass(c, AttentionScene) for c in classes)
    assert len(set(classes)) == len(classes) and classes[-1] is ExplainerScene
    for name, cls in zip(STORY, classes):
        assert hasattr(cls, f"{name}_stage")


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
