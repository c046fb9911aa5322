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
from qkv.registry import FIGURE_FORMATS
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
    still = options.fmt in FIGURE_FORMATS  # Manim plays the scene through to its last frame
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
        "format": "png" if still else options.fmt,  # (svg and pdf: drawn by engine.figures)
        "write_to_movie": not still,
        "save_last_frame": still,
        "save_sections": options.sections,
        "max_inflight_encoders": ENCODERS_IN_FLIGHT,
        "preview": False,
        "notify_outdated_version": False,
        "verbosity": "INFO" if options.verbose else "ERROR",
        "progress_bar": "display" if options.verbose else "none",
    }


def output_pairs(writer, options: RenderOptions, folder: Path, figures=()):
    """(file written, final path) for everything a render produces: the video or still, its
    captions, and with --sections one clip per section; of a figure format, the last frame
    and with --sections a figure per section (``figures``: (section, file), the last frame's
    first)."""
    name = options.scene
    if options.fmt in FIGURE_FORMATS:
        if options.fmt == "png":
            yield Path(writer.image_file_path), folder / f"{name}.png"
        else:
            yield figures[0][1], folder / f"{name}.{options.fmt}"
        for k, (section, figure) in enumerate(figures[1:], start=1):
            yield figure, folder / f"{name}-{k}-{slug(section)}.{options.fmt}"
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
        figures = FigureTaker(scene, options, work)
        scene.render()
        scene.figures = figures.finish()
    return scene


class FigureTaker:
    """The figures of a render in png, svg or pdf: its last frame (svg and pdf; Manim saves
    png's), and with --sections each named section as it stands at its end (before the fade
    that clears it, for the explainer's stages; the last one as the scene ends)."""

    def __init__(self, scene, options: RenderOptions, work: Path):
        self.scene, self.fmt, self.folder = scene, options.fmt, work / "figures"
        self.sections = options.fmt in FIGURE_FORMATS and options.sections
        self.taken: list[tuple[str, Path]] = []
        if self.sections:
            clear = scene.clear_stage

            def clear_stage(*args, **kwargs):
                self.take_section()
                clear(*args, **kwargs)

            scene.clear_stage = clear_stage

    def take(self, name: str) -> Path:
        from engine.figures import Figure

        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"{len(self.taken)}-{slug(name)}.{self.fmt}"
        figure = Figure(path, self.fmt, self.scene.renderer.camera)
        figure.add(self.scene)
        figure.close()
        return path

    def take_section(self) -> None:
        sections = self.scene.renderer.file_writer.sections
        name = sections[-1].name if sections else "autocreated"
        if name != "autocreated" and self.scene.mobjects and name not in dict(self.taken):
            self.taken.append((name, self.take(name)))

    def finish(self) -> list[tuple[str, Path | None]]:
        """(section, file) of each figure: the last frame's first (None for png: Manim saved
        it), then the sections'."""
        if self.fmt not in FIGURE_FORMATS:
            return []
        last = self.take("last") if self.fmt != "png" else None
        if self.sections:
            self.take_section()
        return [("", last), *self.taken]


def render_scene(trace: AttentionTrace, options: RenderOptions) -> list[Path]:
    """Render ``options.scene`` for ``trace``; return the final paths written: the video (or
    still), its captions and transcript (.srt, .vtt, .txt), and any section clips, each with
    its own (and, narrated, its own soundtrack)."""
    with staging(trace, options.out) as stage:
        scene = manim_render(trace, options, stage.work)
        pairs = list(output_pairs(scene.renderer.file_writer, options, stage.folder,
                                  scene.figures))
        stage.pairs = finish(pairs, stage.work, options)
    return stage.written


def finish(pairs: list[tuple[Path, Path]], work: Path, options: RenderOptions):
    """The narration muxed into every video, then captions beside each."""
    if options.narrated:
        pairs = with_narration(pairs, work, options.scene, narrator(options.voice_speed))
    return with_captions(pairs, work, options.scene)
