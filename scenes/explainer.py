"""The full explainer: a title card, the five stages (each a Manim section), and a recap that
ties each symbol of softmax(QK^T / sqrt(d_k)) V to what was shown.

It plays the stage scenes' own beats (it inherits them); nothing is written twice.
Render with ``qkv render`` (the default scene) or ``qkv render --scene explainer``.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from manim import DOWN, LEFT, UP, LaggedStart, MathTex, VGroup, Write

from attention.core import pick_example
from attention.display import format_number
from engine.fades import fade_in
from engine.pictures import fade_in_as_one
from engine.text import Number
from scenes.components import fit_width, plain_text, rich_line, wrapped_words
from scenes.embeddings import EmbeddingsScene, strongest
from scenes.heads import HeadsScene
from scenes.layout import FRAME_W
from scenes.mixing import MixingScene
from scenes.next_word import NextWordScene
from scenes.overview import OverviewScene
from scenes.positions import PositionsScene
from scenes.projections import ProjectionsScene
from scenes.rope import RopeScene
from scenes.scores import ScoresScene
from scenes.shared_heads import SharedHeadsScene
from scenes.softmax import SoftmaxScene
from scenes.stages import ABOUT, explainer_sections, explainer_stages


def attention_formula(theme, font_size: float = 44) -> MathTex:
    """softmax(QK^T / sqrt(d_k)) V, with Q, K and V in their colours."""
    f = MathTex(r"\operatorname{softmax}\!\left(", r"Q", r"K^{\top}", r"\over \sqrt{d_k}",
                r"\right)", r"V", color=theme.text, font_size=font_size)
    f[1].set_color(theme.q)
    f[2].set_color(theme.k)
    f[5].set_color(theme.v)
    return f


class ExplainerScene(EmbeddingsScene, PositionsScene, ProjectionsScene, RopeScene, ScoresScene,
                     SoftmaxScene, MixingScene, HeadsScene, SharedHeadsScene, OverviewScene,
                     NextWordScene):
    """Title card, the stages as sections (five, and positions and heads when they are on),
    recap."""

    # A run of consecutive sections to draw, for one part of a parallel render: the part
    # starts with its first section at time 0 (the screen is empty at every section's start,
    # and no section reads what an earlier one built), and ends after its last section's
    # closing fade. None: all of them.
    only_sections: tuple[str, ...] | None = None

    def construct(self) -> None:
        sections = explainer_sections(self.trace)
        only = self.only_sections or sections
        for name in sections[sections.index(only[0]):]:
            self.clear_stage()  # the fade that ends a section belongs to its clip
            if name not in only:
                return  # the next part draws on from here
            self.next_section(name)
            self.section_method(name)()

    def section_method(self, name: str):
        """What tells section ``name``: the title card, a stage, or the recap."""
        if name in ("title", "recap"):
            return getattr(self, "title_card" if name == "title" else "recap")
        if name == "heads" and self.trace.model is not None:  # a GPT's shared key heads
            return self.shared_heads_stage
        return getattr(self, f"{name}_stage")

    @property
    def told_model(self) -> bool:
        """The title card says which trained model the numbers come from; the overview need
        not say it again."""
        return self.trace.model is not None

    def title_card(self) -> None:
        t, th = self.trace, self.theme
        title = plain_text("Self-attention, step by step", th, font_size=44)
        words = unicodedata.normalize("NFC", t.sentence).split()
        sentence = wrapped_words(["\u201c" + words[0]] + words[1:-1] +
                                 ([words[-1] + "\u201d"] if len(words) > 1 else []),
                                 th, width=FRAME_W * 0.9, font_size=38, color=th.accent)
        if len(words) == 1:
            sentence = wrapped_words(["\u201c" + words[0] + "\u201d"], th,
                                     width=FRAME_W * 0.9, font_size=38, color=th.accent)
        formula = attention_formula(th, 48)
        notes = []
        c = t.config
        if c.causal:
            notes.append("causal mask")
        if not c.scale:
            notes.append("no scaling")
        if c.temperature != 1:
            notes.append(f"temperature {c.temperature:g}")
        if len(t.heads) > 1:
            role = f": {t.head_roles[0]}" if t.head_roles else ""
            notes.append(f"{len(t.heads)} heads, showing head 1{role}")
        if t.model is not None:
            notes.append(f"{t.model.name}, layer {t.model.layer} of {t.model.layers}, head "
                         f"{t.model.head} of {t.model.heads}")
        elif t.weights_source != "hand-designed":
            notes.append(f"{t.weights_source} weights")
        if t.P is not None:
            notes.append(f"{c.positions} positions")
        parts = [title, sentence.lines, formula]
        if notes:
            parts.append(fit_width(plain_text(" \u00b7 ".join(notes), th, font_size=22,
                                              color=th.muted), FRAME_W))
        VGroup(*parts).arrange(DOWN, buff=0.55)
        self.beat(fade_in(title, shift=DOWN * 0.2), run_time=0.8, wait=0.2,
                  caption="How does a sentence look at itself? Self-attention in "
                          f"{len(explainer_stages(t))} steps.")
        self.beat(LaggedStart(*(fade_in_as_one([w]) for w in sentence), lag_ratio=0.1),
                  run_time=1.0,
                  wait=0.4, caption=f"Our sentence: {' '.join(words)}")
        self.beat(Write(formula), *(fade_in(p) for p in parts[3:]), run_time=1.5, wait=1.5,
                  caption="By the end, every symbol here will mean something you saw.")
        if t.model is not None:
            self.beat(caption=f"Every number here comes from {t.model.name}, "
                              f"{ABOUT[t.config.model]}. We follow head {t.model.head} of "
                              f"layer {t.model.layer}.", wait=1.0)

    def recap(self) -> None:
        t, th = self.trace, self.theme
        tok = t.tokens
        i, j = pick_example(t)
        formula = attention_formula(th, 46).to_edge(UP, buff=0.45)
        fs = 24

        def num(x, src, color):
            return Number(x, source=src, font=th.mono, font_size=fs, color=color)

        def sym(tex, color):
            return MathTex(tex, color=color, font_size=fs * 1.4)

        feat, _ = strongest(t, i)
        f = 0 if t.model is not None else list(t.feature_names).index(feat)
        k = int(np.argmax(t.weights[i]))
        x_row = ([f"each token as {t.X.shape[1]} learned numbers: '{tok[i]}' starts with",
                  num(t.X[i, 0], f"X[{i},0]", th.text)] if t.model is not None else
                 [f"each word as named features: '{tok[i]}' has {feat}",
                  num(t.X[i, f], f"X[{i},{f}]", th.text)])
        rows = [
            (sym("X", th.text), x_row),
            (sym(r"Q,\ K", th.text), ["what a word asks for, how it presents itself",
                                      ("(X W_q, X W_k, turned by position)"
                                       if t.head.Q_rope is not None else
                                       "(X W_q + b_q, X W_k + b_k)" if t.model is not None
                                       else "(X times W_q, W_k)", th.muted)]),
            (sym(r"QK^{\top}", th.text), [f"how well '{tok[i]}' asking meets '{tok[j]}' "
                                          "presenting:",
                                          num(t.scores[i, j], f"scores[{i},{j}]", th.text)]),
            (sym(r"\div\sqrt{d_k}", th.text), ["keeps scores moderate:",
                                              num(t.scores[i, j], f"scores[{i},{j}]", th.text),
                                              f"\u00f7 {t.divisor:g} =",
                                              num(t.scaled[i, j], f"scaled[{i},{j}]", th.text)]),
            (sym(r"\operatorname{softmax}", th.accent),
             [f"rows of weights summing to 1: '{tok[i]}' gives '{tok[k]}'",
              num(t.weights[i, k], f"weights[{i},{k}]", th.accent)]),
            (sym("V", th.v), ["what a word contributes; each output mixes them"]),
        ]
        rows[1][0][0][0].set_color(th.q)
        rows[1][0][0][2].set_color(th.k)
        lines = []
        for lead, rest in rows:
            line = rich_line(rest, th, font_size=fs)
            lead.next_to(line, LEFT, buff=0.3)
            lines.append(VGroup(lead, line))
        group = VGroup(*lines).arrange(DOWN, buff=0.3)
        for lead, line in lines:  # a column of symbols, right-aligned, then the words
            line.set_x(0, direction=LEFT)
            lead.next_to(line, LEFT, buff=0.3)
        fit_width(group, FRAME_W)
        group.move_to([0, (formula.get_bottom()[1] - 3.6) / 2, 0])
        self.beat(Write(formula), run_time=1.2,
                  caption="Recap: self-attention in one line.")
        captions = [
            f"X: each token as {t.X.shape[1]} numbers, layer {t.model.layer}'s input."
            if t.model is not None else f"X: each word as features; '{tok[i]}' is mostly {feat}.",
            "Q asks, K presents: two projections of X.",
            "QKᵀ: every question against every key.",
            f"Dividing by √d_k = √{t.d_k} keeps the scores moderate.",
            "Softmax: rows of weights that sum to 1.",
            "V contributes: each output mixes the values by weight.",
        ]
        for line, caption in zip(lines, captions):
            self.beat(fade_in(line, shift=UP * 0.15), run_time=0.8, wait=1.4, caption=caption)
        if t.next_tokens:  # a GPT: the story ends on the word it guesses
            best = t.next_tokens[0]
            self.beat(caption=f"And after {t.model.layers} layers of this, the model guesses "
                              f"what comes next: '{best.said}', "
                              f"{format_number(best.probability)}.", wait=1.0)
        self.wait(1.0)
