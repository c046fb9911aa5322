"""The base scene: holds one frozen trace and one theme; stage scenes only read them.

A scene gets its trace from the caller (``ScoresScene(trace=...)``) or, when Manim's own CLI
builds it with no arguments, from ``QKV_*`` environment variables (see :func:`trace_from_env`).
"""

from __future__ import annotations

import os

import numpy as np
from manim import (DOWN, UP, Animation, AnimationGroup, FadeIn, FadeOut, ManimColor, Mobject,
                   Scene, VGroup, VMobject, config)
from manim.utils.bezier import interpolate

from attention import (
    DEFAULT_SENTENCE,
    MATH_OPTIONS,
    AttentionConfig,
    AttentionTrace,
    compute_config,
)

from scenes.components import fit_width, light, plain_text
from scenes.layout import (
    CAPTION_BAND_TOP,
    CAPTION_BAND_Y,
    CAPTION_FONT,
    CAPTION_SCALE,
    EQUATION_Y,
    FRAME_W,
)
from scenes.theme import Theme, get_theme

READING_CPS = 20  # subtitle reading speed, characters per second (a common ceiling)
CUE_GAP = 0.1  # seconds between one caption and the next
SPEECH_PAUSE = 0.5  # seconds of quiet after a spoken caption, before the next beat


class ColourFade(Animation):
    """A fade that changes nothing but colours: each shape's fill, stroke and background-stroke
    colours go between their own and the same with opacity 0, interpolated as Manim's
    FadeOut and FadeIn (Transforms from or into a faded copy) interpolate them. Those also
    re-interpolate every point of every shape between two equal copies each frame, and copy
    the whole mobject twice to begin. For VMobjects only (:meth:`fades_away`)."""

    fading_in = False  # from opacity 0 to the mobject's own colours (else the other way)

    def __init__(self, mobject, **kwargs):
        kwargs.setdefault("introducer" if self.fading_in else "remover", True)
        super().__init__(mobject, **kwargs)

    @staticmethod
    def fades_away(mobject) -> bool:
        """Whether every part drawn (with points: all a Transform changes) is a VMobject."""
        return all(isinstance(m, VMobject) for m in mobject.family_members_with_points())

    def create_starting_mobject(self):
        return Mobject()  # the start is kept as colours (begin), not as a copy

    def begin(self) -> None:
        self._colours = []
        for m in self.mobject.family_members_with_points():
            own = (m.fill_rgbas.copy(), m.stroke_rgbas.copy(), m.background_stroke_rgbas.copy())
            clear = tuple(a.copy() for a in own)
            for a in clear:
                a[:, 3] = 0.0
            self._colours.append((m, clear, own) if self.fading_in else (m, own, clear))
        super().begin()

    def interpolate_mobject(self, alpha: float) -> None:
        a = self.rate_func(alpha)
        for m, (f0, s0, b0), (f1, s1, b1) in self._colours:
            m.fill_rgbas = interpolate(f0, f1, a)
            m.stroke_rgbas = interpolate(s0, s1, a)
            m.background_stroke_rgbas = interpolate(b0, b1, a)

    def clean_up_from_scene(self, scene) -> None:
        super().clean_up_from_scene(scene)
        if not self.fading_in:
            self.interpolate(0)


class FadeAway(ColourFade):
    """Manim's FadeOut (no shift, no scale) by colours alone: fading out the stages of a
    16-token explainer (480p15) took 4.3-4.9 s of its ~36 s of CPU, 2.5 s with this.
    Afterwards, as after FadeOut, the mobject is removed and restored to how it was."""


class FadeInPlace(ColourFade):
    """Manim's FadeIn (no shift, no scale) by colours alone: the mobject is added, and its
    shapes' colours go from opacity 0 to their own (exactly their own at the end); the grids
    of a stage fade in cell by cell."""

    fading_in = True


MOVES = frozenset({"shift", "scale", "target_position"})  # FadeIn/FadeOut: move or resize


def by_colour(mobject, kwargs) -> bool:
    """Whether Manim's FadeIn or FadeOut of ``mobject`` with ``kwargs`` would change colours
    only: nothing moves or changes size, and every shape is a VMobject."""
    return not (MOVES & kwargs.keys()) and ColourFade.fades_away(mobject)


def fade_in(mobject, **kwargs) -> Animation:
    """FadeIn(mobject, ...): by colours alone (:class:`FadeInPlace`) when :func:`by_colour`;
    else Manim's FadeIn."""
    return (FadeInPlace if by_colour(mobject, kwargs) else FadeIn)(mobject, **kwargs)


def fade_out(mobject, **kwargs) -> Animation:
    """FadeOut(mobject, ...): by colours alone (:class:`FadeAway`) when :func:`by_colour`;
    else Manim's FadeOut."""
    return (FadeAway if by_colour(mobject, kwargs) else FadeOut)(mobject, **kwargs)


def cross_fade(old, new, *, to_front: bool = False, **kwargs) -> AnimationGroup:
    """``old`` fades away while ``new`` fades in where it stands, by colours alone: numbers
    replaced in their cells. A Transform of one number's glyphs into another's traces new
    shapes every frame and shows half-morphed digits; this draws both as they are (a
    16-token grid rescaled at 480p15: 2.1 s -> 1.3 s). ``to_front``: ``old`` is moved to the
    end of the drawing order as the fade begins, just before ``new``."""
    return AnimationGroup(FadeAway(old, introducer=to_front), FadeInPlace(new), **kwargs)


def trace_from_env(env=None) -> AttentionTrace:
    """Build the trace from QKV_SENTENCE and one QKV_<OPTION> variable per math option
    (QKV_CAUSAL, QKV_SCALE, QKV_TEMPERATURE, ...; each optional), for
    ``manim scenes/scores.py ScoresScene``."""
    env = os.environ if env is None else env
    given = {o.name: o.parse(env[o.env], o.env) for o in MATH_OPTIONS if env.get(o.env)}
    return compute_config(env.get("QKV_SENTENCE") or DEFAULT_SENTENCE, AttentionConfig(**given))


class AttentionScene(Scene):
    """A scene that explains one :class:`~attention.AttentionTrace` in one :class:`Theme`."""

    title_text = ""  # set by each stage
    deck = False  # a slide deck (scenes/slides.py): each beat is a stop, its caption the notes

    def __init__(self, trace: AttentionTrace | None = None, theme: Theme | str | None = None,
                 voice=None, burn_captions: bool = False, **kwargs):
        """``voice``: when the video is narrated, a function that tells how many seconds a
        caption takes to say (qkv's narrator); each beat then lasts at least that long.
        ``burn_captions``: draw each caption in a band under the picture."""
        self.trace = trace if trace is not None else trace_from_env()
        self.theme = get_theme(theme or os.environ.get("QKV_THEME") or None)
        self.voice = voice
        self.burn_captions = burn_captions
        super().__init__(**kwargs)

    def setup(self) -> None:
        self.camera.background_color = ManimColor(self.theme.background)
        if self.burn_captions:  # the same top edge, a band below (scenes/layout.py)
            cam = self.camera
            cam.frame_width = config.frame_width * CAPTION_SCALE
            cam.frame_height = config.frame_height * CAPTION_SCALE
            top = config.frame_height / 2
            cam.frame_center = np.array([0.0, top - cam.frame_height / 2, 0.0])

    def caption_mobject(self, caption: str):
        """The caption as burned into the frame: one line, or two split near the middle,
        centred in the caption band, in the theme's text colour (WCAG AA on its
        background)."""
        width = self.camera.frame_width - 0.6
        line = plain_text(caption, self.theme, font_size=CAPTION_FONT)
        if line.width <= width:
            lines = [line]
        else:
            words = caption.split()
            half = len(caption) / 2
            cut = min(range(1, len(words)),
                      key=lambda k: abs(len(" ".join(words[:k])) - half), default=1)
            lines = [plain_text(" ".join(part), self.theme, font_size=CAPTION_FONT)
                     for part in (words[:cut], words[cut:]) if part]
        group = VGroup(*lines).arrange(DOWN, buff=0.08)
        fit_width(group, width)
        height = 2 * (CAPTION_BAND_TOP - CAPTION_BAND_Y) - 0.1  # the band's, less a margin
        if group.height > height:
            group.scale_to_fit_height(height)
        group.move_to([0.0, CAPTION_BAND_Y, 0.0])
        group.qkv_caption = caption
        return group

    # -- narration helpers ---------------------------------------------------------------
    def beat(self, *animations, caption: str | None = None, run_time: float = 1.0,
             wait: float = 0.6) -> None:
        """Play ``animations`` with ``caption`` as the subtitle, then hold for ``wait``, or
        longer if the caption needs it: at most READING_CPS characters a second, and when
        narrated, until the caption is spoken (it starts with the animations) plus a pause.

        In a deck, each beat with a caption is a stop with the caption as its notes; a beat
        without one (a transition) waits and opens the next stop, so that no stop ends on a
        half-cleared screen."""
        pending = getattr(self, "_pending", None)
        if pending:
            self._pending = None
            animations = (*pending[0], *animations)
            caption = f"{pending[1]} {caption}" if caption else pending[1]
        if self.deck and not caption:
            self._defer(lambda: self._play_beat(animations, None, run_time, wait))
            return
        if self.deck:
            self.next_slide(notes=caption)
            for play in self.__dict__.pop("_deferred", []):
                play()
        self._play_beat(animations, caption, run_time, wait)

    def _play_beat(self, animations, caption, run_time: float, wait: float) -> None:
        if caption:
            needed = len(caption) / READING_CPS
            if self.voice is not None:
                needed = max(needed, self.voice(caption) + SPEECH_PAUSE)
            wait = max(wait, needed - (run_time if animations else 0))
        # Cues end a moment before the next one starts: no two are ever on screen at once. (A
        # wait is drawn as whole frames, rounded down: one frame more of margin.)
        gap = CUE_GAP + 1 / config.frame_rate
        shown = self.caption_mobject(caption) if caption and self.burn_captions else None
        if shown is not None:
            self.add(shown)
        if animations:
            self.play(*animations, run_time=run_time, subcaption=caption,
                      subcaption_duration=run_time + wait - gap)
        elif caption:
            self.add_subcaption(caption, duration=wait - gap)
        if wait:
            self.wait(wait)
        if shown is not None:
            self.remove(shown)

    def add(self, *mobjects):
        """Manim's add; the SVG path objects of formulas' glyphs are let go (see
        :func:`~scenes.components.light`): every animation of them copies them."""
        for m in mobjects:
            light(m)
        return super().add(*mobjects)

    def _defer(self, play) -> None:
        self.__dict__.setdefault("_deferred", []).append(play)

    def flatten_into(self, group) -> None:
        """Make ``group`` one mobject of the scene, however its parts were added before, so a
        transform of the whole group leaves nothing of the old parts behind."""
        self.remove(*group.get_family())
        self.add(group)

    def make_title(self, text: str):
        title = plain_text(text, self.theme, font_size=30)
        fit_width(title, FRAME_W * 0.62)
        return title.to_corner(UP + [-1, 0, 0], buff=0.3)

    def formula_corner(self, formula):
        """Put a stage's formula in the top-right corner, beside the title."""
        fit_width(formula, FRAME_W * 0.34)
        if formula.height > 0.65:  # stay above the content (SAFE_TOP)
            formula.scale_to_fit_height(0.65)
        return formula.to_corner(UP + [1, 0, 0], buff=0.3)

    def at_bottom(self, mob):
        """Put the equation in focus in the band under the content."""
        fit_width(mob, FRAME_W)
        return mob.move_to([0, EQUATION_Y, 0])

    def clear_stage(self, run_time: float = 0.6) -> None:
        """Fade out everything on screen (between the stages of the explainer). In a deck the
        fade opens the next stop, so that no stop ends on an empty screen."""
        if not self.mobjects:
            return
        fade = [FadeAway(m) if FadeAway.fades_away(m) else FadeOut(m) for m in self.mobjects]
        if self.deck:
            self._defer(lambda: self.play(*fade, run_time=run_time))
        else:
            self.play(*fade, run_time=run_time)

    def head_note(self) -> str:
        """' (head 1 of H)' when there are several heads: the scenes explain the first."""
        t = self.trace
        if t.model is not None:
            return f" (layer {t.model.layer}, head {t.model.head})"
        h = len(t.heads)
        return f" (head 1 of {h})" if h > 1 else ""

    def intro(self, title: str, formula, caption: str) -> None:
        """A stage's title and formula. They appear with the stage's first beat, and their
        caption leads that beat's caption, so the screen is never empty while one is read."""
        self._pending = ([FadeIn(self.make_title(title)), FadeIn(self.formula_corner(formula))],
                         caption)
