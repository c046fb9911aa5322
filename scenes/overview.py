"""Overview: every head at a glance. One layer's heads as small heat maps beside their
average; then, for a trained model, all its layers and heads in one frame (the last frame,
so ``--format png`` gives that still).

Render with ``qkv render --scene overview --model minilm`` (or ``--heads 3``).
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    UP,
    Group,
    ImageMobject,
    LaggedStart,
    MathTex,
    Rectangle,
    VGroup,
)
from manim.constants import RESAMPLING_ALGORITHMS

from attention.display import format_number
from engine.fades import fade_in, fade_out
from scenes.base import AttentionScene
from scenes.components import fit_width, plain_text, shortened
from scenes.heads import strongest_link
from scenes.layout import (
    EQUATION_Y,
    FRAME_W,
    MIN_FONT,
    SAFE_BOTTOM,
    SAFE_TOP,
    label_font,
    row_font,
    text_width,
    token_width,
)
from scenes.stages import ABOUT


def heat_image(weights: np.ndarray, theme, side: float, source: str) -> ImageMobject:
    """An n x n grid of weights as one image (one block of pixels per cell, drawn with
    nearest-neighbour sampling so cells stay square), ``side`` units wide. Far cheaper to
    draw than n * n rectangles; ``qkv_weights`` and ``qkv_source`` say what it shows."""
    n = weights.shape[0]
    px = max(1, 96 // n)  # pixels per cell
    rgb = np.round(theme.heat_rgb(weights) * 255).astype(np.uint8)  # [n, n, 3]
    rgb = rgb.repeat(px, axis=0).repeat(px, axis=1)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    img = ImageMobject(rgba)
    img.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
    img.scale_to_fit_width(side)
    img.qkv_weights = np.asarray(weights)
    img.qkv_source = source
    img.qkv_pixels_per_cell = px
    return img


def framed(img: ImageMobject, theme, color: str | None = None, width: float = 1.0):
    return Rectangle(width=img.width, height=img.height, stroke_color=color or theme.grid,
                     stroke_width=width).move_to(img)


def strongest_pair(a: np.ndarray, trace) -> tuple[int, int]:
    """The strongest link between words: a trained model's [CLS], [SEP] and [start] are left
    out (treated as masked) when two words remain."""
    words = trace.words.copy()
    if words.sum() < 2:
        words[:] = True
    return strongest_link(a, ~(words[:, None] & words[None, :]))


class OverviewScene(AttentionScene):
    """Every head of one layer beside their average, then every layer's heads."""

    def construct(self) -> None:
        self.overview_stage()

    def overview_stage(self) -> None:
        t = self.trace
        A = t.all_attention  # [layers, heads, n, n]
        layers, heads = A.shape[:2]
        layer = t.model.layer - 1 if t.model else 0
        formula = MathTex(r"\bar{A} = \tfrac{1}{" + str(heads) + r"} \sum_h A_h",
                          color=self.theme.text, font_size=32)
        if t.model:
            title = f"Every head of {t.model.name}"
            caption = (f"{t.model.name} has {layers} layers of {heads} heads."
                       if getattr(self, "told_model", False) else
                       f"This is {t.model.name}, {ABOUT[t.config.model]}. It has "
                       f"{layers} layers of {heads} heads.")
        else:
            title = f"All {heads} heads at a glance"
            caption = f"The {heads} heads of this model, each a small grid of its weights."
        self.intro(title, formula, caption)
        self.overview_layer(layer)
        if layers > 1:
            self.overview_model()

    # -- one layer: the average, labelled, and each head small ---------------------------------
    def overview_layer(self, layer: int) -> None:
        t, th = self.trace, self.theme
        A = t.all_attention[layer]  # [heads, n, n]
        avg = t.head_average[layer]  # [n, n]
        heads, n = A.shape[0], t.n
        chosen = t.model.head - 1 if t.model else None
        lf = label_font(t.tokens, th, width=1.6, start=20)
        label_w = token_width(t.tokens, th, lf) + 0.25
        key_h = min(token_width(t.tokens, th, lf), 1.2) + 0.15  # keys turned sideways
        side = min(SAFE_TOP - SAFE_BOTTOM - key_h - 0.5, 5.2)
        lf = min(lf, row_font(side / n))
        left = -FRAME_W / 2 + label_w
        top = SAFE_TOP - key_h - 0.4
        img = heat_image(avg, th, side, f"head_average[{layer}]")
        img.move_to([left + side / 2, top - side / 2, 0])
        cell = side / n
        rows = VGroup(*(shortened(tok, label_w - 0.2, th, font_size=lf, color=th.text)
                        .next_to([left, top - (i + 0.5) * cell, 0], LEFT, buff=0.12)
                        for i, tok in enumerate(t.tokens)))
        cols = VGroup()
        for j, tok in enumerate(t.tokens):
            lab = shortened(tok, key_h - 0.15, th, font_size=lf, color=th.text).rotate(np.pi / 2)
            lab.qkv_turned = True
            fit_width(lab, cell * 0.9)
            cols.add(lab.next_to([left + (j + 0.5) * cell, top, 0], UP, buff=0.1))
        head = plain_text(f"average of the {heads} heads" + (
            f" in layer {layer + 1}" if t.model else ""), th, font_size=18, color=th.muted)
        fit_width(head, side + label_w)
        head.next_to(img, DOWN, buff=0.15)
        average = Group(img, framed(img, th), rows, cols, head)

        # the heads, small, in a grid right of the average
        area_left = left + side + 0.8
        area_w = FRAME_W / 2 - area_left
        area_h = SAFE_TOP - SAFE_BOTTOM
        best = None
        share = t.model.sharing if t.model else 1  # query heads per key/value head
        for ncols in ([share] if share > 1 else range(1, heads + 1)):  # a row per K,V head
            nrows = -(-heads // ncols)
            thumb = min(area_w / ncols - 0.25, area_h / nrows - 0.5)
            if best is None or thumb > best[0]:
                best = (thumb, ncols, nrows)
        thumb, ncols, nrows = best
        thumb = min(thumb, 2.2)
        pitch_x, pitch_y = thumb + 0.25, thumb + 0.5
        x0 = area_left + (area_w - ncols * pitch_x + 0.25) / 2
        y0 = (SAFE_TOP + SAFE_BOTTOM) / 2 + nrows * pitch_y / 2
        thumbs = []
        for h in range(heads):
            r, c = divmod(h, ncols)
            im = heat_image(A[h], th, thumb, f"attention[{layer},{h}]")
            im.move_to([x0 + c * pitch_x + thumb / 2, y0 - r * pitch_y - 0.35 - thumb / 2, 0])
            is_chosen = h == chosen
            frame = framed(im, th, th.accent if is_chosen else None, 3 if is_chosen else 1)
            role = t.head_roles[h] if t.head_roles else None
            kv = f" \u00b7 K,V {t.model.kv_head_of(h + 1)}" if share > 1 else ""
            name = plain_text(f"head {h + 1}{kv}", th, font_size=max(MIN_FONT, 16),
                              color=th.accent if is_chosen else th.text)
            fit_width(name, thumb + 0.2)
            name.next_to(im, UP, buff=0.1)
            thumbs.append(Group(im, frame, name))
            if role:
                fit_width(name, pitch_x - 0.05)
        legend = plain_text("row: the word that asks; column: the word it looks at; "
                            "brighter = more attention", th, font_size=16, color=th.muted)
        fit_width(legend, FRAME_W)
        legend.move_to([0, EQUATION_Y, 0])
        i, j = strongest_pair(avg, t)
        self.beat(fade_in(average), fade_in(legend), run_time=1.0,
                  caption=f"Averaged over the {heads} heads, '{t.tokens[i]}' looks most at "
                          f"'{t.tokens[j]}': {format_number(avg[i, j])} of its attention.")
        self.beat(LaggedStart(*(fade_in(g) for g in thumbs), lag_ratio=0.15),
                  run_time=min(3.0, 1.0 + 0.15 * heads), wait=1.0,
                  caption=f"Each head of layer {layer + 1} alone: every one looks for something "
                          "else." if t.model else "Each head alone: every one looks for "
                          "something else.")
        if t.sink_share is not None and t.n > 1:
            k = int(t.sink_share[layer].argmax())
            sinks = int((t.sink_share[layer] > 0.5).sum())  # heads: more than half on [start]
            self.beat(caption=f"The bright first column is {t.start_token}: {sinks} of these "
                              f"{heads} heads give it more than half of a row on average, an "
                              "attention sink, a place to put attention that is wanted nowhere "
                              f"else. Head {k + 1} gives it "
                              f"{format_number(t.sink_share[layer, k])}.", wait=1.0)
        links = []
        for h in range(heads):
            a, b = strongest_pair(A[h], t)
            links.append((A[h][a, b], h, a, b))
        w, h, a, b = max(links)
        self.beat(caption=f"The sharpest: head {h + 1}, where '{t.tokens[a]}' gives "
                          f"'{t.tokens[b]}' {format_number(w)} of its attention.", wait=2.0)
        self.layer_view = Group(average, legend, *thumbs)

    # -- every layer and head in one frame -----------------------------------------------------
    def overview_model(self) -> None:
        t, th = self.trace, self.theme
        A = t.all_attention
        layers, heads = A.shape[:2]
        # A row per layer, a column per head; a deep model (30 layers of 9 heads) is turned on
        # its side, a column per layer, so that every thumbnail and label stays legible.
        deep = layers > 2 * heads
        cols, rows_n = (layers, heads) if deep else (heads, layers)
        row_name = "head" if deep else "layer"
        row_w = text_width(f"{row_name} {rows_n}", th.font, 18) + 0.3
        head_h = 0.45
        pitch = min((FRAME_W - row_w) / cols, (SAFE_TOP - SAFE_BOTTOM - head_h - 0.5) / rows_n)
        thumb = pitch - 0.08
        left = -(row_w + cols * pitch) / 2 + row_w
        top = SAFE_TOP - head_h
        grid = []
        for layer in range(layers):
            for h in range(heads):
                c, r = (layer, h) if deep else (h, layer)
                im = heat_image(A[layer, h], th, thumb, f"attention[{layer},{h}]")
                im.move_to([left + (c + 0.5) * pitch, top - (r + 0.5) * pitch, 0])
                grid.append(im)
        col_font = 18 if pitch > 0.5 else 14
        names = VGroup(*(plain_text(str(c + 1), th, font_size=col_font, color=th.muted)
                         .move_to([left + (c + 0.5) * pitch, top + head_h / 2, 0])
                         for c in range(cols) if not deep or c % 5 == 4 or c == 0))
        names.add(plain_text("layer" if deep else "head", th, font_size=18, color=th.muted)
                  .next_to([left - 0.1, top + head_h / 2, 0], LEFT, buff=0.1))
        rows = VGroup(*(plain_text(f"{row_name} {k + 1}", th, font_size=18, color=th.muted)
                        .next_to([left - 0.1, top - (k + 0.5) * pitch, 0], LEFT, buff=0.1)
                        for k in range(rows_n)))
        line = [Group(*(grid[k * heads + h] for h in range(heads))) for k in range(layers)]
        ml, mh = t.model.layer - 1, t.model.head - 1
        chosen = grid[ml * heads + mh]
        outline = framed(chosen, th, th.accent, 4).scale(1.08)
        note = plain_text(f"outlined: layer {ml + 1}, head {mh + 1}", th, font_size=18,
                          color=th.accent)
        note.move_to([0, top - rows_n * pitch - 0.3, 0])
        why = "the head you chose" if t.model.chosen_by == "you" else t.model.chosen_by
        self.beat(fade_out(self.layer_view), run_time=0.6, wait=0)
        self.beat(fade_in(names), fade_in(rows),
                  LaggedStart(*(fade_in(g) for g in line), lag_ratio=0.2),
                  run_time=2.0, wait=1.0,
                  caption=f"All {layers} layers, {heads} heads each: {layers * heads} ways of "
                          "reading the same sentence.")
        self.beat(fade_in(outline), fade_in(note), run_time=0.8, wait=1.5,
                  caption=f"Outlined: layer {ml + 1}, head {mh + 1}, {why}.")
