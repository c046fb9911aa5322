"""Render a scene of a trace into a final file, without leaving Manim's media behind.

Manim writes into a private temporary folder inside the sentence's output folder; the
finished video (and its ``.srt`` captions) are then renamed into place, so a final path only
ever holds a complete file.

With several jobs, the explainer is cut into runs of sections drawn by separate processes and
joined with PyAV without re-encoding (Manim encodes every animation on its own and joins those
files the same way, so the joined video has the very packets a single process writes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import combinations, pairwise
from pathlib import Path

from attention import AttentionTrace, QKVError
from attention.export import to_json
from scenes.captions import with_captions
from scenes.components import LRM, TEXT_STYLE, display_text
from scenes.registry import VIDEO_FORMATS

QUALITIES = {  # name -> (pixel width, pixel height, frames per second)
    "low": (854, 480, 15),
    "medium": (1280, 720, 30),
    "high": (1920, 1080, 60),
    "4k": (3840, 2160, 60),
}


@dataclass(frozen=True)
class RenderOptions:
    """How to render (not what: that is the trace). One object passed down."""

    scene: str = "explainer"
    quality: str = "medium"
    out: Path = Path("renders")
    theme: str = "dark"
    fmt: str = "mp4"  # one of VIDEO_FORMATS
    transparent: bool = False  # alpha channel (webm or mov only)
    fps: int | None = None  # None: the quality's own frame rate
    sections: bool = False  # also one clip per Manim section (the explainer's stages)
    verbose: bool = False
    part: tuple[str, ...] | None = None  # the explainer sections one process draws (internal)

    def __post_init__(self) -> None:
        if self.fmt not in VIDEO_FORMATS:
            raise QKVError(f"--format must be one of {', '.join(VIDEO_FORMATS)}")
        if self.transparent and self.fmt not in ("webm", "mov"):
            raise QKVError("--transparent needs --format webm or --format mov")
        if self.fps is not None and not 1 <= self.fps <= 120:
            raise QKVError(f"--fps must be between 1 and 120 (got {self.fps})")
        if self.sections and self.fmt in ("png", "gif"):
            raise QKVError("--sections cuts video clips; use it with mp4, webm or mov")


@lru_cache(maxsize=None)
def font_covers(ch: str) -> bool:
    """Whether an installed outline font has a glyph for ``ch`` (asks fontconfig)."""
    if ord(ch) < 0x250 or ch in (LRM, TEXT_STYLE):
        return True  # Latin: DejaVu has it
    try:
        out = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return True  # no fontconfig to ask: let Pango try
    return any(line.strip() and "Color Emoji" not in line for line in out.splitlines())


def check_drawable(trace: AttentionTrace) -> None:
    """Refuse, before anything is written, a word that no installed font can draw (it would
    show as empty boxes)."""
    for tok in trace.tokens:
        for ch in display_text(tok):
            if not font_covers(ch):
                raise QKVError(
                    f"no installed font can draw {ch!r} (U+{ord(ch):04X}) in {tok!r}; "
                    "run ./render.sh once to install the fonts, or leave it out"
                )


def slug(sentence: str, limit: int = 60) -> str:
    """A folder name for a sentence: lower case, letters and digits joined by hyphens."""
    text = unicodedata.normalize("NFKC", sentence).lower()
    s = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")
    return s[:limit].rstrip("-_") or "sentence"


def output_folder(trace: AttentionTrace, out: Path) -> Path:
    """``<out>/<slug>-<hash>``: the hash covers the sentence, the math options and every
    number (so your own embeddings or weights count too), but not quality, format or theme,
    so a re-render in another format lands beside the first, and one in the same format
    replaces it. Two sentences that share a slug never share a folder."""
    digest = hashlib.blake2b(to_json(trace).encode("utf-8"), digest_size=4).hexdigest()
    return Path(out) / f"{slug(trace.sentence)}-{digest}"


def manim_settings(options: RenderOptions, media_dir: Path) -> dict:
    w, h, fps = QUALITIES[options.quality]
    still = options.fmt == "png"
    return {
        "media_dir": str(media_dir),
        "pixel_width": w,
        "pixel_height": h,
        "frame_rate": options.fps or fps,
        # A still's .srt would land in the working folder (Manim writes it beside output_file
        # when there is no movie): keep it in the temporary folder.
        "output_file": str((media_dir / options.scene).resolve()) if still else options.scene,
        "disable_caching": True,
        "background_opacity": 0.0 if options.transparent else 1.0,  # before "format"
        "format": options.fmt,
        "write_to_movie": not still,
        "save_last_frame": still,
        "save_sections": options.sections,
        "preview": False,
        "notify_outdated_version": False,
        "verbosity": "INFO" if options.verbose else "ERROR",
        "progress_bar": "display" if options.verbose else "none",
    }


def output_pairs(writer, options: RenderOptions, folder: Path):
    """(file Manim wrote, final path) for everything a render produces: the video or still,
    its captions, and with --sections one clip per section."""
    name = options.scene
    if options.fmt == "png":
        yield Path(writer.image_file_path), folder / f"{name}.png"
        return
    movie = Path(writer.gif_file_path if options.fmt == "gif" else writer.movie_file_path)
    yield movie, folder / f"{name}.{options.fmt}"
    captions = Path(writer.movie_file_path).with_suffix(".srt")
    if captions.exists():
        yield captions, folder / f"{name}.srt"
    if options.sections:
        index = Path(writer.sections_output_dir) / f"{writer.output_name}.json"
        for k, section in enumerate(json.loads(index.read_text()), start=1):
            clip = Path(writer.sections_output_dir) / section["video"]
            yield clip, folder / f"{name}-{k}-{slug(section['name'])}{clip.suffix}"


def _manim_render(trace: AttentionTrace, options: RenderOptions, work: Path):
    """Let Manim render into ``work``; return the scene (its file writer knows the files)."""
    import manim

    from scenes.registry import load

    manim.logger.setLevel("INFO" if options.verbose else "ERROR")
    with manim.tempconfig(manim_settings(options, work)):
        scene = load(options.scene)(trace=trace, theme=options.theme)
        if options.part is not None:
            scene.only_sections = options.part
        scene.render()
    return scene


def work_folder(folder: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".rendering-{render_owner()}-", dir=folder))


@dataclass
class Staging:
    """A render in progress: the sentence's ``folder``, a temporary folder ``work`` inside it,
    and the (file in work, final path) ``pairs`` to rename into place when all went well."""

    folder: Path
    work: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    remove: list[Path] = field(default_factory=list)  # more temporary folders to remove
    written: list[Path] = field(default_factory=list)  # the final paths, once renamed


@contextmanager
def staging(trace: AttentionTrace, options: RenderOptions):
    """Stage a render. Leaving normally renames the pairs into place (a folder replaces a
    folder); leaving by an error or an interrupt renames nothing. Either way the temporary
    folders go, and the sentence's folder too if this render made it and wrote nothing."""
    folder = output_folder(trace, options.out)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    stage = Staging(folder, work_folder(folder))
    try:
        yield stage
        for src, dst in stage.pairs:
            if src.is_dir() and dst.is_dir():  # the old folder goes with the temporary one
                os.replace(dst, src.with_name(f".old-{dst.name}"))
            os.replace(src, dst)
            stage.written.append(dst)
    finally:
        for w in (stage.work, *stage.remove):
            shutil.rmtree(w, ignore_errors=True)
        if created and not stage.written:
            try:
                folder.rmdir()  # only if empty: another render may be working in it
            except OSError:
                pass


def render_scene(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """Render ``options.scene`` for ``trace``; return the final paths written: the video (or
    still), its captions and transcript (.srt, .vtt, .txt), and any section clips, each with
    its own."""
    with staging(trace, options) as stage:
        writer = _manim_render(trace, options, stage.work).renderer.file_writer
        stage.pairs = with_captions(list(output_pairs(writer, options, stage.folder)),
                                    stage.work, options.scene)
    return stage.written


# -- the explainer in parts ------------------------------------------------------------------
SPLIT_FORMATS = ("mp4",)  # joined by copying packets; alpha and GIF palettes are not tried
# Wall seconds each explainer section took to draw (6 tokens, low quality, 2-core machine), and
# the share of that a later part pays to play the section through without drawing it: what the
# cut between parts balances. benchmarks/render_bench.py measures the result.
SECTION_COST = {"title": 2.0, "embeddings": 8.0, "projections": 16.0, "scores": 11.0,
                "softmax": 11.5, "mixing": 11.0, "recap": 7.0}
SKIP_SHARE = 0.27


def explainer_parts(jobs: int) -> list[tuple[str, ...]]:
    """Cut the explainer's sections into at most ``jobs`` runs whose slowest is quickest."""
    names = list(SECTION_COST)
    cost = list(SECTION_COST.values())
    best = None
    for cuts in combinations(range(1, len(names)), min(jobs, len(names)) - 1):
        bounds = (0, *cuts, len(names))
        slowest = max(sum(cost[a:b]) + SKIP_SHARE * sum(cost[:a]) for a, b in pairwise(bounds))
        if best is None or slowest < best[0]:
            best = (slowest, bounds)
    return [tuple(names[a:b]) for a, b in pairwise(best[1])]


@dataclass(frozen=True)
class Piece:
    """What one process wrote for a part of the explainer, in its temporary folder."""

    work: Path
    video: Path
    captions: str  # SRT text, in the scene's time
    start: float  # where the part begins, in the scene's time
    end: float
    sections: tuple[tuple[str, Path], ...]  # (name, clip) with --sections


def render_part(trace: AttentionTrace, options: RenderOptions) -> Piece:
    """Draw ``options.part`` of the explainer; the files stay in a temporary folder (the
    caller joins the pieces, then removes it)."""
    folder = output_folder(trace, options.out)
    folder.mkdir(parents=True, exist_ok=True)
    work = work_folder(folder)
    try:
        scene = _manim_render(trace, options, work)
        writer = scene.renderer.file_writer
        captions = Path(writer.movie_file_path).with_suffix(".srt")
        sections = ()
        if options.sections:
            index = Path(writer.sections_output_dir) / f"{writer.output_name}.json"
            sections = tuple((s["name"], Path(writer.sections_output_dir) / s["video"])
                             for s in json.loads(index.read_text()))
        return Piece(work, Path(writer.movie_file_path),
                     captions.read_text(encoding="utf-8") if captions.exists() else "",
                     scene.part_start, scene.renderer.time, sections)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def join_videos(parts: list[Path], dest: Path) -> None:
    """Join videos of one codec and size end to end by copying packets (no re-encoding)."""
    import av

    listing = dest.with_suffix(".txt")
    listing.write_text("".join(f"file 'file:{p.resolve().as_posix()}'\n" for p in parts),
                       encoding="utf-8")
    with av.open(str(listing), format="concat", options={"safe": "0"}) as src, \
            av.open(str(dest), mode="w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = stream
            out.mux(packet)
    listing.unlink()


def join_captions(pieces: list[Piece]) -> str:
    """Each part's own cues, moved from scene time to the joined video's time. (A part that
    plays earlier sections through without drawing them also holds their cues: dropped.)"""
    import datetime

    import srt

    cues, offset = [], 0.0
    for piece in pieces:
        shift = datetime.timedelta(seconds=offset - piece.start)
        for cue in srt.parse(piece.captions):
            if cue.start.total_seconds() >= piece.start - 1e-6:
                cues.append(srt.Subtitle(0, cue.start + shift, cue.end + shift, cue.content))
        offset += piece.end - piece.start
    return srt.compose(cues)  # numbers the cues 1, 2, ...


def join_parts(trace: AttentionTrace, options: RenderOptions, pieces: list[Piece]) -> list[Path]:
    """Join the pieces into the explainer's final files; remove the pieces' folders."""
    name = options.scene
    with staging(trace, options) as stage:
        stage.remove = [p.work for p in pieces]
        folder, work = stage.folder, stage.work
        video = work / f"{name}.{options.fmt}"
        join_videos([p.video for p in pieces], video)
        pairs = [(video, folder / video.name)]
        captions = join_captions(pieces)
        if captions:
            (work / f"{name}.srt").write_text(captions, encoding="utf-8")
            pairs.append((work / f"{name}.srt", folder / f"{name}.srt"))
        clips = [clip for p in pieces for clip in p.sections]
        for k, (section, clip) in enumerate(clips, start=1):
            pairs.append((clip, folder / f"{name}-{k}-{slug(section)}{clip.suffix}"))
        stage.pairs = with_captions(pairs, work, name)
    return stage.written


def render_owner() -> str:
    """Who a temporary folder belongs to: the process that the user started (workers inherit
    its id), so after an interrupt it can sweep what its workers could not."""
    return os.environ.get("QKV_RENDER_OWNER") or str(os.getpid())


def _worker_init(verbose: bool) -> None:
    """In a render process: SIGTERM cleans up like Ctrl-C (temporary folders go). Unless
    verbose, the worker says nothing: the parent reports for all of them, in one line."""
    import signal
    import sys

    if not verbose:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the process)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _render_task(trace: AttentionTrace, options: RenderOptions):
    """One scene, or one part of the explainer, in a worker process. Interrupted, it has
    cleaned up (render_scene's and render_part's own handlers) and then ends the process,
    rather than going back to the pool for the next task."""
    try:
        if options.part is not None:
            return render_part(trace, options)
        return render_scene(trace, options)
    except KeyboardInterrupt:
        os._exit(130)


def plan(options: RenderOptions, scenes: list[str], jobs: int) -> list[RenderOptions]:
    """The tasks of a render: a scene each, and with several jobs the explainer (in mp4) cut
    into parts; the costliest first, so no long task starts last."""
    tasks = []
    for name in scenes:
        if name == "explainer" and jobs > 1 and options.fmt in SPLIT_FORMATS:
            tasks += [replace(options, scene=name, part=p) for p in explainer_parts(jobs)]
        else:
            tasks.append(replace(options, scene=name))
    return sorted(tasks, key=lambda task: task.part is None)  # the explainer's parts first


def render_scenes(trace: AttentionTrace, options: RenderOptions, scenes: list[str],
                  jobs: int = 1, on_done=None) -> list[Path]:
    """Render several scenes, ``jobs`` at a time in separate processes; return every path
    written, in the order of ``scenes``. ``on_done(scene)`` is called as each one finishes."""
    tasks = plan(options, scenes, jobs)
    if jobs <= 1 or len(tasks) == 1:
        written = []
        for task in tasks:
            written += render_scene(trace, task)
            if on_done:
                on_done(task.scene)
        return written

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # a fresh manim per process, no forked locks
    # An interrupted worker ends at once; its tracker would then warn about its semaphores.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    os.environ["QKV_RENDER_OWNER"] = render_owner()
    results: dict[str, list[Path]] = {}
    pieces: dict[tuple[str, ...], Piece] = {}
    parts = [t.part for t in tasks if t.part is not None]
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context,
                               initializer=_worker_init, initargs=(options.verbose,))
    try:
        futures = {pool.submit(_render_task, trace, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            if task.part is None:
                results[task.scene] = future.result()
            else:
                pieces[task.part] = future.result()
                if len(pieces) < len(parts):
                    continue
                results[task.scene] = join_parts(trace, replace(task, part=None),
                                                 [pieces[p] for p in parts])
            if on_done:
                on_done(task.scene)
    except BaseException as err:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # SIGTERM: each removes its own temporary folder, then exits
        pool.shutdown(wait=True, cancel_futures=True)
        # A worker stopped between making its temporary folder and cleaning it up, or parts
        # were drawn but not yet joined: sweep.
        for leftover in output_folder(trace, options.out).glob(f".rendering-{render_owner()}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if isinstance(err, BrokenProcessPool):
            raise KeyboardInterrupt from None  # a worker was interrupted (Ctrl-C reaches all)
        raise
    pool.shutdown(wait=True)
    return [path for name in scenes for path in results[name]]
