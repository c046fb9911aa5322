"""How qkv has Manim draw its frames: Manim's Cairo renderer and camera with a few changes, each
measured (``benchmarks/render_bench.py``; benchmarks/RESULTS.md has the figures). Every
frame shows what Manim's own renderer would draw (tests/test_engine.py compares them).

1. **A skipped play draws nothing.** Manim draws the whole scene twice for a play it skips
   (every play of a ``dry_run``: the tests build scenes so) although no frame of it is
   written. The next drawn play draws its own background, so nothing stale can show.
2. **A shape's path is built once.** Turning a VMobject's Bézier points into a cairo path is
   a Python loop over its curves, run for every mobject on every frame; the camera keeps the
   path of each set of points it has drawn (keyed by the points' bytes) and replays it; a
   new path is traced from a list of Python floats (Manim reads one numpy element at a time).
3. **A copy skips what it need not copy.** Every animation copies what it animates (a
   Transform its start and target, a FadeIn its faded self), and Manim's
   ``Mobject.__deepcopy__`` hands each of a mobject's ~40 attributes to ``copy.deepcopy``, most
   of them ints, floats, strings and None, which ``copy.deepcopy`` returns as they are. The
   copy made here shares those at once and deep-copies the rest as Manim does: the same copy,
   at about half the Python calls. A mobject without parts is its own family at once
   (``Mobject.get_family``, asked of everything on screen several times a frame: a 16-token
   softmax frame's walk 1.2 ms → 0.65 ms). Both are installed when a :class:`QkvRenderer`
   is made; tests/test_engine.py compares them with Manim's.
4. **What a play is done with goes into its background.** Manim draws a play's still
   mobjects once and every moving one on every frame; in a LaggedStart every part counts as
   moving to the end. The moving mobjects at the front of Manim's drawing order that nothing
   will change again in the play (finished parts, no updater) are drawn once into the
   background, in that order (:meth:`QkvRenderer.render`); so is any other moving mobject
   that will not change again and whose pixel box meets nothing drawn before it on a frame
   (:meth:`QkvRenderer._hoist`: an animated heat cell at z-index -1 puts every title, label
   and line at z-index 0 after it in Manim's order). A shape at opacity 0 everywhere is not
   drawn (cairo would change no pixel).

5. **A frame gets back only what was drawn over it.** An array of the frame pool that held
   this play's background before gets back the box its moving mobjects were drawn in (their
   points, widened by a stroke's longest mitre), not the whole 8 MB background
   (:meth:`QkvCamera.set_pixel_array`).
6. **A fading shape is rasterised once.** A translucent fill of a shape already filled at the
   same place is painted through the coverage mask cairo computed for it
   (:meth:`QkvCamera.apply_fill`): the same pixels, to the bit.
7. **A picture is painted** (engine/pictures.py): its shapes drawn once into a layer of its
   box, their paths traced under the frame's own matrix and kept for the frame
   (:meth:`QkvCamera.picture_layer`), then one paint a frame at its opacity.

Manim is pinned below 0.22; this overrides three methods of its ``CairoRenderer``, eight of
its ``Camera``, and ``Mobject.__deepcopy__`` and ``Mobject.get_family``.
"""

from __future__ import annotations

import copy
import os
import weakref
from collections import OrderedDict

import cairo
import numpy as np
from manim import config
from manim.animation.composition import AnimationGroup
from manim.camera.camera import Camera
from manim.mobject.mobject import Mobject
from manim.mobject.types.image_mobject import AbstractImageMobject
from manim.mobject.types.point_cloud_mobject import PMobject
from manim.mobject.types.vectorized_mobject import VMobject
from manim.renderer.cairo_renderer import CairoRenderer

from engine.pictures import Picture
from engine.writer import FRAMES, QkvFileWriter

PATHS_KEPT = 50_000  # cairo paths the camera remembers (a glyph's is ~1 KB)
MASKS_KEPT = 20_000  # shapes whose fills it remembers,
MASK_BYTES = 64 << 20  # and their coverage masks' bytes at most (a 1080p number's: ~5 KB)
MASK_PIXELS = 200_000  # larger shapes are filled each time (cheap for cairo: few curves)
NO_MASK = (None, 0, 0)
EMPTY = (np.inf, np.inf, -np.inf, -np.inf)  # the pixel box of what draws nothing
# whether a moving mobject that will not change, clear of what is drawn before it, goes into
# the play's background (QkvRenderer._hoist); QKV_HOIST=0 for the benchmark's comparison
HOIST = os.environ.get("QKV_HOIST", "1") != "0"
# frames of this many pixels or more get back only the box drawn over them (1080p, 4K); at
# 480p and 720p a whole copy is quicker than finding the box (480p15, 16 tokens: 0.5 s of 14)
BOX_FROM = 1_000_000
# cairo blends a colour whose alpha rounds to 0xff00 / 0xffff or more as opaque (another
# formula than a mask's: off by one in a few edge pixels); below it, a mask gives its pixels
TRANSLUCENT = 0.995

# What copy.deepcopy returns unchanged (its "atomic" types, the ones attributes hold)
ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes})
MANIMS_DEEPCOPY = Mobject.__deepcopy__
MANIMS_GET_FAMILY = Mobject.get_family


def mobject_get_family(self, recurse: bool = True) -> list:
    """Manim's ``Mobject.get_family`` (itself, then each part's family, each mobject once,
    at its last place), with a leaf answered at once: every frame asks every mobject on
    screen for its family, and most of them are leaves."""
    parts = self.submobjects
    if not parts:
        return [self]
    family = [self]
    for part in parts:
        family.extend(part.get_family())
    # Manim's remove_list_redundancies (each once, at its last place) as one C-level pass:
    # a dict keeps the first of equal keys, so the reversed list, reversed back
    return list(dict.fromkeys(reversed(family)))[::-1]


def mobject_deepcopy(self, clone_from_id):
    """Manim's ``Mobject.__deepcopy__``, but atomic attributes are shared without a call to
    ``copy.deepcopy`` (which would return them as they are)."""
    cls = self.__class__
    result = cls.__new__(cls)
    clone_from_id[id(self)] = result
    deep = copy.deepcopy
    for k, v in self.__dict__.items():
        setattr(result, k, v if type(v) in ATOMIC else deep(v, clone_from_id))
    result.original_id = str(id(self))
    return result


class QkvCamera(Camera):
    """Manim's camera; the cairo path of each shape drawn is kept and replayed."""

    def __init__(self, *args, **kwargs):
        self.handed = False  # whether the pixel array went to the encoder (QkvRenderer)
        # id(pool array) -> (a weak reference to it, the background it was set to, the box
        # of pixels drawn over that background since, or None: unknown)
        self._drawn: dict[int, tuple] = {}
        self.boxes_restored = 0  # frames that got back only a box of their background
        self._blank: list | None = None  # shapes that drew nothing, while noting them
        self.masks_painted = 0  # fills painted through a kept coverage mask
        # while a picture's layer is drawn (engine/pictures.py): a context with the frame's
        # matrix, where its paths are traced
        self._in_layer: cairo.Context | None = None
        super().__init__(*args, **kwargs)
        self._paths: OrderedDict[bytes, cairo.Path] = OrderedDict()
        self._path_key: bytes | None = None  # the points of the path just set
        # (points, ctx matrix) -> False (filled once) or (A8 coverage, x, y) or NO_MASK
        self._masks: OrderedDict[tuple, object] = OrderedDict()
        self._mask_bytes = 0  # the kept masks' pixels

    # -- each frame drawn in a fresh array of the pool (engine.writer.FRAMES) --------------
    def _fresh(self) -> None:
        pixels = getattr(self, "pixel_array", None)
        if pixels is not None:
            self.pixel_array = FRAMES.take(pixels)
            self.handed = False

    def reset(self):
        self._fresh()
        return super().reset()

    def set_frame_to_background(self, background) -> None:
        self._fresh()
        super().set_frame_to_background(background)

    # -- a pool array that held this background gets back only what was drawn over it ----
    def set_pixel_array(self, pixel_array, convert_from_floats: bool = False) -> None:
        """Manim's (the pixels set to ``pixel_array``: a background), but into an array of the
        pool that last held this same background with moving mobjects drawn over a known box
        (:meth:`drawn_over`), only that box is copied back: a 1080p frame is 8 MB, the box a
        LaggedStart's parts move in is often a tenth of it."""
        frame = getattr(self, "pixel_array", None)
        if convert_from_floats or frame is None or not FRAMES.made(frame) \
                or frame.shape != np.shape(pixel_array) or pixel_array.dtype != frame.dtype:
            self._drawn.pop(id(frame), None)
            return super().set_pixel_array(pixel_array, convert_from_floats)
        ref, background, box = self._drawn.get(id(frame), (None, None, None))
        if ref is not None and ref() is frame and background is pixel_array and box:
            y0, y1, x0, x1 = box
            frame[y0:y1, x0:x1] = pixel_array[y0:y1, x0:x1]
            self.boxes_restored += 1
        else:
            np.copyto(frame, pixel_array)
        self._drawn[id(frame)] = (weakref.ref(frame), pixel_array, None)

    def now_over(self, background) -> None:
        """The pixels as they stand are ``background`` (a copy was just made of them)."""
        frame = self.pixel_array
        if id(frame) in self._drawn:
            self._drawn[id(frame)] = (weakref.ref(frame), background, None)

    def drawn_over(self, mobjects) -> None:
        """``mobjects`` were drawn over the background the pixels were set to: note the box
        of pixels they can have touched (their points, widened by the longest a stroke's
        mitre can reach and two pixels of antialiasing), or nothing (copy all) if not known."""
        frame = self.pixel_array
        entry = self._drawn.get(id(frame))
        blank, self._blank = self._blank, None
        if entry is None or entry[0]() is not frame \
                or frame.shape[0] * frame.shape[1] < BOX_FROM:
            return
        if blank:  # shapes at opacity 0 everywhere: skipped, they touched no pixel
            skipped = {id(m) for m in blank}
            mobjects = [m for m in mobjects if id(m) not in skipped]
        points, widest = [], 0.0
        for mob in mobjects:
            if isinstance(mob, VMobject):
                if len(mob.points):
                    points.append(mob.points)
                    widest = max(widest, mob.get_stroke_width(),
                                 mob.get_stroke_width(background=True))
            elif isinstance(mob, AbstractImageMobject):
                points.append(mob.points)
            elif mob.has_points():
                return  # drawn some other way: no box
        if not points:
            self._drawn[id(frame)] = (entry[0], entry[1], (0, 0, 0, 0))
            return
        xyz = np.concatenate(points)
        x, y = xyz[:, 0], xyz[:, 1]  # (a column's min is ten times quicker than min(axis=0))
        (xl, xh), (yl, yh) = (x.min(), x.max()), (y.min(), y.max())
        if not np.isfinite((xl, xh, yl, yh)).all():
            return
        ph, pw = frame.shape[:2]
        x0, y0, x1, y1 = self._reach(xl, xh, yl, yh, widest, pw, ph)
        box = (max(int(y0), 0), min(int(np.ceil(y1)) + 1, ph),
               max(int(x0), 0), min(int(np.ceil(x1)) + 1, pw))
        if box[0] >= box[1] or box[2] >= box[3]:
            box = (0, 0, 0, 0)
        self._drawn[id(frame)] = (entry[0], entry[1], box)

    def pixel_box(self, mob):
        """The box of pixels ``mob`` alone can touch (x0, y0, x1, y1; as :meth:`drawn_over`
        finds it), EMPTY when it has no points, None when not known (drawn some other
        way)."""
        if isinstance(mob, VMobject):
            points = mob.points
            if not len(points):
                return EMPTY
            widest = max(mob.get_stroke_width(), mob.get_stroke_width(background=True))
        elif isinstance(mob, AbstractImageMobject):
            points, widest = mob.points, 0.0
        elif isinstance(mob, PMobject):
            return None  # (drawn as points: no box worked out here)
        else:
            return EMPTY  # (a plain Mobject: the camera draws nothing of it)
        x, y = points[:, 0], points[:, 1]
        xl, xh, yl, yh = x.min(), x.max(), y.min(), y.max()
        if not np.isfinite((xl, xh, yl, yh)).all():
            return None
        return self._reach(xl, xh, yl, yh, widest, self.pixel_width, self.pixel_height)

    def _reach(self, xl, xh, yl, yh, widest, pw, ph) -> tuple:
        """The pixels (x0, y0, x1, y1) shapes with points in [xl, xh] x [yl, yh] and strokes
        up to ``widest`` can touch on a ``pw`` x ``ph`` frame: a stroke of width w is
        w * cairo_line_width_multiple across, a mitre reaches at most 10 half-widths
        (cairo's default limit) beyond its corner, and antialiasing two pixels."""
        sx, sy = pw / self.frame_width, ph / self.frame_height
        pad = widest * self.cairo_line_width_multiple * 5 * max(sx, sy) + 2
        cx, cy = self.frame_center[0], self.frame_center[1]
        return ((xl - cx) * sx + pw / 2 - pad, (cy - yh) * sy + ph / 2 - pad,
                (xh - cx) * sx + pw / 2 + pad, (cy - yl) * sy + ph / 2 + pad)

    def get_cairo_context(self, pixel_array):
        """Manim's, but not kept for an array of the pool (Manim keeps one per array id, and
        with it the array, for good): made anew, a few microseconds."""
        if not FRAMES.made(pixel_array):
            return super().get_cairo_context(pixel_array)
        pw, ph = self.pixel_width, self.pixel_height
        surface = cairo.ImageSurface.create_for_data(pixel_array.data, cairo.FORMAT_ARGB32,
                                                     pw, ph)
        ctx = cairo.Context(surface)
        ctx.scale(pw, ph)
        ctx.set_matrix(self.frame_matrix())
        return ctx

    def frame_matrix(self) -> cairo.Matrix:
        """The matrix Manim's ``get_cairo_context`` sets, computed as it computes it (a path
        kept under one matrix is replayed under another only if they are equal to the bit)."""
        pw, ph = self.pixel_width, self.pixel_height
        fw, fh, fc = self.frame_width, self.frame_height, self.frame_center
        return cairo.Matrix((pw / fw), 0, 0, -(ph / fh), (pw / 2) - fc[0] * (pw / fw),
                            (ph / 2) + fc[1] * (ph / fh))

    def display_vectorized(self, vmobject, ctx):
        """Manim's, but a shape with nothing to show (fill, stroke and background stroke all
        at opacity 0: a part of a fade-in not begun yet) is not drawn: cairo would leave
        every pixel as it was."""
        if not (vmobject.fill_rgbas[:, 3].any() or vmobject.stroke_rgbas[:, 3].any()
                or vmobject.background_stroke_rgbas[:, 3].any()):
            if self._blank is not None:
                self._blank.append(vmobject)
            return self
        return super().display_vectorized(vmobject, ctx)

    # -- a picture (engine/pictures.py): its shapes drawn once, then painted as one --------
    def display_image_mobject(self, image_mobject, pixel_array) -> None:
        """Manim's for an image; a :class:`Picture` is painted at its opacity (one cairo
        paint of the layer its shapes were drawn into, :meth:`picture_layer`)."""
        if not isinstance(image_mobject, Picture):
            return super().display_image_mobject(image_mobject, pixel_array)
        if image_mobject.opacity <= 0:
            image_mobject.layers.clear()  # (faded out: drawn again if it comes back)
            return
        surface, x, y = self.picture_layer(image_mobject)
        if surface is None:
            return
        ctx = self.get_cairo_context(pixel_array)
        ctx.save()
        ctx.identity_matrix()
        ctx.set_source_surface(surface, x, y)
        if image_mobject.opacity >= 1:
            ctx.paint()
        else:
            ctx.paint_with_alpha(image_mobject.opacity)
        ctx.restore()

    def picture_layer(self, picture: Picture) -> tuple:
        """``picture``'s shapes drawn as this camera draws them, in order, onto a transparent
        surface over the whole pixels of the picture's box (within the frame): (surface, x,
        y), made the first time this camera's frame shows the picture. (None, 0, 0): off
        screen."""
        pw, ph = self.pixel_width, self.pixel_height
        fw, fh, fc = self.frame_width, self.frame_height, self.frame_center
        key = (pw, ph, fw, fh, fc[0], fc[1], self.cairo_line_width_multiple)
        layer = picture.layers.get(key)
        if layer is not None:
            return layer
        frame = self.frame_matrix()
        sx, sy, ox, oy = frame.xx, -frame.yy, frame.x0, frame.y0
        px = picture.points[:, 0] * sx + ox
        py = oy - picture.points[:, 1] * sy
        x0, y0 = max(int(np.floor(px.min())), 0), max(int(np.floor(py.min())), 0)
        x1, y1 = min(int(np.ceil(px.max())), pw), min(int(np.ceil(py.max())), ph)
        if x1 <= x0 or y1 <= y0:
            layer = (None, 0, 0)
        else:
            surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, x1 - x0, y1 - y0)
            ctx = cairo.Context(surface)
            ctx.set_matrix(cairo.Matrix(sx, 0, 0, -sy, ox - x0, oy - y0))
            # paths are traced under the frame's own matrix (on a pixel of scratch: cairo
            # keeps a path in device units, so one traced under the layer's matrix and
            # replayed on the frame could land 1/256 of a pixel off) and kept for the frame
            scratch = cairo.Context(cairo.ImageSurface(cairo.FORMAT_ARGB32, 1, 1))
            scratch.set_matrix(frame)
            blank, self._blank, self._in_layer = self._blank, None, scratch
            try:
                for shape in picture.shapes:
                    self.display_vectorized(shape, ctx)
            finally:
                self._blank, self._in_layer = blank, None
            surface.flush()
            layer = (surface, x0, y0)
        picture.layers[key] = layer
        return layer

    def set_cairo_context_path(self, ctx, vmobject):
        points = vmobject.points
        self._path_key = None
        if len(points) == 0 or not np.isfinite(points).all():
            return super().set_cairo_context_path(ctx, vmobject)
        key = points.tobytes()
        # (in a picture's layer, traced where the frame's matrix makes it: kept for the frame)
        tracer = self._in_layer or ctx
        if not self._in_layer:
            self._path_key = key
        path = self._paths.get(key)
        if path is None:
            self._trace(tracer, vmobject, points)
            path = self._paths[key] = tracer.copy_path()
            if len(self._paths) > PATHS_KEPT:
                self._paths.popitem(last=False)
            if tracer is ctx:
                return self  # (the path is set)
        ctx.new_path()
        ctx.append_path(path)
        return self

    def apply_fill(self, ctx, vmobject):
        """Manim's (the shape filled with its fill colour), but a translucent shape filled
        before at the same place on a pixel surface is not rasterised again: the coverage
        cairo computed for its path (an 8-bit mask, made the second time the shape is filled)
        is painted through in the fill colour. A number fading in is the same shape on every
        frame in a new opacity; rasterising its glyphs' curves was a third of a 1080p frame's
        drawing. The same pixels, to the bit: cairo composites a translucent colour through
        a coverage mask as it does when it fills; an opaque colour (or a gradient) it blends
        another way, so those are filled as Manim fills them."""
        rgbas = self.get_fill_rgbas(vmobject)
        self.set_cairo_context_color(ctx, rgbas, vmobject)
        key = self._path_key
        if key is None or len(rgbas) != 1 or rgbas[0][3] >= TRANSLUCENT \
                or not isinstance(ctx.get_target(), cairo.ImageSurface):  # (svg, pdf: vectors)
            ctx.fill_preserve()
            return self
        key = (key, tuple(ctx.get_matrix()))
        mask = self._masks.get(key)
        if mask is None:  # the first time: filled as Manim fills it
            self._keep_mask(key, False)
            ctx.fill_preserve()
            return self
        if mask is False:
            mask = self._mask(ctx)
            self._keep_mask(key, mask)
        surface, x, y = mask
        if surface is None:
            ctx.fill_preserve()
            return self
        ctx.save()
        ctx.identity_matrix()
        ctx.mask_surface(surface, x, y)
        ctx.restore()
        self.masks_painted += 1
        return self

    def _keep_mask(self, key, mask) -> None:
        """Remember ``mask`` (False: filled once) for ``key``, the newest; the oldest go past
        MASKS_KEPT shapes or MASK_BYTES of masks."""
        def size(m):
            return m[0].get_stride() * m[0].get_height() if m and m[0] is not None else 0

        self._mask_bytes += size(mask) - size(self._masks.pop(key, None))
        self._masks[key] = mask
        while len(self._masks) > MASKS_KEPT or self._mask_bytes > MASK_BYTES:
            self._mask_bytes -= size(self._masks.popitem(last=False)[1])

    @staticmethod
    def _mask(ctx):
        """The coverage of ctx's path as cairo fills it: an A8 surface over the whole pixels
        it touches, and where it goes. The path is moved by whole pixels only, so every
        pixel's coverage is the one the fill itself computes."""
        ctx.save()
        ctx.identity_matrix()
        x0, y0, x1, y1 = ctx.fill_extents()
        path = ctx.copy_path()  # in pixels
        ctx.restore()
        x, y = int(np.floor(x0)), int(np.floor(y0))
        w, h = int(np.ceil(x1)) - x, int(np.ceil(y1)) - y
        if w <= 0 or h <= 0 or w * h > MASK_PIXELS:
            return NO_MASK
        surface = cairo.ImageSurface(cairo.FORMAT_A8, w, h)
        m = cairo.Context(surface)
        m.translate(-x, -y)
        m.append_path(path)
        m.set_source_rgba(0, 0, 0, 1)
        m.fill()
        return surface, x, y

    @staticmethod
    def _trace(ctx, vmobject, points):
        """Manim's ``Camera.set_cairo_context_path`` for finite points: the same cairo calls
        with the same numbers, read from a list of Python floats rather than one numpy
        element at a time (each a new numpy scalar), which was most of its cost."""
        n = vmobject.n_points_per_cubic_curve
        ctx.new_path()
        splits = vmobject.get_subpath_split_indices_from_points(points, n_dims=2)
        flat = points[:, :2].ravel().tolist()  # [x0, y0, x1, y1, ...]
        curve_to = ctx.curve_to
        for a, b in splits.tolist():
            if b - a < n:
                continue
            ctx.new_sub_path()
            ctx.move_to(flat[2 * a], flat[2 * a + 1])
            # the curve from point i: handles i + 1, i + 2, anchor i + 3
            for j in range(2 * a + 2, 2 * (b - n) + 3, 2 * n):
                curve_to(*flat[j:j + 6])
            if vmobject.consider_points_equals_2d(points[a], points[b - 1]):
                ctx.close_path()


def _touches(box, boxes) -> bool:
    """Whether pixel box ``box`` (x0, y0, x1, y1; None: anywhere) meets any of ``boxes``."""
    if box is None:
        return bool(boxes)
    x0, y0, x1, y1 = box
    for b in boxes:
        if b is None or (b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3]):
            return True
    return False


def changing_ids(animations, updating: set[int]) -> set[int]:
    """The ids of the mobjects something may still change in this play: whatever an updater
    reaches (``updating``: a mobject's and its parts'), and the family of every animation
    still to run or running. A part of an AnimationGroup (a LaggedStart) that the group
    marks finished is never interpolated or updated again, if the group's time only goes
    forward (its rate function, and every enclosing group's, never decreases: a
    ``there_and_back`` group runs its finished parts again); any other animation may change
    its mobject's whole family until the play ends. (Not known here: an updater or
    animation that changes a mobject other than its own.)"""
    changing = set(updating)

    def hold(anim, forward: bool) -> None:
        forward = forward and only_forward(anim.rate_func)
        if isinstance(anim, AnimationGroup):  # (its mobject leaves out its introducers' own)
            finished = getattr(anim, "anims_finished", None)
            if not forward or finished is None or len(finished) != len(anim.animations):
                finished = [False] * len(anim.animations)
            for part, done in zip(anim.animations, finished):
                if not done:
                    hold(part, forward)
        else:
            changing.update(map(id, anim.mobject.get_family()))

    for anim in animations:
        hold(anim, True)
    return changing


_FORWARD: dict = {}


def only_forward(rate_func) -> bool:
    """Whether ``rate_func`` never decreases on [0, 1] (sampled at 1,001 points; kept)."""
    known = _FORWARD.get(rate_func)
    if known is None:
        try:
            values = np.array([rate_func(t) for t in np.linspace(0, 1, 1001)], dtype=float)
            known = bool(np.all(np.diff(values) >= 0))
        except Exception:  # noqa: BLE001 (a rate function of its own kind: assume the worst)
            known = False
        if len(_FORWARD) < 1000:
            _FORWARD[rate_func] = known
    return known


def updaters_on(scene) -> list:
    """The mobjects on screen with an updater (each may change itself and all its parts)."""
    return [m for m in scene.get_mobject_family_members() if m.updaters]


def updated_ids(roots) -> set[int]:
    """The ids of every part of ``roots`` (:func:`updaters_on`) as they are now: an updater
    may give its mobject new parts on any frame (``always_redraw``, ``become``)."""
    return {id(f) for m in roots for f in m.get_family()}


class QkvRenderer(CairoRenderer):
    """Manim's Cairo renderer, drawing nothing for a skipped play; with qkv's camera and file
    writer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("file_writer_class", QkvFileWriter)
        kwargs.setdefault("camera_class", QkvCamera)
        super().__init__(**kwargs)
        self._settled: list[int] = []  # ids of a play's moving mobjects drawn into its background
        self._updating: list | None = None  # the mobjects with an updater, found once a play
        self._order: list[int] = []  # the ids Manim drew on the last frame, in its order
        self._play_background = None  # the play's background before any of them
        # id -> pixel box of the moving mobjects after the settled ones drawn into the
        # background (:meth:`_hoist`); whether more may be, this play
        self._hoisted: dict[int, tuple] = {}
        self._may_hoist = True
        self._boxes: dict[int, tuple | None] = {}  # pixel boxes of what will not change
        self._kept: list = []  # what the ids in _hoisted and _boxes are of (kept alive)
        self._still = -1  # how many drawn mobjects were changing on the last frame
        self.hoists = self.restarts = 0  # (counted for the tests)
        Mobject.__deepcopy__ = mobject_deepcopy
        Mobject.get_family = mobject_get_family

    def get_frame(self):
        """The frame just drawn: the camera's array itself, the first time it is asked for
        (the camera never draws into it again: its next frame starts in a fresh array), else
        a copy (Manim's: always a copy), into an array of the pool."""
        pixels = self.camera.pixel_array
        if FRAMES.made(pixels) and not self.camera.handed:
            self.camera.handed = True
            ref, background, box = self.camera._drawn.get(id(pixels), (None, None, None))
            if ref is not None and ref() is pixels:  # (for the encoder: what changed)
                FRAMES.note(pixels, background, box)
            else:
                FRAMES.note(pixels)
            return pixels
        frame = FRAMES.take(pixels)
        np.copyto(frame, pixels)
        self.camera._drawn.pop(id(frame), None)  # (its pixels are no longer what it notes)
        FRAMES.note(frame)
        return frame

    def _skipping(self) -> bool:
        """A play none of whose frames is written (a still image draws at the end)."""
        return self.skip_animations and not config.save_last_frame

    def save_static_frame_data(self, scene, static_mobjects):
        self._settled, self._updating, self._hoisted, self._may_hoist = [], None, {}, HOIST
        self._order = []
        self._boxes, self._still, self._kept = {}, -1, []
        if self._skipping():
            self.static_image = None
            return None
        self._play_background = super().save_static_frame_data(scene, static_mobjects)
        return self._play_background

    def update_frame(self, scene, mobjects=None, include_submobjects=True,
                     ignore_skipping=True, **kwargs):
        if self._skipping() and mobjects is not None and mobjects is scene.moving_mobjects:
            return  # a skipped play's one frame: never written
        super().update_frame(scene, mobjects, include_submobjects=include_submobjects,
                             ignore_skipping=ignore_skipping, **kwargs)

    def render(self, scene, time, moving_mobjects=None):
        """One frame of a play: the background, then what moves, drawn in Manim's order; but
        what will not change again in this play is drawn once into the background: the
        moving mobjects at the front of that order (their part of a LaggedStart done), and
        any other that nothing drawn before it on a frame can cover (:meth:`_hoist`)."""
        if self._skipping() or moving_mobjects is None \
                or moving_mobjects is not scene.moving_mobjects:
            return super().render(scene, time, moving_mobjects)
        order = self.camera.get_mobjects_to_display(moving_mobjects)  # what Manim draws
        ids = [id(m) for m in order]
        if (self._settled and ids[:len(self._settled)] != self._settled) \
                or (self._hoisted and ids != self._order):
            self._restart()  # the order changed (something added mid-play, a z-index)
        self._order = ids
        if self._updating is None:  # once a play, after its animations began
            self._updating = updaters_on(scene)
        changing = changing_ids(scene.animations or (), updated_ids(self._updating))
        k = new = len(self._settled)
        hoisted = self._hoisted
        while new < len(order) and (ids[new] in hoisted or ids[new] not in changing):
            new += 1
        fresh, drawn = self._hoist(order, ids, k, new, changing)
        if fresh is None:  # something drawn each frame would now cover a hoisted one
            self._restart(hoist=False)
            self.restarts += 1
            k = new = 0
            while new < len(order) and ids[new] not in changing:
                new += 1
            fresh, drawn = order[:new], order[new:]
        if self.static_image is None:  # nothing before the first moving mobject
            self.camera.reset()
        else:
            self.camera.set_frame_to_background(self.static_image)
        if fresh:
            self.camera.capture_mobjects(fresh, include_submobjects=False)
            self.static_image = self.camera.pixel_array.copy()
            self.camera.now_over(self.static_image)
        self._settled = ids[:new]
        for i in self._settled[k:]:
            hoisted.pop(i, None)
        self.camera._blank = []  # (shapes that draw nothing are no part of the box)
        self.camera.capture_mobjects(drawn, include_submobjects=False)
        self.camera.drawn_over(drawn)
        self.add_frame(self.get_frame())

    def _restart(self, hoist: bool = True) -> None:
        """The play's background as it began: nothing settled, nothing hoisted (and, with
        ``hoist`` False, nothing hoisted again in this play)."""
        self.static_image, self._settled, self._hoisted = self._play_background, [], {}
        self._may_hoist, self._still = self._may_hoist and hoist, -1
        self._kept = []

    def _hoist(self, order, ids, k: int, new: int, changing: set[int]):
        """What goes into the background on this frame, and what is drawn over it: the prefix
        ``order[k:new]`` that will not change, less what is there already; then each
        mobject after it that will not change either and that no mobject drawn on the
        frames before it in the order can touch (their pixel boxes apart, so drawing it
        first leaves every pixel as it was), nor any hoisted one after it. (None, None) if a
        hoisted mobject is no longer clear of what is drawn before it: start again.

        A 16-token stage's animated heat cells (z-index -1) come before everything at z-index
        0 in Manim's order, so all of it (titles, labels, lines) moves with them; most of it
        is nowhere near them."""
        hoisted = self._hoisted
        pos = {i: p for p, i in enumerate(ids)}
        if any(i not in pos for i in hoisted):
            return None, None
        fresh = [m for m in order[k:new] if id(m) not in hoisted]
        # a search when what changes is not what changed on the last frame (something ended)
        still = sum(1 for i in ids[new:] if i in changing)
        search = self._may_hoist and new < len(order) and still != self._still
        self._still = still
        if not search and not hoisted:
            return fresh, order[new:]
        known = self._boxes  # of what will not change in this play

        def box_of(m, i):
            if i in changing:
                return self.camera.pixel_box(m)
            box = known.get(i, False)
            if box is False:
                box = known[i] = self.camera.pixel_box(m)
                self._kept.append(m)
            return box

        boxes = []  # of what is drawn before, in order: the prefix, then what is drawn each frame
        for p in range(k, new):
            if ids[p] in hoisted:
                if _touches(hoisted[ids[p]], boxes):
                    return None, None
            else:
                boxes.append(box_of(order[p], ids[p]))
        drawn, lifted = [], []
        after = sorted(((pos[i], b) for i, b in hoisted.items() if pos[i] >= new))
        for p in range(new, len(order)):
            m, i = order[p], ids[p]
            if i in hoisted:
                if _touches(hoisted[i], boxes):
                    return None, None
                continue
            box = box_of(m, i)
            if search and i not in changing and box is not None \
                    and not _touches(box, boxes) \
                    and not _touches(box, [b for q, b in after if q > p]):
                hoisted[i] = box
                self._kept.append(m)  # (alive while its id is a key)
                lifted.append(m)
                self.hoists += 1
                continue
            drawn.append(m)
            boxes.append(box)
        return fresh + lifted, drawn
