"""Stage 5, mixing: output = weights V. For one word, each weight times its value row, summed
into its output; then every output row, beside the input embeddings.

Render alone with ``qkv render --scene mixing``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    UP,
    Create,
    FadeOut,
    LaggedStart,
    MathTex,
    SurroundingRectangle,
    TransformFromCopy,
    VGroup,
)

from attention.core import pick_example
from attention.display import format_number
from engine.fades import fade_in, fade_out
from engine.pictures import fade_in_as_one, fade_out_as_one
from scenes.base import AttentionScene
from scenes.components import MatrixBlock, plain_text, shown
from scenes.layout import (
    labelled_grid,
    place,
)


def output_source(trace) -> str:
    """What the shown outputs are: the output itself with one head; with several, the first
    head's output (the final one goes on through W_o)."""
    return "output" if len(trace.heads) == 1 else "head1.output"


class MixingScene(AttentionScene):
    """Each word's output is the weighted sum of every word's value."""

    def construct(self) -> None:
        self.mixing_stage()

    def mixing_stage(self) -> None:
        t, th = self.trace, self.theme
        formula = MathTex(r"\text{output} = \text{weights}\; V", color=th.text, font_size=32)
        formula[0][-1].set_color(th.v)
        self.intro("Mixing: each word gathers what it attends to" + self.head_note(), formula,
                   "Each word collects the values V of the words it attends to.")
        i, _ = pick_example(t)
        self.mixing_detail(i)
        self.mixing_all(i)

    # -- one word ------------------------------------------------------------------------------
    def mixing_detail(self, i: int) -> None:
        t, th = self.trace, self.theme
        n, tok = t.n, t.tokens
        cols = shown(t.V.shape[1])  # a trained model's 32 in part
        d_v = len(cols)  # columns on screen
        w = t.weights[i]
        gap = 0.75
        g = labelled_grid(tok, th, cols=1 + 2 * d_v, rows=n + 1, gaps=2 * gap, head_h=0.55,
                          foot_h=0.25)
        lf, cw, ch, num_font, left, top = g.label_font, g.cw, g.ch, g.num_font, g.left, g.top

        def block(values, source, color, x0, y0, **kw):
            return place(MatrixBlock(values, theme=th, cell_w=cw, cell_h=ch, color=color,
                                     source=source, font_size=num_font, **kw), x0, y0)

        weights_of_i = lambda j, _: f"weights[{i},{j}]"  # noqa: E731 (a column of row i)
        w_col = block(w[:, None], weights_of_i, th.text, left, top, row_labels=tok,
                      label_font_size=lf, show_entries=False)
        w_entries = w_col.make_entries(w[:, None], source=weights_of_i, heat=w[:, None])
        w_heat = w_col.heat_cells(w[:, None])
        v_left = left + cw + gap
        V = block(t.V, "V", th.v, v_left, top, cols=cols)
        p_left = v_left + d_v * cw + gap
        products = block(t.head.weighted_values[i], lambda j, m: f"weighted_values[{i},{j},{m}]",
                         th.v, p_left, top, cols=cols)
        source = output_source(t)
        out = block(t.head.output[i][None, :], lambda _, m: f"{source}[{i},{m}]", th.text,
                    p_left, top - n * ch - 0.25, cols=cols)
        sum_line = plain_text("sum", th, font_size=20, color=th.muted)
        sum_line.next_to(out.brackets, LEFT, buff=0.15)
        heads = [
            plain_text(f"weights of '{tok[i]}'", th, font_size=18, color=th.accent),
            MathTex("V", color=th.v, font_size=34),
            MathTex(r"\text{weight} \times V", color=th.text, font_size=30),
        ]
        for hd, b in zip(heads, (w_col, V, products)):
            hd.next_to(b.cells_box, UP, buff=0.15)
        if heads[0].width > cw + gap:  # a long word: shrink the label, not the layout
            heads[0].scale_to_fit_width(cw + gap)
        times = MathTex(r"\times", color=th.muted, font_size=30).move_to(
            [(left + cw + v_left) / 2, top - n * ch / 2, 0])
        equals = MathTex("=", color=th.muted, font_size=30).move_to(
            [(v_left + d_v * cw + p_left) / 2, top - n * ch / 2, 0])

        self.beat(fade_in_as_one([w_col.row_labels, heads[0], w_heat, w_entries, V, heads[1],
                                  times]), run_time=1.2,
                  caption=f"The weights of '{tok[i]}', beside every word's value.")
        j = int(np.argmax(w))
        box = SurroundingRectangle(VGroup(w_col.row_box(j), V.row_box(j)), color=th.accent,
                                   buff=0.03)
        self.beat(Create(box), fade_in(equals), fade_in(heads[2]),
                  TransformFromCopy(V.entries[j], products.entries[j]), fade_in(products.brackets),
                  run_time=1.2, wait=1.2,
                  caption=f"'{tok[j]}' has weight {format_number(w[j])}: its value counts the most.")
        rest = [r for r in range(n) if r != j]
        if rest:
            self.beat(fade_out(box), LaggedStart(*(TransformFromCopy(V.entries[r],
                                                                     products.entries[r])
                                                   for r in rest), lag_ratio=0.2),
                      run_time=min(2.0, 0.25 * len(rest) + 0.8),
                      caption="Every value row is scaled by its weight.")
        else:
            self.beat(fade_out(box), run_time=0.3)
        gather = [FadeOut(products.entries[r][m].copy(), target_position=out.cell_center(0, m))
                  for r in range(n) for m in range(d_v)]  # every column slides into its sum
        self.beat(fade_in(sum_line), fade_in(out.brackets), *gather, fade_in(out.entries),
                  run_time=1.5, wait=1.8,
                  caption=f"Add the rows: the output of '{tok[i]}'.")
        self.mixing_parts = VGroup(w_col.row_labels, *heads, w_heat, w_entries, V, times,
                                   equals, products, out, sum_line)

    # -- every word: the output beside the input ---------------------------------------------
    def mixing_all(self, i: int) -> None:
        t, th = self.trace, self.theme
        n = t.n
        out_values = t.head.output
        in_cols, out_cols = shown(t.X.shape[1]), shown(out_values.shape[1])
        d_in, d_out = len(in_cols), len(out_cols)  # columns on screen
        gap = 1.0
        g = labelled_grid(t.tokens, th, cols=d_in + d_out, rows=n, gaps=gap, head_h=0.7)
        lf, cw, ch, num_font, left, top = g.label_font, g.cw, g.ch, g.num_font, g.left, g.top
        X = place(MatrixBlock(t.X_in, theme=th, cell_w=cw, cell_h=ch, source=t.input_name,
                              font_size=num_font, row_labels=t.tokens, label_font_size=lf,
                              color=th.muted, cols=in_cols), left, top)
        source = output_source(t)
        out = place(MatrixBlock(out_values, theme=th, cell_w=cw, cell_h=ch, source=source,
                                font_size=num_font, cols=out_cols), left + d_in * cw + gap, top)
        before = ("embeddings X" if t.model is None else f"X, layer {t.model.layer}'s input"
                  ) if t.P is None else "X + P, with positions"
        x_head = plain_text(f"before: {before}", th, font_size=20, color=th.muted)
        o_head = plain_text("after: outputs", th, font_size=20, color=th.text)
        x_head.next_to(X.cells_box, UP, buff=0.2)
        o_head.next_to(out.cells_box, UP, buff=0.2)
        arrow = MathTex(r"\Rightarrow", color=th.muted, font_size=34).move_to(
            [left + d_in * cw + gap / 2, top - n * ch / 2, 0])
        self.beat(fade_out_as_one([self.mixing_parts]), run_time=0.6, wait=0)
        self.beat(fade_in_as_one([X, x_head, o_head, arrow, out.brackets]),
                  fade_in(out.entries[i], shift=DOWN * 0.2), run_time=1.2,
                  caption=f"The output of '{t.tokens[i]}' takes its row.")
        others = [r for r in range(n) if r != i]
        if others:
            self.beat(LaggedStart(*(fade_in_as_one([out.entries[r]]) for r in others),
                                  lag_ratio=0.25),
                      run_time=min(2.5, 0.3 * len(others) + 0.8), wait=2.0,
                      caption="Every word the same way: each row is now a word in context.")
