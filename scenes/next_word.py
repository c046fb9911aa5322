"""The next word: what a GPT is for. The last token's row of weights in the explained head (what
it gathered from the words before), then, after all the layers, the model's five likeliest
next tokens as bars with their probabilities.

Render with ``qkv render --scene next --model smollm2``.
"""

from __future__ import annotations

from manim import LEFT, RIGHT, GrowFromEdge, LaggedStart, MathTex, Rectangle, VGroup

from attention.display import format_number
from engine.fades import fade_in
from engine.text import Number
from scenes.base import AttentionScene
from scenes.components import fit_width, plain_text, shortened
from scenes.layout import FRAME_W, SAFE_BOTTOM, SAFE_TOP, label_font, row_font, token_width

SHOWN = 5  # candidates drawn as bars


class NextWordScene(AttentionScene):
    """The last token's attention row, then the next-token bars."""

    def construct(self) -> None:
        self.next_stage()

    def next_stage(self) -> None:
        t, th = self.trace, self.theme
        n, last = t.n, t.n - 1
        tok = t.tokens
        formula = MathTex(r"P(\text{next}) = \operatorname{softmax}(h_{\text{last}} E^{\top})",
                          color=th.text, font_size=32)
        self.intro("The next word", formula,
                   "What is all this for? A GPT reads the sentence to guess the word that "
                   "comes next.")

        # -- Beat 1: the last token's row of weights -------------------------------------------
        height = SAFE_TOP - SAFE_BOTTOM - 0.6
        row_h = min(0.5, height / n)
        lf = label_font(tok, th, width=2.0, start=22, row_height=row_h)
        label_w = token_width(tok, th, lf) + 0.2
        bar_w = 2.4
        left = -FRAME_W / 2 + min(label_w, 2.2) + 0.2
        top = (SAFE_TOP + SAFE_BOTTOM) / 2 + n * row_h / 2 - 0.2
        heading = plain_text(f"what '{tok[last]}' gathers (layer {t.model.layer}, head "
                             f"{t.model.head})", th, font_size=18, color=th.muted)
        fit_width(heading, FRAME_W / 2 - 0.4)
        heading.next_to([-FRAME_W / 2, top + 0.15, 0], RIGHT, buff=0).align_to(
            [-FRAME_W / 2, 0, 0], LEFT)
        row = VGroup()
        nf = min(18, row_font(row_h))
        for j in range(n):
            y = top - (j + 0.5) * row_h
            w = float(t.weights[last, j])
            label = shortened(tok[j], min(label_w, 2.2), th, font_size=lf, color=th.text)
            label.next_to([left - 0.1, y, 0], LEFT, buff=0)
            bar = Rectangle(width=max(bar_w * w, 0.02), height=row_h * 0.7, stroke_width=0,
                            fill_color=th.heat_color(w), fill_opacity=1)
            bar.next_to([left, y, 0], RIGHT, buff=0)
            num = Number(w, source=f"weights[{last},{j}]", font=th.mono, font_size=nf,
                         color=th.text)
            num.next_to([left + bar_w + 0.1, y, 0], RIGHT, buff=0)
            row.add(VGroup(label, bar, num))
        k = max(range(n), key=lambda j: (t.weights[last, j] if t.words[j] else -1.0, -j))
        sink = float(t.weights[last, 0])
        self.beat(fade_in(heading), LaggedStart(*(fade_in(r) for r in row), lag_ratio=0.1),
                  run_time=1.5, wait=1.2,
                  caption=f"The last token, '{tok[last]}', asks the words before it. In this "
                          f"head it gives {format_number(sink)} to the start token and, of "
                          f"the words, the most to '{tok[k]}': "
                          f"{format_number(t.weights[last, k])}.")

        # -- Beat 2: the model's guesses -------------------------------------------------------
        cands = t.next_tokens[:SHOWN]
        x0 = 0.4
        cand_w = max(token_width([c.token for c in cands], th, 24), 1.0)
        bar_left = x0 + min(cand_w, 2.4) + 0.2
        full = FRAME_W / 2 - bar_left - 1.0  # the length of probability 1
        pitch = min(0.85, (SAFE_TOP - SAFE_BOTTOM - 0.8) / SHOWN)
        top2 = (SAFE_TOP + SAFE_BOTTOM) / 2 + SHOWN * pitch / 2 - 0.2
        title2 = plain_text(f"next token, after all {t.model.layers} layers", th,
                            font_size=18, color=th.muted)
        title2.next_to([x0, top2 + 0.15, 0], RIGHT, buff=0)
        bars, labels, nums, grow = VGroup(), VGroup(), VGroup(), []
        for r, c in enumerate(cands):
            y = top2 - (r + 0.5) * pitch
            color = th.accent if r == 0 else th.v
            lab = shortened(c.token, 2.4, th, font_size=24, color=th.text)
            lab.next_to([bar_left - 0.15, y, 0], LEFT, buff=0)
            bar = Rectangle(width=max(full * c.probability, 0.03), height=pitch * 0.6,
                            stroke_width=0, fill_color=color, fill_opacity=0.9)
            bar.next_to([bar_left, y, 0], RIGHT, buff=0)
            track = Rectangle(width=full, height=pitch * 0.6, stroke_color=th.grid,
                              stroke_width=1).next_to([bar_left, y, 0], RIGHT, buff=0)
            bars.add(track)
            num = Number(c.probability, source=f"next_tokens[{r}]", font=th.mono, font_size=22,
                         color=th.text)
            num.next_to(track, RIGHT, buff=0.12)
            labels.add(lab)
            grow.append(bar)
            nums.add(num)
        best = cands[0]
        self.beat(fade_in(title2), fade_in(labels), fade_in(bars),
                  LaggedStart(*(GrowFromEdge(b, LEFT) for b in grow), lag_ratio=0.15),
                  fade_in(nums), run_time=1.8, wait=1.5,
                  caption=f"After all {t.model.layers} layers, the model's guesses: "
                          f"'{best.said}' first, with probability "
                          f"{format_number(best.probability)}.")
        self.beat(caption="Every layer's heads gather from earlier words like this one does; "
                          "what they gather is how the model knows what comes next.", wait=1.5)
