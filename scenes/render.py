"""Render a scene of a trace into a final file, without leaving Manim's media behind.

Manim writes into a private temporary folder inside the sentence's output folder; the
finished video (and its ``.srt`` captions) are then renamed into place, so a final path only
ever holds a complete file.
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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from attention import AttentionTrace, QKVError
from attention.export import to_json
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
        "output_file": options.scene,
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


def render_scene(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """Render ``options.scene`` for ``trace``; return the final paths written."""
    import manim

    from scenes.registry import load

    manim.logger.setLevel("INFO" if options.verbose else "ERROR")
    folder = output_folder(trace, options.out)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    work = None
    try:
        work = Path(tempfile.mkdtemp(prefix=f".rendering-{render_owner()}-", dir=folder))
        with manim.tempconfig(manim_settings(options, work)):
            scene = load(options.scene)(trace=trace, theme=options.theme)
            scene.render()
            writer = scene.renderer.file_writer
        pairs = list(output_pairs(writer, options, folder))
        for src, dst in pairs:
            os.replace(src, dst)
            written.append(dst)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if created and not written:
            try:
                folder.rmdir()  # only if empty: another render may be working in it
            except OSError:
                pass
    return written


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


def _render_task(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """One scene in a worker process. Interrupted, it has cleaned up (render_scene's finally)
    and then ends the process, rather than going back to the pool for the next scene."""
    try:
        return render_scene(trace, options)
    except KeyboardInterrupt:
        os._exit(130)


def render_scenes(trace: AttentionTrace, options: RenderOptions, scenes: list[str],
                  jobs: int = 1, on_done=None) -> list[Path]:
    """Render several scenes, ``jobs`` at a time in separate processes; return every path
    written, in the order of ``scenes``. ``on_done(scene)`` is called as each one finishes."""
    from dataclasses import replace

    if jobs <= 1 or len(scenes) == 1:
        written = []
        for name in scenes:
            written += render_scene(trace, replace(options, scene=name))
            if on_done:
                on_done(name)
        return written

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # a fresh manim per process, no forked locks
    # An interrupted worker ends at once; its tracker would then warn about its semaphores.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    os.environ["QKV_RENDER_OWNER"] = render_owner()
    results: dict[str, list[Path]] = {}
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(scenes)), mp_context=context,
                               initializer=_worker_init, initargs=(options.verbose,))
    try:
        futures = {pool.submit(_render_task, trace, replace(options, scene=name)): name
                   for name in scenes}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_done:
                on_done(futures[future])
    except BaseException as err:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # SIGTERM: each removes its own temporary folder, then exits
        pool.shutdown(wait=True, cancel_futures=True)
        # A worker stopped between making its temporary folder and cleaning it up: sweep.
        for leftover in output_folder(trace, options.out).glob(f".rendering-{render_owner()}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if isinstance(err, BrokenProcessPool):
            raise KeyboardInterrupt from None  # a worker was interrupted (Ctrl-C reaches all)
        raise
    pool.shutdown(wait=True)
    return [path for name in scenes for path in results[name]]
