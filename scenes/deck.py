"""The explainer as a manim-slides ``Slide``: a stop after each narrated beat, the caption as
its notes (see ``AttentionScene.beat``). ``qkv slides`` renders and converts it."""

from __future__ import annotations

from manim import DOWN, LEFT, VGroup
from manim_slides import Slide

from scenes.components import plain_text
from scenes.explainer import ExplainerScene
from scenes.layout import text_width


class ExplainerDeck(ExplainerScene, Slide):
    """The explainer, with a stop after each beat."""

    deck = True
    skip_reversing = True  # reveal.js and PowerPoint never play a slide backwards


class ExplainerHandout(ExplainerScene):
    """The deck's stops as the pages of a printed handout (``qkv slides --to pdf``): the same
    beats and stops as :class:`ExplainerDeck`, played through without frames; where the deck
    stops, ``on_stop(notes)`` is called with the scene as the previous stop ends (the
    caller draws the page), and once more at the end."""

    deck = True
    on_stop = None  # set by qkv.slides: f(notes of the stop that just ended)
    NOTES_FONT = 30  # ~10 pt on the page
    NOTES_COLOUR = "#222222"  # dark grey on white paper

    def setup(self):
        super().setup()
        self._notes = None

    def next_slide(self, notes: str = "", **kwargs) -> None:
        self.end_stop()
        self._notes = notes

    def end_stop(self) -> None:
        if self._notes is not None and self.on_stop is not None:
            self.on_stop(self._notes)
        self._notes = None

    def notes_mobject(self, notes: str, width: float) -> VGroup:
        """``notes`` as left-aligned lines of plain text at most ``width`` wide (words
        measured one by one, so that a page's wrap costs no Pango call per line)."""
        font, size = self.theme.font, self.NOTES_FONT
        space = text_width("a a", font, size) - 2 * text_width("a", font, size)
        lines, line, used = [], [], 0.0
        for word in notes.split():
            w = text_width(word, font, size)
            if line and used + space + w > width * 0.97:
                lines.append(" ".join(line))
                line, used = [], 0.0
            used += (space if line else 0) + w
            line.append(word)
        if line:
            lines.append(" ".join(line))
        group = VGroup(*(plain_text(text, self.theme, font_size=size, color=self.NOTES_COLOUR)
                         for text in lines))
        return group.arrange(DOWN, aligned_edge=LEFT, buff=0.12)
