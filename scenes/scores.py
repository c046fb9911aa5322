"""Stage 3, scores: each query row meets each key column; the dot product lands in cell (i, j);
then the whole grid is divided by sqrt(d_k).

Render alone with ``qkv render --scene scores`` or ``manim scenes/scores.py ScoresScene``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    LEFT,
    UP,
    Create,
    LaggedStart,
    MathTex,
    SurroundingRectangle,
    TransformFromCopy,
)

from attention.core import pick_example
from attention.display import MINUS, format_number, printed_sum_is_exact
from engine.fades import cross_fade, fade_in, fade_out
from engine.pictures import fade_in_as_one
from engine.text import Number
from scenes.base import AttentionScene
from scenes.components import GridLines, MatrixBlock, font_for, rich_line, shown
from scenes.layout import (
    CELL_RATIO,
    FRAME_W,
    MIN_FONT,
    SAFE_BOTTOM,
    SAFE_TOP,
    place,
    token_width,
)


class ScoreLayout:
    """Q on the left, K^T on top, the n x n score grid where they meet."""

    def __init__(self, trace, theme, gap: float = 0.4):
        self.dims = shown(trace.d_k)  # a trained model's 32 in part
        n, d = trace.n, len(self.dims)
        height = SAFE_TOP - SAFE_BOTTOM
        label_font = 24.0
        for _ in range(3):  # the label size depends on the cell size and back
            widest = token_width(trace.tokens, theme, label_font)
            label_w = widest + 0.45
            room = FRAME_W - label_w - gap - 0.4  # for d Q columns and n grid columns
            cw = gw = min(1.15, room / (d + n))
            # Grid columns may widen to fit horizontal key labels; else the labels turn.
            self.rotate = widest > 0.92 * gw
            if self.rotate and (room - d * cw) / n >= widest + 0.2:
                gw, self.rotate = widest + 0.2, False
            label_h = min((widest if self.rotate else 0.3) + 0.2, 1.7)
            ch = min(cw * CELL_RATIO, (height - label_h - gap) / (d + n))
            fitted = max(MIN_FONT, min(26.0, font_for(cw, ch) * 1.1))
            if abs(fitted - label_font) < 0.5:
                break
            label_font = fitted
        self.cw, self.gw, self.ch = cw, gw, ch
        self.num_font = font_for(cw, ch)
        # Decimals shown in each grid: 2, or fewer where numbers of two or three digits
        # before the point (a GPT's scores) would not fit a small cell at a legible size.
        h, crowded = trace.head, n + d > 14
        self.qk_digits = decimals(np.concatenate([h.Q_scored, h.K_scored]), crowded)
        self.score_digits = decimals(h.scores, crowded)
        self.scaled_digits = decimals(h.scaled, crowded)
        self.label_font, self.label_w, self.label_h = label_font, label_w, label_h
        self.gap = gap
        total_w = label_w + d * cw + gap + n * gw
        self.x0 = -total_w / 2 + label_w  # left edge of the Q cells
        self.y0 = SAFE_TOP - label_h - d * self.ch - gap  # top edge of the grid and Q cells
        self.grid_x0 = self.x0 + d * cw + gap


def sum_of_products(pairs, result: Number, theme, font_size: float = 24, exact=None,
                    terms: int | None = None, bias: Number | None = None):
    """'a×b + c×d + ... = r' from (Number, Number) pairs, negative factors in parentheses.

    The sign is '=' when the products of the numbers as shown add up to the result as shown,
    else '≈' (the factors are rounded for display). With ``terms`` (more than the pairs: a
    trained model's 384 or 32) the first pairs are followed by '… (384 terms)'; with ``bias``,
    '+ b'. Then the sign is '=': the result is the whole sum's, written out in part."""
    parts = []
    for m, (a, b) in enumerate(pairs):
        if m:
            parts.append("+")
        for k, num in enumerate((a, b)):
            parts += ["(", num, ")"] if num.text.startswith(MINUS) else [num]
            if k == 0:
                parts.append("\u00d7")
    if terms is not None and terms > len(pairs):
        parts += ["+ \u2026", (f"({terms} terms)", theme.muted)]
        exact = True
    if bias is not None:
        parts += ["+"] + (["(", bias, ")"] if bias.text.startswith(MINUS) else [bias])
        exact = True if terms is not None and terms > len(pairs) else exact
    if exact is None:
        exact = printed_sum_is_exact(
            [(a.qkv_value, a.qkv_digits, b.qkv_value, b.qkv_digits) for a, b in pairs],
            result.qkv_value, result.qkv_digits)
    parts += ["=" if exact else "\u2248", result]
    line = rich_line(parts, theme, font_size=font_size, buff=0.1)
    line.result = result
    return line


def decimals(values: np.ndarray, crowded: bool) -> int:
    """Decimals for a grid of ``values``: 2, 1 from 10 on, and 0 from 100 on in a crowded
    grid (-inf, masked, does not count)."""
    finite = np.abs(values[np.isfinite(values)])
    big = float(finite.max()) if finite.size else 0.0
    return 2 if big < 9.995 else 1 if big < 99.95 or not crowded else 0


def dot_product_line(trace, i: int, j: int, theme, font_size: float = 24,
                     factor_digits: int = 2, result_digits: int = 2):
    """q_i · k_j written out, each factor a tagged Number in its role's colour, with as many
    decimals as the cells they come from and go to."""
    def num(x, src, color, digits=factor_digits):
        return Number(x, digits=digits, source=src, font=theme.mono, font_size=font_size,
                      color=color)

    d = trace.d_k
    terms = range(d) if len(shown(d)) == d else range(3)  # a trained model's 32: the first
    h = trace.head  # with RoPE: the turned Q and K (Q_rope, K_rope) make the scores
    qn, kn = ("Q", "K") if h.Q_rope is None else ("Q_rope", "K_rope")
    pairs = [(num(h.Q_scored[i, m], f"{qn}[{i},{m}]", theme.q),
              num(h.K_scored[j, m], f"{kn}[{j},{m}]",
                                                              theme.k)) for m in terms]
    result = num(trace.scores[i, j], f"scores[{i},{j}]", theme.text, result_digits)
    return sum_of_products(pairs, result, theme, font_size, terms=d)


class ScoresScene(AttentionScene):
    """Q K^T: every question meets every key; then the grid is divided by sqrt(d_k)."""

    def construct(self) -> None:
        self.scores_stage()

    def scores_stage(self) -> None:
        t, th = self.trace, self.theme
        lay = ScoreLayout(t, th)
        tok = t.tokens

        # -- Beat 1: the question: how well does each query match each key? ---------------
        formula = MathTex(r"\text{scores} = Q\,K^{\top}", color=th.text, font_size=34)
        formula[0][7].set_color(th.q)
        formula[0][8].set_color(th.k)
        self.intro("Scores: every question meets every key" + self.head_note(), formula,
                   "A score says how well one word's question matches another's key.")

        # -- Beat 2: Q on the left, K transposed on top --------------------------------------
        def block(values, width, color, source, digits, **kw):
            return MatrixBlock(values, theme=th, cell_w=width, cell_h=lay.ch, color=color,
                               digits=digits, font_size=lay.num_font,
                               label_font_size=lay.label_font, source=source, **kw)

        turned = t.head.Q_rope is not None  # RoPE: the scores are made of the turned Q, K
        q_block = place(block(t.head.Q_scored, lay.cw, th.q, "Q_rope" if turned else "Q",
                              lay.qk_digits, row_labels=tok, cols=lay.dims), lay.x0, lay.y0)
        k_block = place(block(t.head.K_scored.T, lay.gw, th.k, "K_ropeT" if turned else "KT",
                              lay.qk_digits, col_labels=tok, rows=lay.dims,
                              rotate_col_labels=lay.rotate, col_label_length=lay.label_h - 0.2),
                        lay.grid_x0, lay.y0 + len(lay.dims) * lay.ch + lay.gap)
        grid = place(block(t.scores, lay.gw, th.text, "scores", lay.score_digits),
                     lay.grid_x0, lay.y0)
        q_head = MathTex(r"\tilde Q" if turned else "Q", color=th.q, font_size=36)
        q_head.next_to(q_block.cells_box, UP, buff=0.12)
        k_head = MathTex(r"\tilde K^{\top}" if turned else r"K^{\top}", color=th.k, font_size=36)
        k_head.next_to(k_block.brackets, LEFT, buff=0.15)
        lines = GridLines(grid, th.grid)
        self.beat(fade_in_as_one([q_block, q_head, k_block, k_head]), Create(lines),
                  run_time=1.5,
                  caption="Queries down the left, keys across the top.")

        # -- Beat 3: one dot product in detail ----------------------------------------------
        i, j = pick_example(t)
        q_box = SurroundingRectangle(q_block.row_box(i), color=th.q, buff=0.02)
        k_box = SurroundingRectangle(k_block.column_box(j), color=th.k, buff=0.02)
        cell_box = SurroundingRectangle(grid.row_box(i, j, j), color=th.accent, buff=0.0)
        eq = self.at_bottom(dot_product_line(t, i, j, th, factor_digits=lay.qk_digits,
                                             result_digits=lay.score_digits))
        self.beat(Create(q_box), Create(k_box), Create(cell_box), run_time=0.8,
                  caption=f"The question of '{tok[i]}' meets the key of '{tok[j]}'.")
        self.beat(fade_in(eq, shift=UP * 0.2), run_time=1.2, wait=1.5,
                  caption=f"Multiply entry by entry and add: {eq.result.text}.")
        self.beat(TransformFromCopy(eq.result, grid.get_entry(i, j)), run_time=1.0,
                  caption=f"That sum goes in row '{tok[i]}', column '{tok[j]}'.")

        # -- Beat 4: the rest of the row, then every other row, briskly --------------------
        rest = [grid.get_entry(i, c) for c in range(t.n) if c != j]
        fill = [LaggedStart(*(fade_in(e, scale=1.3) for e in rest), lag_ratio=0.25)] if rest else []
        self.beat(fade_out(k_box), fade_out(cell_box), fade_out(eq), *fill, run_time=1.5,
                  caption=f"Every key in turn fills the row of '{tok[i]}'.")
        others = [grid.entries[r] for r in range(t.n) if r != i]
        fill = [LaggedStart(*(fade_in_as_one([row]) for row in others), lag_ratio=0.3)] \
            if others else []
        # the highest of every score on screen (the example may be the highest allowed one)
        a, b = np.unravel_index(int(np.argmax(t.scores)), t.scores.shape)
        self.beat(fade_out(q_box), *fill, run_time=min(3.0, 0.4 * len(others) + 0.8), wait=1.2,
                  caption=f"{t.n * t.n} scores in all. The highest: '{tok[a]}' with "
                          f"'{tok[b]}', {format_number(t.scores[a, b], lay.score_digits)}.")

        # -- Beat 5: scale by sqrt(d_k) (and the temperature), mask the future ----------------
        self.scale_grid(grid, lay.scaled_digits)

    def mask_beat(self, grid: MatrixBlock):
        """With a causal mask: the triangle of cells a word may not look into appears over the
        grid. Returns the hatched cells (they stay)."""
        t = self.trace
        hatch = grid.masked_cells(t.mask)
        last = t.n - 1
        seen = (f"'{t.tokens[0]}' sees only itself; '{t.tokens[last]}' sees all {t.n} words"
                if t.n > 1 else f"'{t.tokens[0]}' sees only itself")
        self.beat(LaggedStart(*(fade_in(cell) for cell in hatch), lag_ratio=0.05),
                  run_time=1.2, wait=1.5,
                  caption=f"Causal mask: a word may not look at words after it. {seen}.")
        return hatch

    def scale_grid(self, grid: MatrixBlock, digits: int = 2) -> None:
        t, th = self.trace, self.theme
        c = t.config
        if c.causal and t.mask.any():  # (one word has nothing after it to hide)
            self.mask_beat(grid)
        if not c.scale and c.temperature == 1 and not c.causal:
            self.beat(caption="Scaling is off: the scores go to the softmax as they are.",
                      wait=1.5)
            return
        div = rf"\sqrt{{{t.d_k}}}" if c.scale else ""
        if c.temperature != 1:
            div = (div + r"\cdot " if div else "") + format(float(c.temperature), "g")
        parts = []
        if div:
            value = format(t.divisor, ".3g")
            parts.append(rf"\text{{scaled}} = \frac{{Q K^{{\top}}}}{{{div}}}"
                         + ("" if div == value else rf" = \frac{{Q K^{{\top}}}}{{{value}}}"))
        if c.causal:
            parts.append(r"\quad \text{future keys} \to -\infty")
        eq = self.at_bottom(MathTex(*parts, color=th.text, font_size=30))
        eq.to_edge([0, -1, 0], buff=0.12)
        scaled = grid.make_entries(t.scaled, source="scaled", digits=digits)
        for (r, col), masked in np.ndenumerate(t.mask):
            if masked:
                scaled[r][col].set_color(th.muted)
        why = (f"Divide by √{t.d_k} = {t.sqrt_d_k:.3g} so scores stay moderate"
               if c.scale else "Scaling by √d_k is off")
        if c.temperature != 1:
            why += f"; the temperature {c.temperature:g} divides them too"
        if c.causal:
            why += ". Masked cells become −∞: no score at all"
        self.beat(fade_in(eq), run_time=1.0, caption=why + ".")
        self.flatten_into(grid.entries)
        self.beat(cross_fade(grid.entries, scaled), run_time=1.5, wait=2.0,
                  caption="These scaled scores go to the softmax.")
        grid.entries = scaled
