"""Heads that share keys and values (grouped-query attention, ``--model smollm2``): one layer's
9 query heads in 3 columns, each column under the one key/value head its 3 query heads read.
Each key head is drawn once (its keys, in part), and under it the 3 weight grids it feeds.

Render alone with ``qkv render --scene heads --model smollm2``.
"""

from __future__ import annotations

from manim import DOWN, UP, Group, LaggedStart, MathTex, Rectangle

from attention.display import format_number
from engine.fades import fade_in
from scenes.base import AttentionScene
from scenes.components import MatrixBlock, fit_width, font_for, plain_text, shown
from scenes.heads import HeadsScene
from scenes.layout import (FRAME_W, MIN_FONT, SAFE_BOTTOM, SAFE_TOP, label_font, place,
                           row_font, token_width)
from scenes.overview import OverviewScene, framed, heat_image, strongest_pair


class SharedHeadsScene(AttentionScene):
    """Key/value heads drawn once, each above the query heads that share it."""

    def construct(self) -> None:
        self.shared_heads_stage()

    def shared_heads_stage(self) -> None:
        t, th = self.trace, self.theme
        m = t.model
        layer = m.layer - 1
        groups, share = m.kv_heads, m.sharing
        formula = MathTex(r"K_g = X W_k^{(g)},\ \ A_h = \operatorname{softmax}"
                          r"\!\big(\tfrac{Q_h K_{g(h)}^{\top}}{\sqrt{d_k}}\big)",
                          color=th.text, font_size=30)
        self.intro(f"Heads that share keys: layer {m.layer}", formula,
                   f"This layer has {m.heads} query heads but only {groups} key and value "
                   f"heads: each key and value head is made once and read by {share} query "
                   "heads.")

        # -- the layout: a column per key/value head ----------------------------------------
        col_w = FRAME_W / groups
        lf = label_font(t.tokens, th, width=1.0, start=16)
        label_w = min(token_width(t.tokens, th, lf), 1.0) + 0.25
        dims = shown(t.kv_keys.shape[2], first=2, last=1)  # d1 d2 ... d64
        rows = shown(t.n, first=4, last=2)  # a long sentence's keys in part, as its dims
        key_h = min(2.4, (SAFE_TOP - SAFE_BOTTOM) * 0.4)
        cw = min(0.62, (col_w - label_w - 0.4) / len(dims))
        ch = min(cw * 0.62, (key_h - 0.45) / len(rows))
        num_font = font_for(cw, ch)
        lf = min(lf, row_font(ch))
        thumb = min((col_w - 0.3) / share - 0.15, SAFE_TOP - SAFE_BOTTOM - key_h - 0.8)
        columns, grids = [], []
        for g in range(groups):
            x0 = -FRAME_W / 2 + g * col_w
            keys = MatrixBlock(t.kv_keys[g], theme=th, cell_w=cw, cell_h=ch, color=th.k,
                               font_size=num_font, rows=rows, cols=dims, label_font_size=lf,
                               row_labels=t.tokens,
                               source=lambda i, j, g=g: f"kv_keys[{g},{i},{j}]")
            width = len(dims) * cw + label_w
            place(keys, x0 + (col_w - width) / 2 + label_w, SAFE_TOP - 0.45)
            name = plain_text(f"keys and values, head {g + 1}", th, font_size=max(MIN_FONT, 16),
                              color=th.k)
            fit_width(name, col_w - 0.2)
            name.next_to(keys.cells_box, UP, buff=0.12)
            thumbs = []
            y = keys.cells_box.get_bottom()[1] - 0.55 - thumb / 2
            for k in range(share):
                h = g * share + k  # 0-based query head reading key/value head g
                im = heat_image(t.attention[layer, h], th, thumb, f"attention[{layer},{h}]")
                im.move_to([x0 + 0.15 + (k + 0.5) * (col_w - 0.3) / share, y, 0])
                chosen = h == m.head - 1
                frame = framed(im, th, th.accent if chosen else None, 3 if chosen else 1)
                label = plain_text(f"query head {h + 1}", th, font_size=MIN_FONT,
                                   color=th.accent if chosen else th.text)
                fit_width(label, thumb + 0.1)
                label.next_to(im, DOWN, buff=0.08)
                thumbs.append(Group(im, frame, label))
                grids.append((h, g))
            top, bottom = name.get_top()[1] + 0.12, thumbs[0][2].get_bottom()[1] - 0.15
            box = Rectangle(width=col_w - 0.15, height=top - bottom, stroke_color=th.grid,
                            stroke_width=1).move_to([x0 + col_w / 2, (top + bottom) / 2, 0])
            columns.append((Group(box, name, keys), thumbs))

        everything = Group(*(Group(c, *ts) for c, ts in columns))  # centred in the band
        everything.shift(UP * ((SAFE_TOP + SAFE_BOTTOM) / 2 - everything.get_center()[1]))

        # -- beats ---------------------------------------------------------------------------
        self.beat(LaggedStart(*(fade_in(c) for c, _ in columns), lag_ratio=0.3),
                  run_time=1.5, wait=1.0,
                  caption=f"Each key head's keys are made once, for every token (shown: the "
                          f"first two and the last of {t.kv_keys.shape[2]} numbers).")
        self.beat(LaggedStart(*(fade_in(th_) for _, thumbs in columns for th_ in thumbs),
                              lag_ratio=0.12), run_time=2.0, wait=1.0,
                  caption=f"Under each, the {share} query heads that read it: the same keys, "
                          "asked different questions, give different weights.")
        g = m.kv_head_of(m.head) - 1
        mates = [h for h, kv in grids if kv == g]
        a, b = strongest_pair(t.attention[layer, m.head - 1], t)
        self.beat(caption=f"Outlined, head {m.head}, the one explained: '{t.tokens[a]}' gives "
                          f"'{t.tokens[b]}' "
                          f"{format_number(t.attention[layer, m.head - 1, a, b])}. It shares "
                          f"its keys with heads "
                          f"{' and '.join(str(h + 1) for h in mates if h != m.head - 1)}: "
                          f"{m.kv_heads} key heads instead of {m.heads} saves memory while the "
                          "model writes.", wait=1.5)


class AnyHeadsScene(SharedHeadsScene, OverviewScene, HeadsScene):
    """``--scene heads``: the toy's heads stage (``--heads 2`` or more); a GPT's query heads
    under the key/value heads they share (``--model smollm2``); for MiniLM, whose stages
    explain one head of many, every head at a glance (the overview)."""

    def construct(self) -> None:
        m = self.trace.model
        if m is None:
            self.heads_stage()
        elif m.kv_heads:
            self.shared_heads_stage()
        else:
            self.overview_stage()
