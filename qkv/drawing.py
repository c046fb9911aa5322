"""How qkv has Manim draw its frames: Manim's Cairo renderer and camera with three changes,
each measured (``benchmarks/render_bench.py``; the README's Speed section has the figures).
Every frame shows what Manim's own renderer would draw.

1. **Only what moves is drawn per frame.** Manim draws, once per ``play``, everything below the
   first animated mobject into a background, and every frame redraws the first animated
   mobject *and everything above it*: one highlighted row of a grid added early means the
   whole grid above it is redrawn 15 to 60 times a second. Here the mobjects above the last
   animated one are drawn once, onto a transparent layer, which is laid over each frame
   (cairo's OVER, as drawing them would): per frame only the run from the first animated
   mobject to the last is drawn.
2. **A skipped play draws nothing.** Manim draws the whole scene twice for a play it skips
   (the sections another ``--jobs`` part draws, every play of a ``dry_run``) although no
   frame of it is written. The next drawn play draws its own background, so nothing stale
   can show.
3. **A shape's path is built once.** Turning a VMobject's Bézier points into a cairo path is
   a Python loop over its curves, run for every mobject on every frame; the camera keeps the
   path of each set of points it has drawn (keyed by the points' bytes) and replays it.

Manim is pinned below 0.22; this overrides two methods of its ``CairoRenderer`` and one of
its ``Camera``.
"""

from __future__ import annotations

from collections import OrderedDict

import cairo
import numpy as np
from manim import config
from manim.animation.composition import AnimationGroup
from manim.camera.camera import Camera
from manim.renderer.cairo_renderer import CairoRenderer

from qkv.encoder import QkvFileWriter

PATHS_KEPT = 50_000  # cairo paths the camera remembers (a glyph's is ~1 KB)


class QkvCamera(Camera):
    """Manim's camera; the cairo path of each shape drawn is kept and replayed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._paths: OrderedDict[bytes, cairo.Path] = OrderedDict()

    def set_cairo_context_path(self, ctx, vmobject):
        points = vmobject.points
        if len(points) == 0 or not np.isfinite(points).all():
            return super().set_cairo_context_path(ctx, vmobject)
        key = points.tobytes()
        path = self._paths.get(key)
        if path is None:
            super().set_cairo_context_path(ctx, vmobject)
            path = self._paths[key] = ctx.copy_path()
            if len(self._paths) > PATHS_KEPT:
                self._paths.popitem(last=False)
        else:
            ctx.new_path()
            ctx.append_path(path)
        return self


def animated_family(animations) -> set[int]:
    """ids of every mobject an animation (or a group's animations) may change."""
    ids: set[int] = set()
    for anim in animations:
        ids.update(map(id, anim.mobject.get_family()))
        if isinstance(anim, AnimationGroup):
            ids |= animated_family(anim.animations)
    return ids


class QkvRenderer(CairoRenderer):
    """Manim's Cairo renderer, drawing per frame only the run of mobjects that moves, and
    nothing for a skipped play; with qkv's camera and file writer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("file_writer_class", QkvFileWriter)
        kwargs.setdefault("camera_class", QkvCamera)
        super().__init__(**kwargs)
        self._overlay: tuple[list, np.ndarray, cairo.ImageSurface] | None = None

    def save_static_frame_data(self, scene, static_mobjects):
        self._overlay = None
        if self.skip_animations and not config.save_last_frame:
            self.static_image = None  # no frame of this play is written
            return None
        self._split_moving(scene)
        return super().save_static_frame_data(scene, static_mobjects)

    def _split_moving(self, scene) -> None:
        """Cut ``scene.moving_mobjects`` (Manim's: from the first animated mobject to the top)
        after the last one that can change; what lies above is drawn once, as an overlay."""
        moving = [m for m in scene.moving_mobjects if m.has_points()]
        changing = animated_family(scene.animations or [])
        changing.update(id(m) for m in scene.foreground_mobjects)
        last = max((k for k, m in enumerate(moving)
                    if id(m) in changing or m.get_family_updaters()), default=-1)
        above = moving[last + 1:]
        if not above:
            return
        camera = self.camera
        camera.set_pixel_array(np.zeros_like(camera.pixel_array))
        camera.capture_mobjects(above, include_submobjects=False)
        layer = camera.pixel_array.copy()
        h, w = layer.shape[:2]
        surface = cairo.ImageSurface.create_for_data(layer.data, cairo.FORMAT_ARGB32, w, h)
        scene.moving_mobjects = moving[:last + 1]
        self._overlay = (scene.moving_mobjects, layer, surface)

    def update_frame(self, scene, mobjects=None, include_submobjects=True,
                     ignore_skipping=True, **kwargs):
        overlay = self._overlay
        if overlay is not None and mobjects is overlay[0]:
            if self.skip_animations and not config.save_last_frame:
                return  # a skipped play's one frame: never written
            super().update_frame(scene, mobjects or [], include_submobjects=False,
                                 ignore_skipping=ignore_skipping, **kwargs)
            ctx = self.camera.get_cairo_context(self.camera.pixel_array)
            ctx.save()
            ctx.identity_matrix()
            ctx.set_source_surface(overlay[2], 0, 0)
            ctx.paint()
            ctx.restore()
            return
        if (self.skip_animations and not config.save_last_frame
                and mobjects is not None and mobjects is scene.moving_mobjects):
            return  # a skipped play's one frame: never written
        super().update_frame(scene, mobjects, include_submobjects=include_submobjects,
                             ignore_skipping=ignore_skipping, **kwargs)
