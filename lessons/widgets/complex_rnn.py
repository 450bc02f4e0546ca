"""Lesson 03 explorer: place λ in the complex plane and watch the impulse response λᵗ spiral."""
from __future__ import annotations

import cmath
import math

import ipywidgets as widgets
import torch

from lessons.complex_rnn import DRAW_CAP, doubling_time, half_life, impulse_response, steps_per_turn
from lessons.palette import LIGHT
from lessons.widgets.base import Explorer, new_figure


def memory_summary(lam: complex) -> str:
    """One line on how λ remembers: its half-life, or its doubling time, and its oscillation."""
    radius = abs(lam)
    if radius < 1:
        memory = f"half-life {half_life(lam):.1f} steps"
    elif radius > 1:
        memory = f"explodes: doubles every {doubling_time(lam):.1f} steps"
    else:
        memory = "never forgets, never grows (|λ| = 1)"
    turn = steps_per_turn(lam)
    oscillation = "no oscillation" if math.isinf(turn) else f"one turn every {turn:.1f} steps"
    return f"{memory}; {oscillation}"


class SpiralExplorer(Explorer):
    """Sliders for r = |λ|, θ = arg λ (degrees) and the number of steps."""

    def __init__(self, r: float = 0.95, theta: float = 30.0, steps: int = 60):
        self.controls = {
            "r": widgets.FloatSlider(value=r, min=0.5, max=1.1, step=0.01, description="|λ|",
                                     continuous_update=False, readout_format=".2f"),
            "theta": widgets.FloatSlider(value=theta, min=0.0, max=180.0, step=1.0, description="arg λ (°)",
                                         continuous_update=False, readout_format=".0f"),
            "steps": widgets.IntSlider(value=steps, min=5, max=300, step=5, description="steps",
                                       continuous_update=False),
        }
        super().__init__()

    def draw(self, r: float, theta: float, steps: int):
        """Readout text and figure for one λ."""
        lam = cmath.rect(r, math.radians(theta))
        values, capped = impulse_response(lam, steps)
        fig = new_figure(6.8, 3.2)
        ax_plane, ax_time = fig.subplots(1, 2)
        fig.subplots_adjust(wspace=0.35)
        circle = torch.linspace(0, 2 * math.pi, 200)
        ax_plane.plot(torch.cos(circle), torch.sin(circle), color=LIGHT.muted, lw=1, ls="--")
        ax_plane.plot(values.real, values.imag, marker=".", ms=3, lw=1, color=LIGHT.vanishing)
        limit = max(1.1, float(values.abs().max()) * 1.05)
        ax_plane.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal",
                     xlabel="Re λᵗ", ylabel="Im λᵗ", title="λᵗ in the complex plane")
        ax_time.plot(range(steps), values.real, color=LIGHT.exploding, lw=1.5)
        ax_time.axhline(0, color=LIGHT.foreground, lw=0.5)
        ax_time.set(xlabel="t (step)", ylabel="Re λᵗ", title="Re λᵗ: the real output")
        cap_note = f" (drawing capped at {DRAW_CAP:.0e})" if capped else ""
        text = (f"λ = {r:.2f}·e^(i·{theta:.0f}°): {memory_summary(lam)}. "
                f"At t = {steps - 1} (the last point drawn) |λᵗ| = {float(values[-1].abs()):.3g}{cap_note}.")
        return text, fig
