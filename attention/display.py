"""How numbers are written, on screen (scenes) and on paper (worksheets): the same decimals,
the same minus sign, and the same rule for when a written-out sum may say '='."""

from __future__ import annotations

import math
import unicodedata

MINUS = "\u2212"


def format_number(x: float, digits: int = 2) -> str:
    """Fixed decimals, a real minus sign, minus infinity; no '-0.00'."""
    if math.isinf(x):
        return f"{MINUS}\u221e" if x < 0 else "\u221e"
    s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]  # no "-0.00"
    return s.replace("-", MINUS)


def printed_sum_is_exact(factors, total: float, digits: int) -> bool:
    """Whether a sum of products [(a, a_digits, b, b_digits)], each factor rounded as it is
    printed, adds up to ``total`` as printed. If not, the line says '≈' instead of '='."""
    shown = sum(round(float(a), da) * round(float(b), db) for a, da, b, db in factors)
    return format_number(shown, digits) == format_number(total, digits)


LRM = "\u200e"  # left-to-right mark
TEXT_STYLE = "\ufe0e"  # variation selector 15: draw the character as text, not as emoji
DROPPED = {"\ufe0f", "\u200d"}  # emoji style selector and zero-width joiner


def _is_emoji(ch: str) -> bool:
    o = ord(ch)
    return unicodedata.category(ch) == "So" and (o >= 0x1F000 or 0x2190 <= o <= 0x2BFF)


def display_text(text: str) -> str:
    """What Pango is given for ``text`` so that it shows up on screen.

    * Emoji are drawn as outlines (the text style, from the Symbola font): colour emoji are
      bitmaps, which Manim's SVG import drops. Skin tones and joiners are left out, so a
      family emoji shows its members side by side.
    * Right-to-left words (Arabic, Hebrew) get a left-to-right mark in front: Pango lays an
      RTL paragraph out from the right edge, off the surface Manim reads, and draws nothing.
    """
    out = []
    for ch in text:
        if ch in DROPPED or "\U0001f3fb" <= ch <= "\U0001f3ff":
            continue
        out.append(ch + TEXT_STYLE if _is_emoji(ch) else ch)
    shown = "".join(out)
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in shown):
        shown = LRM + shown
    return shown
