"""Stage 1, embeddings: the sentence appears and each word becomes a row of named features.

Render alone with ``qkv render --scene embeddings``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    Create,
    LaggedStart,
    MathTex,
    ReplacementTransform,
    SurroundingRectangle,
    VGroup,
)

from attention.core import pick_example
from attention.display import format_number
from engine.fades import fade_in, fade_out
from engine.pictures import fade_in_as_one
from scenes.base import AttentionScene
from scenes.components import GridLines, MatrixBlock, font_for, shown, wrapped_words
from scenes.layout import (
    FRAME_W,
    SAFE_BOTTOM,
    SAFE_TOP,
    label_font,
    place,
    row_font,
    text_width,
    token_width,
)


class EmbeddingLayout:
    """X with token labels on the left and feature names on top, centred."""

    def __init__(self, trace, theme, head_h: float = 0.55):
        n = trace.n
        self.cols = shown(trace.X.shape[1])  # a trained model's 384: 1, 2, 3, ..., 383, 384
        d = len(self.cols)
        self.label_font = label_font(trace.tokens, theme, width=3.2, start=26)
        self.label_w = token_width(trace.tokens, theme, self.label_font) + 0.45
        self.feature_font = 20.0
        widest_feature = max(text_width(trace.feature_names[k], theme.font, self.feature_font)
                             for k in self.cols if k is not None)
        self.cw = min(widest_feature + 0.3, (FRAME_W - self.label_w) / d)
        self.ch = min(0.7, (SAFE_TOP - SAFE_BOTTOM - head_h) / n)
        self.num_font = font_for(self.cw, self.ch, cap=30)
        self.label_font = min(self.label_font, row_font(self.ch))
        total_w = self.label_w + d * self.cw
        self.left = -total_w / 2 + self.label_w
        middle = (SAFE_TOP + SAFE_BOTTOM) / 2
        self.top = middle + (head_h + n * self.ch) / 2 - head_h


def strongest(trace, i: int) -> tuple[str, float]:
    f = int(np.argmax(trace.X[i]))
    return trace.feature_names[f], float(trace.X[i, f])


class EmbeddingsScene(AttentionScene):
    """Words become vectors of named features."""

    def construct(self) -> None:
        self.embeddings_stage()

    def embeddings_stage(self) -> None:
        t, th = self.trace, self.theme
        n, d = t.X.shape
        lay = EmbeddingLayout(t, th)

        # -- Beat 1: the sentence, as tokens -------------------------------------------------
        formula = MathTex(rf"X:\ {n} \times {d}", color=th.text, font_size=34)
        trained = t.model is not None
        self.intro("Embeddings: each word becomes a vector", formula,
                   f"The sentence, split into {n} of the model's tokens: {t.start_token} "
                   "first, the model's mark for the start of a text; the open box marks a "
                   "token that begins with a space." if t.start_token else
                   f"The sentence, split into {n} of the model's tokens: [CLS] first, [SEP] "
                   "last, long words in pieces." if trained else
                   f"The sentence, split into {n} token{'s' * (n > 1)}: "
                   "words and punctuation.")
        words = wrapped_words(t.tokens, th, width=FRAME_W, font_size=36)
        words.lines.move_to([0, 0.3, 0])
        self.beat(LaggedStart(*(fade_in(w, shift=DOWN * 0.2) for w in words), lag_ratio=0.15),
                  run_time=1.2, wait=0.8,
                  caption="A transformer needs numbers, not letters.")

        # -- Beat 2: the words become the rows of X --------------------------------------------
        X = place(MatrixBlock(t.X, theme=th, cell_w=lay.cw, cell_h=lay.ch, source="X",
                              font_size=lay.num_font, row_labels=t.tokens,
                              col_labels=t.feature_names, label_font_size=lay.label_font,
                              col_label_font_size=lay.feature_font, show_entries=False,
                              cols=lay.cols),
                  lay.left, lay.top)
        heat = np.clip(t.X, 0, 1)
        cells = X.heat_cells(heat)
        entries = X.make_entries(t.X, source="X", heat=heat)
        lines = GridLines(X, th.grid)
        self.beat(*(ReplacementTransform(w, lab) for w, lab in zip(words, X.row_labels)),
                  LaggedStart(*(fade_in_as_one([lab]) for lab in X.col_labels), lag_ratio=0.1),
                  Create(lines), run_time=1.5,
                  caption=f"Each token becomes {d} numbers, what layer {t.model.layer} of the "
                          "model receives: learned, not named. Shown: the first 3 and the last "
                          "2." if trained else
                          f"Each word becomes {d} numbers, one per named feature.")

        # -- Beat 3: one word in detail ------------------------------------------------------
        i, _ = pick_example(t)
        feat, val = strongest(t, i)
        first = ", ".join(format_number(x) for x in t.X[i, :3])
        self.beat(LaggedStart(*(fade_in(VGroup(c, e)) for c, e in zip(cells[i], entries[i])),
                              lag_ratio=0.3),
                  run_time=1.5, wait=1.2,
                  caption=f"'{t.tokens[i]}' begins {first}, and so on for {d} numbers. "
                          "Brighter cells are larger." if trained else
                          f"'{t.tokens[i]}' scores {format_number(val)} on {feat}. "
                          "Brighter cells are stronger.")

        # -- Beat 4: every other word, briskly ------------------------------------------------
        others = [r for r in range(n) if r != i]
        if others:
            self.beat(LaggedStart(*(fade_in_as_one([cells[r], entries[r]]) for r in others),
                                  lag_ratio=0.2),
                      run_time=min(2.5, 0.3 * len(others) + 0.8),
                      caption=("Every token's row: its learned embedding"
                               + ("" if t.start_token else " plus its position's") + ", "
                               + ("normalised." if t.model.layer == 1 else
                                  f"through {t.model.layer - 1} layer"
                                  f"{'s' * (t.model.layer > 2)} before this one"
                                  + (", then normalised." if t.start_token else ".")))
                      if trained else
                      "Every word gets its vector from a lexicon, or from its ending.")

        # -- Beat 5: why two words differ -----------------------------------------------------
        j = None if trained else next((r for r in others if strongest(t, r)[0] != feat), None)
        if j is not None:
            feat_j, val_j = strongest(t, j)
            boxes = [SurroundingRectangle(X.row_box(r), color=th.accent, buff=0.03)
                     for r in (i, j)]
            self.beat(*(Create(b) for b in boxes), run_time=0.8, wait=2.0,
                      caption=f"'{t.tokens[i]}' is mostly {feat}, '{t.tokens[j]}' mostly "
                              f"{feat_j} ({format_number(val_j)}): they will ask differently.")
            self.beat(*(fade_out(b) for b in boxes), run_time=0.5, wait=0.3)
