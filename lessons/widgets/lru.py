"""Lesson 05 explorer: move ν and θ and watch λ = exp(−exp(ν) + i·exp(θ)) stay inside the unit disc."""
from __future__ import annotations

import math

import ipywidgets as widgets
import torch

from lessons.complex_rnn import half_life
from lessons.lru import lru_eigenvalues, lru_gamma, lru_magnitude, ring_init
from lessons.palette import LIGHT
from lessons.widgets.base import Explorer, new_figure

RING_SAMPLES = 200
CIRCLE = torch.linspace(0, 2 * math.pi, 200)


def steps_text(steps: float) -> str:
    """A number of steps in words that stay readable from 0.01 to beyond a million (never 'inf')."""
    if steps > 1e6:
        return "more than a million steps"
    return f"{steps:.3g} steps" if steps < 1000 else f"{steps:,.0f} steps"


def ring_summary(r_min: float, r_max: float) -> str:
    """The ring init in words: which |λ| it draws and the half-lives and γ that come with them."""
    low, high = sorted((r_min, r_max))
    swapped = " (r_min > r_max, so the two are swapped)" if r_min > r_max else ""
    gamma_low = math.sqrt(max(0.0, 1 - high**2))
    gamma_high = math.sqrt(max(0.0, 1 - low**2))
    return (f"Ring init: |λ| uniform by area in [{low:.3f}, {high:.3f}]{swapped}, half-lives "
            f"{steps_text(half_life(low))} to {steps_text(half_life(high))}, "
            f"γ from {gamma_low:.3f} to {gamma_high:.3f}.")


class LRUExplorer(Explorer):
    """Sliders for ν and θ (one eigenvalue) and for r_min, r_max (the ring init drawn around it)."""

    def __init__(self, nu: float = -2.0, theta: float = -1.0, r_min: float = 0.4, r_max: float = 0.9):
        slider = dict(continuous_update=False, readout_format=".2f")
        self.controls = {
            "nu": widgets.FloatSlider(value=nu, min=-10.0, max=3.0, step=0.1, description="ν", **slider),
            "theta": widgets.FloatSlider(value=theta, min=-4.0, max=2.0, step=0.1, description="θ", **slider),
            "r_min": widgets.FloatSlider(value=r_min, min=0.0, max=0.99, step=0.01, description="r_min", **slider),
            "r_max": widgets.FloatSlider(value=r_max, min=0.1, max=0.999, step=0.001, description="r_max",
                                         continuous_update=False, readout_format=".3f"),
        }
        super().__init__()

    def draw(self, nu: float, theta: float, r_min: float, r_max: float):
        """Readout text and figure: λ on the unit disc among ring-init samples, and its decay |λ|ᵗ."""
        nu_t, theta_t = torch.tensor(nu, dtype=torch.float64), torch.tensor(theta, dtype=torch.float64)
        lam = complex(lru_eigenvalues(nu_t, theta_t))
        radius, gamma = float(lru_magnitude(nu_t)), float(lru_gamma(nu_t))
        fig = new_figure(6.8, 3.2)
        ax_disc, ax_decay = fig.subplots(1, 2)
        fig.subplots_adjust(wspace=0.35)
        self._draw_disc(ax_disc, lam, r_min, r_max)
        t = torch.arange(200, dtype=torch.float64)
        ax_decay.plot(t, radius**t, color=LIGHT.vanishing, lw=1.5, label="|λ|ᵗ")
        ax_decay.plot(t, gamma * radius**t, color=LIGHT.exploding, lw=1.5, label="γ·|λ|ᵗ")
        ax_decay.set(xlabel="t", ylim=(0, 1.05), title="|λ|ᵗ (blue) and γ·|λ|ᵗ (red)")
        text = (f"ν = {nu:.2f}, θ = {theta:.2f}: λ = {lam.real:.4f} {'+' if lam.imag >= 0 else '−'} "
                f"{abs(lam.imag):.4f}i, |λ| = exp(−e^ν) = {radius:.6f}, arg λ = e^θ = {math.exp(theta):.3f} rad. "
                f"Half-life {steps_text(half_life(radius))}; γ = √(1 − |λ|²) = {gamma:.4f}. "
                f"{ring_summary(r_min, r_max)}")
        return text, fig

    @staticmethod
    def _draw_disc(ax, lam: complex, r_min: float, r_max: float) -> None:
        """The unit circle, RING_SAMPLES ring-init eigenvalues, and λ itself."""
        low, high = sorted((r_min, r_max))
        nu, theta = ring_init(RING_SAMPLES, low, high, generator=torch.Generator().manual_seed(0))
        samples = lru_eigenvalues(nu.double(), theta.double())
        ax.plot(torch.cos(CIRCLE), torch.sin(CIRCLE), color=LIGHT.muted, lw=1, ls="--")
        for r in (low, high):
            ax.plot(r * torch.cos(CIRCLE), r * torch.sin(CIRCLE), color=LIGHT.stable, lw=0.8)
        ax.plot(samples.real, samples.imag, ls="", marker=".", ms=2, color=LIGHT.stable, alpha=0.6)
        ax.plot([lam.real], [lam.imag], ls="", marker="o", ms=7, color=LIGHT.exploding)
        ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal", title="λ (red) and the ring init (green)")
