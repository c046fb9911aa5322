"""Text and numbers as Manim draws them, made cheap: numbers assembled from cached glyph
outlines (one shape per number), and plain texts made by Pango once per text and colour, kept
in memory and on disk (parsed and pickled beside Manim's SVGs).

Manim internals it depends on: ``Text``'s submobjects and SVG file naming (``text_dir``),
``VMobject.get_subpath_split_indices_from_points``, ``tolerance_for_point_equality``, the
``path_obj`` attribute of SVG-made shapes and ``id_to_vgroup_dict`` of texts.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
from manim import RIGHT, MarkupText, Text, VMobject, config

from attention.display import format_number
from engine.cache import DAMAGED

CONTOURS = 3  # outlines per glyph, at least: a digit has up to 3 (8); see Number


_GLYPHS: dict[tuple[str, str], tuple[list[np.ndarray], float]] = {}


def _glyph(ch: str, font: str) -> tuple[list[np.ndarray], float]:
    """One character of a monospaced font at size 48, placed relative to its cell's origin:
    its outlines (each closed contour's Bézier points, padded with empty contours at the
    glyph's centre to at least CONTOURS) and the font's advance width. Pango is asked once
    per character; numbers are then assembled from these points, which is ~30 times faster
    than a Text per number."""
    key = (font, ch)
    if key not in _GLYPHS:
        probe = Text(f"0{ch}0", font=font, font_size=48)
        left, mid, right = probe.submobjects
        advance = (right.get_center()[0] - left.get_center()[0]) / 2
        ref = np.array([left.get_center()[0] + advance, left.get_center()[1], 0.0])
        points = mid.points - ref
        contours = [points[a:b] for a, b in mid.get_subpath_split_indices_from_points(points)]
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        contours += [np.repeat(centre[None], 4, axis=0)] * (CONTOURS - len(contours))
        _GLYPHS[key] = (contours, advance)
    return _GLYPHS[key]


NUMBERS_KEPT = 5_000  # numbers' outlines kept, by text, font and size (~8 KB each)
_NUMBERS: dict[tuple, tuple[np.ndarray, float]] = {}


def _anchor_centre(points: np.ndarray) -> np.ndarray:
    """The centre of the box of a shape's anchors (cubic curves, 4 points each): where
    Manim's ``get_center`` and ``move_to`` put a shape without parts."""
    anchors = np.concatenate([points[0::4], points[3::4]])
    return (anchors.min(axis=0) + anchors.max(axis=0)) / 2


class Cell(tuple):
    """(block, row, column) of a number in a :class:`MatrixBlock`. Copying a number (every
    Transform does) shares it rather than copying the whole block with the number."""

    def __deepcopy__(self, memo):
        return self


class Number(VMobject):
    """A number on screen, tagged with the value it shows and where it comes from.

    ``text`` is the string shown, ``qkv_value`` the value, ``qkv_source`` the trace entry
    (``"Q[2,1]"``). Drawn in a monospaced font from cached glyphs, as one shape: a grid of
    numbers is then as many mobjects as numbers, not as characters, which is what drawing a
    frame and copying for an animation cost. Every glyph has the same number of outlines
    (empty ones added), so one number morphs into another glyph by glyph."""

    def __init__(self, value: float, *, digits: int = 2, source: str = "",
                 font: str = "DejaVu Sans Mono", font_size: float = 24, color=None, **kwargs):
        super().__init__(fill_opacity=1, stroke_width=0, **kwargs)
        self.qkv_value = float(value)
        self.qkv_digits = digits
        self.qkv_source = source
        self.qkv_font = font
        self.text = self.qkv_text = format_number(value, digits)
        key = (self.text, font, float(font_size))
        made = _NUMBERS.get(key)
        if made is None:  # Manim's scale(font_size / 48, about the origin), then center()
            pieces = []
            for k, ch in enumerate(self.text):
                contours, advance = _glyph(ch, font)
                pieces += [c + RIGHT * k * advance for c in contours]
            points = (font_size / 48) * np.concatenate(pieces)
            points += -_anchor_centre(points)
            made = (points, points[:, 1].max() - points[:, 1].min())
            if len(_NUMBERS) >= NUMBERS_KEPT:
                _NUMBERS.pop(next(iter(_NUMBERS)))
            _NUMBERS[key] = made
        self.points = made[0].copy()
        self._size_at = (font_size, made[1])
        if color is not None:
            self.set_color(color)

    def place(self, centre, width: float) -> Number:
        """Manim's ``fit_width`` (scaled to ``width`` if wider, about its centre) then
        ``move_to(centre)``, the same arithmetic done at once on its points: a 16-token
        stage places a few hundred numbers."""
        points = self.points
        wide = points[:, 0].max() - points[:, 0].min()
        if wide > width:
            about = _anchor_centre(points)
            points = points - about
            points = (width / wide) * points
            points += about
        points = points + (np.asarray(centre, dtype=float) - _anchor_centre(points))
        self.points = points
        return self

    @property
    def font_size(self) -> float:
        """The font size it is drawn at now (after any scaling), like Text.font_size."""
        size, height = self._size_at
        return size * self.height / height if height else size

    def get_family(self, recurse: bool = True) -> list:
        """[self] for a number without parts (Manim's walk costs ~10 times that per call, and
        every frame asks each number for its family several times)."""
        if not self.submobjects:
            return [self]
        return super().get_family(recurse)

    def get_subpaths_from_points(self, points: np.ndarray) -> list[np.ndarray]:
        """Manim's split into outlines (a new one wherever a curve does not start where the
        last one ended, by np.isclose's rule), found with Manim's own one-step numpy split
        rather than one np.allclose call per curve: every Transform of a number splits both
        ends this way, which was a third of building a 16-token grid's animations."""
        n = self.n_points_per_cubic_curve
        return [points[i:j] for i, j in self.get_subpath_split_indices_from_points(points).tolist()
                if j - i >= n]

    def consider_points_equals(self, p0, p1) -> bool:
        """np.allclose(p0, p1, atol=tolerance) as Manim asks it, for a number's points (always
        finite), without np.allclose's overhead: Transform asks it once per outline."""
        p0, p1 = np.asarray(p0), np.asarray(p1)
        return bool((np.abs(p0 - p1) <= self.tolerance_for_point_equality
                     + 1e-05 * np.abs(p1)).all())


_TEXTS: dict[tuple, Text] = {}
TEXTS_KEPT = 4000
TEXT_SIZE = 48  # every plain text is drawn by Pango at this size, then scaled to its own
TEXT_FORMAT = 1  # of the parsed texts kept on disk: a new one when what is kept changes


def made_text(shown: str, font: str, color, **kw) -> Text:
    """The Text Pango draws for ``shown`` at TEXT_SIZE, made once (callers copy it). Kept in
    memory, and parsed as well as drawn on disk: beside the SVG Pango writes, in Manim's text
    folder, the parsed Text (pickled, written whole and renamed into place), which a new
    process reads in 0.2 ms instead of parsing the SVG again (~30 ms)."""
    key = (shown, font, str(color), tuple(sorted(kw.items())))
    try:
        made = _TEXTS.get(key)
    except TypeError:  # an unhashable option (a dict of colours): made fresh each time
        return light(Text(shown, font=font, font_size=TEXT_SIZE, color=color, **kw))
    if made is None:
        file = _text_file(key)
        made = _read_text(file)
        if made is None:
            made = light(Text(shown, font=font, font_size=TEXT_SIZE, color=color, **kw))
            _write_text(file, made)
        if len(_TEXTS) >= TEXTS_KEPT:
            _TEXTS.pop(next(iter(_TEXTS)))
        _TEXTS[key] = made
    return made


def _text_file(key) -> Path:
    import manim

    digest = hashlib.sha256(repr((TEXT_FORMAT, manim.__version__, TEXT_SIZE, key))
                            .encode("utf-8")).hexdigest()[:32]
    return Path(config.get_dir("text_dir")) / f"qkv-{digest}.pickle"


def _read_text(file: Path) -> Text | None:
    """The parsed Text kept in ``file``, or None: none yet, or one this code cannot read
    (damaged: made again with a warning, and kept again after the render)."""
    try:
        with file.open("rb") as f:
            made = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:
        made = None
    if not isinstance(made, Text):
        DAMAGED.add(file.name)  # warned of once, after the render (engine.cache.drawn_kept)
        return None
    return made


def _write_text(file: Path, made: Text) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        part = file.with_name(f".{file.name}.{os.getpid()}.part")
        part.write_bytes(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(part, file)
    except OSError:
        pass  # a folder that cannot be written only costs time


def light(mob):
    """``mob`` without the SVG path objects its glyphs were made from (read once, when they
    are made): every animation copies what it animates, and copying those objects (a few
    hundred points of svgelements each) is most of what copying a text costs. A Text also
    drops its map of SVG element ids to (empty) groups, read only by MathTex's colouring:
    three quarters of what copying a light Text still cost."""
    for m in mob.get_family():
        if getattr(m, "path_obj", None) is not None:
            m.path_obj = None
        if isinstance(m, (Text, MarkupText)) and getattr(m, "id_to_vgroup_dict", None):
            m.id_to_vgroup_dict = {}
    return mob
