"""How numbers are written, on screen (scenes) and on paper (worksheets): the same decimals,
the same minus sign, and the same rule for when a written-out sum may say '='."""

from __future__ import annotations

import math

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
