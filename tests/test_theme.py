import numpy as np
import pytest

from scenes.theme import THEMES, contrast


@pytest.mark.parametrize("name", sorted(THEMES))
def test_text_contrast_is_wcag_aa(name):
    th = THEMES[name]
    for role, color in th.text_colors.items():
        assert contrast(color, th.background) >= 4.5, (role, color)


@pytest.mark.parametrize("name", sorted(THEMES))
def test_numbers_on_heat_cells_are_readable(name):
    th = THEMES[name]
    for t in np.linspace(0, 1, 101):
        cell = th.heat_color(t)
        assert contrast(th.ink_on(cell), cell) >= 4.5, (t, cell)


@pytest.mark.parametrize("name", sorted(THEMES))
def test_heat_ramp_lightness_is_monotonic(name):
    """The value is carried by lightness too, not by hue alone (colour-blind safe)."""
    from scenes.theme import luminance
    th = THEMES[name]
    lum = [luminance(th.heat_color(t)) for t in np.linspace(0, 1, 51)]
    diffs = np.diff(lum)
    assert (diffs > 0).all() or (diffs < 0).all()


def test_contrast_reference_values():
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
