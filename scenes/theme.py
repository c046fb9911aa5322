"""Colours and type sizes, in one place. Colour-blind-safe (Okabe-Ito) Q/K/V colours.

Every text colour is chosen for a contrast of at least 4.5:1 (WCAG AA) on its background;
``tests/test_theme.py`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    text: str  # body text
    muted: str  # secondary text, grid lines
    grid: str  # thin lines (not text: no contrast rule)
    q: str  # queries: what a word asks for
    k: str  # keys: how a word presents itself
    v: str  # values: what a word contributes
    accent: str  # highlights of the step in focus
    heat_low: str  # heat map, weight 0
    heat_high: str  # heat map, weight 1
    font: str = "DejaVu Sans"
    mono: str = "DejaVu Sans Mono"


DARK = Theme(
    name="dark",
    background="#111418",
    text="#ECEFF1",
    muted="#A7AFB7",
    grid="#3A424B",
    q="#E69F00",  # Okabe-Ito orange
    k="#56B4E9",  # Okabe-Ito sky blue
    v="#2DBE8F",  # Okabe-Ito bluish green, lightened for contrast on dark
    accent="#F0E442",  # Okabe-Ito yellow
    heat_low="#1B2430",
    heat_high="#F0E442",
)

LIGHT = Theme(
    name="light",
    background="#FFFFFF",
    text="#1B1F23",
    muted="#50575E",
    grid="#C9CED3",
    q="#A85E00",  # Okabe-Ito orange, darkened for contrast on white
    k="#0072B2",  # Okabe-Ito blue
    v="#00795A",  # Okabe-Ito bluish green, darkened
    accent="#C2185B",
    heat_low="#F4F6F8",
    heat_high="#0072B2",
)

THEMES = {t.name: t for t in (DARK, LIGHT)}


def get_theme(name: str | Theme | None) -> Theme:
    if isinstance(name, Theme):
        return name
    return THEMES[name or "dark"]
