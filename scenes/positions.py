"""Stage 1b, positions (with ``--positions sinusoidal``): attention by itself cannot tell word
order, so each word's position vector P is added to its embedding. The waves P comes from,
then X + P = X_in with numbers, then the point: a word that appears twice now has two
different rows, and so two different attention rows.

Render alone with ``qkv render --scene positions --positions sinusoidal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Create,
    DashedVMobject,
    Dot,
    LaggedStart,
    Line,
    MathTex,
    SurroundingRectangle,
    VGroup,
    VMobject,
)

from attention import QKVError
from attention.core import position_waves
from attention.display import format_number
from engine.fades import fade_in, fade_out
from scenes.base import AttentionScene
from scenes.components import (
    MatrixBlock,
    fit_width,
    font_for,
    on_baseline,
    plain_text,
    x_height,
)
from scenes.layout import (
    FRAME_W,
    SAFE_BOTTOM,
    SAFE_TOP,
    label_font,
    labelled_grid,
    place,
    text_width,
    token_width,
)


def repeated_pair(tokens) -> tuple[int, int] | None:
    """The first two positions of one word (ignoring case), if a word appears twice."""
    seen: dict[str, int] = {}
    for j, tok in enumerate(tokens):
        if tok.lower() in seen:
            return seen[tok.lower()], j
        seen[tok.lower()] = j
    return None


@dataclass
class WavePanel:
    """One small plot per pair of features: its sine (solid) and cosine (dashed) wave over
    the positions, with P's entries as dots. Named parts for the beats."""

    group: VGroup  # everything
    axes: VGroup  # the zero lines and position ticks
    labels: VGroup  # the feature pair of each plot
    waves: VGroup  # the curves, sine and cosine of each plot
    dots: VGroup  # P's entries, a dot per position and feature


def wave_panel(trace, theme) -> WavePanel:
    n, d = trace.P.shape
    names = trace.feature_names
    pairs = [tuple(range(k, min(k + 2, d))) for k in range(0, d, 2)]
    label_fs = 20.0
    wave = ("sin", "cos")
    label_w = max(text_width(f"{names[f]} ({wave[f % 2]})", theme.font, label_fs)
                  for f in range(d)) + 0.4
    tick_fs = label_font(trace.tokens, theme, width=1.2, start=18)
    rotate = n > 1 and token_width(trace.tokens, theme, tick_fs) > 0.9 * (
        FRAME_W - label_w - 0.3) / max(n - 1, 1)
    tick_h = (min(token_width(trace.tokens, theme, tick_fs), 1.2) if rotate else 0.3) + 0.2
    width = FRAME_W - label_w - 0.3
    row_h = (SAFE_TOP - SAFE_BOTTOM - tick_h) / len(pairs)
    amp = row_h * 0.36  # a wave of height 1 fills most of its row
    x0 = -FRAME_W / 2 + label_w
    span = max(n - 1, 1)
    xs, waves = position_waves(n, d)

    def at(pos: float, value: float, row: int) -> np.ndarray:
        y = SAFE_TOP - (row + 0.5) * row_h + value * amp
        return np.array([x0 + 0.15 + pos / span * (width - 0.3), y, 0.0])

    axes, labels, curves, dots = VGroup(), VGroup(), VGroup(), VGroup()
    colors = (theme.accent, theme.text)  # sine, cosine
    for row, pair in enumerate(pairs):
        axes.add(Line(at(0, 0, row) + LEFT * 0.15, at(span, 0, row) + RIGHT * 0.15,
                      stroke_color=theme.grid, stroke_width=1.5))
        lab = VGroup(*(plain_text(f"{names[f]} ({wave[f % 2]})", theme, font_size=label_fs,
                                  color=colors[f % 2]) for f in pair))
        lab.arrange(DOWN, aligned_edge=RIGHT, buff=0.12)
        labels.add(lab.next_to(at(0, 0, row) + LEFT * 0.15, LEFT, buff=0.25))
        for f in pair:
            curve = VMobject(stroke_color=colors[f % 2], stroke_width=3)
            curve.set_points_smoothly([at(x, y, row) for x, y in zip(xs, waves[f])])
            curves.add(DashedVMobject(curve, num_dashes=12 * span) if f % 2 else curve)
            for pos in range(n):
                dots.add(Dot(at(pos, trace.P[pos, f], row), radius=0.05,
                             color=colors[f % 2]))
    bottom = at(0, 0, len(pairs) - 1)[1] - row_h / 2 - 0.1  # the ticks hang from here
    for pos, tok in enumerate(trace.tokens):
        tick = plain_text(tok, theme, font_size=tick_fs, color=theme.muted)
        if rotate:
            tick.rotate(np.pi / 2)
            fit_width(tick, 0.9 * (width - 0.3) / span)
            if tick.height > tick_h - 0.2:
                tick.scale_to_fit_height(tick_h - 0.2)
            tick.next_to([at(pos, 0, 0)[0], bottom, 0], DOWN, buff=0)
        else:  # every word on one baseline, a cap height below the plots
            tick.set_x(at(pos, 0, 0)[0])
            on_baseline(tick, tok, tick_fs, bottom - 1.45 * x_height(tick_fs))
        axes.add(tick)
    return WavePanel(VGroup(axes, labels, curves, dots), axes, labels, curves, dots)


class PositionsScene(AttentionScene):
    """X + P: each word's embedding plus the vector of its position."""

    def construct(self) -> None:
        self.positions_stage()

    def positions_stage(self) -> None:
        t, th = self.trace, self.theme
        if t.P is None:
            raise QKVError("the positions stage needs positions: --positions sinusoidal (or "
                           "QKV_POSITIONS=sinusoidal)")
        formula = MathTex(r"P_{pos,2i} = \sin\!\left(pos / 10000^{2i/d}\right)", color=th.text,
                          font_size=30)
        self.intro("Positions: where each word stands", formula,
                   "Attention by itself cannot tell word order, so each word gets a "
                   "position vector.")
        panel = wave_panel(t, th)
        self.positions_waves(panel)
        blocks = self.positions_sum(panel)
        self.positions_point(blocks)

    # -- the waves -------------------------------------------------------------------------------
    def positions_waves(self, panel: WavePanel) -> None:
        t = self.trace
        self.beat(fade_in(panel.axes), fade_in(panel.labels), Create(panel.waves), run_time=2.0,
                  caption="Each pair of features gets a sine wave and a cosine wave; "
                          "the first pair's is fastest.")
        last = t.n - 1
        self.beat(LaggedStart(*(fade_in(d, scale=1.5) for d in panel.dots), lag_ratio=0.02),
                  run_time=1.5, wait=1.2,
                  caption=f"Word 0 ('{t.tokens[0]}') to word {last} ('{t.tokens[last]}') "
                          "reads its numbers off the waves.")
        self.beat(fade_out(panel.group), run_time=0.6, wait=0)

    # -- X + P = X_in ----------------------------------------------------------------------------
    def positions_sum(self, panel: WavePanel) -> tuple[MatrixBlock, MatrixBlock, MatrixBlock]:
        t, th = self.trace, self.theme
        n, d = t.X.shape
        gap = 0.8
        g = labelled_grid(t.tokens, th, cols=3 * d, rows=n, gaps=2 * gap, head_h=0.6,
                          label_width=2.2, label_start=22)
        lf, cw, ch, num_font, left, top = g.label_font, g.cw, g.ch, g.num_font, g.left, g.top
        blocks, heads = [], []
        for k, (name, color, title) in enumerate((("X", th.muted, "embeddings X"),
                                                  ("P", th.accent, "positions P"),
                                                  ("X_in", th.text, "X + P"))):
            labels = {"row_labels": t.tokens, "label_font_size": lf} if k == 0 else {}
            b = place(MatrixBlock(getattr(t, name), theme=th, cell_w=cw, cell_h=ch, color=color,
                                  source=name, font_size=num_font, **labels),
                      left + k * (d * cw + gap), top)
            heads.append(plain_text(title, th, font_size=20, color=color)
                         .next_to(b.cells_box, UP, buff=0.2))
            blocks.append(b)
        signs = [MathTex(s, color=th.muted, font_size=34).move_to(
            [left + (k + 1) * d * cw + (k + 0.5) * gap, top - n * ch / 2, 0])
            for k, s in enumerate("+=")]
        x, p, x_in = blocks
        self.beat(fade_in(x), fade_in(heads[0]), fade_in(signs[0]), fade_in(p), fade_in(heads[1]),
                  run_time=1.2,
                  caption="Beside each word's embedding, the vector of its position.")
        self.beat(fade_in(signs[1]), fade_in(heads[2]), fade_in(x_in.brackets),
                  LaggedStart(*(fade_in(row, shift=RIGHT * 0.2) for row in x_in.entries),
                              lag_ratio=0.15),
                  run_time=min(2.5, 0.25 * n + 1.0), wait=1.2,
                  caption="Add them: X + P is what goes into attention from here on.")
        self.positions_parts = VGroup(*blocks, *heads, *signs)
        return x, p, x_in

    # -- the point: the same word in two places ---------------------------------------------------
    def positions_point(self, blocks) -> None:
        t, th = self.trace, self.theme
        x, _, x_in = blocks
        pair = repeated_pair(t.tokens)
        if pair is None:
            self.beat(wait=1.5, caption="Now the same word in two places would get two "
                                        "different rows.")
            self.beat(fade_out(self.positions_parts), run_time=0.6, wait=0)
            return
        a, b = pair
        boxes = [SurroundingRectangle(m.row_box(r), color=th.accent, buff=0.03)
                 for m in (x, x_in) for r in (a, b)]
        self.beat(*(Create(box) for box in boxes), run_time=0.8, wait=1.6,
                  caption=f"'{t.tokens[a]}' and '{t.tokens[b]}' had the same embedding; "
                          "at different places they now differ.")
        self.beat(fade_out(self.positions_parts), *(fade_out(box) for box in boxes),
                  run_time=0.6, wait=0)
        self.attention_rows(a, b)

    def attention_rows(self, a: int, b: int) -> None:
        """The two words' rows of weights, side by side: different inputs, different rows."""
        t, th = self.trace, self.theme
        rows = (a, b)
        labels = [f"{t.tokens[r]} (word {r})" for r in rows]
        lf = 22.0
        label_w = max(text_width(s, th.font, lf) for s in labels) + 0.45
        cw = min(1.15, (FRAME_W - label_w) / t.n)
        ch = min(cw * 0.62, 0.7)
        tf = label_font(t.tokens, th, width=1.6, start=20)
        rotate = token_width(t.tokens, th, tf) > 0.92 * cw
        values = t.weights[list(rows)]
        left = -(label_w + t.n * cw) / 2 + label_w
        strip = place(MatrixBlock(values, theme=th, cell_w=cw, cell_h=ch,
                                  font_size=font_for(cw, ch), row_labels=labels,
                                  label_font_size=lf, col_labels=t.tokens,
                                  col_label_font_size=tf, rotate_col_labels=rotate,
                                  col_label_length=1.6, show_entries=False,
                                  source=lambda k, j: f"weights[{rows[k]},{j}]"),
                      left, 0.9 if rotate else 0.6)
        heat = strip.heat_cells(values)
        entries = strip.make_entries(values, heat=values,
                                     source=lambda k, j: f"weights[{rows[k]},{j}]")
        title = plain_text("their attention weights", th, font_size=22, color=th.accent)
        title.next_to(strip.col_labels, UP, buff=0.3).set_x(0)
        best = [int(np.argmax(t.weights[r])) for r in rows]
        self.beat(fade_in(title), fade_in(strip.row_labels), fade_in(strip.col_labels),
                  fade_in(heat), fade_in(entries), run_time=1.2, wait=2.0,
                  caption=f"So their attention differs too: '{t.tokens[a]}' looks most at "
                          f"'{t.tokens[best[0]]}' ({format_number(t.weights[a, best[0]])}), "
                          f"'{t.tokens[b]}' at '{t.tokens[best[1]]}' "
                          f"({format_number(t.weights[b, best[1]])}).")
