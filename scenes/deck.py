"""The explainer as a manim-slides ``Slide``: a stop after each narrated beat, the caption as
its notes (see ``AttentionScene.beat``). ``qkv slides`` renders and converts it."""

from __future__ import annotations

from manim_slides import Slide

from scenes.explainer import ExplainerScene


class ExplainerDeck(ExplainerScene, Slide):
    """The explainer, with a stop after each beat."""

    deck = True
    skip_reversing = True  # reveal.js and PowerPoint never play a slide backwards
