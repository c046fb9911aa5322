"""One render: a scene of a trace, drawn by Manim into a temporary folder, its files (video or
still, captions, section clips) renamed into place when complete (:mod:`qkv.output`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attention import AttentionTrace, QKVError
from engine.cache import drawn_kept
from qkv.captions import with_captions
from qkv.output import slug, staging
from qkv.registry import VIDEO_FORMATS
from qkv.soundtrack import SOUND_FORMATS, with_narration
from qkv.voice import check_speed, narrator, voice_model

# Animations whose files are still being encoded while the next one is drawn (Manim's
# max_inflight_encoders; its default, 1, has the scene wait at the end of every animation for
# its file: 4.4 s over a 16-token explainer's 98 animations). The same packets (a test);
# 4 is Manim's suggestion. Measured at 480p15, one process: the default explainer 23.4-23.8 s
# -> 20.0-22.1 s.
ENCODERS_IN_FLIGHT = 4

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
    silent: bool = False  # no narration (gif and png are always silent)
    voice_speed: float = 1.0  # the narrator's pace, 0.8 to 1.25
    burn_captions: bool = False  # the captions drawn in a band under the picture
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
        check_speed(self.voice_speed)

    @property
    def narrated(self) -> bool:
        """Spoken narration: videos whose container carries sound, unless --silent."""
        return not self.silent and self.fmt in SOUND_FORMATS

    def check_voice(self) -> None:
        """Before anything is rendered: a narrated video needs the voice installed."""
        if self.narrated:
            voice_model()


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
