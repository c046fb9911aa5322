"""Shared mobjects: labelled matrices, grid lines, lines of text and numbers.

Every number drawn on screen is an :class:`engine.text.Number`, carrying ``qkv_value`` (the
value it shows, rounded as shown) and ``qkv_source`` (which trace entry it shows, e.g.
``"Q[2,1]"``), so tests can prove that what a viewer reads is what :mod:`attention` computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Mobject, Rectangle, Text, VGroup, VMobject

from attention.display import display_text
from engine.text import TEXT_SIZE, Cell, Number, made_text
from scenes.theme import Theme


def plain_text(text: str, theme: Theme, *, font_size: float, color: str | None = None, **kw):
    """User or narration text: always Pango plain text, never markup or LaTeX. The same text
    in the same colour is made once, at TEXT_SIZE, and copied and scaled after that: making a
    Text (mostly reading the SVG Pango writes) costs ~30 times what copying one does, and a
    stage's labels come in many sizes (they shrink to fit). A Text made at its own size sits
    within 0.001 units (0.06 px at 480p) of the scaled one: Pango places glyphs to a
    1/1024 of a point, finer at the larger size."""
    made = made_text(display_text(text), theme.font, color or theme.text, **kw)
    copy = made.copy()
    if font_size != TEXT_SIZE:
        copy.scale(font_size / TEXT_SIZE)
    return copy


DESCENDERS = set("gjpqy,;()[]{}|@$/\\_Qç")


@lru_cache(maxsize=1)
def _metrics() -> tuple[float, float]:
    """The x-height and descent of the default font at TEXT_SIZE (texts scale with size)."""
    x = Text("x", font_size=TEXT_SIZE)
    xg = Text("xg", font_size=TEXT_SIZE)
    return x.height, x.get_bottom()[1] - xg.get_bottom()[1]


def x_height(font_size: float) -> float:
    return _metrics()[0] * font_size / TEXT_SIZE


def descent(font_size: float) -> float:
    """How far a descender (g, p, y...) reaches below the baseline."""
    return _metrics()[1] * font_size / TEXT_SIZE


def on_baseline(label, text: str, font_size: float, y: float):
    """Move ``label`` vertically so the baseline of ``text`` sits at ``y``: words with and
    without descenders line up (Latin text; other scripts sit on their lowest point)."""
    bottom = y - (descent(font_size) if DESCENDERS & set(text) else 0.0)
    return label.shift([0, bottom - label.get_bottom()[1], 0])


def shortened(text: str, width: float, theme: Theme, *, font_size: float, color: str):
    """``text`` cut with an ellipsis until it is at most ``width`` wide (at least 3 letters)."""
    keep = len(text)
    lab = plain_text(text, theme, font_size=font_size, color=color)
    while lab.width > width and keep > 3:
        keep = max(3, min(keep - 1, int(keep * width / lab.width)))
        lab = plain_text(text[:keep].rstrip() + "…", theme, font_size=font_size, color=color)
    return lab


def fit_width(mob, width: float):
    """Shrink ``mob`` (never enlarge it) so it is at most ``width`` wide."""
    if mob.width > width:
        mob.scale_to_fit_width(width)
    return mob


def font_for(cell_w: float, cell_h: float, sample: str = "\u22120.00", cap: float = 28) -> float:
    """The largest font size at which ``sample`` fits a cell with a margin."""
    probe = Text(sample, font="DejaVu Sans Mono", font_size=48)
    by_w = 48 * 0.84 * cell_w / probe.width
    by_h = 48 * 0.55 * cell_h / probe.height
    return min(by_w, by_h, cap)


def shown(n: int, first: int = 3, last: int = 2) -> list[int | None]:
    """The indices of a long axis to show: all of them when they fit, else the first few,
    ``None`` (a cell of dots for the rest) and the last few."""
    if n <= first + last + 1:
        return list(range(n))
    return [*range(first), None, *range(n - last, n)]


class MatrixBlock(VGroup):
    """A matrix of numbers on a cell grid, with optional row and column labels.

    Parameters
    ----------
    values
        ``[rows, cols]`` array; entries are drawn with ``digits`` decimals (default 2).
    cell_w, cell_h
        Size of one cell in scene units. Cell (i, j) is centred at ``cell_center(i, j)``.
    source
        Name of the trace matrix (``"Q"``, ``"scores"``...): entry (i, j) is tagged
        ``"Q[i,j]"``. Or a function ``(i, j) -> tag`` for a block that shows part of an
        array (a column of one row's weights: ``lambda j, _: f"weights[{i},{j}]"``).
    rows, cols
        Which rows and columns of ``values`` to show, in order; ``None`` in the list is a
        cell of dots standing for the ones left out (:func:`shown`: a trained model's 384
        features as 1, 2, 3, ..., 383, 384). Cells, ``entries`` and boxes are indexed by
        the position shown; tags and labels keep the array's own indices.

    Named parts: ``entries`` (a VGroup of row VGroups of :class:`Number`), ``row_labels``,
    ``col_labels``, ``brackets`` and ``cells_box`` (an invisible box around the cells).

    Examples
    --------
    ::

        class Demo(Scene):
            def construct(self):
                self.add(MatrixBlock(np.eye(2), cell_w=1, cell_h=0.6, theme=DARK))
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        theme: Theme,
        cell_w: float,
        cell_h: float,
        digits: int | None = None,
        color: str | None = None,
        font_size: float | None = None,
        source=None,
        row_labels: Sequence[str] | None = None,
        col_labels: Sequence[str] | None = None,
        label_color: str | None = None,
        label_font_size: float | None = None,
        col_label_font_size: float | None = None,
        rotate_col_labels: bool = False,
        col_label_length: float | None = None,
        show_entries: bool = True,
        rows: Sequence[int | None] | None = None,
        cols: Sequence[int | None] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        values = np.asarray(values, dtype=float)
        self.values = values
        self.row_index = list(range(values.shape[0]) if rows is None else rows)
        self.col_index = list(range(values.shape[1]) if cols is None else cols)
        self.theme = theme
        self.cell_w, self.cell_h = cell_w, cell_h
        self.digits = 2 if digits is None else digits
        self.color = color or theme.text
        self.source = source = "" if source is None else source
        self.font_size = font_size or font_for(cell_w, cell_h)
        rows, cols = len(self.row_index), len(self.col_index)
        self.cells_box = Rectangle(width=cols * cell_w, height=rows * cell_h, stroke_opacity=0)
        self.add(self.cells_box)
        self.entries = self.make_entries(values, source=source) if show_entries else VGroup()
        self.add(self.entries)
        self.brackets = self._brackets()
        self.add(self.brackets)

        lf = label_font_size or min(self.font_size * 1.05, 30)
        lc = label_color or theme.text
        self.row_labels = self._row_labels(row_labels, lf, lc)
        self.col_labels = self._col_labels(col_labels, col_label_font_size or lf, lc,
                                           rotate_col_labels, col_label_length)
        self.add(self.row_labels, self.col_labels)

    # -- labels --------------------------------------------------------------------------
    def _row_labels(self, names: Sequence[str] | None, size: float, color: str) -> VGroup:
        """A label left of each row shown, on the row's baseline (dots for rows left out)."""
        labels = VGroup()
        if names is None:
            return labels
        for i, k in enumerate(self.row_index):
            name = "\u22ee" if k is None else names[k]
            lab = plain_text(name, self.theme, font_size=size, color=color)
            lab.next_to(self.cell_center(i, 0), LEFT, buff=self.cell_w / 2 + 0.36)
            on_baseline(lab, name, size, self.cell_center(i, 0)[1] - x_height(size) / 2)
            labels.add(lab)
        return labels

    def _col_labels(self, names: Sequence[str] | None, size: float, color: str,
                    rotate: bool, length: float | None) -> VGroup:
        """A label above each column shown: shortened to its cell, or turned sideways and cut
        to ``length``."""
        labels = VGroup()
        if names is None:
            return labels
        for j, k in enumerate(self.col_index):
            name = "\u2026" if k is None else names[k]
            lab = plain_text(name, self.theme, font_size=size, color=color)
            limit = length if rotate else self.cell_w * 0.95
            if limit and lab.width > limit:
                lab = shortened(name, limit, self.theme, font_size=size, color=color)
            if rotate:
                lab.rotate(math.pi / 2)
                lab.qkv_turned = True  # (Manim's font_size reads its height: now a width)
                fit_width(lab, self.cell_w * 0.9)
            lab.next_to(self.cell_center(0, j), UP, buff=self.cell_h / 2 + 0.15)
            if not rotate:  # (the text drawn: a shortened word may lose its g)
                on_baseline(lab, lab.original_text, size, lab.get_bottom()[1] + descent(size))
            labels.add(lab)
        return labels

    # -- geometry ------------------------------------------------------------------------
    def cell_center(self, i: int, j: int) -> np.ndarray:
        top_left = self.cells_box.get_corner(UP + LEFT)
        return top_left + np.array([(j + 0.5) * self.cell_w, -(i + 0.5) * self.cell_h, 0.0])

    def row_box(self, i: int, j0: int = 0, j1: int | None = None) -> Rectangle:
        """A rectangle around row ``i`` (columns ``j0`` to ``j1``, inclusive)."""
        j1 = len(self.col_index) - 1 if j1 is None else j1
        a, b = self.cell_center(i, j0), self.cell_center(i, j1)
        box = Rectangle(width=(j1 - j0 + 1) * self.cell_w, height=self.cell_h)
        return box.move_to((a + b) / 2)

    def column_box(self, j: int) -> Rectangle:
        rows = len(self.row_index)
        a, b = self.cell_center(0, j), self.cell_center(rows - 1, j)
        return Rectangle(width=self.cell_w, height=rows * self.cell_h).move_to((a + b) / 2)

    # -- entries -------------------------------------------------------------------------
    def make_entries(
        self,
        values: np.ndarray,
        *,
        source,
        color: str | None = None,
        digits: int | None = None,
        heat: np.ndarray | None = None,
        empty: np.ndarray | None = None,
    ) -> VGroup:
        """Numbers for ``values`` placed in this block's cells (not added to it).

        With ``heat`` (values in [0, 1], one per cell) each number takes the ink that reads
        best on that cell's heat colour. Cells where ``empty`` is True (masked ones) get no
        number: an empty placeholder keeps ``rows[i][j]`` indexing."""
        digits = self.digits if digits is None else digits
        tag = source if callable(source) else (lambda i, j: f"{source}[{i},{j}]")
        values = np.asarray(values, dtype=float)
        top_left = self.cells_box.get_corner(UP + LEFT)  # (as cell_center finds it)
        rows = VGroup()
        for i, oi in enumerate(self.row_index):
            group = VGroup()
            for j, oj in enumerate(self.col_index):
                if oi is None or oj is None:  # the ones left out
                    dots = "\u22ee" if oi is None else "\u2026"
                    group.add(plain_text(dots, self.theme, font_size=self.font_size,
                                         color=self.theme.muted).move_to(self.cell_center(i, j)))
                    continue
                if empty is not None and empty[oi][oj]:
                    group.add(VMobject().move_to(self.cell_center(i, j)))
                    continue
                x = values[oi][oj]
                ink = color or self.color
                if heat is not None:
                    ink = self.theme.ink_on(self.theme.heat_color(heat[oi][oj]))
                num = Number(
                    x,
                    digits=digits,
                    source=tag(oi, oj),
                    font=self.theme.mono,
                    font_size=self.font_size,
                    color=ink,
                )
                num.place(top_left + [(j + 0.5) * self.cell_w, -(i + 0.5) * self.cell_h, 0],
                          self.cell_w * 0.9)  # (fit_width, then move_to its cell's centre)
                num.qkv_cell = Cell((self, i, j))  # which cell of which block it sits in
                group.add(num)
            rows.add(group)
        return rows

    def heat_cells(self, heat: np.ndarray, masked: np.ndarray | None = None) -> VGroup:
        """One filled rectangle per cell, coloured (and lit) by ``heat`` in [0, 1]; a VGroup
        of rows, like ``entries``. Cells where ``masked`` is True get none (an empty
        placeholder): no weight lives there (:meth:`masked_cells` hatches them)."""
        heat = np.asarray(heat, dtype=float)
        rows = VGroup()
        for i, oi in enumerate(self.row_index):
            if oi is not None and oi >= heat.shape[0]:  # heat for the first rows only
                break
            rows.add(VGroup(*(
                (VMobject() if oi is None or oj is None or
                 (masked is not None and masked[oi][oj]) else
                 Rectangle(width=self.cell_w, height=self.cell_h, stroke_width=0,
                           fill_color=self.theme.heat_color(heat[oi][oj]), fill_opacity=1))
                .move_to(self.cell_center(i, j)).set_z_index(-1)  # under numbers and lines
                for j, oj in enumerate(self.col_index))))
        return rows

    def masked_cells(self, masked: np.ndarray) -> VGroup:
        """A hatched cell over every masked cell (row i, column j where ``masked[i][j]``)."""
        return VGroup(*(masked_cell(self.cell_w, self.cell_h, self.theme)
                        .move_to(self.cell_center(i, j)).set_z_index(-1)
                        for (i, j), m in np.ndenumerate(np.asarray(masked)) if m))

    def get_entry(self, i: int, j: int) -> Number:
        return self.entries[i][j]

    def get_columns(self) -> VGroup:
        return VGroup(*(VGroup(*(row[j] for row in self.entries))
                        for j in range(len(self.col_index))))

    def _brackets(self) -> VGroup:
        box = self.cells_box
        h, tick = box.height + 0.1, min(0.14, self.cell_w * 0.2)
        left = VMobject(stroke_color=self.theme.muted, stroke_width=2).set_points_as_corners(
            [[tick, h / 2, 0], [0, h / 2, 0], [0, -h / 2, 0], [tick, -h / 2, 0]]
        )
        right = left.copy().flip(UP)
        left.move_to(box.get_left() + LEFT * 0.04, aligned_edge=RIGHT)
        right.move_to(box.get_right() + RIGHT * 0.04, aligned_edge=LEFT)
        return VGroup(left, right)


def rich_line(parts, theme: Theme, *, font_size: float = 24, buff: float = 0.14) -> VGroup:
    """A line of plain-text pieces, numbers and formulas. A part is a string (plain text), a
    ``(text, color)`` pair, or any mobject (a :class:`Number` keeps its tags)."""
    mobs = []
    for part in parts:
        if isinstance(part, Mobject):
            mobs.append(part)
        elif isinstance(part, tuple):
            mobs.append(plain_text(part[0], theme, font_size=font_size, color=part[1]))
        else:
            mobs.append(plain_text(part, theme, font_size=font_size))
    line = VGroup(*mobs).arrange(RIGHT, buff=buff)
    return line


def wrapped_words(words: Sequence[str], theme: Theme, *, width: float, font_size: float = 30,
                  color: str | None = None) -> VGroup:
    """Words as separate Text mobjects, wrapped onto lines no wider than ``width``, each line's
    words on one baseline (a word with a descender, 'dog', sits as low as 'cat')."""
    mobs = [plain_text(w, theme, font_size=font_size, color=color) for w in words]
    lines, line = [], []
    space = font_size / 48 * 0.35
    for word, m in zip(words, mobs):
        if line and sum(x.width for _, x in line) + space * len(line) + m.width > width:
            lines.append(line)
            line = []
        line.append((word, m))
    lines.append(line)
    rows = VGroup()
    for ln in lines:
        row = VGroup(*(m for _, m in ln)).arrange(RIGHT, buff=space, aligned_edge=DOWN)
        baseline = row.get_bottom()[1]
        for word, m in ln:
            on_baseline(m, word, font_size, baseline)
        rows.add(row)
    rows.arrange(DOWN, buff=space * 0.8)
    for m in mobs:
        fit_width(m, width)
    words_group = VGroup(*mobs)
    words_group.lines = rows
    return words_group


def masked_cell(width: float, height: float, theme: Theme, lines: int = 4) -> VGroup:
    """A cell that a word may not look into: a grey fill crossed by diagonal hatching, so it
    can never be read as a small weight."""
    fill = Rectangle(width=width, height=height, stroke_width=0, fill_color=theme.grid,
                     fill_opacity=0.8)
    hatch = VGroup()
    step = (width + height) / (lines + 1)
    for k in range(1, lines + 1):  # the lines y = x - c, clipped to the cell about (0, 0)
        c = -height / 2 - width / 2 + k * step
        x0, x1 = max(-width / 2, c - height / 2), min(width / 2, c + height / 2)
        if x1 > x0:
            hatch.add(VMobject(stroke_color=theme.muted, stroke_width=1.2, stroke_opacity=0.45)
                      .set_points_as_corners([[x0, x0 - c, 0], [x1, x1 - c, 0]]))
    cell = VGroup(fill, hatch)
    cell.qkv_masked = True  # for tests: a masked cell on screen
    return cell


class GridLines(VGroup):
    """Thin lines between the cells of a :class:`MatrixBlock` (one mobject per line)."""

    def __init__(self, block: MatrixBlock, color: str, stroke_width: float = 1.5, **kwargs):
        super().__init__(**kwargs)
        box = block.cells_box
        rows, cols = len(block.row_index), len(block.col_index)
        (x0, y1), (x1, y0) = box.get_corner(UP + LEFT)[:2], box.get_corner(DOWN + RIGHT)[:2]
        pts = []
        for i in range(rows + 1):
            y = y1 - i * block.cell_h
            pts.append(([x0, y, 0], [x1, y, 0]))
        for j in range(cols + 1):
            x = x0 + j * block.cell_w
            pts.append(([x, y0, 0], [x, y1, 0]))
        for a, b in pts:
            self.add(
                VMobject(stroke_color=color,
                         stroke_width=stroke_width).set_points_as_corners([a, b])
            )


