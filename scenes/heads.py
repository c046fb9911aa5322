"""Stage 6, heads (with ``--heads 2`` or more): every head's weights side by side, each looking
for something else; then each head's output, joined into one row per word, times W_o.

Render alone with ``qkv render --scene heads --heads 3``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    UP,
    LaggedStart,
    Line,
    MathTex,
    VGroup,
)

from attention import QKVError
from attention.core import pick_example
from attention.display import format_number
from engine.fades import fade_in, fade_out
from scenes.base import AttentionScene
from scenes.components import (
    GridLines,
    MatrixBlock,
    fit_width,
    font_for,
    plain_text,
    shortened,
)
from scenes.layout import (
    FRAME_W,
    MIN_FONT,
    MIN_NUMBER_FONT,
    SAFE_BOTTOM,
    SAFE_TOP,
    cell_size,
    label_font,
    place,
    row_font,
    text_width,
    token_width,
)


def strongest_link(weights: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """The (query, key) with the largest weight off the diagonal (on it when n = 1)."""
    w = np.where(mask, -1.0, weights)
    if w.shape[0] > 1:
        w = w.copy()
        np.fill_diagonal(w, -1.0)
    i, j = np.unravel_index(int(np.argmax(w)), w.shape)
    return int(i), int(j)


class HeadsScene(AttentionScene):
    """Several heads at once, then joined by W_o."""

    def construct(self) -> None:
        self.heads_stage()

    def heads_stage(self) -> None:
        t, th = self.trace, self.theme
        h = len(t.heads)
        if h < 2:
            raise QKVError("the heads stage needs several heads: --heads 2 or --heads 3 (or "
                           "QKV_HEADS=3)")
        formula = MathTex(r"\text{output} = [\,h_1 \mid \dots \mid h_" + str(h) + r"\,]\; W_o",
                          color=th.text, font_size=30)
        self.intro(f"Heads: {h} at once, each looking for something else", formula,
                   f"{h} heads read the same words at once, each looking for something "
                   "else.")
        self.heads_split()
        self.heads_grids()
        self.heads_join()

    # -- one word, split into each head's smaller Q, K and V ---------------------------------
    def heads_split(self) -> None:
        """One word's row of X (every head reads the same row) above each head's own, smaller
        query, key and value for it: one line per head."""
        t, th = self.trace, self.theme
        d, h = t.X.shape[1], len(t.heads)
        dh = t.heads[0].d_k
        i, _ = pick_example(t)
        titles = [f"head {k}" + (f": {t.head_roles[k - 1]}" if t.head_roles else "")
                  for k in range(1, h + 1)]
        above = bool(t.head_roles)  # a head's role is long: its title goes above its line
        widest = max(text_width(s, th.font, 20) for s in titles)
        title_font = max(MIN_FONT, min(20.0, 20 * 4.2 / widest))  # one size for every title
        title_w = 0.0 if above else widest * title_font / 20 + 0.4
        word_w = min(3.0, text_width(t.tokens[i], th.font, 24)) + 0.45
        name_w, gap = 0.75, 0.35  # room for 'q_1' left of a block; between q, k and v
        feat_h, row_gap = 0.4, (0.8 if above else 0.35)  # X's feature names; between lines
        cw = min(1.0, (FRAME_W - title_w - 3 * name_w - 2 * gap - 0.3) / (3 * dh),
                 (FRAME_W - word_w - 0.3) / d)
        # X's row, the arrow (0.8 of a line) and one line per head fit the height
        ch = min(cw * 0.62, (SAFE_TOP - SAFE_BOTTOM - feat_h) / (h + 1.8) - row_gap)
        num_font = font_for(cw, ch)
        row_h = ch + row_gap
        heads_w = title_w + 3 * (name_w + dh * cw) + 2 * gap
        left = -heads_w / 2 + title_w
        top = (SAFE_TOP + SAFE_BOTTOM - feat_h) / 2 + (h + 1.8) * row_h / 2
        x_name = t.input_name  # X, or X + P with positions
        feat_font = min(16.0, 16 * 0.9 * cw / max(text_width(f, th.font, 16)
                                                  for f in t.feature_names))
        blocks_w = 3 * (name_w + dh * cw) + 2 * gap
        x_left = left + (blocks_w - d * cw) / 2  # centred over the heads' blocks
        x = place(MatrixBlock(t.X_in[i][None, :], theme=th, cell_w=cw, cell_h=ch,
                              font_size=num_font, col_labels=t.feature_names,
                              col_label_font_size=feat_font,
                              source=lambda _, j: f"{x_name}[{i},{j}]"), x_left, top)
        word = shortened(t.tokens[i], word_w - 0.45, th, font_size=24, color=th.accent)
        word.next_to(x.cells_box, LEFT, buff=0.45)
        arrow = plain_text("\u2193", th, font_size=30, color=th.muted)
        arrow.next_to(x.cells_box, DOWN, buff=0.2)
        heads = []
        for k, head in enumerate(t.heads, start=1):
            y = top - (k + 0.8) * row_h
            title = plain_text(titles[k - 1], th, font_size=title_font,
                               color=th.accent if above else th.text)
            if not above:
                title.move_to([left - 0.4 - title.width / 2, y - ch / 2, 0])
            parts = []
            x0 = left
            for role in ("Q", "K", "V"):
                color = getattr(th, role.lower())
                name = MathTex(f"{role.lower()}_{k}", color=color, font_size=30)
                name.move_to([x0 + name_w - 0.28 - name.width / 2, y - ch / 2, 0])
                b = place(MatrixBlock(getattr(head, role)[i][None, :], theme=th, cell_w=cw,
                                      cell_h=ch, font_size=num_font, color=color,
                                      source=lambda _, j, k=k, r=role: f"head{k}.{r}[{i},{j}]"),
                          x0 + name_w, y)
                parts += [name, b]
                x0 += name_w + dh * cw + gap
            line = VGroup(*parts)
            if above:
                fit_width(title, line.width)
                title.next_to(line, UP, buff=0.12, aligned_edge=LEFT)
            heads.append(VGroup(title, line))
        word_ = t.tokens[i]
        self.beat(fade_in(word), fade_in(x), run_time=1.0,
                  caption=f"Every head reads the same row: '{word_}', {d} numbers.")
        self.beat(fade_in(arrow), LaggedStart(*(fade_in(g, shift=DOWN * 0.1) for g in heads),
                                             lag_ratio=0.4),
                  run_time=1.0 + 0.4 * h, wait=1.5,
                  caption=f"Each head has its own W_q, W_k and W_v, {d} by {dh}: its query, "
                          f"key and value for '{word_}' have {dh} numbers each, not {d}.")
        self.beat(fade_out(VGroup(word, x, arrow, *heads)), run_time=0.6, wait=0)

    # -- every head's weights, side by side ----------------------------------------------------
    def heads_grids(self) -> None:
        t, th = self.trace, self.theme
        n, h = t.n, len(t.heads)
        gap = 0.35
        lf = label_font(t.tokens, th, width=1.8, start=20)
        label_w = token_width(t.tokens, th, lf) + 0.35
        room_w = (FRAME_W - label_w - (h - 1) * gap) / h
        cw = min(0.95, room_w / n)
        cf = min(lf, 16.0)  # the keys across the top of every grid
        widest = token_width(t.tokens, th, cf)
        rotate = widest > 0.92 * cw
        key_h = min(widest, 1.1) if rotate else 0.3
        head_h, foot_h = 0.55 + key_h, 0.45  # title and keys above, strongest link below
        ch = min(cw * 0.8, (SAFE_TOP - SAFE_BOTTOM - head_h - foot_h) / n)
        num_font = font_for(cw, ch)
        numbers = num_font >= MIN_NUMBER_FONT  # else the heat map alone, with its legend
        lf = min(lf, row_font(ch))
        slot = max(n * cw, min(room_w, 4.0))  # room for a head's title even over a small grid
        total = label_w + h * slot + (h - 1) * gap
        left = -total / 2 + label_w
        top = SAFE_TOP - head_h
        self.head_grids = []
        beats = []
        for k, head in enumerate(t.heads, start=1):
            x0 = left + (k - 1) * (slot + gap) + (slot - n * cw) / 2  # centred in its slot
            labels = {"row_labels": t.tokens, "label_font_size": lf} if k == 1 else {}
            grid = place(MatrixBlock(head.weights, theme=th, cell_w=cw, cell_h=ch,
                                     font_size=num_font, source=f"head{k}.weights",
                                     col_labels=t.tokens, col_label_font_size=cf,
                                     rotate_col_labels=rotate, col_label_length=key_h,
                                     show_entries=False, **labels), x0, top)
            grid.remove(grid.brackets)
            heat = grid.heat_cells(head.weights, masked=t.mask)
            hatch = grid.masked_cells(t.mask)
            entries = (grid.make_entries(head.weights, source=f"head{k}.weights",
                                         heat=head.weights, empty=t.mask)
                       if numbers else VGroup())
            role = t.head_roles[k - 1] if t.head_roles else None
            title = plain_text(f"head {k}" + (f": {role}" if role else ""), th, font_size=18,
                               color=th.accent)
            fit_width(title, slot)
            title.next_to(grid.col_labels, UP, buff=0.15)
            i, j = strongest_link(head.weights, t.mask)
            note = plain_text(f"'{t.tokens[i]}' \u2192 '{t.tokens[j]}' "
                              f"{format_number(head.weights[i, j])}", th, font_size=18, color=th.text)
            fit_width(note, slot)
            note.next_to(grid.cells_box, DOWN, buff=0.15)
            parts = VGroup(grid.row_labels, grid.col_labels, hatch, heat, entries,
                           GridLines(grid, th.grid), title, note)
            self.head_grids.append(parts)
            what = f" ({role})" if role else ""
            beats.append((parts, f"Head {k}{what}: '{t.tokens[i]}' looks most at "
                                 f"'{t.tokens[j]}', {format_number(head.weights[i, j])}."))
        legend = VGroup()
        if not numbers:
            legend = plain_text("brighter = more attention; below each grid, its strongest "
                                "link", th, font_size=16, color=th.muted)
            legend.next_to(VGroup(*(p[-1] for p, _ in beats)), DOWN, buff=0.25)
        for k, (parts, caption) in enumerate(beats):
            extra = [fade_in(legend)] if k == 0 and not numbers else []
            self.beat(fade_in(parts), *extra, run_time=1.0, wait=1.0, caption=caption)
        self.heads_legend = legend

    # -- each head's output, joined, times W_o -------------------------------------------------
    def heads_join(self) -> None:
        t, th = self.trace, self.theme
        n, d = t.n, t.X.shape[1]
        dh = t.heads[0].d_k
        self.beat(fade_out(VGroup(*self.head_grids, self.heads_legend)), run_time=0.6, wait=0)
        lf = label_font(t.tokens, th, width=2.0, start=22)
        label_w = token_width(t.tokens, th, lf) + 0.45
        gap, rows = 0.8, max(n, d)
        cw, _ = cell_size(3 * d, rows, FRAME_W - label_w - 2 * gap, SAFE_TOP - SAFE_BOTTOM)
        feature_w = max(text_width(f, th.font, 16) for f in t.feature_names)
        rotate = feature_w > 0.92 * cw  # the output's feature names turn sideways
        head_h = 0.45 + (min(feature_w, 1.3) if rotate else 0.3)
        cw, ch = cell_size(3 * d, rows, FRAME_W - label_w - 2 * gap,
                           SAFE_TOP - SAFE_BOTTOM - head_h)
        num_font = font_for(cw, ch)
        lf = min(lf, row_font(ch))
        total = label_w + 3 * d * cw + 2 * gap
        left = -total / 2 + label_w
        top = SAFE_TOP - head_h - (SAFE_TOP - SAFE_BOTTOM - head_h - rows * ch) / 2
        concat_values = np.concatenate([hd.output for hd in t.heads], axis=1)  # a layout only
        concat = place(MatrixBlock(concat_values, theme=th, cell_w=cw, cell_h=ch,
                                   font_size=num_font, row_labels=t.tokens, label_font_size=lf,
                                   source=lambda i, c: f"head{c // dh + 1}.output[{i},{c % dh}]"),
                       left, top)
        seams = VGroup(*(Line(concat.cell_center(0, c) + [-cw / 2, ch / 2, 0],
                              concat.cell_center(n - 1, c) + [-cw / 2, -ch / 2, 0],
                              stroke_color=th.grid, stroke_width=2)
                         for c in range(dh, d, dh)))  # where one head's columns end
        w_o = place(MatrixBlock(t.Wo, theme=th, cell_w=cw, cell_h=ch, font_size=num_font,
                                source="Wo", color=th.muted), left + d * cw + gap, top)
        out = place(MatrixBlock(t.output, theme=th, cell_w=cw, cell_h=ch, font_size=num_font,
                                col_labels=t.feature_names, col_label_font_size=16,
                                rotate_col_labels=rotate, col_label_length=head_h - 0.45,
                                source=lambda i, j: f"output[{i},{j}]"),
                    left + 2 * (d * cw + gap), top)
        heads = [plain_text(s, th, font_size=20, color=c).next_to(b.cells_box, UP, buff=0.2)
                 for s, c, b in (("heads side by side", th.text, concat),
                                 ("W_o", th.muted, w_o))]
        out_head = plain_text("output", th, font_size=20).next_to(out.col_labels, UP, buff=0.1)
        signs = [MathTex(s, color=th.muted, font_size=34).move_to(
            [left + (k + 1) * d * cw + (k + 0.5) * gap, top - min(n, d) * ch / 2, 0])
            for k, s in enumerate([r"\times", "="])]
        self.beat(fade_in(concat.row_labels), fade_in(concat.brackets), fade_in(heads[0]),
                  LaggedStart(*(fade_in(column, shift=DOWN * 0.1)
                                for column in concat.get_columns()), lag_ratio=0.1),
                  fade_in(seams),
                  run_time=1.5, wait=1.0,
                  caption=f"Each head's output, side by side: {d} numbers per word again.")
        self.beat(fade_in(signs[0]), fade_in(w_o), fade_in(heads[1]), run_time=1.0,
                  caption="W_o mixes what the heads found back into one row per word.")
        self.beat(fade_in(signs[1]), fade_in(out_head), fade_in(out.col_labels),
                  fade_in(out.brackets),
                  LaggedStart(*(fade_in(row) for row in out.entries), lag_ratio=0.15),
                  run_time=min(2.5, 0.2 * n + 1.0), wait=1.5,
                  caption="The result: the attention layer's output, in the features of X.")
