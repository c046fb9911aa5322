"""Stage 4, softmax: row by row, the scaled scores become weights that sum to 1.

One row in detail (subtract the row's largest score, exponentiate, add up, divide), then every
row, as a heat map whose cells are lit by their weight, with each row's sum beside it. With
``--causal`` the masked cells show minus infinity and become exactly 0.

Render alone with ``qkv render --scene softmax``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    RIGHT,
    UP,
    AnimationGroup,
    Create,
    LaggedStart,
    MathTex,
    ReplacementTransform,
    TransformFromCopy,
    VGroup,
)

from attention.core import pick_example
from attention.display import format_number
from engine.fades import cross_fade, fade_in, fade_out
from engine.pictures import fade_in_as_one, fade_out_as_one
from engine.text import Number
from scenes.base import AttentionScene
from scenes.components import GridLines, MatrixBlock, font_for, plain_text
from scenes.layout import (
    CELL_RATIO,
    FRAME_W,
    MAX_CELL_W,
    SAFE_BOTTOM,
    SAFE_TOP,
    label_font,
    place,
    row_font,
    text_width,
    token_width,
)


def quoted(words: list[str], most: int = 3) -> str:
    """"'on', 'the' and 'mat'", or "the 9 words after it" when there are more than ``most``."""
    if len(words) > most:
        return f"the {len(words)} words after it"
    names = [f"'{w}'" for w in words]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class GridLayout:
    """An n x n grid (plus ``extra`` columns at the right) with token labels on two sides."""

    def __init__(self, trace, theme, *, extra: int = 0, extra_w: float = 0.0,
                 height: float = SAFE_TOP - SAFE_BOTTOM, top: float = SAFE_TOP):
        n = trace.n
        self.label_font = label_font(trace.tokens, theme, width=2.8, start=24)
        widest = token_width(trace.tokens, theme, self.label_font)
        self.label_w = widest + 0.45
        room = FRAME_W - self.label_w - extra_w - 0.3
        self.cw = min(MAX_CELL_W, room / (n + extra))
        self.rotate = widest > 0.92 * self.cw
        self.label_h = min((widest if self.rotate else 0.3) + 0.25, 1.8)
        self.ch = min(self.cw * CELL_RATIO, (height - self.label_h) / n)
        self.num_font = font_for(self.cw, self.ch)
        self.label_font = min(self.label_font, row_font(self.ch))
        total_w = self.label_w + (n + extra) * self.cw + extra_w
        self.left = -total_w / 2 + self.label_w
        used = self.label_h + n * self.ch
        self.top = top - self.label_h - (height - used) / 2

    def block(self, values, theme, **kw) -> MatrixBlock:
        return MatrixBlock(values, theme=theme, cell_w=self.cw, cell_h=self.ch,
                           font_size=self.num_font, label_font_size=self.label_font, **kw)

    def token_grid(self, trace, theme, values, **kw) -> MatrixBlock:
        b = self.block(values, theme, row_labels=trace.tokens, col_labels=trace.tokens,
                       rotate_col_labels=self.rotate, col_label_length=self.label_h - 0.25,
                       **kw)
        return place(b, self.left, self.top)


class SoftmaxScene(AttentionScene):
    """Each row of scaled scores becomes attention weights that sum to 1."""

    def construct(self) -> None:
        self.softmax_stage()

    def softmax_stage(self) -> None:
        t, th = self.trace, self.theme
        formula = MathTex(r"\text{weights} = \operatorname{softmax}\!\left("
                          r"\frac{QK^{\top}}{\sqrt{d_k}}\right)", color=th.text, font_size=30)
        self.intro("Softmax: scores become weights" + self.head_note(), formula,
                   "Softmax turns each row of scores into weights that sum to 1.")
        i, _ = pick_example(t)
        strip = self.softmax_row_detail(i)
        self.softmax_all_rows(i, strip)

    # -- one row, step by step ---------------------------------------------------------------
    def softmax_row_detail(self, i: int) -> VGroup:
        t, th = self.trace, self.theme
        n, tok = t.n, t.tokens
        names = ("scaled score", "e^(score \u2212 max)", "weight")
        lf = 20.0
        label_w = max(text_width(s, th.font, lf) for s in names) + 0.4
        sum_w = 2.4  # "sum = 7.75" to the right of the strip when there is room, else below
        cw = min(MAX_CELL_W, (FRAME_W - label_w) / n)
        sum_right = label_w + n * cw + sum_w <= FRAME_W
        if not sum_right:
            cw = min(cw, (FRAME_W - label_w) / n)
        ch = min(cw * CELL_RATIO, 0.6)
        num_font = font_for(cw, ch)
        tf = label_font(tok, th, width=1.7, start=22)
        rotate = token_width(tok, th, tf) > 0.92 * cw
        total = label_w + n * cw + (sum_w if sum_right else 0)
        left = -total / 2 + label_w
        head = t.head
        rows = np.stack([head.scaled[i], head.exps[i], head.weights[i]])
        strip = place(MatrixBlock(rows, theme=th, cell_w=cw, cell_h=ch, font_size=num_font,
                                  row_labels=names, label_font_size=lf, col_labels=tok,
                                  col_label_font_size=tf, rotate_col_labels=rotate,
                                  col_label_length=1.7, show_entries=False),
                      left, 0.5 if rotate else 1.0)
        strip.remove(strip.brackets)
        masked = t.mask[i]  # [n]: the keys row i may not look at
        sources = ("scaled", "exps", "weights")
        entries = strip.make_entries(rows, source=lambda r, j: f"{sources[r]}[{i},{j}]",
                                     empty=np.stack([np.zeros_like(masked), np.zeros_like(masked),
                                                     masked]))
        for j, num in enumerate(entries[2]):  # the weights, on their heat colours
            num.set_color(th.ink_on(th.heat_color(t.weights[i, j])))
        heat = strip.heat_cells(t.weights[i][None, :], masked=masked[None, :])
        heat.shift(strip.cell_center(2, 0) - strip.cell_center(0, 0))
        hatch = strip.masked_cells(np.tile(masked, (3, 1)))
        total_exp = Number(head.exp_sums[i], source=f"exp_sums[{i}]", font=th.mono,
                           font_size=max(num_font * 1.1, 20), color=th.accent)
        sum_label = VGroup(plain_text("sum =", th, font_size=lf, color=th.accent), total_exp)
        sum_label.arrange(RIGHT, buff=0.12)
        if sum_right:
            sum_label.next_to(strip.cells_box, RIGHT, buff=0.35).match_y(entries[1])
        else:
            sum_label.next_to(strip.cells_box, DOWN, buff=0.3, aligned_edge=RIGHT)
        q_label = plain_text(f"row of '{tok[i]}'", th, font_size=24, color=th.accent)
        q_label.next_to(strip.col_labels, UP, buff=0.3)
        q_label.set_x(0)
        lines = GridLines(strip, th.grid)

        hidden = [tok[j] for j in np.flatnonzero(masked)]
        self.beat(fade_in_as_one([q_label, strip.row_labels[0], strip.col_labels]),
                  Create(lines), *([fade_in(hatch)] if masked.any() else []),
                  LaggedStart(*(fade_in(e) for e in entries[0]), lag_ratio=0.1),
                  run_time=1.2,
                  caption=f"Take the row of '{tok[i]}'." + (
                      f" It may not look at {quoted(hidden)}: −∞." if hidden else ""))
        zero = " And e^(−∞) = 0: masked cells get nothing." if hidden else ""
        self.beat(fade_in(strip.row_labels[1]),
                  LaggedStart(*(TransformFromCopy(a, b) for a, b in zip(entries[0], entries[1])),
                              lag_ratio=0.1), run_time=1.5, wait=1.2,
                  caption="Subtract the row's maximum, raise e to it: all positive." + zero)
        self.beat(fade_in(sum_label[0]), TransformFromCopy(entries[1], total_exp), run_time=1.0,
                  caption=f"Add them up: {total_exp.text}.")
        j = int(np.argmax(t.weights[i]))
        self.beat(fade_in_as_one([strip.row_labels[2], heat]),
                  LaggedStart(*(TransformFromCopy(a, b) for a, b in zip(entries[1], entries[2])),
                              lag_ratio=0.1), run_time=1.5, wait=1.5,
                  caption=f"Divide by the sum. '{tok[i]}' gives '{tok[j]}' the most: "
                          f"{format_number(t.weights[i, j])}.")
        return VGroup(q_label, strip, lines, entries, heat, sum_label, hatch)

    # -- every row ---------------------------------------------------------------------------
    def softmax_all_rows(self, i: int, strip: VGroup) -> None:
        t, th = self.trace, self.theme
        n = t.n
        lay = GridLayout(t, th, extra=1, extra_w=0.25)
        grid = lay.token_grid(t, th, t.scaled, source="scaled", show_entries=True)
        for (r, c), masked in np.ndenumerate(t.mask):
            if masked:
                grid.entries[r][c].set_color(th.muted)
        hatch = grid.masked_cells(t.mask)  # stays empty: no weight lives there
        heat = grid.heat_cells(t.weights, masked=t.mask)
        weights = grid.make_entries(t.weights, source="weights", heat=t.weights, empty=t.mask)
        sums = place(lay.block(t.head.weight_sums[:, None], th, color=th.accent,
                               source=lambda r, _: f"weight_sums[{r}]"),
                     lay.left + n * lay.cw + 0.25, lay.top)
        sums.remove(sums.brackets)
        sigma = MathTex(r"\Sigma", color=th.accent, font_size=32)
        sigma.next_to(sums.cells_box, UP, buff=0.15)
        lines = GridLines(grid, th.grid)
        self.beat(fade_out_as_one([*strip[:3], strip[4:]]), run_time=0.6, wait=0)
        others = [r for r in range(n) if r != i]
        self.beat(fade_in_as_one([grid.row_labels, grid.col_labels,
                                  *([hatch] if t.mask.any() else []),
                                  *(grid.entries[r] for r in others)]), Create(lines),
                  ReplacementTransform(strip[3][2], weights[i]), fade_in_as_one([heat[i]]),
                  fade_out_as_one([strip[3][:2]]), run_time=1.5,
                  caption=f"Back to the grid: the row of '{t.tokens[i]}' is done.")
        self.add(*heat[i], lines, *grid.row_labels, weights[i])  # keep the numbers on top
        if others:
            # Each row's heat, old numbers and new numbers go to the end of the drawing order
            # as the beat begins, row after row: a finished row is then drawn once into the
            # background while the next ones still fade (engine/renderer.py), not on every frame
            # to the end.
            self.beat(LaggedStart(*(AnimationGroup(fade_in_as_one([heat[r]]),
                                                cross_fade(grid.entries[r], weights[r],
                                                           to_front=True))
                                    for r in others), lag_ratio=0.3),
                      run_time=min(3.0, 0.35 * len(others) + 1.0),
                      caption="Every row the same way. Brighter cells get more attention." +
                              (" Masked cells stay empty." if t.mask.any() else ""))
        self.beat(fade_in(sigma), LaggedStart(*(fade_in(row, shift=RIGHT * 0.2)
                                              for row in sums.entries), lag_ratio=0.1),
                  run_time=1.2, wait=2.0,
                  caption="Each row sums to 1: every word shares out one unit of attention.")
