"""Many shapes faded as one picture: a stage of a 16-token explainer is ~400 shapes, and Manim
fades each of them on every frame of the fade that clears it (each a cairo fill at its own
opacity). Here the shapes are drawn once, as they stand, into a transparent picture the size
of their box, and each frame paints that picture at the fade's opacity: one cairo paint.

It also looks calmer: a picture fades as a whole, so the heat cells under a fading number do
not show through it (each shape at half opacity lets what is under it through).

:class:`Picture` is drawn by :class:`engine.renderer.QkvCamera` (``display_image_mobject``);
any other camera (Manim's) draws it as the image :meth:`Picture.get_pixel_array` returns.

Manim internals it depends on: ``AbstractImageMobject`` (its four corner ``points``: top left,
top right, bottom left, bottom right, and ``get_pixel_array``), ``Animation._setup_scene`` /
``begin`` / ``interpolate_mobject`` / ``clean_up_from_scene`` and the ``introducer`` /
``remover`` flags, ``Scene.mobjects``, ``extract_mobject_family_members``, and
``Camera.cairo_line_width_multiple`` (0.01 unless a camera is made with another).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import Animation, Group, Mobject, VMobject, config
from manim.mobject.types.image_mobject import AbstractImageMobject
from manim.utils.family import extract_mobject_family_members

LINE_WIDTH_MULTIPLE = 0.01  # Manim's Camera: a stroke of width w is w * 0.01 units across
EDGE_PIXELS = 3  # antialiasing reaches a pixel beyond a shape: the picture keeps 3 more


def pictured(mobjects: Sequence[Mobject]) -> list[VMobject] | None:
    """The shapes of ``mobjects`` in the order a camera draws them (by z-index, then as
    listed, each once), if they can be one picture: every shape drawn is a VMobject of plain
    colours (no background image), and no updater changes any of them. Else None."""
    shapes = extract_mobject_family_members(list(mobjects), use_z_index=True,
                                            only_those_with_points=True)
    if not shapes or not all(isinstance(m, VMobject) and not m.get_background_image()
                             for m in shapes):
        return None
    if any(m.updaters for m in extract_mobject_family_members(list(mobjects))):
        return None  # (a picture would not follow them)
    if not all(np.isfinite(m.points).all() for m in shapes):
        return None  # (Manim draws nothing of such a shape; a box cannot hold it)
    return shapes


class Picture(AbstractImageMobject):
    """``shapes`` (VMobjects, in drawing order) shown as one picture at ``opacity``. Its
    points are the corners of the shapes' box, widened by the farthest a stroke's mitre
    reaches (cairo's limit: 10 half-widths) and a few pixels of antialiasing: nothing the
    shapes draw falls outside. The shapes are drawn when a camera first shows the picture,
    as they stand then: they must not change while it is on screen."""

    def __init__(self, shapes: Sequence[VMobject], **kwargs):
        self.shapes = list(shapes)
        self.opacity = 1.0
        self.layers: dict[tuple, tuple] = {}  # camera's frame -> (cairo surface, x, y)
        super().__init__(scale_to_resolution=config.pixel_height, **kwargs)

    def reset_points(self):
        xyz = np.concatenate([m.points for m in self.shapes])
        widest = max(max(m.get_stroke_width(), m.get_stroke_width(background=True))
                     for m in self.shapes)
        pad = widest * LINE_WIDTH_MULTIPLE * 5 \
            + EDGE_PIXELS * config.frame_width / config.pixel_width
        (x0, y0), (x1, y1) = xyz[:, :2].min(axis=0) - pad, xyz[:, :2].max(axis=0) + pad
        # on whole pixels of a frame centred at the origin: its image (get_pixel_array) then
        # lies pixel on pixel where Manim's camera puts it
        per = config.pixel_width / config.frame_width
        x0, y0 = np.floor(x0 * per) / per, np.floor(y0 * per) / per
        x1, y1 = np.ceil(x1 * per) / per, np.ceil(y1 * per) / per
        self.points = np.array([[x0, y1, 0], [x1, y1, 0], [x0, y0, 0], [x1, y0, 0]])
        return self

    def get_pixel_array(self) -> np.ndarray:
        """The picture as an image (RGBA, straight alpha, at this opacity) for a camera that
        does not know pictures: the shapes drawn once by a camera framed on the picture's
        box, on transparent black (the config's colour at opacity 0 is no valid
        premultiplied pixel: it would tint the edges)."""
        if getattr(self, "_image", None) is None:
            from manim.camera.camera import Camera

            (x0, y1, _), (x1, _, _), (_, y0, _) = self.points[:3]
            scale = config.pixel_width / config.frame_width
            w = max(int(round((x1 - x0) * scale)), 1)
            h = max(int(round((y1 - y0) * scale)), 1)
            camera = Camera(pixel_width=w, pixel_height=h, frame_width=w / scale,
                            frame_height=h / scale,
                            frame_center=[(x0 + x1) / 2, (y0 + y1) / 2, 0])
            camera.background[:] = 0
            camera.reset()
            camera.capture_mobjects(self.shapes, include_submobjects=False)
            rgba = camera.pixel_array.astype(np.float64)  # premultiplied by cairo
            alpha = rgba[:, :, 3:]
            rgba[:, :, :3] = np.where(alpha > 0, rgba[:, :, :3] * 255 / np.maximum(alpha, 1), 0)
            self._image = np.clip(np.round(rgba), 0, 255).astype(np.uint8)
        image = self._image.copy()
        image[:, :, 3] = np.round(image[:, :, 3] * self.opacity).astype(np.uint8)
        return image

    def __deepcopy__(self, memo):
        """A copy showing the same shapes (shared: a picture never changes them), its points
        its own, its layers made again when drawn (cairo surfaces are not copied)."""
        copy = self.__class__.__new__(self.__class__)
        memo[id(self)] = copy
        copy.__dict__.update(self.__dict__)
        copy.points, copy.layers, copy._image = self.points.copy(), {}, None
        copy.submobjects, copy.updaters = [], []
        return copy

    def set_color(self, color=None, alpha=None, family=True):
        return self  # (a picture keeps its shapes' colours)

    def set_opacity(self, alpha: float):
        self.opacity = float(alpha)
        return self

    def interpolate_color(self, mobject1, mobject2, alpha):
        self.opacity = (1 - alpha) * mobject1.opacity + alpha * mobject2.opacity


class PictureFade(Animation):
    """A fade of ``mobjects`` as pictures of their ``shapes`` (:func:`pictured`), which stand
    in the scene for them while it plays: one picture per z-index of the shapes, each at
    that z-index (shapes under the grid lines stay under them), or one of all (``whole``:
    when they are everything on screen, the calmest fade: nothing shows through anything).
    Make one with :meth:`of`, which says whether they can be pictures. Nothing else may
    change them while it plays (a picture shows them as they were when first drawn)."""

    fading_in = False

    def __init__(self, mobjects: Sequence[Mobject], shapes: Sequence[VMobject], *,
                 whole: bool = False, **kwargs):
        self.sources = list(mobjects)
        levels: dict[float, list[VMobject]] = {}
        for m in shapes:
            levels.setdefault(0 if whole else m.z_index, []).append(m)
        pictures = []
        for z, level in levels.items():
            pictures.append(Picture(level))
            pictures[-1].z_index = z
        # the pictures are put in place by _setup_scene, and taken away when the play ends
        kwargs.setdefault("introducer", True)
        kwargs.setdefault("remover", True)
        super().__init__(Group(*pictures), **kwargs)

    @classmethod
    def of(cls, mobjects: Sequence[Mobject], **kwargs) -> PictureFade | None:
        """The fade of ``mobjects`` as pictures, or None if they cannot be pictures."""
        shapes = pictured(mobjects)
        return None if shapes is None else cls(mobjects, shapes, **kwargs)

    def create_starting_mobject(self):
        return Mobject()  # (nothing to copy: the opacity is all that changes)

    def interpolate_mobject(self, alpha: float) -> None:
        a = self.rate_func(alpha)
        for picture in self.mobject.submobjects:
            picture.opacity = a if self.fading_in else 1.0 - a


class FadeAwayAsOne(PictureFade):
    """``mobjects`` fade out together as pictures and leave the scene (as Manim's FadeOut
    leaves them: removed, unchanged). The picture takes the place in the scene's list of the
    first of them that is there (``to_front``: the end); it is exactly what they drew when
    they are everything on screen, or drawn together (nothing else between them in the
    drawing order)."""

    def __init__(self, mobjects, shapes, *, to_front: bool = False, **kwargs):
        self.to_front = to_front
        super().__init__(mobjects, shapes, **kwargs)

    def _setup_scene(self, scene) -> None:
        gone = {id(f) for m in self.sources for f in m.get_family()}
        at = next((i for i, m in enumerate(scene.mobjects)
                   if any(id(f) in gone for f in m.get_family())), None)
        _take_out(scene, self.sources)  # (none of those before ``at``)
        _add_at(scene, [self.mobject], None if self.to_front else at)


class FadeInAsOne(PictureFade):
    """``mobjects`` fade in together as pictures, added to the scene as Manim's FadeIn adds
    them (at the end of its list); when the play ends they stand where the pictures stood,
    as they are."""

    fading_in = True

    def _setup_scene(self, scene) -> None:
        _take_out(scene, self.sources)
        scene.add(self.mobject)

    def clean_up_from_scene(self, scene) -> None:
        at = next((i for i, m in enumerate(scene.mobjects) if m is self.mobject), None)
        super().clean_up_from_scene(scene)  # (the pictures removed)
        _add_at(scene, self.sources, at)


def _take_out(scene, mobjects: list) -> None:
    """``mobjects`` and every part of them out of the scene, as ``scene.add`` takes them
    out before adding them again (``scene.remove`` takes out only the mobjects named: a
    stage's parts added one by one would stay); and out of what the play draws each frame,
    when this happens mid-play (a Succession's later part). (Not supported: a picture fade
    that begins mid-play of mobjects still at the play's start: they are in its background.)"""
    names = ["mobjects", "foreground_mobjects"]
    if getattr(scene, "moving_mobjects", None):
        names.append("moving_mobjects")
    for name in names:
        scene.restructure_mobjects(mobjects, name, extract_families=True)


def _add_at(scene, mobjects: list, at: int | None) -> None:
    """``scene.add(*mobjects)`` (the scene's own add: a scene may do more there), then moved
    from the end of the scene's list to index ``at`` (None: left at the end)."""
    scene.add(*mobjects)
    if at is None:
        return
    ids = {id(m) for m in mobjects}
    rest = [m for m in scene.mobjects if id(m) not in ids]
    at = min(at, len(rest))
    scene.mobjects = [*rest[:at], *mobjects, *rest[at:]]


def fade_in_as_one(mobjects: Sequence[Mobject], **kwargs) -> Animation:
    """The fade-in of ``mobjects`` as one picture (:class:`FadeInAsOne`) if they can be one,
    else each by its colours (engine.fades)."""
    from engine.fades import fade_in

    fade = FadeInAsOne.of(mobjects, **kwargs)
    if fade is not None:
        return fade
    from manim import AnimationGroup
    kwargs.pop("whole", None)
    return AnimationGroup(*(fade_in(m) for m in mobjects), **kwargs)


def fade_out_as_one(mobjects: Sequence[Mobject], **kwargs) -> Animation:
    """The fade-out of ``mobjects`` as pictures (:class:`FadeAwayAsOne`) if they can be,
    else each by its colours (engine.fades)."""
    from engine.fades import fade_out

    fade = FadeAwayAsOne.of(mobjects, **kwargs)
    if fade is not None:
        return fade
    from manim import AnimationGroup
    to_front = kwargs.pop("to_front", False)
    kwargs.pop("whole", None)
    return AnimationGroup(*(fade_out(m, **({"introducer": True} if to_front else {}))
                            for m in mobjects), **kwargs)
