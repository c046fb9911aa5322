"""Where things go: the safe area of the frame and cell sizes that fit 1 to 16 tokens.

Frame: 14.2 x 8 units. A title band on top, a band at the bottom for the equation in focus,
content in between. Font sizes are Manim's: size 10 is about 18 px (em) at 1080p.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from manim import LEFT, UP, Text

from attention.display import display_text
from engine.text import TEXT_SIZE, made_text
from scenes.components import font_for

FRAME_W = 13.6  # usable width of the 14.2-unit frame
LEFT_EDGE, RIGHT_EDGE = -FRAME_W / 2, FRAME_W / 2
SAFE_TOP = 3.05  # content below this line leaves room for the title
SAFE_BOTTOM = -3.0  # content above this line leaves room for the equation line
EQUATION_Y = -3.5  # centre of the bottom band
# --burn-captions: the camera sees 10% more on every side but the top, so under the 8-unit
# frame the layout fills, a band 0.8 units tall holds the caption and nothing else.
CAPTION_SCALE = 1.1
CAPTION_BAND_TOP = -4.0  # the bottom of the frame the layout fills
CAPTION_BAND_Y = -4.4  # centre of the caption band
CAPTION_FONT = 20  # ~1.3x MIN_FONT's size on screen after the 1/1.1 zoom
CELL_RATIO = 0.62  # preferred cell height / cell width
MIN_FONT = 14  # labels and captions (~26 px em, ~19 px digits at 1080p)
MIN_NUMBER_FONT = 10  # numbers in dense grids (~18 px em at 1080p)
MAX_CELL_W = 1.15


def text_width(text: str, font: str, font_size: float) -> float:
    """Width of ``text`` as plain Text (measured once, at TEXT_SIZE, and scaled, as
    :func:`~scenes.components.plain_text` draws it: making a Text costs ~30 ms)."""
    return made_text(display_text(text), font, "#FFFFFF").width * font_size / TEXT_SIZE


def token_width(tokens, theme, font_size: float) -> float:
    return max(text_width(t, theme.font, font_size) for t in tokens)


def cell_size(cols: float, rows: float, width: float, height: float,
              max_w: float = MAX_CELL_W) -> tuple[float, float]:
    """The largest (cell_w, cell_h) so ``cols`` x ``rows`` cells fit ``width`` x ``height``."""
    cw = min(max_w, width / cols)
    ch = min(cw * CELL_RATIO, height / rows)
    return cw, ch


@lru_cache(maxsize=1)
def _line_height_48() -> float:
    return Text("HgyÉ", font_size=48).height


def row_font(row_height: float, cap: float = 26.0) -> float:
    """The largest label size whose tallest letters (accent to descender) fill at most 90% of
    a row, so labels of neighbouring rows never crowd each other."""
    return float(min(cap, 48 * 0.9 * row_height / _line_height_48()))


def label_font(tokens, theme, width: float, start: float = 24.0,
               row_height: float | None = None) -> float:
    """The largest label size (<= start, >= MIN_FONT) at which every token fits ``width``
    (and, given ``row_height``, fits its row)."""
    if row_height is not None:
        start = min(start, row_font(row_height))
    w = token_width(tokens, theme, start)
    return float(np.clip(start * width / w if w > width else start, MIN_FONT, start))


def place(block, left: float, top: float):
    """Move a MatrixBlock so the top-left corner of its cells is at (left, top)."""
    block.shift(np.array([left, top, 0.0]) - block.cells_box.get_corner(UP + LEFT))
    return block


@dataclass(frozen=True)
class LabelledGrid:
    """Where a stage's labelled grid goes: the tokens as row labels at the left, then ``cols``
    cell columns (in blocks with ``gaps`` units between them), centred across the frame and
    in the band under the blocks' headings (``head_h``) and above a footer (``foot_h``)."""

    label_font: float  # the row labels' size (shrunk to fit a row)
    label_w: float  # the label column's width
    cw: float  # a cell's width and height
    ch: float
    num_font: float  # the numbers' size in a cell
    left: float  # the left edge of the first block's cells
    top: float  # the top edge of the cells


def labelled_grid(tokens, theme, *, cols: float, rows: float, gaps: float = 0.0,
                  head_h: float = 0.0, foot_h: float = 0.0, label_width: float = 2.4,
                  label_start: float = 24.0) -> LabelledGrid:
    """The one recipe for labels + cells: the label size that fits ``label_width``, the label
    column, the largest cells for ``cols`` x ``rows`` in what is left, the number size for
    those cells, the label size cut to a row, and the top-left corner that centres it all."""
    lf = label_font(tokens, theme, width=label_width, start=label_start)
    label_w = token_width(tokens, theme, lf) + 0.45
    height = SAFE_TOP - SAFE_BOTTOM - head_h - foot_h
    cw, ch = cell_size(cols, rows, FRAME_W - label_w - gaps, height)
    total = label_w + cols * cw + gaps
    return LabelledGrid(label_font=min(lf, row_font(ch)), label_w=label_w, cw=cw, ch=ch,
                        num_font=font_for(cw, ch), left=-total / 2 + label_w,
                        top=SAFE_TOP - head_h - (height - rows * ch) / 2)
