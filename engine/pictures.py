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
from manim import Animation, Mobject, VMobject, config
from manim.mobject.types.image_mobject import AbstractImageMobject
from manim.utils.family import extract_mobject_family_members

LINE_WIDTH_MULTIPLE = 0.01  # Manim's Camera: a stroke of width w is w * 0.01 units across
EDGE_PIXELS = 3  # antialiasing reaches a pixel beyond a shape: the picture keeps 3 more


def pictured(mobjects: Sequence[Mobject]) -> list[VMobject] | None:
    """The shapes of ``mobjects`` in the order a camera draws them (by z-index, then as
    listed, each once), if they can be one picture: every shape drawn is a VMobject of plain
    colours (no background image). Else None."""
    shapes = extract_mobject_family_members(list(mobjects), use_z_index=True,
                                            only_those_with_points=True)
    if not shapes or not all(isinstance(m, VMobject) and not m.get_background_image()
                             for m in shapes):
        return None
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
        self.points = np.array([[x0, y1, 0], [x1, y1, 0], [x0, y0, 0], [x1, y0, 0]])
        return self

    def get_pixel_array(self) -> np.ndarray:
        """The picture as an image (RGBA, straight alpha, at this opacity) for a camera that
        does not know pictures: the shapes drawn by a camera framed on the picture's box."""
        from manim.camera.camera import Camera

        (x0, y1, _), (x1, _, _), (_, y0, _) = self.points[:3]
        scale = config.pixel_width / config.frame_width
        w, h = max(int(round((x1 - x0) * scale)), 1), max(int(round((y1 - y0) * scale)), 1)
        camera = Camera(pixel_width=w, pixel_height=h, frame_width=w / scale,
                           frame_height=h / scale, frame_center=[(x0 + x1) / 2, (y0 + y1) / 2, 0],
                           background_opacity=0)
        camera.capture_mobjects(self.shapes, include_submobjects=False)
        rgba = camera.pixel_array.astype(np.float64)  # premultiplied by cairo
        alpha = rgba[:, :, 3:]
        rgba[:, :, :3] = np.where(alpha > 0, rgba[:, :, :3] * 255 / np.maximum(alpha, 1), 0)
        rgba[:, :, 3:] *= self.opacity
        return np.clip(np.round(rgba), 0, 255).astype(np.uint8)

    def set_color(self, color=None, alpha=None, family=True):
        return self  # (a picture keeps its shapes' colours)

    def set_opacity(self, alpha: float):
        self.opacity = float(alpha)
        return self

    def interpolate_color(self, mobject1, mobject2, alpha):
        self.opacity = (1 - alpha) * mobject1.opacity + alpha * mobject2.opacity


class FadeAwayAsOne(Animation):
    """``mobjects`` fade out together as one :class:`Picture` and leave the scene (as Manim's
    FadeOut leaves them: removed, unchanged). The picture takes the place in the scene's list
    of the first of them that is there; it is exactly what they drew when what they are is
    everything on screen, or drawn together (nothing else between them in the drawing
    order). Make it with :meth:`of`, which says whether they can be one picture."""

    def __init__(self, mobjects: Sequence[Mobject], shapes: Sequence[VMobject], **kwargs):
        self.sources = list(mobjects)
        kwargs.setdefault("introducer", True)  # the picture is put in place by _setup_scene
        kwargs.setdefault("remover", True)
        super().__init__(Picture(shapes), **kwargs)

    @classmethod
    def of(cls, mobjects: Sequence[Mobject], **kwargs) -> FadeAwayAsOne | None:
        """The fade of ``mobjects`` as one picture, or None if they cannot be one
        (:func:`pictured`)."""
        shapes = pictured(mobjects)
        return None if shapes is None else cls(mobjects, shapes, **kwargs)

    def _setup_scene(self, scene) -> None:
        gone = {id(m) for m in self.sources}
        at = next((i for i, m in enumerate(scene.mobjects) if id(m) in gone),
                  len(scene.mobjects))
        scene.remove(*self.sources)  # (none of those before ``at``)
        scene.mobjects.insert(min(at, len(scene.mobjects)), self.mobject)

    def create_starting_mobject(self):
        return Mobject()  # (nothing to copy: the opacity is all that changes)

    def interpolate_mobject(self, alpha: float) -> None:
        self.mobject.opacity = 1.0 - self.rate_func(alpha)
