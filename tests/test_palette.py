"""The scenes' palette: text readable on the background (WCAG AA), hues told apart with colour-vision deficiencies.

What is checked: (1) every text colour of animations/style.py (the DARK palette of lessons/palette.py) has a WCAG 2
contrast ratio of at least 4.5:1 against the scenes' background; (2) the four hue roles are colours of the
Okabe–Ito set; (3) simulated for protanopia, deuteranopia and tritanopia (Machado, Oliveira & Fernandes 2009,
severity 1), every pair of hue roles stays at least 10 CIELAB units apart (ΔE*ab; about 2.3 is just noticeable).
"""
import itertools

import numpy as np
import pytest

from animations.style import (BACKGROUND, TEXT_COLOURS, WCAG_AA_CONTRAST, contrast_ratio, linear_rgb,
                              relative_luminance)
from lessons import palette
from lessons.palette import DARK

OKABE_ITO = {palette.BLACK, palette.ORANGE, palette.SKY_BLUE, palette.BLUISH_GREEN, palette.YELLOW, palette.BLUE,
             palette.VERMILLION, palette.REDDISH_PURPLE}
HUE_ROLES = ("vanishing", "exploding", "stable", "accent")
MIN_DELTA_E = 10
# Machado et al. (2009), Table 1 at severity 1.0: linear RGB -> linear RGB as the dichromat sees it.
SIMULATIONS = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def cielab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (L*, a*, b*) of a linear sRGB colour, D65 white."""
    t = SRGB_TO_XYZ @ linear / D65_WHITE
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_luminance_and_contrast_match_wcag_examples():
    assert relative_luminance("#000000") == 0 and relative_luminance("#FFFFFF") == pytest.approx(1)
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21)
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)   # the classic AA near miss


@pytest.mark.parametrize("role", list(TEXT_COLOURS))
def test_text_colour_reads_on_the_background(role):
    ratio = contrast_ratio(TEXT_COLOURS[role], BACKGROUND)
    assert ratio >= WCAG_AA_CONTRAST, f"{role} {TEXT_COLOURS[role]} on {BACKGROUND}: {ratio:.2f}:1"


def test_scene_colours_are_the_dark_palette():
    assert BACKGROUND == DARK.background
    assert {TEXT_COLOURS[role] for role in HUE_ROLES} == {getattr(DARK, role) for role in HUE_ROLES}


def test_hues_are_okabe_ito():
    assert {getattr(DARK, role).upper() for role in HUE_ROLES} <= OKABE_ITO


@pytest.mark.parametrize("deficiency", list(SIMULATIONS))
def test_hues_stay_apart_with_colour_vision_deficiency(deficiency):
    seen = {role: cielab(np.clip(np.array(SIMULATIONS[deficiency]) @ linear_rgb(getattr(DARK, role)), 0, 1))
            for role in HUE_ROLES}
    distances = {(a, b): float(np.linalg.norm(seen[a] - seen[b])) for a, b in itertools.combinations(HUE_ROLES, 2)}
    closest = min(distances, key=distances.get)
    assert distances[closest] >= MIN_DELTA_E, f"{deficiency}: {closest} only ΔE {distances[closest]:.1f} apart"
