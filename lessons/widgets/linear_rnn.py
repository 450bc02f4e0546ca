"""Lesson 02 explorer: edit a 2×2 W, see its eigenvectors and the orbit of Wⁿx.

The readout separates what the eigenvalues decide (the long run) from what they don't (the way there: a
non-normal or defective W can grow for many steps before it decays), and measures both on the drawn orbit.
"""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.ticker import FormatStrFormatter

from lessons.linear_rnn import eigendecompose, eigenvector_condition, long_run, orbit, peak_growth
from lessons.palette import LIGHT
from lessons.widgets.base import Explorer, new_figure

STEPS = 24
START = torch.tensor([1.0, 0.4], dtype=torch.float64)
START_TEXT = f"x = ({START[0]:g}, {START[1]:g})"    # how the readout and the title name the start


GROWTH_SHOWN = 1.005   # a peak above this many times the start counts as growth in the readout
FLOOR = 1e-12          # the log axis stops at FLOOR·‖x‖: an orbit that reaches 0 exactly is drawn down to here


def format_eigenvalue(value: complex) -> str:
    """'0.80+0.50j', '0.50' or '0.00' (never '-0.00'): two decimals, a round-off imaginary part dropped."""
    real, imag = (0.0 if abs(part) < 0.005 else part for part in (value.real, value.imag))
    return f"{real:.2f}" if imag == 0 else f"{complex(real, imag):.2f}".strip("()")


def format_norm(value: float) -> str:
    """A norm for the readout: 0 exactly when the orbit has reached 0, else three significant digits."""
    return "0" if value == 0 else f"{value:.3g}"


def transient(W: torch.Tensor, norms: torch.Tensor) -> str:
    """What ‖Wⁿx‖ does on the way, measured on the orbit's norms (steps + 1,), and what bounds it: cond(P)."""
    peak, n = peak_growth(norms)
    steps = len(norms) - 1
    if peak <= GROWTH_SHOWN:
        way = f"‖Wⁿx‖ never exceeds its start in {steps} steps"
    elif not long_run(W).startswith("decays"):
        way = f"‖Wⁿx‖ reaches {peak:.3g}× its start by n = {n}"
    elif n < steps:
        way = f"on the way it grows first, then decays: ‖Wⁿx‖ peaks at {peak:.3g}× its start at n = {n}"
    else:
        way = f"on the way it is still growing at n = {steps} ({peak:.3g}× its start); the decay wins later"
    condition = eigenvector_condition(W)
    if condition == float("inf"):
        return f"{way}. W is defective (one eigenvector), so Wⁿ holds a term n·λⁿ⁻¹ the eigenvalues don't show"
    return f"{way}. cond(P) = {condition:.3g}, and ‖Wⁿ‖ ≤ cond(P)·max|λ|ⁿ bounds the growth"


class EigenExplorer(Explorer):
    """Sliders for the entries of W = [[a, b], [c, d]]; draws the real eigenvectors and the orbit of Wⁿx."""

    def __init__(self, a: float = 0.8, b: float = 0.3, c: float = 0.2, d: float = 0.7):
        def slider(name, value):
            return widgets.FloatSlider(value=value, min=-1.2, max=1.2, step=0.05, description=name,
                                       continuous_update=False, readout_format=".2f",
                                       layout=widgets.Layout(width="230px"))
        self.controls = {name: slider(name, value) for name, value in zip("abcd", (a, b, c, d), strict=True)}
        super().__init__()

    def draw(self, a: float, b: float, c: float, d: float):
        """Readout text and figure for one W."""
        W = torch.tensor([[a, b], [c, d]], dtype=torch.float64)
        P, eigenvalues, _ = eigendecompose(W)
        points = orbit(W, START, STEPS)
        fig = new_figure(6.4, 3.2)
        ax_plane, ax_norm = fig.subplots(1, 2)
        fig.subplots_adjust(wspace=0.4)
        self._plane(ax_plane, P, eigenvalues, points)
        norms = points.norm(dim=1)                                              # (STEPS + 1,), may reach 0
        floor = FLOOR * float(norms[0])
        ax_norm.semilogy(range(STEPS + 1), norms.clamp_min(floor), marker=".", color=LIGHT.vanishing)
        ax_norm.axhline(float(norms[0]), color=LIGHT.muted, lw=1, ls=":")      # the start: above it is growth
        ax_norm.set_ylim(bottom=max(floor, float(norms.clamp_min(floor).min()) / 2))
        for axis_formatter in (ax_norm.yaxis.set_major_formatter, ax_norm.yaxis.set_minor_formatter):
            axis_formatter(FormatStrFormatter("%.3g"))                          # 2.2, not 2.2×10⁰
        ax_norm.set(xlabel="n", title="‖Wⁿx‖ (dotted: the start)")
        values = ", ".join(format_eigenvalue(complex(v)) for v in eigenvalues)
        rotates = "The orbit rotates (complex pair). " if bool((eigenvalues.imag.abs() > 1e-9).any()) else ""
        text = (f"{START_TEXT}. Eigenvalues λ = {values}; max |λ| = {float(eigenvalues.abs().max()):.3f}. {rotates}"
                f"Long run: {long_run(W)}; {transient(W, norms)}. ‖W^{STEPS}x‖ = {format_norm(float(norms[-1]))}.")
        return text, fig

    @staticmethod
    def _plane(ax, P, eigenvalues, points):
        """The orbit in the plane, with each real eigenvector drawn as a line through 0."""
        limit = float(points[:8].abs().max()) * 1.2 + 1e-9
        for i in range(2):
            if abs(float(eigenvalues[i].imag)) < 1e-9:
                v = P[:, i].real / P[:, i].real.norm() * limit * 2
                ax.plot([-v[0], v[0]], [-v[1], v[1]], ls="--", color=LIGHT.muted, lw=1)
        ax.plot(points[:, 0], points[:, 1], marker="o", ms=3, color=LIGHT.exploding, lw=1)
        ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", title=f"orbit of Wⁿx, {START_TEXT}")
