"""One render: a scene of a trace, drawn by Manim into a temporary folder, its files (video or
still, captions, section clips) renamed into place when complete (:mod:`qkv.output`).
"""

from __future__ import annotations

import json
from pathlib import Path

from attention import AttentionTrace
from engine.cache import drawn_kept
from qkv.captions import with_captions
from qkv.options import QUALITIES, RenderOptions
from qkv.output import slug, staging
from qkv.soundtrack import with_narration
from qkv.voice import narrator

# Animations whose files are still being encoded while the next one is drawn (Manim's
# max_inflight_encoders; its default, 1, has the scene wait at the end of every animation for
# its file: 4.4 s over a 16-token explainer's 98 animations). The same packets (a test);
# 4 is Manim's suggestion. Measured at 480p15, one process: the default explainer 23.4-23.8 s
# -> 20.0-22.1 s.
ENCODERS_IN_FLIGHT = 4

__all__ = ["QUALITIES", "RenderOptions", "manim_settings", "render_scene"]  # (the first two
# are declared in qkv.options, and read from here too)


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
        "max_inflight_encoders": ENCODERS_IN_FLIGHT,
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
        for k, (section, clip) in enumerate(section_clips(writer), start=1):
            yield clip, folder / f"{name}-{k}-{slug(section)}{clip.suffix}"


def section_clips(writer) -> list[tuple[str, Path]]:
    """(section name, clip) for each section Manim's file writer saved, in order."""
    index = Path(writer.sections_output_dir) / f"{writer.output_name}.json"
    return [(s["name"], Path(writer.sections_output_dir) / s["video"])
            for s in json.loads(index.read_text())]


def manim_render(trace: AttentionTrace, options: RenderOptions, work: Path):
    """Let Manim render into ``work``; return the scene (its file writer knows the files)."""
    import manim

    from engine.renderer import QkvRenderer
    from qkv.registry import load

    manim.logger.setLevel("INFO" if options.verbose else "ERROR")
    with drawn_kept(work), manim.tempconfig(manim_settings(options, work)):
        voice = narrator(options.voice_speed).seconds if options.narrated else None
        scene = load(options.scene)(trace=trace, theme=options.theme, voice=voice,
                                    burn_captions=options.burn_captions,
                                    renderer=QkvRenderer())
        if options.part is not None:
            scene.only_sections = options.part
        scene.render()
    return scene


def render_scene(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """Render ``options.scene`` for ``trace``; return the final paths written: the video (or
    still), its captions and transcript (.srt, .vtt, .txt), and any section clips, each with
    its own (and, narrated, its own soundtrack)."""
    with staging(trace, options.out) as stage:
        writer = manim_render(trace, options, stage.work).renderer.file_writer
        pairs = list(output_pairs(writer, options, stage.folder))
        stage.pairs = finish(pairs, stage.work, options)
    return stage.written


def finish(pairs: list[tuple[Path, Path]], work: Path, options: RenderOptions):
    """The narration muxed into every video, then captions beside each."""
    if options.narrated:
        pairs = with_narration(pairs, work, options.scene, narrator(options.voice_speed))
    return with_captions(pairs, work, options.scene)
