"""Figures: what a scene shows at one moment, drawn by the camera's own shape drawing onto
Cairo's SVG or PDF surface (vectors: every number a path, sharp at any size) or its image
surface (PNG), instead of the pixel array Manim draws frames on.

Manim draws a frame with Cairo on its RGBA pixel array, which Cairo takes for BGRA: so it
hands Cairo every colour with red and blue swapped (``Camera.set_cairo_context_color``). A
real surface needs them straight: while a figure is drawn the camera uses
:func:`straight_colour` instead. Images (a trained model's small heat maps) are painted as
images, placed as Manim places them; everything else is a path.
"""

from __future__ import annotations

import itertools as it
from pathlib import Path
from types import MethodType

import cairo
import numpy as np
from manim import ImageMobject, VMobject
from manim.utils.iterables import list_update
from PIL import Image

# A figure's size in points (1/72 inch) for the vector formats: the frame's 16:9 at the width
# of a page's text (16 cm), whatever the render's quality (a vector figure has no pixels).
PAGE_WIDTH_PT = 16 / 2.54 * 72


def straight_colour(camera, ctx, rgbas, vmobject):
    """Manim's ``Camera.set_cairo_context_color`` with red and blue where they belong."""
    if len(rgbas) == 1:
        ctx.set_source_rgba(*rgbas[0][:3], rgbas[0][3])
    else:
        points = vmobject.get_gradient_start_and_end_points()
        points = camera.transform_points_pre_display(vmobject, points)
        pattern = cairo.LinearGradient(*it.chain(*(point[:2] for point in points)))
        for rgba, offset in zip(rgbas, np.linspace(0, 1, len(rgbas)), strict=True):
            pattern.add_color_stop_rgba(offset, *rgba[:3], rgba[3])
        ctx.set_source(pattern)
    return camera


def shown(scene) -> list:
    """The mobjects the scene's next frame would show, back to front (as Manim's renderer
    gathers them: the scene's, then its foreground)."""
    mobjects = list_update(scene.mobjects, scene.foreground_mobjects)
    return scene.renderer.camera.get_mobjects_to_display(mobjects)


class Figure:
    """One file of figures: a PNG or SVG of one page, or a PDF of one page per :meth:`add`."""

    def __init__(self, path: Path, fmt: str, camera):
        self.path, self.fmt, self.camera = Path(path), fmt, camera
        self.pages = 0
        self._images: list[np.ndarray] = []  # Cairo reads them until the surface is finished
        pw, ph = camera.pixel_width, camera.pixel_height
        if fmt == "png":
            self.surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, pw, ph)
            self.scale = 1.0
        else:
            self.scale = PAGE_WIDTH_PT / pw
            make = cairo.SVGSurface if fmt == "svg" else cairo.PDFSurface
            self.surface = make(str(self.path), pw * self.scale, ph * self.scale)
            if fmt == "svg":
                self.surface.set_document_unit(cairo.SVGUnit.PT)

    def add(self, scene) -> None:
        """A page of what ``scene`` shows now."""
        if self.pages and self.fmt != "pdf":
            raise ValueError(f"a {self.fmt} figure has one page")
        ctx = cairo.Context(self.surface)
        ctx.scale(self.scale, self.scale)
        self.draw(ctx, scene)
        if self.fmt == "pdf":
            self.surface.show_page()
        self.pages += 1

    def draw(self, ctx, scene) -> None:
        """What ``scene`` shows now, onto ``ctx`` in the camera's pixels (its background
        unless transparent)."""
        camera = self.camera
        pw, ph = camera.pixel_width, camera.pixel_height
        if camera.background_opacity > 0:
            ctx.rectangle(0, 0, pw, ph)
            ctx.set_source_rgba(*camera.background_color.to_rgb(), camera.background_opacity)
            ctx.fill()
        ctx.save()
        fw, fh, fc = camera.frame_width, camera.frame_height, camera.frame_center
        ctx.transform(cairo.Matrix(pw / fw, 0, 0, -(ph / fh), pw / 2 - fc[0] * pw / fw,
                                   ph / 2 + fc[1] * ph / fh))  # frame units -> pixels
        self.draw_mobjects(ctx, shown(scene))
        ctx.restore()

    def draw_mobjects(self, ctx, mobjects) -> None:
        """``mobjects`` (back to front) onto ``ctx``, whose user space is Manim's units."""
        camera = self.camera
        camera.set_cairo_context_color = MethodType(straight_colour, camera)
        try:
            for mobject in mobjects:
                if isinstance(mobject, VMobject):
                    camera.display_vectorized(mobject, ctx)
                elif isinstance(mobject, ImageMobject):
                    self._image(ctx, mobject)
        finally:
            del camera.set_cairo_context_color
            ctx.new_path()  # (Manim's drawing leaves the last shape's path: fill_preserve)

    def _image(self, ctx, image: ImageMobject) -> None:
        """An image, its corners where Manim puts them (its points: top left, top right,
        bottom left), nearest-neighbour when it asks so (a heat map's cells stay square)."""
        rgba = np.ascontiguousarray(image.get_pixel_array(), dtype=np.uint8)
        h, w = rgba.shape[:2]
        alpha = rgba[:, :, 3:4].astype(np.uint16)
        bgra = (rgba[:, :, [2, 1, 0]].astype(np.uint16) * alpha // 255).astype(np.uint8)
        data = np.dstack([bgra, rgba[:, :, 3]]).copy()  # premultiplied, as Cairo keeps it
        source = cairo.ImageSurface.create_for_data(memoryview(data), cairo.FORMAT_ARGB32, w, h)
        ul, ur, dl = image.points[0][:2], image.points[1][:2], image.points[2][:2]
        ctx.save()
        # image pixels -> frame: x along (ur - ul) / w, y along (dl - ul) / h, from ul
        ctx.transform(cairo.Matrix(*(ur - ul) / w, *(dl - ul) / h, *ul))
        pattern = cairo.SurfacePattern(source)
        nearest = getattr(image, "resampling_algorithm", None) == Image.Resampling.NEAREST
        pattern.set_filter(cairo.FILTER_NEAREST if nearest else cairo.FILTER_GOOD)
        ctx.set_source(pattern)
        ctx.new_path()  # (a shape drawn before leaves its path: fill_preserve)
        ctx.rectangle(0, 0, w, h)
        ctx.fill()  # (the image's opacity is in its alpha channel)
        ctx.restore()
        self._images.append(data)

    def close(self) -> None:
        if self.fmt == "png":
            self.surface.write_to_png(str(self.path))
        self.surface.finish()


CM = 72 / 2.54  # points


class Handout(Figure):
    """A PDF handout of a deck: a page per stop, the picture as the stop ends (16 cm wide, as
    a figure) over the stop's notes, and a footer; white paper, whatever the picture's
    theme. Notes and footer are mobjects (Pango's plain text, drawn as paths), laid out by
    the caller: left-aligned, in Manim's units, at most the frame's width wide."""

    NOTES_HEIGHT = 2.8 * CM  # room for four lines of notes (a longer caption is shrunk)

    def __init__(self, path: Path, camera):
        super().__init__(path, "pdf", camera)  # (its page size is replaced below)
        self.unit = PAGE_WIDTH_PT / camera.frame_width  # points per Manim unit
        self.picture_h = camera.pixel_height * self.scale
        self.size = (PAGE_WIDTH_PT + 2 * CM, self.picture_h + self.NOTES_HEIGHT + 3 * CM)
        self.surface.set_size(*self.size)

    def add_stop(self, scene, notes, footer) -> None:
        ctx = cairo.Context(self.surface)
        ctx.set_source_rgb(1, 1, 1)
        ctx.paint()
        ctx.save()
        ctx.translate(CM, CM)
        ctx.scale(self.scale, self.scale)
        self.draw(ctx, scene)
        ctx.restore()
        ctx.rectangle(CM, CM, PAGE_WIDTH_PT, self.picture_h)  # the picture's edge
        ctx.set_source_rgb(0.8, 0.8, 0.8)
        ctx.set_line_width(0.5)
        ctx.stroke()
        for group, top in ((notes, CM + self.picture_h + 0.5 * CM),
                           (footer, self.size[1] - 0.7 * CM - footer.height * self.unit)):
            if group is None or not group.get_family():
                continue
            ctx.save()  # Manim's units -> points: the group's top left corner at (CM, top)
            ctx.transform(cairo.Matrix(self.unit, 0, 0, -self.unit,
                                       CM - group.get_left()[0] * self.unit,
                                       top + group.get_top()[1] * self.unit))
            self.draw_mobjects(ctx, self.camera.get_mobjects_to_display([group]))
            ctx.restore()
        self.surface.show_page()
        self.pages += 1
