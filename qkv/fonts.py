"""Which characters the installed fonts can draw, asked of fontconfig before a render, so a
word that would show as empty boxes is refused in one line instead."""

from __future__ import annotations

import bisect
import shutil
import subprocess
import sys
from functools import lru_cache

from attention import AttentionTrace, QKVError
from attention.display import LRM, TEXT_STYLE, display_text

INVISIBLE = (LRM, TEXT_STYLE)  # marks that steer Pango and draw nothing


@lru_cache(maxsize=1)
def outline_coverage() -> tuple[tuple[int, int], ...]:
    """The code point ranges (first, last) that some installed outline font covers, from one
    ``fc-list`` call. Colour emoji fonts are left out: they are bitmaps, which Manim's SVG
    import drops."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise QKVError("fc-list is not installed, so qkv cannot tell which characters the "
                       "fonts can draw; run ./render.sh once (it installs fontconfig)")
    out = subprocess.run([fc_list, "--format", "%{family}\t%{charset}\n"], capture_output=True,
                         text=True, timeout=60).stdout
    ranges = set()
    for line in out.splitlines():
        family, _, charset = line.partition("\t")
        if "Color Emoji" in family:
            continue
        for piece in charset.split():
            first, _, last = piece.partition("-")
            ranges.add((int(first, 16), int(last or first, 16)))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def font_covers(ch: str) -> bool:
    """Whether an installed outline font has a glyph for ``ch``."""
    ranges = outline_coverage()
    k = bisect.bisect_right(ranges, (ord(ch), sys.maxunicode)) - 1
    return k >= 0 and ranges[k][0] <= ord(ch) <= ranges[k][1]


def check_drawable(trace: AttentionTrace) -> None:
    """Refuse, before anything is written, a word that no installed font can draw (it would
    show as empty boxes)."""
    for tok in trace.tokens:
        for ch in display_text(tok):
            if ch not in INVISIBLE and not font_covers(ch):
                raise QKVError(
                    f"no installed font can draw {ch!r} (U+{ord(ch):04X}) in {tok!r}; "
                    "run ./render.sh once to install the fonts, or leave it out"
                )
