"""Lesson 02 segment: drop the nonlinearity, and Wⁿ becomes P Λⁿ P⁻¹: the recurrence turns elementwise.

Scenes in the order they play (timings: animations/scripts/02.md). Every number drawn comes from
`lessons.linear_rnn`, most of them from its worked example W = [[0.8, 0.3], [0.2, 0.7]].
"""
from __future__ import annotations

from functools import cache, partial

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Arrow, Create, DashedLine, Dot, FadeIn, GrowArrow, Indicate,
                   LaggedStart, NumberPlane, SurroundingRectangle, Transform, TransformMatchingTex, VGroup, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, MUTED, SMALL_SIZE, STABLE, VANISHING, caption,
                              closing_card, equation, label, left_column, right_column, scientific, stacked, title,
                              title_card)
from lessons.linear_rnn import (integer_eigenvectors, stacked_linear_rnn, superposition_defect, svd_square_error,
                                worked_2x2_example, worked_example_slips)

COEFFICIENTS = (1.5, 2.0)   # x = c₁v₁ + c₂v₂: the start vector, written in the eigenbasis
STEPS = 5
STACK_SEED = 0              # the random stack whose superposition defect is measured
SLIPS_X = 3.6               # the centre of WorkedExample's column of slips
# The worked example's slips (lessons.linear_rnn.worked_example_slips), typeset; keyed by the function's names.
SLIP_TEX = {"right: P Λⁿ P⁻¹": r"P\,\Lambda^n P^{-1}",
            "swapped: P⁻¹ Λⁿ P": r"P^{-1}\Lambda^n P",
            "P where P⁻¹ belongs: P Λⁿ P": r"P\,\Lambda^n P",
            "wrong order: P P⁻¹ Λⁿ (= Λⁿ)": r"P\,P^{-1}\Lambda^n",
            "eigenvectors as rows: Pᵀ Λⁿ (Pᵀ)⁻¹": r"P^{\top}\Lambda^n (P^{\top})^{-1}"}


def matrix_tex(M: torch.Tensor, digits: int = 2) -> str:
    """A 2-D tensor as a LaTeX pmatrix, each entry with `digits` decimals (whole numbers without)."""
    def entry(value: float) -> str:
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"
    rows = [" & ".join(entry(float(v)) for v in row) for row in M]
    return r"\begin{pmatrix} " + r" \\ ".join(rows) + r" \end{pmatrix}"


@cache
def superposition_defects() -> dict[str, float]:
    """{'linear' / 'tanh between', defect}: three stacked 3-unit linear recurrences, with and without tanh."""
    gen = torch.Generator().manual_seed(STACK_SEED)
    weights = [torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.5 for _ in range(3)]
    x1, x2 = torch.randn(2, 1, 12, 3, generator=gen, dtype=torch.float64)        # (2, B=1, T=12, H=3)
    return {name: superposition_defect(partial(stacked_linear_rnn, weights=weights, nonlinearity=f), x1, x2)
            for name, f in (("linear", None), ("tanh between", torch.tanh))}


def slip_errors(n: int = 1) -> dict[str, float]:
    """{slip name: max |entry − W's|} for each way of writing Wⁿ at n = 1, where the right one must give W."""
    W = worked_2x2_example()["W"]
    return {name: float((value - W).abs().max()) for name, value in worked_example_slips(n).items()}


class TitleCard(Segment):
    """The title card and the lesson's question."""

    def construct(self):
        card = title_card("02", "Linear RNNs and diagonalisation", "Drop the nonlinearity: can we compute it fast?")
        self.play_title_card(card)


class ClosedForm(Segment):
    """h_t = W h_(t−1) + x_t unrolls into powers of W; stacked with per-token nonlinearities it is still nonlinear."""

    def construct(self):
        self.add(title("A linear recurrence has a closed form"))
        step = equation("h_t", "=", "W", "h_{t-1}", "+", "x_t").shift(1.6 * UP)
        with self.beat("linear"):
            self.play(Write(step), run_time=2)
        closed = equation("h_n", "=", "W^{n}", "h_0", "+", r"\sum_{k=1}^{n}", "W^{n-k}", "x_k").shift(1.6 * UP)
        closed[2].set_color(ACCENT)
        closed[6].set_color(ACCENT)
        with self.beat("unroll"):
            self.play(TransformMatchingTex(step, closed), run_time=2)
        product = equation("W^{n}", "=", r"\underbrace{W\,W\cdots W}_{n\ \text{matrix products}}",
                           size=38).next_to(closed, DOWN, buff=0.7)
        product[0].set_color(ACCENT)
        cost = equation(r"\text{each } H \times H \text{ product: } H^3 \text{ multiplies}", size=32,
                        color=MUTED).next_to(product, DOWN, buff=0.35)
        with self.beat("cost"):
            self.play(FadeIn(product, shift=0.2 * DOWN), run_time=1.2)
            self.play(FadeIn(cost), run_time=1)
        defects = superposition_defects()
        assert defects["linear"] < 1e-12 < 0.01 < defects["tanh between"], f"'stacking' no longer holds: {defects}"
        stack = stacked(label("Stack layers, a per-token tanh between them: still a nonlinear model", SMALL_SIZE),
                        label(f"superposition defect  ‖f(a + b) − f(a) − f(b)‖ / ‖f(a + b)‖:  "
                              f"{scientific(defects['linear'])} linear,  {defects['tanh between']:.2f} with tanh",
                              SMALL_SIZE, STABLE), buff=0.2).to_edge(DOWN, buff=0.45)
        with self.beat("stacking"):
            self.play(FadeIn(stack), run_time=1.2)


class Diagonalise(Segment):
    """W = P Λ P⁻¹, so Wⁿ = P Λⁿ P⁻¹; in the eigenbasis the recurrence is elementwise, and we learn Λ, B, C."""

    def construct(self):
        self.add(title("Diagonalise W, and the powers become cheap"))
        eigen = equation("W", "=", "P", r"\Lambda", "P^{-1}").shift(1.7 * UP)
        with self.beat("eigen"):
            self.play(Write(eigen), run_time=1.5)
        expanded = equation("W^{n}", "=", "P", r"\Lambda", "P^{-1}", "P", r"\Lambda", "P^{-1}", r"\cdots", "P",
                            r"\Lambda", "P^{-1}").shift(1.7 * UP)
        power = equation("W^{n}", "=", "P", r"\Lambda^{n}", "P^{-1}").shift(1.7 * UP)
        power[3].set_color(ACCENT)
        with self.beat("power"):
            self.play(TransformMatchingTex(eigen, expanded), run_time=1.5)
            cancel = VGroup(*[SurroundingRectangle(VGroup(expanded[i], expanded[i + 1]), color=ACCENT, buff=0.05)
                              for i in (4, 7)])
            self.play(Create(cancel), run_time=1)
            self.play(TransformMatchingTex(expanded, power), cancel.animate.set_opacity(0), run_time=1.5)
        lam = equation(r"\Lambda^{n} = \operatorname{diag}(\lambda_1^{n}, \dots, \lambda_H^{n}):\ "
                       r"H \text{ scalar powers}", size=34, color=MUTED).next_to(power, DOWN, buff=0.35)
        with self.beat("scalar-powers"):
            self.play(FadeIn(lam), run_time=1)
        rows = VGroup(equation("z_t", "=", r"\lambda", r"\odot", "z_{t-1}", "+", "P^{-1}", "x_t", size=40),
                      equation("h_t", "=", "P", "z_t", size=40)).arrange(DOWN, buff=0.3).shift(1.0 * DOWN)
        note = label("P⁻¹ takes an input into the eigenbasis, P takes the state back out", SMALL_SIZE, MUTED)
        note.next_to(rows, DOWN, buff=0.3)
        with self.beat("elementwise"):
            self.play(FadeIn(rows[0]), run_time=1.2)
            self.play(FadeIn(rows[1]), FadeIn(note), run_time=1.2)
        learned = VGroup(equation("z_t", "=", r"\lambda", r"\odot", "z_{t-1}", "+", "B", "x_t", size=40),
                         equation("y_t", "=", "C", "z_t", size=40)).arrange(DOWN, buff=0.3).move_to(rows)
        for row, index in ((learned[0], 6), (learned[1], 2)):
            row[index].set_color(ACCENT)
        with self.beat("learn"):
            self.play(TransformMatchingTex(rows[0], learned[0]), TransformMatchingTex(rows[1], learned[1]),
                      Transform(note, label("learn λ, B (in P⁻¹'s role) and C (in P's) directly",
                                            SMALL_SIZE, ACCENT).move_to(note)), run_time=2)


class WorkedExample(Segment):
    """The 2×2 example, every number computed: W, its eigen-decomposition, W⁵ both ways, and the slips at n = 1."""

    def construct(self):
        example = worked_2x2_example()
        P = integer_eigenvectors(example["P"])
        lam1, lam2 = (float(v) for v in example["eigenvalues"])
        self.add(title("A worked example, every number from code"))
        matrix = equation(rf"W = {matrix_tex(example['W'], 1)}", size=36)
        eigenvalues = equation(rf"\lambda_1 = {lam1:.2f},\quad \lambda_2 = {lam2:.2f}", size=34)
        left = left_column(stacked(matrix, eigenvalues, buff=0.3))
        with self.beat("matrix"):
            self.play(Write(matrix), run_time=1.5)
            self.play(FadeIn(eigenvalues), run_time=1)
        factors = equation(rf"P = {matrix_tex(P)}", rf"\quad P^{{-1}} = {matrix_tex(torch.linalg.inv(P))}",
                           size=32).next_to(left, DOWN, buff=0.45)
        with self.beat("factors"):
            self.play(FadeIn(factors), run_time=1.5)
        n = example["n"]
        direct, eigen = example["W^n (matrix_power)"], example["W^n (P diag(λ^n) P^-1)"]
        assert float((direct - eigen).abs().max()) < 1e-12, "the script's 'check' says they agree to rounding"
        gap = scientific(float((direct - eigen).abs().max()))
        check = stacked(equation(rf"W^{{{n}}} = {matrix_tex(direct, 5)}", size=32),
                        equation(rf"\text{{{n} matrix products vs. }} P\Lambda^{{{n}}}P^{{-1}}:"
                                 rf"\ \text{{largest gap {gap}}}", size=28, color=STABLE),
                        buff=0.25).next_to(factors, DOWN, buff=0.45)
        with self.beat("check"):
            self.play(FadeIn(check), run_time=1.5)
        slips = self._slips().move_to([SLIPS_X, 0, 0]).align_to(left, UP)
        with self.beat("slips"):
            self.play(FadeIn(slips[0]), run_time=0.8)
            self.play(LaggedStart(*[FadeIn(row, shift=0.2 * LEFT) for row in slips[1:]], lag_ratio=0.5), run_time=3)
            self.play(Indicate(slips[1], color=STABLE), run_time=1)

    @staticmethod
    def _slips() -> VGroup:
        """A heading, then each way of writing Wⁿ with its largest miss of W at n = 1 (only the right one is 0)."""
        rows = [label("the check by hand: at n = 1 it must give W", SMALL_SIZE, MUTED)]
        right = [name for name, error in slip_errors().items() if error < 1e-12]
        assert right == ["right: P Λⁿ P⁻¹"], f"the script's 'slips' says only the right order gives W: {right}"
        for name, error in slip_errors().items():
            colour = STABLE if error < 1e-12 else EXPLODING
            verdict = "= W" if error < 1e-12 else f"misses by {error:.1f}"
            rows.append(VGroup(equation(SLIP_TEX[name], size=32, color=colour),
                               label(verdict, SMALL_SIZE, colour)).arrange(RIGHT, buff=0.35))
        table = VGroup(*rows).arrange(DOWN, buff=0.35, aligned_edge=LEFT)
        verdict_x = max(row[0].get_right()[0] for row in rows[1:]) + 0.4      # one column of verdicts
        for row in rows[1:]:
            row[1].align_to([verdict_x, 0, 0], LEFT)
        return table


class EigenbasisStretch(Segment):
    """x, Wx, W²x, ... for W = [[0.8, 0.3], [0.2, 0.7]]: the v₁ part stays (λ₁ = 1), the v₂ part halves."""

    def construct(self):
        example = worked_2x2_example()
        P, eigenvalues = example["P"], example["eigenvalues"]
        grid = {"stroke_color": MUTED, "stroke_opacity": 0.25}
        plane = NumberPlane(x_range=[-1.5, 3, 0.5], y_range=[-0.5, 3, 0.5], x_length=6.5, y_length=5,
                            background_line_style=grid).shift(0.3 * DOWN + 2.9 * LEFT)
        self.add(title("Powers of W: a stretch along each eigenvector"))
        eigen_arrows = VGroup(*[Arrow(plane.c2p(0, 0), plane.c2p(*P[:, i].tolist()), buff=0, color=colour)
                                for i, colour in enumerate((STABLE, VANISHING))])
        names = VGroup(*[equation(rf"v_{i + 1}:\ \lambda_{i + 1} = {float(eigenvalues[i]):.2f}", size=28,
                                  color=arrow.get_color()).next_to(arrow.get_end(), side, buff=0.05)
                         for i, (arrow, side) in enumerate(zip(eigen_arrows, (DOWN + RIGHT, UP + LEFT), strict=True))])
        with self.beat("plane"):
            self.play(Create(plane), run_time=1)
            self.play(*[GrowArrow(a) for a in eigen_arrows], FadeIn(names), run_time=1.5)
        legend = self._legend(example, eigenvalues)
        right_column(legend).shift(0.3 * RIGHT)
        parts = self._parts(plane, P, eigenvalues, 0)
        with self.beat("start"):
            self.play(Write(legend), run_time=2)
            self.play(FadeIn(parts), run_time=0.8)
        with self.beat("steps"):
            for n in range(1, STEPS + 1):  # both components change in the same step
                self.add(Dot(parts[2].get_center(), radius=0.05, color=ACCENT).set_opacity(0.5))
                self.play(Transform(parts, self._parts(plane, P, eigenvalues, n)), run_time=0.8)
        with self.beat("read"):
            self.play(FadeIn(caption("numbers: lessons.linear_rnn.worked_2x2_example; "
                                     "the v₂ part shrinks each step, the v₁ part stays")), run_time=1)

    @staticmethod
    def _parts(plane, P, eigenvalues, n: int) -> VGroup:
        """The point Wⁿx and its two eigen-components as dashed sides of a parallelogram."""
        c1, c2 = (c * float(eigenvalues[i]) ** n for i, c in enumerate(COEFFICIENTS))
        along1, along2 = c1 * P[:, 0], c2 * P[:, 1]
        point = along1 + along2
        return VGroup(
            DashedLine(plane.c2p(0, 0), plane.c2p(*along1.tolist()), color=STABLE),
            DashedLine(plane.c2p(*along1.tolist()), plane.c2p(*point.tolist()), color=VANISHING),
            Dot(plane.c2p(*point.tolist()), color=ACCENT),
            equation(f"n = {n}", size=26, color=ACCENT).next_to(plane.c2p(*point.tolist()), RIGHT, buff=0.1),
        )

    @staticmethod
    def _legend(example, eigenvalues) -> VGroup:
        """W, the power identity, and Wⁿx split along the eigenvectors, as computed."""
        lam1, lam2 = (f"{float(v):.2f}" for v in eigenvalues)
        c1, c2 = COEFFICIENTS
        return VGroup(equation(rf"W = {matrix_tex(example['W'], 1)}", size=32),
                      equation(r"W^n = P\,\Lambda^n P^{-1}", size=32),
                      equation(rf"x = {c1:g}\,v_1 + {c2:g}\,v_2", size=30),
                      equation(rf"W^n x = {c1:g}\cdot {lam1}^n\, v_1", rf"+ {c2:g}\cdot {lam2}^n\, v_2", size=30),
                      ).arrange(DOWN, buff=0.35, aligned_edge=LEFT)


class WhyNotSvd(Segment):
    """W = U S Vᵀ does not give Wⁿ = U Sⁿ Vᵀ: W² = U S (VᵀU) S Vᵀ, and VᵀU ≠ I unless W is normal. Measured."""

    def construct(self):
        svd = svd_square_error(worked_2x2_example()["W"])
        self.add(title("Why not the SVD?"))
        factor = equation("W", "=", "U", "S", "V^{\\top}").shift(1.7 * UP)
        with self.beat("svd"):
            self.play(Write(factor), run_time=1.5)
        square = equation("W^{2}", "=", "U", "S", "V^{\\top}", "U", "S", "V^{\\top}").shift(1.7 * UP)
        with self.beat("square"):
            self.play(TransformMatchingTex(factor, square), run_time=1.5)
            self.play(Create(SurroundingRectangle(VGroup(square[4], square[5]), color=ACCENT, buff=0.05)),
                      run_time=1)
        middle = equation(rf"V^{{\top}} U = {matrix_tex(svd['VhU'], 3)}", size=36).shift(0.1 * DOWN)
        error = equation(rf"\frac{{\lVert W^2 - U S^2 V^{{\top}} \rVert}}{{\lVert W^2 \rVert}} = "
                         rf"{100 * svd['relative error']:.1f}\,\%", size=36, color=EXPLODING
                         ).next_to(middle, DOWN, buff=0.5)
        with self.beat("measured"):
            self.play(FadeIn(middle), run_time=1.2)
            self.play(FadeIn(error), run_time=1)
        with self.beat("normal"):
            self.play(FadeIn(caption("VᵀU is diagonal only when W is normal (W Wᵀ = Wᵀ W); "
                                     "the eigenvectors work for every diagonalisable W")), run_time=1)


class ClosingCard(Segment):
    """The measured result in one line, and the bridge to lesson 03."""

    def construct(self):
        example = worked_2x2_example()
        gap = float((example["W^n (matrix_power)"] - example["W^n (P diag(λ^n) P^-1)"]).abs().max())
        card = closing_card(f"n = {example['n']}: matrix products and P Λⁿ P⁻¹ agree to {scientific(gap)}, "
                            "one scalar power per eigenvalue",
                            "Next: a rotation has no real eigenvectors. Complex numbers to the rescue (lesson 03)")
        self.play_closing_card(card)
