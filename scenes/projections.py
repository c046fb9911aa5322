"""Stage 2, projections: X W_q, X W_k, X W_v. One word in detail (its features times a weight
column, summed into one entry), then every word's Q, K and V.

Render alone with ``qkv render --scene projections``.
"""

from __future__ import annotations

from manim import (
    DOWN,
    LEFT,
    UP,
    Create,
    LaggedStart,
    MathTex,
    SurroundingRectangle,
    TransformFromCopy,
    VGroup,
)

from attention.core import pick_example
from engine.fades import fade_in, fade_out
from engine.pictures import fade_in_as_one
from engine.text import Number
from scenes.base import AttentionScene
from scenes.components import MatrixBlock, font_for, plain_text, shortened, shown
from scenes.layout import (
    FRAME_W,
    SAFE_BOTTOM,
    SAFE_TOP,
    cell_size,
    labelled_grid,
    place,
    text_width,
)
from scenes.scores import sum_of_products

ROLES = (("q", "Q", "W_q"), ("k", "K", "W_k"), ("v", "V", "W_v"))


def dim_names(trace) -> tuple[str, ...]:
    return trace.attention_dims or tuple(f"d{m + 1}" for m in range(trace.d_k))


class ProjectionsScene(AttentionScene):
    """Each word's features, multiplied by W_q, W_k and W_v, become its Q, K and V."""

    def construct(self) -> None:
        self.projections_stage()

    def projections_stage(self) -> None:
        t, th = self.trace, self.theme
        i, _ = pick_example(t)
        x = "(X{+}P)" if t.P is not None else "X"  # what enters attention
        b = (lambda r: f" + b_{r}") if t.head.bq is not None else (lambda r: "")  # biases
        formula = MathTex(rf"Q = {x} W_q{b('q')},\ K = {x} W_k{b('k')},\ V = {x} W_v{b('v')}",
                          color=th.text, font_size=32)
        # glyphs from one letter Q, K, V to the next
        step = (10 if t.P is not None else 6) + (3 if t.head.bq is not None else 0)
        for idx, role in ((0, th.q), (step, th.k), (2 * step, th.v)):
            formula[0][idx].set_color(role)
        self.intro("Projections: queries, keys and values" + self.head_note(), formula,
                   "Three matrices turn features into a query, a key and a value.")
        self.projection_detail(i)
        self.projection_all(i)

    # -- one word, in detail -----------------------------------------------------------------
    def projection_detail(self, i: int) -> None:
        t, th = self.trace, self.theme
        d_model, d_k = t.X.shape[1], t.d_k
        feats, cols = shown(d_model), shown(d_k)  # a trained model's 384 and 32, in part
        head = t.head
        dims = dim_names(t)
        feat_font = 18.0
        feat_w = max(text_width(t.feature_names[f], th.font, feat_font)
                     for f in feats if f is not None) + 0.35
        gap = 0.45
        cw, ch = cell_size(1 + 3 * len(cols), len(feats) + 1, FRAME_W - feat_w - 3 * gap,
                           SAFE_TOP - SAFE_BOTTOM - 1.3)
        num_font = font_for(cw, ch)
        dim_font = min(feat_font, 18 * 0.9 * cw / max(text_width(n, th.font, 18) for n in dims))
        left = -FRAME_W / 2 + feat_w
        top = SAFE_TOP - 0.85

        def block(values, source, color, x0, y0, **kw):
            return place(MatrixBlock(values, theme=th, cell_w=cw, cell_h=ch, color=color,
                                     source=source, font_size=num_font, **kw), x0, y0)

        x_in = t.input_name  # X, or X + P with positions
        x_col = block(t.X_in[i][:, None], lambda f, _: f"{x_in}[{i},{f}]", th.text, left, top,
                      row_labels=t.feature_names, label_font_size=feat_font, rows=feats)
        word = shortened(t.tokens[i], feat_w + cw, th, font_size=22, color=th.accent)
        word.next_to(x_col.cells_box, UP, buff=0.2)
        ws, results, heads = [], [], []
        x0 = left + cw + gap
        for role, name, sub in ROLES:
            color = getattr(th, role)
            w = block(getattr(head, f"W{role}"), f"W{role}", th.text, x0, top,
                      col_labels=dims, col_label_font_size=dim_font, rows=feats, cols=cols)
            r = block(getattr(t, name)[i][None, :], lambda _, m, name=name: f"{name}[{i},{m}]",
                      color, x0, top - len(feats) * ch - 0.35, cols=cols)
            hd = MathTex(sub, color=color, font_size=32).next_to(w.col_labels, UP, buff=0.08)
            ws.append(w)
            results.append(r)
            heads.append(hd)
            x0 += len(cols) * cw + gap
        result_label = plain_text("\u2192", th, font_size=28).next_to(
            results[0].cells_box, LEFT, buff=0.2)

        self.beat(fade_in(word), fade_in(x_col),
                  LaggedStart(*(fade_in(VGroup(w, h)) for w, h in zip(ws, heads)),
                              lag_ratio=0.3), run_time=1.5,
                  caption=f"Start with '{t.tokens[i]}' and the three weight matrices.")

        # One entry in detail: the features times one column of W_q, summed.
        q = results[0]
        m = max((c for c in cols if c is not None), key=lambda c: abs(t.Q[i, c]))  # shown
        mc = cols.index(m)  # its place on screen
        col_box = SurroundingRectangle(ws[0].column_box(mc), color=th.q, buff=0.02)
        x_box = SurroundingRectangle(x_col.column_box(0), color=th.accent, buff=0.02)
        pairs = [(Number(t.X_in[i, f], source=f"{x_in}[{i},{f}]", font=th.mono, font_size=22,
                         color=th.text),
                  Number(head.Wq[f, m], source=f"Wq[{f},{m}]", font=th.mono, font_size=22,
                         color=th.q))
                 for f in (range(d_model) if len(feats) == d_model else range(3))]
        result = Number(t.Q[i, m], source=f"Q[{i},{m}]", font=th.mono, font_size=22,
                        color=th.q)
        bias = None if head.bq is None else Number(head.bq[m], source=f"bq[{m}]", font=th.mono,
                                                   font_size=22, color=th.q)
        eq = self.at_bottom(sum_of_products(pairs, result, th, font_size=22, terms=d_model,
                                            bias=bias))
        dim = dims[m]
        self.beat(Create(x_box), Create(col_box), fade_in(eq, shift=UP * 0.2), run_time=1.2,
                  wait=1.6,
                  caption=(f"The {d_model} numbers of '{t.tokens[i]}' times the '{dim}' column, "
                           f"added up, plus its bias: {result.text}." if bias is not None else
                           f"Features of '{t.tokens[i]}' times the '{dim}' column, added up: "
                           f"{result.text}."))
        self.beat(TransformFromCopy(eq.result, q.entries[0][mc]), fade_in(result_label),
                  run_time=1.0,
                  caption=f"That is how much '{t.tokens[i]}' asks for '{dim}'.")
        rest = [q.entries[0][c] for c in range(len(cols)) if c != mc]
        self.beat(fade_out(eq), fade_out(col_box), fade_in(q.brackets),
                  *([LaggedStart(*(fade_in(e) for e in rest), lag_ratio=0.3)] if rest else []),
                  run_time=1.0, caption="The other columns complete its query.")
        self.beat(fade_in(results[1]), fade_in(results[2]), run_time=1.2, wait=1.0,
                  caption="Times W_k: how it presents itself. Times W_v: what it contributes.")
        self.projection_parts = VGroup(x_col, word, *ws, *heads, q, *results[1:],
                                       result_label, x_box)

    # -- every word ----------------------------------------------------------------------------
    def projection_all(self, i: int) -> None:
        t, th = self.trace, self.theme
        n, cols = t.n, shown(t.d_k)
        d_k = len(cols)  # columns on screen
        gap = 0.55
        g = labelled_grid(t.tokens, th, cols=3 * d_k, rows=n, gaps=2 * gap, head_h=0.6,
                          label_width=2.6)
        lf, cw, ch, num_font, top, x0 = g.label_font, g.cw, g.ch, g.num_font, g.top, g.left
        blocks, heads = [], []
        for k, (role, name, _) in enumerate(ROLES):
            color = getattr(th, role)
            labels = {"row_labels": t.tokens, "label_font_size": lf} if k == 0 else {}
            b = place(MatrixBlock(getattr(t, name), theme=th, cell_w=cw, cell_h=ch, color=color,
                                  source=name, font_size=num_font, cols=cols, **labels), x0, top)
            heads.append(MathTex(name, color=color, font_size=36)
                         .next_to(b.cells_box, UP, buff=0.15))
            blocks.append(b)
            x0 += d_k * cw + gap
        self.beat(fade_out(self.projection_parts), run_time=0.6, wait=0)
        self.beat(fade_in_as_one([VGroup(b.brackets, b.row_labels, h)
                                  for b, h in zip(blocks, heads)]),
                  *(fade_in(b.entries[i], shift=DOWN * 0.3) for b in blocks), run_time=1.0,
                  caption=f"'{t.tokens[i]}' takes its row in Q, K and V.")
        others = [r for r in range(n) if r != i]
        if others:
            self.beat(LaggedStart(*(fade_in_as_one([b.entries[r] for b in blocks])
                                    for r in others), lag_ratio=0.25),
                      run_time=min(2.5, 0.3 * len(others) + 0.8), wait=1.5,
                      caption="Every word does the same. Q, K and V keep these colours.")
