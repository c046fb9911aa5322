"""The base scene: holds one frozen trace and one theme; stage scenes only read them.

A scene gets its trace from the caller (``ScoresScene(trace=...)``) or, when Manim's own CLI
builds it with no arguments, from ``QKV_*`` environment variables (see :func:`trace_from_env`).
"""

from __future__ import annotations

import os

import numpy as np
from manim import DOWN, UP, FadeIn, FadeOut, ManimColor, Scene, VGroup, config

from attention import (
    DEFAULT_SENTENCE,
    MATH_OPTIONS,
    AttentionConfig,
    AttentionTrace,
    compute_config,
)
from engine.fades import FadeAway
from engine.pictures import FadeAwayAsOne
from engine.text import light
from scenes.components import fit_width, plain_text
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
    deck = False  # a slide deck (scenes/deck.py): each beat is a stop, its caption the notes

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
        :func:`~engine.text.light`): every animation of them copies them."""
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
        """Fade out everything on screen (between the stages of the explainer), as one picture
        when it is all shapes (engine/pictures.py). In a deck the fade opens the next stop,
        so that no stop ends on an empty screen."""
        if not self.mobjects:
            return
        whole = FadeAwayAsOne.of(self.mobjects, whole=True)  # drawn once, then painted
        fade = [whole] if whole is not None else \
            [FadeAway(m) if FadeAway.fades_away(m) else FadeOut(m) for m in self.mobjects]
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
