"""Lesson 01 scenes: the backward signal through an unrolled RNN, and the factor n in ∂h_n/∂w.

Every number drawn comes from `lessons.rnn`.
"""
from __future__ import annotations

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Arrow, Axes, Circle, Create, FadeIn, GrowFromCenter, MathTex,
                   Scene, Square, VGroup, Write)

from animations.style import (ACCENT, EXPLODING, FOREGROUND, MUTED, SMALL_SIZE, VANISHING, caption, label,
                              scientific, title)
from lessons.rnn import log10_scalar_gradient, tanh_rnn_gradient_curves

CELLS = 8                          # unrolled steps drawn
SCALES = (0.5, 3.0)                # weight scales: one vanishing, one exploding
COLOURS = {0.5: VANISHING, 3.0: EXPLODING}


def unrolled_row(count: int, colour) -> VGroup:
    """`count` RNN cells h_1..h_T left to right, joined by forward arrows."""
    cells = VGroup(*[Square(0.9, color=colour, stroke_width=3) for _ in range(count)]).arrange(RIGHT, buff=0.55)
    names = VGroup(*[MathTex(f"h_{{{t + 1}}}", font_size=30).move_to(cell) for t, cell in enumerate(cells)])
    arrows = VGroup(*[Arrow(a.get_right(), b.get_left(), buff=0.05, stroke_width=2, color=MUTED)
                      for a, b in zip(cells[:-1], cells[1:], strict=True)])
    return VGroup(cells, names, arrows)


def gradient_dot(norm: float, colour, reference: float) -> Circle:
    """A filled circle whose area grows with √(norm / ‖∂h_T/∂h_T‖), so 10⁴× apart stays drawable."""
    radius = 0.3 * (norm / reference) ** 0.25
    return Circle(radius=min(max(radius, 0.03), 0.6), color=colour, fill_opacity=0.85, stroke_width=0)


class BackwardSignal(Scene):
    """∂h_T/∂h_t travelling back through an unrolled tanh RNN: it fades at scale 0.5 and grows at scale 3."""

    def construct(self):
        curves = tanh_rnn_gradient_curves(SCALES, length=CELLS)
        self.add(title("Backpropagation through time: the signal going back"))
        rows = VGroup(*[unrolled_row(CELLS, COLOURS[s]) for s in SCALES]).arrange(DOWN, buff=1.6).shift(0.2 * DOWN)
        row_names = VGroup(*[label(f"weight scale {s}", SMALL_SIZE, COLOURS[s]).next_to(row, UP, buff=0.5)
                             .align_to(row, LEFT) for s, row in zip(SCALES, rows, strict=True)])
        self.play(*[Create(row) for row in rows], FadeIn(row_names))
        reference = {s: float(curves[s][-1]) for s in SCALES}
        for t in reversed(range(CELLS)):  # both rows take each backward step at the same time
            step = []
            for s, row in zip(SCALES, rows, strict=True):
                norm = float(curves[s][t])
                cell = row[0][t]
                dot = gradient_dot(norm, COLOURS[s], reference[s]).next_to(cell, DOWN, buff=0.12)
                value = label(scientific(norm), SMALL_SIZE, FOREGROUND).next_to(cell, UP, buff=0.08)
                step += [GrowFromCenter(dot), FadeIn(value)]
            self.play(*step, run_time=0.45)
        self.play(FadeIn(caption("‖∂h₈/∂h_t‖ from autograd, 32-unit tanh RNN (lessons.rnn); at t = 8 it is ‖I‖ = √32")))
        self.wait(1)


class FactorN(Scene):
    """∂h_n/∂w = n·w^(n−1)·h_0: the factor n is real, but only linear against an exponential."""

    def construct(self):
        self.add(title("The gradient of hₙ = wⁿ h₀ keeps its factor n"))
        formula = MathTex(r"\frac{\partial h_n}{\partial w}", "=", "n", r"\,w^{n-1}\,h_0", font_size=48)
        formula[2].set_color(ACCENT)
        formula.shift(1.6 * UP)
        self.play(Write(formula))
        axes = Axes(x_range=[0, 100, 20], y_range=[-6, 6, 2], x_length=8, y_length=3.6,
                    axis_config={"color": MUTED, "include_numbers": True, "font_size": 20}).shift(1.0 * DOWN)
        names = axes.get_axis_labels(label("n", SMALL_SIZE, MUTED),
                                     label("log₁₀ |∂hₙ/∂w|", SMALL_SIZE, MUTED))
        self.play(Create(axes), FadeIn(names))
        for w, colour in ((0.9, VANISHING), (1.1, EXPLODING)):
            self.play(*self._curves(axes, w, colour), run_time=1.2)
        self.play(FadeIn(caption("thin lines: the factor n dropped. The gap is log₁₀ n ≤ 2; "
                                 "the slope, (n−1)·log₁₀ w, is what matters.")))
        self.wait(1)

    @staticmethod
    def _curves(axes: Axes, w: float, colour):
        """Animations drawing log₁₀(n·wⁿ⁻¹) (solid) and log₁₀(wⁿ⁻¹) (dashed) for one w, with a label."""
        n = torch.arange(1, 101)
        with_n = log10_scalar_gradient(w, n).clamp(-6, 6)
        without_n = (log10_scalar_gradient(w, n) - torch.log10(n.double())).clamp(-6, 6)
        solid = axes.plot_line_graph(n.tolist(), with_n.tolist(), line_color=colour, add_vertex_dots=False)
        dashed = axes.plot_line_graph(n.tolist(), without_n.tolist(), line_color=colour, add_vertex_dots=False,
                                      stroke_width=2).set_opacity(0.55)
        name = label(f"w = {w}", SMALL_SIZE, colour).next_to(axes.c2p(100, float(with_n[-1])), RIGHT, buff=0.1)
        return [Create(solid), Create(dashed), FadeIn(name)]
