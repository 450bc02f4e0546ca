"""Lesson 01 segment: why RNNs were abandoned. They are sequential, and their gradients vanish or explode.

Scenes in the order they play (timings: animations/scripts/01.md). Every number drawn comes from `lessons.rnn`
or `lessons.experiments.rnn`.
"""
from __future__ import annotations

from functools import cache

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Arrow, Axes, Circle, Create, DashedLine, FadeIn, FadeOut,
                   GrowFromCenter, GrowFromEdge, Indicate, LaggedStart, Rectangle, Square, TransformMatchingTex,
                   VGroup, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, LABEL_SIZE, MUTED, SMALL_SIZE, STABLE, VANISHING,
                              caption, cell_row, closing_card, equation, label, scientific, stacked, title,
                              title_card)
from lessons.experiments.rnn import rnn_vs_lstm_gradient_curves
from lessons.rnn import decay_per_step, log10_scalar_gradient, tanh_rnn_gradient_curves

CELLS = 8                          # unrolled steps drawn in BackwardSignal
SCALES = (0.5, 3.0)                # weight scales: one vanishing, one exploding
COLOURS = {0.5: VANISHING, 3.0: EXPLODING}
MEASURED_SCALES = (0.5, 1.0, 1.5, 3.0)
MEASURED_LENGTH = 60               # T of the per-step factor measurement (as in the notebook's section 4)
LSTM_LENGTH = 200                  # T of the tanh RNN against LSTM measurement (as in the notebook's section 5)


@cache
def per_step_factors() -> dict[float, float]:
    """{weight scale: measured per-step factor ρ of ‖∂h_T/∂h_t‖} for a 32-unit tanh RNN, T = 60."""
    curves = tanh_rnn_gradient_curves(MEASURED_SCALES, length=MEASURED_LENGTH)
    return {scale: decay_per_step(norms) for scale, norms in curves.items()}


@cache
def lstm_factors() -> dict[str, float]:
    """{model name: measured per-step factor of ‖∂h_T/∂x_t‖}, tanh RNN against LSTMs, T = 200."""
    return {name: decay_per_step(norms) for name, norms in rnn_vs_lstm_gradient_curves(LSTM_LENGTH).items()}


def factor_colour(factor: float):
    """Vermillion for a growing factor, sky blue for a shrinking one."""
    return EXPLODING if factor > 1 else VANISHING


def unrolled_row(count: int, colour, size: float = 0.9, buff: float = 0.55, first: int = 1) -> VGroup:
    """`count` RNN cells h_first.. left to right, joined by forward arrows: VGroup(cells, names, arrows)."""
    cells = VGroup(*[Square(size, color=colour, stroke_width=3) for _ in range(count)]).arrange(RIGHT, buff=buff)
    names = VGroup(*[equation(f"h_{{{t + first}}}", size=30).move_to(cell) for t, cell in enumerate(cells)])
    arrows = VGroup(*[Arrow(a.get_right(), b.get_left(), buff=0.05, stroke_width=2, color=MUTED)
                      for a, b in zip(cells[:-1], cells[1:], strict=True)])
    return VGroup(cells, names, arrows)


def gradient_dot(norm: float, colour, reference: float) -> Circle:
    """A filled circle whose area grows with √(norm / ‖∂h_T/∂h_T‖), so 10⁴× apart stays drawable."""
    radius = 0.3 * (norm / reference) ** 0.25
    return Circle(radius=min(max(radius, 0.03), 0.6), color=colour, fill_opacity=0.85, stroke_width=0)


class TitleCard(Segment):
    """The title card and the lesson's question, with its two answers."""

    def construct(self):
        card = title_card("01", "RNNs and their gradients", "Why were RNNs abandoned?").shift(0.8 * UP)
        self.play_title_card(card)
        answers = stacked(label("1.  They are sequential: n steps, one after another", LABEL_SIZE, FOREGROUND),
                          label("2.  Their gradients vanish or explode", LABEL_SIZE, FOREGROUND),
                          buff=0.3).next_to(card, DOWN, buff=0.8)
        answers[1].align_to(answers[0], LEFT)
        with self.beat("answers"):
            self.play(LaggedStart(*[FadeIn(a, shift=0.2 * RIGHT) for a in answers], lag_ratio=0.6), run_time=2)


class UnrolledRecurrence(Segment):
    """The cell's equation, the cell unrolled step by step, and why that is sequential."""

    def construct(self):
        self.add(title("One cell, applied at every step"))
        cell = equation(r"h_t", "=", r"\tanh(", r"W h_{t-1}", "+", "U x_t", "+ b", ")").shift(2.3 * UP)
        cell[3].set_color(ACCENT)
        with self.beat("cell"):
            self.play(Write(cell), run_time=2)
        row = unrolled_row(6, FOREGROUND).shift(0.45 * UP)
        cells, names, arrows = row
        inputs = VGroup(*[equation(f"x_{{{t + 1}}}", size=28, color=MUTED).next_to(c, DOWN, buff=0.45)
                          for t, c in enumerate(cells)])
        feeds = VGroup(*[Arrow(x.get_top(), c.get_bottom(), buff=0.05, stroke_width=2, color=MUTED)
                         for x, c in zip(inputs, cells, strict=True)])
        with self.beat("unroll"):
            steps = [FadeIn(VGroup(inputs[t], feeds[t], cells[t], names[t], *([arrows[t - 1]] if t else [])))
                     for t in range(len(cells))]
            self.play(LaggedStart(*steps, lag_ratio=0.9), run_time=4)
        with self.beat("sequential"):
            self.play(LaggedStart(*[Indicate(c, color=ACCENT, scale_factor=1.15) for c in cells], lag_ratio=1),
                      run_time=4)
            self.play(FadeIn(label("RNN: step t waits for step t − 1, n steps deep", LABEL_SIZE, ACCENT)
                             .next_to(cells, UP, buff=0.35)), run_time=0.8)
        attention = cell_row(len(cells), STABLE, size=0.7, buff=0.75).move_to([cells.get_x(), -2.25, 0])
        with self.beat("attention"):
            self.play(FadeIn(attention), FadeIn(label("attention: O(n²) work, every position at once",
                                                      LABEL_SIZE, STABLE).next_to(attention, UP, buff=0.3)),
                      run_time=1)
            self.play(*[Indicate(c, color=ACCENT, scale_factor=1.15) for c in attention], run_time=1)
        backward = VGroup(*[Arrow(b.get_left(), a.get_right(), buff=0.05, stroke_width=4, color=EXPLODING)
                            .shift(0.3 * DOWN) for a, b in zip(cells[:-1], cells[1:], strict=True)])
        with self.beat("bptt"):
            self.play(FadeOut(arrows), run_time=0.5)
            self.play(LaggedStart(*[GrowFromEdge(a, RIGHT) for a in reversed(backward)], lag_ratio=0.8), run_time=3)
            self.play(FadeIn(caption("training sends the gradient back along the same chain: "
                                     "backpropagation through time (BPTT)")), run_time=1)


class ChainRule(Segment):
    """∂h_T/∂h_t is a product of T − t Jacobians, so it behaves like ρ^(T−t); ρ measured at four weight scales."""

    def construct(self):
        self.add(title("The gradient going back is a product"))
        chain = equation(r"\frac{\partial h_T}{\partial h_t}", "=",
                         r"\frac{\partial h_T}{\partial h_{T-1}}", r"\cdots",
                         r"\frac{\partial h_{t+1}}{\partial h_t}").shift(1.5 * UP)
        with self.beat("chain"):
            self.play(Write(chain), run_time=2)
        product = equation(r"\frac{\partial h_T}{\partial h_t}", "=", r"\prod_{k=t+1}^{T}",
                           r"\operatorname{diag}\!\left(1 - h_k^2\right)", "W").shift(1.5 * UP)
        product[4].set_color(ACCENT)
        with self.beat("jacobian"):
            self.play(TransformMatchingTex(chain, product), run_time=2)
        geometric = equation(r"\left\lVert \frac{\partial h_T}{\partial h_t} \right\rVert", r"\approx",
                             r"\rho^{\,T-t}").shift(1.5 * UP)
        geometric[2].set_color(ACCENT)
        regimes = VGroup(equation(r"\rho < 1:\ \text{vanishes}", size=36, color=VANISHING),
                         equation(r"\rho > 1:\ \text{explodes}", size=36, color=EXPLODING)
                         ).arrange(RIGHT, buff=1.5).shift(0.1 * DOWN)
        with self.beat("geometric"):
            self.play(TransformMatchingTex(product, geometric), run_time=2)
            self.play(FadeIn(regimes), run_time=1)
        table = self._measured_table().next_to(regimes, DOWN, buff=0.5)
        with self.beat("measured"):
            self.play(FadeIn(table[0]), run_time=0.6)
            self.play(LaggedStart(*[FadeIn(row) for row in table[1:]], lag_ratio=0.5), run_time=2)
            self.play(FadeIn(caption(f"ρ measured with autograd: 32-unit tanh RNN, T = {MEASURED_LENGTH} "
                                     "(lessons.rnn.decay_per_step)")), run_time=0.8)

    @staticmethod
    def _measured_table() -> VGroup:
        """A header and one row per weight scale: the measured per-step factor ρ."""
        rows = [VGroup(label("weight scale", SMALL_SIZE, MUTED), label("per-step factor ρ", SMALL_SIZE, MUTED))]
        for scale, factor in per_step_factors().items():
            rows.append(VGroup(label(f"{scale}", LABEL_SIZE), label(f"{factor:.2f}", LABEL_SIZE,
                                                                     factor_colour(factor))))
        for row in rows:
            row[0].move_to([-1.6, 0, 0])
            row[1].move_to([1.6, 0, 0])
        return VGroup(*rows).arrange(DOWN, buff=0.22)


class BackwardSignal(Segment):
    """∂h_T/∂h_t travelling back through an unrolled tanh RNN: it fades at scale 0.5 and grows at scale 3."""

    def construct(self):
        curves = tanh_rnn_gradient_curves(SCALES, length=CELLS)
        self.add(title("Backpropagation through time: the signal going back"))
        rows = VGroup(*[unrolled_row(CELLS, COLOURS[s]) for s in SCALES]).arrange(DOWN, buff=1.6).shift(0.2 * DOWN)
        row_names = VGroup(*[label(f"weight scale {s}", SMALL_SIZE, COLOURS[s]).next_to(row, UP, buff=0.5)
                             .align_to(row, LEFT) for s, row in zip(SCALES, rows, strict=True)])
        with self.beat("rows"):
            self.play(*[Create(row) for row in rows], FadeIn(row_names), run_time=1.5)
        reference = {s: float(curves[s][-1]) for s in SCALES}
        with self.beat("backward"):
            for t in reversed(range(CELLS)):  # both rows take each backward step at the same time
                self.play(*self._step(rows, curves, reference, t), run_time=0.7)
        ratios = {s: float(curves[s][0] / curves[s][-1]) for s in SCALES}
        assert ratios[0.5] < 1 < ratios[3.0], f"the script's 'read' says one shrinks, one grows: {ratios}"
        with self.beat("read"):
            self.play(FadeIn(caption(f"‖∂h₈/∂h₁‖ / ‖∂h₈/∂h₈‖ = {scientific(ratios[0.5])} at scale 0.5, "
                                     f"{scientific(ratios[3.0])} at scale 3 (autograd, 32-unit tanh RNN)")),
                      run_time=1)

    @staticmethod
    def _step(rows, curves, reference, t: int) -> list:
        """Animations showing ‖∂h_T/∂h_t‖ under and above cell t of both rows."""
        step = []
        for s, row in zip(SCALES, rows, strict=True):
            norm = float(curves[s][t])
            cell = row[0][t]
            dot = gradient_dot(norm, COLOURS[s], reference[s]).next_to(cell, DOWN, buff=0.12)
            value = label(scientific(norm), SMALL_SIZE, FOREGROUND).next_to(cell, UP, buff=0.08)
            step += [GrowFromCenter(dot), FadeIn(value)]
        return step


class FactorN(Segment):
    """∂h_n/∂w = n·w^(n−1)·h_0: the factor n is real, but only linear against an exponential."""

    def construct(self):
        self.add(title("Drop the tanh: one number, one weight"))
        unrolled = equation("h_n", "=", "w^{n}", "h_0", r"+ \sum_{k=1}^{n} w^{n-k} x_k").shift(2.0 * UP)
        with self.beat("scalar"):
            self.play(Write(unrolled), run_time=2)
        derivative = equation(r"\frac{\partial h_n}{\partial w}", "=", "n", r"\,w^{n-1}", "h_0",
                              r"+ \sum_{k=1}^{n} (n-k)\, w^{n-k-1} x_k").shift(2.0 * UP)
        derivative[2].set_color(ACCENT)
        with self.beat("derivative"):
            self.play(TransformMatchingTex(unrolled, derivative), run_time=2)
            self.play(Indicate(derivative[2], color=ACCENT, scale_factor=1.6), run_time=1.2)
        logarithm = equation(r"\log_{10}\left|\frac{\partial h_n}{\partial w}\right|", "=", r"\log_{10} n",
                             "+", r"(n-1)\log_{10}|w|").shift(2.0 * UP)
        logarithm[2].set_color(ACCENT)
        note = label("inputs x = 0, h₀ = 1", SMALL_SIZE, MUTED).next_to(logarithm, DOWN, buff=0.15)
        with self.beat("logarithm"):
            self.play(TransformMatchingTex(derivative, logarithm), FadeIn(note), run_time=2)
        axes = Axes(x_range=[0, 100, 20], y_range=[-6, 6, 2], x_length=8, y_length=3.6,
                    axis_config={"color": MUTED, "include_numbers": True, "font_size": 20}).shift(1.35 * DOWN)
        names = axes.get_axis_labels(label("n", SMALL_SIZE, MUTED), label("log₁₀ |∂hₙ/∂w|", SMALL_SIZE, MUTED))
        with self.beat("curves"):
            self.play(Create(axes), FadeIn(names), run_time=1.5)
            for w, colour in ((0.9, VANISHING), (1.1, EXPLODING)):
                self.play(*self._curves(axes, w, colour), run_time=1.5)
        with self.beat("gap"):
            self.play(FadeIn(caption("faint lines: the factor n dropped. The gap is log₁₀ n ≤ 2; "
                                     "the slope, (n−1)·log₁₀ w, is what matters.")), run_time=1)

    @staticmethod
    def _curves(axes: Axes, w: float, colour):
        """Animations drawing log₁₀(n·wⁿ⁻¹) (solid) and log₁₀(wⁿ⁻¹) (faint) for one w, with a label."""
        n = torch.arange(1, 101)
        with_n = log10_scalar_gradient(w, n).clamp(-6, 6)
        without_n = (log10_scalar_gradient(w, n) - torch.log10(n.double())).clamp(-6, 6)
        solid = axes.plot_line_graph(n.tolist(), with_n.tolist(), line_color=colour, add_vertex_dots=False)
        faint = axes.plot_line_graph(n.tolist(), without_n.tolist(), line_color=colour, add_vertex_dots=False,
                                     stroke_width=2).set_opacity(0.45)
        name = label(f"w = {w}", SMALL_SIZE, colour).next_to(axes.c2p(100, float(with_n[-1])), RIGHT, buff=0.1)
        return [Create(solid), Create(faint), FadeIn(name)]


class LstmGates(Segment):
    """The LSTM's cell state: its Jacobian is the forget gate. Measured: gating slows the decay, not removes it."""

    def construct(self):
        self.add(title("Didn't LSTMs fix this?"))
        cell_state = equation("c_t", "=", "f_t", r"\odot c_{t-1}", r"+ i_t \odot g_t").shift(2.0 * UP)
        cell_state[2].set_color(STABLE)
        with self.beat("cell-state"):
            self.play(Write(cell_state), run_time=2)
        jacobian = equation(r"\frac{\partial c_t}{\partial c_{t-1}}", "=", r"\operatorname{diag}(", "f_t", ")"
                            ).shift(2.0 * UP)
        jacobian[3].set_color(STABLE)
        with self.beat("forget-gate"):
            self.play(TransformMatchingTex(cell_state, jacobian), run_time=2)
        bars = self._bars().shift(0.9 * DOWN)
        with self.beat("measured"):
            self.play(FadeIn(bars[0]), run_time=0.8)
            self.play(LaggedStart(*[FadeIn(bar, shift=0.2 * RIGHT) for bar in bars[1:]], lag_ratio=0.6), run_time=3)
        factors = lstm_factors()
        # what the script's 'verdict' says: the bias slows the decay, and every factor stays below 1
        biased = [factors[name] for name in factors if "forget bias" in name]
        assert biased == sorted(biased) and max(factors.values()) < 1, f"the narration no longer holds: {factors}"
        with self.beat("verdict"):
            self.play(FadeIn(caption(f"gradient reaching each input, at init, T = {LSTM_LENGTH}: every factor "
                                     f"≤ {max(factors.values()):.3f} < 1, so over long spans it still vanishes")),
                      run_time=1)

    @staticmethod
    def _bars() -> VGroup:
        """The line ρ = 1, then one bar per model: its measured per-step factor, with the value at the end."""
        width = 6.0                                   # the bar length of a factor of 1
        left = -1.0
        one = DashedLine([left + width, 1.5, 0], [left + width, -1.7, 0], color=MUTED)
        one_name = equation(r"\rho = 1", size=28, color=MUTED).next_to(one, UP, buff=0.1)
        rows = [VGroup(one, one_name)]
        for i, (name, factor) in enumerate(lstm_factors().items()):
            y = 1.1 - 0.8 * i
            bar = Rectangle(width=width * factor, height=0.45, fill_opacity=0.85, stroke_width=0,
                            color=STABLE if "LSTM" in name else VANISHING)
            bar.move_to([left, y, 0], aligned_edge=LEFT)
            model = label(name, SMALL_SIZE).next_to([left, y, 0], LEFT, buff=0.25)
            value = label(f"{factor:.3f}", SMALL_SIZE, FOREGROUND).move_to(bar, aligned_edge=RIGHT).shift(0.1 * LEFT)
            rows.append(VGroup(bar, model, value))
        return VGroup(*rows)


class ClosingCard(Segment):
    """The measured result in one line, and the bridge to lesson 02."""

    def construct(self):
        factors = per_step_factors()
        assert factors[0.5] < 1 < factors[3.0], f"the script says the gradient fades or blows up: {factors}"
        result = f"Measured per step back: ×{factors[0.5]:.2f} at weight scale 0.5, ×{factors[3.0]:.2f} at scale 3"
        card = closing_card(result, "Next: drop the tanh. Can a linear recurrence be computed fast? (lesson 02)")
        self.play_closing_card(card)
