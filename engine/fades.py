"""Fades by colours alone: Manim's FadeIn and FadeOut (no shift, no scale) without their two
copies of the mobject and per-frame point interpolation.

Manim internals it depends on: ``Animation.begin``/``interpolate_mobject``/
``clean_up_from_scene``, the ``introducer``/``remover`` flags, ``create_starting_mobject``,
and a VMobject's ``fill_rgbas``, ``stroke_rgbas`` and ``background_stroke_rgbas`` arrays.
"""

from __future__ import annotations

from manim import Animation, AnimationGroup, FadeIn, FadeOut, Mobject, VMobject
from manim.utils.bezier import interpolate


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
    """``old`` fades away while ``new`` fades in where it stands: numbers replaced in their
    cells. A Transform of one number's glyphs into another's traces new shapes every frame
    and shows half-morphed digits; this draws both as they are (a 16-token grid rescaled at
    480p15: 2.1 s -> 1.3 s), each as one picture when it can be (engine/pictures.py: drawn
    once, then painted; the same frames when its shapes do not overlap, as a grid's numbers
    do not), else by colours alone. ``to_front``: ``old`` is moved to the end of the drawing
    order as the fade begins, just before ``new``."""
    from engine.pictures import FadeAwayAsOne, FadeInAsOne

    away, came = FadeAwayAsOne.of([old], to_front=to_front), FadeInAsOne.of([new])
    if away is not None and came is not None:
        return AnimationGroup(away, came, **kwargs)
    return AnimationGroup(FadeAway(old, introducer=to_front), FadeInPlace(new), **kwargs)
