"""How a video is made (not what: that is the trace): :class:`RenderOptions`, the one list of
render options, as :class:`attention.AttentionConfig` is the one list of math options.

Each option is a field declared once, with its help, kind and the values it takes; from the
fields come the flags of ``qkv render``, ``qkv slides`` and ``qkv batch`` (each field names
the commands that take it: ``commands``), the columns of a batch file (``column``) and their
parsing (:meth:`Option.parse`), and what a batch sends its workers (a ``qkv.batch.Job``
carries a RenderOptions). Every value is checked here, in :meth:`Option.check` and
``RenderOptions.__post_init__``, whichever way it came in: the same one-line ``error:`` from a
flag, a batch cell or Python. No click here (the commands derive their flags in
``qkv.commands.common``), and no Manim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from attention import QKVError
from attention.core import parse_value
from qkv.registry import DEFAULT_SCENE, SCENES, VIDEO_FORMATS
from scenes.theme import THEMES

QUALITIES = {  # name -> (pixel width, pixel height, frames per second)
    "low": (854, 480, 15),
    "medium": (1280, 720, 30),
    "high": (1920, 1080, 60),
    "4k": (3840, 2160, 60),
}
_SIZES = [f"{h}p{fps}" for _, h, fps in QUALITIES.values()]


def option(default, help: str, *, kind: type | None = None, name: str | None = None,
           metavar: str | None = None, choices: tuple | None = None,
           between: tuple[float, float] | None = None, commands: tuple[str, ...] = (),
           column: bool = False, shown_default: str | None = None):
    """A dataclass field that is also a user-facing option: ``name`` (default: the field's)
    is its batch column and, with dashes, its flag (``--voice-speed``); ``commands`` are the
    qkv commands that take the flag; ``column``: a batch file may give it per row."""
    return field(default=default, metadata={"option": dict(
        name=name, kind=kind or type(default), default=default, help=help, metavar=metavar,
        choices=choices, between=between, commands=commands, column=column,
        shown_default=shown_default)})


@dataclass(frozen=True)
class Option:
    """One option as every interface sees it (made from a field declared with
    :func:`option`)."""

    field: str  # the dataclass field: RenderOptions.fmt
    name: str  # the batch column (format, voice_speed); the flag is --name with dashes
    kind: type  # bool, int, float, str, Path (int may also be None: no value)
    default: object
    help: str
    metavar: str | None
    choices: tuple | None  # the values it takes
    between: tuple[float, float] | None  # the lowest and highest values it takes
    commands: tuple[str, ...]  # the commands with its flag
    column: bool  # a batch file's column
    shown_default: str | None  # what --help says the default is, if not the default itself

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: str, where: str):
        """The value written as text (a batch file's cell, a flag's value), or QKVError
        naming ``where`` it came from. Only the kind: :meth:`check` judges the value."""
        raw = raw.strip()
        eq = " " if where.startswith("--") else "="  # --fps 'x', fps='x'
        if self.kind in (bool, int, float):
            return parse_value(self.kind, raw, where, eq, self.default)
        return self.kind(raw)

    def check(self, value) -> None:
        """QKVError, one line naming the flag and what it takes, unless ``value`` is one this
        option takes."""
        if value is None and self.default is None:
            return
        number = self.kind in (int, float) and not isinstance(value, bool) and (
            isinstance(value, int) or (self.kind is float and isinstance(value, float)))
        fits = {bool: isinstance(value, bool), str: isinstance(value, str),
                Path: isinstance(value, (str, Path))}.get(self.kind, number)
        if self.kind is float and fits:
            fits = math.isfinite(value)
        if not fits:
            what = {bool: "yes or no", int: "a whole number", float: "a finite number"}.get(
                self.kind, "text")
            raise QKVError(f"{self.flag} must be {what} (got {value!r})")
        if self.choices is not None and value not in self.choices:
            raise QKVError(f"{self.flag} must be one of {', '.join(self.choices)} "
                           f"(got {value!r})")
        if self.between is not None and not self.between[0] <= value <= self.between[1]:
            low, high = self.between
            raise QKVError(f"{self.flag} must be between {low:g} and {high:g} (got {value:g})")


def options_of(cls) -> tuple[Option, ...]:
    """The options among a dataclass's fields, in field order."""
    return tuple(Option(field=f.name, **{**f.metadata["option"],
                                         "name": f.metadata["option"]["name"] or f.name})
                 for f in fields(cls) if "option" in f.metadata)


def check_options(obj) -> None:
    """Every option field of ``obj`` checked (its dataclass's ``__post_init__`` calls it)."""
    for o in options_of(type(obj)):
        o.check(getattr(obj, o.field))


RENDER, SLIDES, BATCH = "render", "slides", "batch"


@dataclass(frozen=True)
class RenderOptions:
    """How to render (not what: that is the trace). One object passed down: to a render, to
    the processes of ``--jobs``, to a batch's workers."""

    scene: str = option(DEFAULT_SCENE, "Which scene (see 'qkv scenes'); qkv render also "
                        "takes all: every scene the options have something for.",
                        choices=tuple(SCENES), metavar="NAME", commands=(RENDER, BATCH),
                        column=True)
    quality: str = option("medium", f"{', '.join(_SIZES[:-1])} or {_SIZES[-1]}.",
                          choices=tuple(QUALITIES), commands=(RENDER, SLIDES, BATCH),
                          column=True)
    fmt: str = option("mp4", "Video format; or the last frame as a figure: png (pixels), svg "
                      "or pdf (vectors).",
                      name="format", choices=VIDEO_FORMATS, commands=(RENDER, BATCH),
                      column=True)
    transparent: bool = option(False, "Transparent background (webm, mov, svg or pdf).",
                               commands=(RENDER, BATCH), column=True)
    fps: int | None = option(None, "Frames per second, 1 to 120.", kind=int, metavar="N",
                             between=(1, 120), commands=(RENDER, BATCH), column=True,
                             shown_default="the quality's")
    sections: bool = option(False, "Also write one clip per section (the explainer's "
                            "stages); with png, svg or pdf one figure per section, as it "
                            "stands at its end.", commands=(RENDER, BATCH), column=True)
    out: Path = option(Path("renders"), "Root folder; each sentence gets a folder inside it.",
                       kind=Path, metavar="DIR", commands=(RENDER, SLIDES, BATCH))
    theme: str = option("dark", "Colour theme.", choices=tuple(THEMES),
                        commands=(RENDER, SLIDES, BATCH), column=True)
    silent: bool = option(False, "No spoken narration (mp4, webm and mov are narrated; gif "
                          "and png are not).", commands=(RENDER, SLIDES, BATCH), column=True)
    voice_speed: float = option(1.0, "How fast the narrator reads.", metavar="0.8-1.25",
                                between=(0.8, 1.25), commands=(RENDER, SLIDES, BATCH),
                                column=True)
    burn_captions: bool = option(False, "Draw the captions in a band under the picture.",
                                 commands=(RENDER, BATCH), column=True)
    verbose: bool = option(False, "Show Manim's own log and progress bars.",
                           commands=(RENDER, SLIDES, BATCH))
    # Internal, not an option: the explainer sections one process draws (qkv.pool).
    part: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_options(self)
        object.__setattr__(self, "out", Path(self.out))
        if self.transparent and self.fmt not in ("webm", "mov", "svg", "pdf"):
            raise QKVError("--transparent needs --format webm, mov, svg or pdf")
        if self.sections and self.fmt == "gif":
            raise QKVError("--sections cuts clips or figures; use it with mp4, webm, mov, png, "
                           "svg or pdf")

    @property
    def narrated(self) -> bool:
        """Spoken narration: videos whose container carries sound, unless --silent."""
        from qkv.soundtrack import SOUND_FORMATS

        return not self.silent and self.fmt in SOUND_FORMATS

    def check_voice(self) -> None:
        """Before anything is rendered: a narrated video needs the voice installed."""
        if self.narrated:
            from qkv.voice import voice_model

            voice_model()


RENDER_OPTIONS = options_of(RenderOptions)
OPTION = {o.field: o for o in RENDER_OPTIONS}  # by field: OPTION["voice_speed"].check(1.5)


def for_command(command: str, *classes) -> tuple[Option, ...]:
    """The options of ``classes`` (RenderOptions first) that ``command`` takes as flags."""
    return tuple(o for cls in (RenderOptions, *classes) for o in options_of(cls)
                 if command in o.commands)
