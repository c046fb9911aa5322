"""Colours and type, in one place. Colour-blind-safe: Okabe-Ito for Q/K/V, cividis (dark) or a
single-hue blue ramp (light) for the heat map, whose lightness also carries the value.

Every text colour has a contrast of at least 4.5:1 (WCAG AA) on its background;
``tests/test_theme.py`` checks it, including numbers drawn on heat-map cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    text: str  # body text
    muted: str  # secondary text
    grid: str  # thin lines (not text: no contrast rule)
    q: str  # queries: what a word asks for
    k: str  # keys: how a word presents itself
    v: str  # values: what a word contributes
    accent: str  # the step in focus
    heat: tuple[str, ...]  # heat-map stops from weight 0 to weight 1
    dark_ink: str = "#000000"  # text on light heat cells
    light_ink: str = "#FFFFFF"  # text on dark heat cells
    font: str = "DejaVu Sans"
    mono: str = "DejaVu Sans Mono"

    def heat_color(self, t: float) -> str:
        """The heat-map colour for a value ``t`` in [0, 1] (clipped). The square root spreads
        the small weights that attention mostly has over more of the ramp."""
        return rgb_to_hex(self.heat_rgb(np.array(float(t))))

    def heat_rgb(self, t: np.ndarray) -> np.ndarray:  # [...] -> [..., 3] in [0, 1]
        """:meth:`heat_color` for a whole array at once (RGB floats)."""
        stops = np.array([hex_to_rgb(c) for c in self.heat])  # [m, 3]
        x = np.clip(np.asarray(t, dtype=float), 0.0, 1.0) ** 0.5 * (len(stops) - 1)
        k = np.minimum(x.astype(int), len(stops) - 2)
        return stops[k] + (stops[k + 1] - stops[k]) * (x - k)[..., None]

    def ink_on(self, color: str) -> str:
        """Whichever of the two inks contrasts more with ``color``."""
        return max((self.dark_ink, self.light_ink), key=lambda ink: contrast(ink, color))

    @property
    def text_colors(self) -> dict[str, str]:
        """Every colour used for text directly on the background."""
        return {"text": self.text, "muted": self.muted, "q": self.q, "k": self.k, "v": self.v,
                "accent": self.accent}


def hex_to_rgb(color: str) -> np.ndarray:
    c = color.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=float) / 255


def rgb_to_hex(rgb) -> str:
    return "#" + "".join(f"{int(round(float(v) * 255)):02X}" for v in np.clip(rgb, 0, 1))


def luminance(color: str) -> float:
    """WCAG relative luminance."""
    c = hex_to_rgb(color)
    lin = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


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
    heat=("#00224E", "#35456C", "#666970", "#A59C74", "#FEE838"),  # cividis
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
    heat=("#F7FBFF", "#C6DBEF", "#6BAED6", "#2171B5", "#08306B"),  # ColorBrewer Blues
)

THEMES = {t.name: t for t in (DARK, LIGHT)}


def get_theme(name: str | Theme | None) -> Theme:
    if isinstance(name, Theme):
        return name
    return THEMES[name or "dark"]
