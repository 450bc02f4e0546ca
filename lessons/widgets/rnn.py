"""Lesson 01 explorer: how the gradient of a scalar linear RNN vanishes or explodes with w and n."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from lessons.rnn import gradient_regime, log10_scalar_gradient
from lessons.palette import LIGHT
from lessons.widgets.base import Explorer, new_figure

REGIME_COLOURS = {"vanishing": LIGHT.vanishing, "on the edge": LIGHT.stable, "exploding": LIGHT.exploding}


class GradientExplorer(Explorer):
    """Sliders for w and n; plots log₁₀|∂h_k/∂w| = log₁₀(k·|w|^{k−1}) for k = 1..n, with and without k."""

    def __init__(self, w: float = 0.9, n: int = 50):
        self.controls = {
            "w": widgets.FloatSlider(value=w, min=0.1, max=1.5, step=0.01, description="w",
                                     continuous_update=False, readout_format=".2f"),
            "n": widgets.IntSlider(value=n, min=1, max=200, step=1, description="n", continuous_update=False),
        }
        super().__init__()

    def draw(self, w: float, n: int):
        """Readout text and figure for one setting of the sliders."""
        steps = torch.arange(1, n + 1)
        with_n = log10_scalar_gradient(w, steps)            # log₁₀(k·|w|^{k−1})
        without_n = with_n - torch.log10(steps.double())    # log₁₀(|w|^{k−1}): the video's version
        regime = gradient_regime(w, tolerance=0.005)
        colour = REGIME_COLOURS[regime]

        fig = new_figure()
        ax = fig.add_subplot()
        ax.plot(steps, with_n, color=colour, lw=2, label=r"$n\,w^{n-1}$ (correct)")
        ax.plot(steps, without_n, color=colour, lw=1.5, ls="--", alpha=0.7, label=r"$w^{n-1}$ (factor $n$ dropped)")
        ax.axhline(0, color=LIGHT.foreground, lw=0.6)
        ax.set(xlabel="sequence length n", ylabel=r"$\log_{10}\,|\partial h_n/\partial w|$",
               title=f"w = {w:.2f}: {regime}", xlim=(0.5, max(n, 2) + 0.5))
        ax.legend(loc="best", fontsize=8)

        text = (f"w = {w:.2f} ({regime}). The h₀ term (h₀ = 1, no inputs): n·|w|^(n−1) = 10^{with_n[-1]:.1f} "
                f"at n = {n}; without the factor n it would be 10^{without_n[-1]:.1f}.")
        return text, fig
