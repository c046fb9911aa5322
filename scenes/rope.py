"""Rotary positions (RoPE): a GPT adds no position vector; it turns each pair of numbers of a
query and a key by an angle that grows with the token's position. One query's first pair is
drawn as an arrow and turned; then a key's; then the score before and after the turn.

Render with ``qkv render --scene rope --model smollm2``.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, TAU, UP, Arc, Arrow, Dot, Line, MathTex, Rotate, VGroup

from attention.display import format_number
from engine.fades import fade_in, fade_out
from engine.text import Number
from scenes.base import AttentionScene
from scenes.components import fit_width, plain_text, rich_line
from scenes.layout import FRAME_W, SAFE_BOTTOM, SAFE_TOP


class RopeScene(AttentionScene):
    """Positions by rotation: q's first pair turned by position x theta, k's too, the score."""

    def construct(self) -> None:
        self.rope_stage()

    def pair_arrow(self, origin, unit: float, x: float, y: float, color) -> Arrow:
        """An arrow from ``origin`` to the point (x, y) of the pair's plane, ``unit`` scene
        units per unit of the pair."""
        tip = origin + np.array([x, y, 0.0]) * unit
        return Arrow(origin, tip, buff=0, color=color, stroke_width=5,
                     max_tip_length_to_length_ratio=0.12)

    def pair_line(self, name: str, i: int, a: float, b: float, src: str, color, fs: float):
        """'name = (a, b)' with both numbers tagged with their trace entries."""
        th = self.theme
        line = rich_line([(name, color), "= (",
                          Number(a, source=f"{src}[{i},0]", font=th.mono, font_size=fs,
                                 color=color), ",",
                          Number(b, source=f"{src}[{i},1]", font=th.mono, font_size=fs,
                                 color=color), ")"], th, font_size=fs, buff=0.08)
        line[3].align_to(line[2], DOWN).shift(DOWN * 0.06)  # the comma on the numbers' line
        return line

    def turn_line(self, i: int, angle: float, fs: float):
        """'token i: turned by <angle> rad', the angle tagged with its trace entry."""
        th = self.theme
        return rich_line([f"token {i}: turned by", Number(angle, source=f"rope_angles[{i},0]",
                                                          font=th.mono, font_size=fs,
                                                          color=th.accent), "rad"],
                         th, font_size=fs)

    def rope_stage(self) -> None:
        t, th = self.trace, self.theme
        head = t.head
        tok = t.tokens
        demo = t.rope_demo
        i, j = demo.query, demo.key  # the worked example: query i, key j <= i
        other = next((p for p in (1, t.n - 1, 0) if p != i), i)  # the same query elsewhere
        angles = t.rope_angles  # [n, d_head / 2]
        fs = 22

        # -- Beat 1: the idea -------------------------------------------------------------------
        formula = MathTex(r"\tilde q_t = R(t\,\theta)\, q_t", color=th.text, font_size=34)
        self.intro("Rotary positions: where a word is turns its query and key", formula,
                   "This model adds no position vector. Instead it turns each query and "
                   "key by an angle that grows with the token's position.")

        # the plane of the first pair of numbers, on the left
        # the longest arrow (turning keeps a pair's length, so two lengths cover all)
        reach = float(max(np.hypot(*head.Q[i, :2]), np.hypot(*head.K[j, :2]))) or 1.0
        radius = (SAFE_TOP - SAFE_BOTTOM) / 2 - 0.35
        unit = (radius - 0.35) / reach  # arrows end short of the axes' ends
        origin = np.array([-FRAME_W / 4 - 0.4, (SAFE_TOP + SAFE_BOTTOM) / 2, 0.0])
        axes = VGroup(Line(origin + LEFT * radius, origin + RIGHT * radius, color=th.grid,
                           stroke_width=2),
                      Line(origin + DOWN * radius, origin + UP * radius, color=th.grid,
                           stroke_width=2))
        # the axes' names outside the circle the arrows stay in, where no arrow reaches
        x_name = plain_text("number 1", th, font_size=16, color=th.muted)
        x_name.next_to(axes[0].get_end(), RIGHT, buff=0.1)
        y_name = plain_text("number 2", th, font_size=16, color=th.muted)
        y_name.next_to(axes[1].get_end(), UP, buff=0.08)
        plane = VGroup(axes, x_name, y_name, Dot(origin, radius=0.04, color=th.muted))

        # the numbers, on the right: built first so that they fit together
        text_x = x_name.get_right()[0] + 0.4
        slow = angles.shape[1] - 1
        a_q, a_k = float(angles[i, 0]), float(angles[j, 0])
        q_line = self.pair_line(f"q of '{tok[i]}'", i, head.Q[i, 0], head.Q[i, 1], "Q", th.q, fs)
        turn_q = self.turn_line(i, a_q, fs)
        q_turned = self.pair_line("turned", i, head.Q_rope[i, 0], head.Q_rope[i, 1], "Q_rope",
                                  th.q, fs)
        q_other = self.pair_line(f"the same q at token {other}", other,
                                 demo.q_pair_at[other, 0], demo.q_pair_at[other, 1],
                                 "q_pair_at", th.q, fs)
        k_line = self.pair_line(f"k of '{tok[j]}'", j, head.K[j, 0], head.K[j, 1], "K", th.k, fs)
        turn_k = self.turn_line(j, a_k, fs)
        k_turned = self.pair_line("turned", j, head.K_rope[j, 0], head.K_rope[j, 1], "K_rope",
                                  th.k, fs)
        before = Number(head.scores_unturned[i, j], source=f"scores_unturned[{i},{j}]",
                        font=th.mono, font_size=fs, color=th.text)
        after = Number(head.scores[i, j], source=f"scores[{i},{j}]", font=th.mono,
                       font_size=fs, color=th.accent)
        score_before = rich_line(["q \u00b7 k before turning:", before], th, font_size=fs)
        score_after = rich_line(["q \u00b7 k after turning:", after], th, font_size=fs)
        moved = Number(demo.score_shifted, source="score_shifted[0]", font=th.mono,
                       font_size=fs, color=th.accent)
        score_moved = rich_line([f"both {demo.shift} tokens later:", moved], th, font_size=fs)
        lines = VGroup(q_line, turn_q, q_turned, q_other, k_line, turn_k, k_turned,
                       score_before, score_after, score_moved)
        lines.arrange(DOWN, aligned_edge=LEFT, buff=0.3)
        for gap_after in (q_other, k_turned):  # a little air between the three parts
            below = lines[list(lines).index(gap_after) + 1:]
            below.shift(DOWN * 0.25)
        fit_width(lines, FRAME_W / 2 - text_x - 0.1)
        if lines.height > SAFE_TOP - SAFE_BOTTOM:
            lines.scale_to_fit_height(SAFE_TOP - SAFE_BOTTOM)
        lines.move_to([0, (SAFE_TOP + SAFE_BOTTOM) / 2, 0]).set_x(text_x, direction=LEFT)

        # -- Beat 2: a query's first pair as an arrow ------------------------------------------
        q0 = self.pair_arrow(origin, unit, head.Q[i, 0], head.Q[i, 1], th.q)
        self.beat(fade_in(plane), fade_in(q0), fade_in(q_line), run_time=1.2, wait=1.0,
                  caption=f"The first two of the {t.d_k} numbers of the query of '{tok[i]}', "
                          "drawn as an arrow.")

        # -- Beat 3: turned by its position ----------------------------------------------------
        ghost_q = q0.copy().set_opacity(0.3)
        arc_r = min(0.6, radius * 0.3)
        arc_q = Arc(radius=arc_r, start_angle=float(np.arctan2(head.Q[i, 1], head.Q[i, 0])),
                    angle=a_q % TAU, arc_center=origin, color=th.accent, stroke_width=3)
        self.add(ghost_q)
        self.beat(Rotate(q0, angle=a_q, about_point=origin), fade_in(arc_q), fade_in(turn_q),
                  fade_in(q_turned), run_time=1.5, wait=1.0,
                  caption=f"'{tok[i]}' is token {i} (the start token is 0): its first pair "
                          f"turns by {format_number(a_q)} radians. Later pairs turn slower; "
                          f"the last by only {format_number(angles[i, slow], 5)}.")

        # -- Beat 3b: the same query at another place points elsewhere -----------------------
        elsewhere = self.pair_arrow(origin, unit, demo.q_pair_at[other, 0],
                                    demo.q_pair_at[other, 1], th.q).set_opacity(0.45)
        self.beat(fade_in(elsewhere), fade_in(q_other), run_time=0.8, wait=0.8,
                  caption=f"The very same query at token {other} would turn by "
                          f"{format_number(angles[other, 0])} radians and point elsewhere: "
                          "where a word stands changes how it asks.")
        self.beat(fade_out(elsewhere), run_time=0.4, wait=0)

        # -- Beat 4: a key turned by its own position ------------------------------------------
        k0 = self.pair_arrow(origin, unit, head.K[j, 0], head.K[j, 1], th.k)
        ghost_k = k0.copy().set_opacity(0.3)
        self.beat(fade_in(k0), fade_in(k_line), run_time=0.8,
                  caption=f"The key of '{tok[j]}', token {j}, turns by "
                          f"{format_number(a_k)} radians.")
        self.add(ghost_k)
        self.beat(Rotate(k0, angle=a_k, about_point=origin), fade_in(turn_k),
                  fade_in(k_turned), run_time=1.2, wait=0.6)

        # -- Beat 5: the score depends on the distance -----------------------------------------
        gap = i - j
        pairs = angles.shape[1]
        self.beat(fade_in(score_before), fade_in(score_after), run_time=1.0, wait=2.0,
                  caption=f"All {pairs} pairs turn, so the score changes: from "
                          f"{before.text} to {after.text}. Only the gap of {gap} between them "
                          "counts: a query and a key that far apart anywhere in a sentence "
                          "turn against each other the same way.")
        self.beat(fade_in(score_moved), run_time=0.8, wait=1.0,
                  caption=f"Move both {demo.shift} tokens later and the score is the same: "
                          f"{moved.text}.")
        self.beat(fade_out(VGroup(ghost_q, ghost_k)), run_time=0.6, wait=0.4,
                  caption="So the scores know how far back each word is, with no position "
                          "vector added.")
