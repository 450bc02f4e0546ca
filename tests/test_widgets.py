"""Every explorer, driven through its controls over their full ranges, as a slider would."""
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lessons import palette

from lessons.widgets import (EigenExplorer, GradientExplorer, LRUExplorer, MemoryTrafficExplorer, ScanLevelExplorer,
                             SelectivityExplorer, SpiralExplorer)
from lessons.widgets.base import Explorer
from lessons.widgets.linear_rnn import START, STEPS

PNG_MAGIC = b"\x89PNG"


def control_settings(explorer: Explorer, points: int = 4):
    """Every control at min, max and values between: all combinations for up to two controls; otherwise
    each control swept with the others at their defaults, plus all at min and all at max."""
    grids = {}
    for name, control in explorer.controls.items():
        if hasattr(control, "options"):                       # dropdowns and toggle buttons: every option
            grids[name] = list(control.options)
            continue
        values = np.linspace(control.min, control.max, points)
        grids[name] = sorted({type(control.value)(round(v, 6)) for v in values})
    if len(grids) <= 2:
        yield from (dict(zip(grids, combination, strict=True)) for combination in itertools.product(*grids.values()))
        return
    defaults = explorer.values()
    for name, values in grids.items():
        yield from ({**defaults, name: value} for value in values)
    yield {name: values[0] for name, values in grids.items()}
    yield {name: values[-1] for name, values in grids.items()}


def drawn_values_are_finite(fig) -> bool:
    """No NaN or inf in any line drawn on the figure, and something is drawn."""
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    return bool(lines) and all(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).all() for line in lines)


@pytest.mark.parametrize("explorer_class", [GradientExplorer, EigenExplorer, SpiralExplorer, ScanLevelExplorer,
                                            MemoryTrafficExplorer, LRUExplorer, SelectivityExplorer])
def test_explorer_survives_every_setting(explorer_class):
    explorer = explorer_class()
    readouts = set()
    for setting in control_settings(explorer):
        readouts.add(explorer.update(**setting))
        assert bytes(explorer.image.value).startswith(PNG_MAGIC)
        _text, fig = explorer.draw(**explorer.values())
        assert drawn_values_are_finite(fig), setting
        assert "nan" not in explorer.readout.value.lower() and "inf" not in explorer.readout.value.lower()
    assert len(readouts) > 1, "the readout never changed"


def test_gradient_explorer_reports_regimes_and_the_factor_n():
    explorer = GradientExplorer()
    assert "vanishing" in explorer.update(w=0.5, n=100)
    assert "exploding" in explorer.update(w=1.3)
    assert "on the edge" in explorer.update(w=1.0, n=100)
    assert "10^2.0" in explorer.readout.value  # at |w| = 1 only the factor n = 100 remains


def test_slider_change_redraws():
    explorer = GradientExplorer()
    before = explorer.readout.value, explorer.image.value
    explorer.controls["n"].value = 123   # what a slider drag does
    assert explorer.readout.value != before[0] and bytes(explorer.image.value) != bytes(before[1])


def test_unknown_control_is_named():
    with pytest.raises(KeyError, match="lambda"):
        GradientExplorer().update(lambda_=0.3)


def test_eigen_explorer_describes_decay_growth_and_rotation():
    explorer = EigenExplorer()
    assert "decays" in explorer.update(a=0.8, b=0.3, c=0.2, d=0.7) and "1.00" in explorer.readout.value
    assert "grows" in explorer.update(a=1.2, b=0.0, c=0.0, d=0.5)
    assert "rotates" in explorer.update(a=0.0, b=-0.9, c=0.9, d=0.0)


@pytest.mark.parametrize("entries", [(0.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)])
def test_eigen_explorer_reports_an_orbit_that_reaches_zero_exactly(entries):
    """W = 0 (or nilpotent): ‖W^24x‖ is 0, said as 0, and the log axis stops at 1e-12·‖x‖, not 1e-300."""
    explorer = EigenExplorer()
    readout = explorer.update(**dict(zip("abcd", entries, strict=True)))
    assert f"‖W^{STEPS}x‖ = 0." in readout and "1e-300" not in readout
    _, fig = explorer.draw(*entries)
    assert fig.axes[1].get_ylim()[0] >= 1e-12 * float(START.norm()) * (1 - 1e-9)


def test_eigen_explorer_never_prints_minus_zero_and_names_x():
    readout = EigenExplorer().update(a=1.2, b=1.2, c=1.2, d=1.2)           # eigenvalues 2.4 and (round-off) 0
    assert "-0.00" not in readout and "λ = 2.40, 0.00" in readout and "x = (1, 0.4)" in readout


def test_gradient_explorer_says_its_readout_is_the_h0_term():
    assert "The h₀ term (h₀ = 1, no inputs): n·|w|^(n−1)" in GradientExplorer().update(w=0.9, n=60)


def _orbit_peak(W):
    """(largest ‖Wⁿx‖ / ‖x‖, its n) for n = 0..STEPS from the explorer's start x, by matrix powers."""
    W = torch.tensor(W, dtype=torch.float64)
    norms = torch.stack([(torch.linalg.matrix_power(W, n) @ START).norm() for n in range(STEPS + 1)])
    return float(norms.max() / norms[0]), int(norms.argmax())


def test_eigen_explorer_reads_a_jordan_block_as_growing():
    """a = b = d = 1, c = 0: |λ| = 1 twice but one eigenvector; ‖Wⁿx‖ grows like n, never 'neither … nor'."""
    readout = EigenExplorer().update(a=1.0, b=1.0, c=0.0, d=1.0)
    peak, n = _orbit_peak([[1.0, 1.0], [0.0, 1.0]])
    assert "neither decays nor grows" not in readout
    assert "grows without bound, like n" in readout and "defective" in readout
    assert f"reaches {peak:.3g}× its start by n = {n}" in readout


@pytest.mark.parametrize("d", [0.9, 0.7])
def test_eigen_explorer_sees_growth_before_decay(d):
    """a = 0.9, b = 1.2, c = 0: both |λ| < 1, yet the norm grows for several steps first (d = 0.9: defective;
    d = 0.7: diagonalisable, non-normal, and the readout gives cond(P) of its eigenvector matrix)."""
    readout = EigenExplorer().update(a=0.9, b=1.2, c=0.0, d=d)
    eigenvectors = np.linalg.eig(np.array([[0.9, 1.2], [0.0, d]]))[1]
    condition = "defective" if d == 0.9 else f"cond(P) = {np.linalg.cond(eigenvectors):.3g}"
    peak, n = _orbit_peak([[0.9, 1.2], [0.0, d]])
    assert peak > 1.5 and 0 < n
    assert "Long run: decays to 0" in readout and condition in readout
    assert f"grows first, then decays: ‖Wⁿx‖ peaks at {peak:.3g}× its start at n = {n}" in readout


def test_spiral_explorer_reports_memory_and_caps_explosions():
    explorer = SpiralExplorer()
    assert "half-life 13.5 steps" in explorer.update(r=0.95, theta=30, steps=60)
    assert "one turn every 12.0 steps" in explorer.readout.value
    assert "At t = 59 (the last point drawn) |λᵗ| = 0.0485" in explorer.readout.value   # the slider says 60 steps
    plane, time = explorer.draw(r=0.95, theta=30, steps=60)[1].axes
    assert (plane.get_xlabel(), plane.get_ylabel(), time.get_ylabel()) == ("Re λᵗ", "Im λᵗ", "Re λᵗ")
    assert "never forgets" in explorer.update(r=1.0)
    exploding = explorer.update(r=1.1, steps=300)
    assert "explodes" in exploding and "capped" in exploding


def test_scan_explorer_steps_through_levels_until_the_scan_is_done():
    explorer = ScanLevelExplorer()
    assert "level 0 of 5: the input" in explorer.update(algorithm="Blelloch", n=8, level=0)
    assert "4 combines, all at once" in explorer.update(level=1)   # up-sweep pairs neighbours
    assert "(up-sweep): 1 combine." in explorer.update(level=3)
    assert "not finished yet" in explorer.readout.value
    assert "equals the sequential loop ✔" in explorer.update(level=5)
    assert "17 for n = 8" in explorer.update(algorithm="Hillis–Steele", level=7)
    assert "finishes after 3 levels" in explorer.readout.value
    assert "equals the sequential loop ✔" in explorer.update(gates="random a in (0.5, 1)", n=13)
    # cub's BlockScan at n = 16 (8 threads of 2 items, 2 warps of 4 lanes): 1 serial level, 2 in-warp levels,
    # 1 hand-over to the second warp, 2 serial levels that rescan the items.
    assert "level 1 of 6 (thread reduce): 8 combines" in explorer.update(algorithm="BlockScan (cub)", n=16, level=1)
    assert "(warp scan)" in explorer.update(level=2)
    assert "(thread prefix): 3 combines" in explorer.update(level=4)
    assert "equals the sequential loop ✔" in explorer.update(level=6)
    assert "equals the sequential loop ✔" in explorer.update(n=5)       # padded to 8 items: no arrow past the end


def test_memory_explorer_shows_the_fused_advantage_growing_with_n():
    explorer = MemoryTrafficExplorer()
    small = explorer.update(state=1)
    assert "2.5× fewer bytes" in small and "fits on the NVIDIA H200" in small and "measured copy" in small
    assert "24.9× fewer bytes" in explorer.update(state=16)                  # float32, as section 1 counts it
    assert "datasheet" in explorer.update(accelerator="NVIDIA RTX 4090")


# ------------------------------------------------------------------------------------------------- one palette
ROOT = Path(__file__).resolve().parent.parent
# Machado, Oliveira & Fernandes (2009): full-severity protanopia and deuteranopia, applied in linear RGB.
COLOUR_BLINDNESS = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
}


def linear_rgb(hex_colour: str) -> np.ndarray:
    """'#RRGGBB' as linear-light RGB in [0, 1] (3,)."""
    srgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def cie_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear RGB (3,) to CIELAB (3,) under D65, where a distance of ~2.3 is just noticeable."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb.clip(0, 1)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("shades", [palette.LIGHT, palette.DARK], ids=["explorers", "scenes"])
@pytest.mark.parametrize("deficiency", COLOUR_BLINDNESS)
def test_regime_colours_stay_apart_for_colour_blind_viewers(shades, deficiency):
    """Vanishing, exploding and on-the-edge (and the accent against the main series) are told apart by colour
    alone in the explorers and scenes: keep them ≥ 35 CIELAB units apart when red and green are confused (the
    old red #c0392b and green #27ae60 were 21 apart under deuteranopia)."""
    pairs = [*itertools.combinations([shades.vanishing, shades.exploding, shades.stable], 2),
             (shades.vanishing, shades.accent)]
    seen = COLOUR_BLINDNESS[deficiency]
    for first, second in pairs:
        distance = np.linalg.norm(cie_lab(seen @ linear_rgb(first)) - cie_lab(seen @ linear_rgb(second)))
        assert distance >= 35, (first, second, round(float(distance), 1))


def test_widgets_and_scenes_take_every_colour_from_the_palette():
    sources = [*(ROOT / "lessons" / "widgets").glob("*.py"), *(ROOT / "animations").glob("*.py")]
    colour = re.compile(r"[\"'](?:#[0-9a-fA-F]{6}|black|white|grey|gray)[\"']")
    hard_coded = {path.name: colour.findall(path.read_text()) for path in sources}
    assert not {name: found for name, found in hard_coded.items() if found}
