"""Lesson 03 segment: real matrices rotate; diagonalising them needs complex numbers, in conjugate pairs, and that
is fine.

Scenes in the order they play (timings: animations/scripts/03.md). Every number drawn comes from
`lessons.complex_rnn` or `lessons.linear_rnn`.
"""
from __future__ import annotations

import cmath
import math
from functools import cache

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Circle, ComplexPlane, Create, Dot, FadeIn, LaggedStart, NumberPlane,
                   TransformMatchingTex, VGroup, VMobject, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, LABEL_SIZE, MUTED, SMALL_SIZE, STABLE, VANISHING, caption,
                              closing_card, equation, label, left_column, right_column, scientific, stacked, title,
                              title_card)
from lessons.complex_rnn import (block_combine, block_rotation_matrix, complex_combine, count_operations,
                                 half_life, hermitian_inverse_error, impulse_response, linear_rnn_outputs_full,
                                 linear_rnn_outputs_half, rotation_block, rotation_matrix, steps_per_turn)
from lessons.linear_rnn import eigendecompose, linear_rnn_loop, orbit

STEPS = 40
# (|λ|, arg λ in degrees, colour): long memory, short memory, on the circle, outside it
SPIRALS = ((0.97, 25, VANISHING), (0.85, 50, STABLE), (1.0, 35, ACCENT), (1.03, 20, EXPLODING))
ROTATION = (0.9, math.radians(30))        # RotationEigen's r and θ
ORBIT_STEPS = 12
SEED = 3                                  # the random inputs and readouts of the measurements


def spiral(plane: ComplexPlane, lam: complex, colour) -> VMobject:
    """The polyline through λ⁰, λ¹, ..., computed by lessons.complex_rnn.impulse_response."""
    values, _capped = impulse_response(lam, STEPS)
    values = values[values.abs() <= 2.3]           # stop where the growing spiral leaves the picture
    points = [plane.n2p(complex(v)) for v in values]
    return VMobject(color=colour, stroke_width=3).set_points_as_corners(points)


def memory_words(lam: complex) -> str:
    """'half-life 23 steps, a turn every 14' (or never forgets / explodes), from lessons.complex_rnn."""
    r = abs(lam)
    memory = f"half-life {half_life(lam):.0f} steps" if r < 1 else "never forgets" if r == 1 else "explodes"
    return f"{memory}, a turn every {steps_per_turn(lam):.0f} steps"


@cache
def half_pair_errors() -> list[tuple[str, int, int, float, float]]:
    """(name, complex states kept, H, max|full − loop|, max|half − loop|) for a rotation-block W and a random W."""
    gen = torch.Generator().manual_seed(SEED)
    rows = []
    for name, W in (("three rotation blocks", block_rotation_matrix([0.95, 0.8, 0.99], [0.2, 1.1, 2.7])),
                    ("random real 7 × 7", torch.randn(7, 7, generator=gen, dtype=torch.float64) * 0.35)):
        H = W.shape[0]
        x = torch.randn(2, 50, H, generator=gen, dtype=torch.float64)      # (B, T, H)
        C = torch.randn(4, H, generator=gen, dtype=torch.float64)          # (O, H)
        reference = linear_rnn_loop(W, x) @ C.T                             # real arithmetic only, (B, T, O)
        full, half = linear_rnn_outputs_full(W, x, C), linear_rnn_outputs_half(W, x, C)
        kept = int((torch.linalg.eigvals(W).imag >= -1e-12).sum())          # one of each pair, and the real ones
        rows.append((name, kept, H, float((full - reference).abs().max()), float((half - reference).abs().max())))
    return rows


@cache
def hermitian_errors() -> dict[str, float]:
    """{case: ‖Pᴴ − P⁻¹‖ / ‖P⁻¹‖} for a normal W (rotation blocks) and a random real W."""
    gen = torch.Generator().manual_seed(SEED)
    return {"rotation blocks (W normal)": hermitian_inverse_error(
                eigendecompose(block_rotation_matrix([0.9, 0.5], [0.4, 1.1]))[0]),
            "random real 4 × 4": hermitian_inverse_error(
                eigendecompose(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0])}


def combine_costs() -> dict[str, dict[str, int]]:
    """{'2×2 real block' / 'complex number': {'multiplies': m, 'adds': a}} for one combine, counted by running it."""
    lam1, lam2 = cmath.rect(0.9, 0.4), cmath.rect(0.8, 1.3)
    blocks = [(rotation_block(lam1), [1.0, 2.0]), (rotation_block(lam2), [0.5, -1.0])]
    complexes = [((lam1.real, lam1.imag), (1.0, 2.0)), ((lam2.real, lam2.imag), (0.5, -1.0))]
    return {"2 × 2 real block": dict(count_operations(block_combine, *blocks)),
            "complex number": dict(count_operations(complex_combine, *complexes))}


class TitleCard(Segment):
    """The title card and the lesson's question."""

    def construct(self):
        card = title_card("03", "Complex eigenvalues", "Real matrices rotate. Can we still diagonalise them?")
        self.play_title_card(card)


class RotationEigen(Segment):
    """A scaled rotation moves every real direction off its line; its eigenvalues are r·e^(±iθ), computed."""

    def construct(self):
        r, theta = ROTATION
        W = rotation_matrix(r, theta)
        self.add(title("A rotation has no real eigenvector"))
        grid = {"stroke_color": MUTED, "stroke_opacity": 0.25}
        plane = NumberPlane(x_range=[-1.2, 1.2, 0.5], y_range=[-1.2, 1.2, 0.5], x_length=5, y_length=5,
                            background_line_style=grid)
        left_column(plane, top=2.6)
        matrix = equation("W", "=", "r", r"\begin{pmatrix} \cos\theta & -\sin\theta \\ "
                          r"\sin\theta & \cos\theta \end{pmatrix}", size=36)
        values = equation(rf"r = {r:g},\quad \theta = {math.degrees(theta):.0f}^\circ", size=32, color=MUTED)
        right = right_column(stacked(matrix, values, buff=0.3), top=2.5)
        with self.beat("rotation"):
            self.play(Create(plane), Write(matrix), run_time=2)
            self.play(FadeIn(values), run_time=0.8)
        points = orbit(W, torch.tensor([1.0, 0.0], dtype=W.dtype), ORBIT_STEPS)    # (steps + 1, 2)
        dots = VGroup(*[Dot(plane.c2p(*p.tolist()), radius=0.06, color=ACCENT).set_opacity(1 - 0.05 * i)
                        for i, p in enumerate(points)])
        path = VMobject(color=ACCENT, stroke_width=2, stroke_opacity=0.6).set_points_as_corners(
            [plane.c2p(*p.tolist()) for p in points])
        with self.beat("orbit"):
            self.play(Create(path), LaggedStart(*[FadeIn(d, scale=0.5) for d in dots], lag_ratio=0.5), run_time=4)
            self.play(FadeIn(label("x, Wx, W²x, …: every direction turns", SMALL_SIZE, ACCENT)
                             .next_to(plane, DOWN, buff=0.15)), run_time=0.8)
        lam = complex(torch.linalg.eigvals(W)[0])
        polar = equation(r"\lambda", "=", r"r\,e^{\pm i\theta}", size=40).next_to(right, DOWN, buff=0.6)
        cartesian = equation(r"\lambda", "=", rf"{lam.real:.3f} \pm {abs(lam.imag):.3f}\,i",
                             size=40).move_to(polar)
        with self.beat("eigenvalues"):
            self.play(Write(polar), run_time=1.5)
            self.play(TransformMatchingTex(polar, cartesian), run_time=1.5)
        pairs = stacked(label("torch.linalg.eigvals(W), computed", SMALL_SIZE, MUTED),
                        label("a real matrix: complex eigenvalues come in conjugate pairs λ, λ̄",
                              SMALL_SIZE, FOREGROUND), buff=0.2).next_to(cartesian, DOWN, buff=0.35)
        with self.beat("pairs"):
            self.play(FadeIn(pairs), run_time=1.2)


class Spirals(Segment):
    """λᵗ for four λ drawn at the same time: inside the unit circle they spiral in, outside they spiral out."""

    def construct(self):
        self.add(title("λᵗ spirals: |λ| sets the memory, arg λ the turning"))
        grid = {"stroke_color": MUTED, "stroke_opacity": 0.25}
        plane = ComplexPlane(x_range=[-2.4, 2.4, 1], y_range=[-2.4, 2.4, 1], x_length=5.2, y_length=5.2,
                             background_line_style=grid).shift(3.4 * LEFT + 0.3 * DOWN)
        unit = Circle(radius=plane.n2p(1)[0] - plane.n2p(0)[0], color=MUTED).move_to(plane.n2p(0))
        with self.beat("plane"):
            self.play(Create(plane), Create(unit), run_time=1.2)
        legend, curves = VGroup(), []
        for r, degrees, colour in SPIRALS:
            lam = cmath.rect(r, math.radians(degrees))
            curves.append(spiral(plane, lam, colour))
            legend.add(VGroup(equation(rf"|\lambda| = {r:.2f},\ \arg\lambda = {degrees}^\circ", size=28, color=colour),
                              label(memory_words(lam), SMALL_SIZE, colour)).arrange(DOWN, aligned_edge=LEFT,
                                                                                  buff=0.1))
        legend.arrange(DOWN, aligned_edge=LEFT, buff=0.3).move_to([3.3, 0, 0])
        with self.beat("legend"):
            self.play(FadeIn(legend), *[FadeIn(Dot(plane.n2p(1), color=colour)) for *_, colour in SPIRALS],
                      run_time=1.5)
        with self.beat("spirals"):
            self.play(*[Create(curve) for curve in curves], run_time=4)   # every spiral grows at the same time
        with self.beat("read"):
            self.play(FadeIn(caption("The unit circle is the border: inside, the state forgets; "
                                     "outside, it explodes (lessons.complex_rnn)")), run_time=1)


class HalfPairs(Segment):
    """The real output is 2·Re of one half of each conjugate pair (mamba_ssm's y.real * 2), measured."""

    def construct(self):
        self.add(title("Half the complex states are enough"))
        full = equation("y_t", "=", r"\sum_{k=1}^{H}", r"c_k\, z_{k,t}").shift(1.8 * UP)
        with self.beat("full"):
            self.play(Write(full), run_time=1.5)
        pair = equation(r"c\, z + \bar c\, \bar z", "=", r"2\,\mathrm{Re}(c\, z)", size=40)
        pair.next_to(full, DOWN, buff=0.5)
        pair[2].set_color(ACCENT)
        with self.beat("pair"):
            self.play(FadeIn(pair), run_time=1.5)
        half = equation("y_t", "=", r"2\,\mathrm{Re}", r"\sum_{\text{one of each pair}}", r"c_k\, z_{k,t}",
                        r"+ \sum_{\text{real } \lambda_k} c_k\, z_{k,t}").move_to(full)
        half[2].set_color(ACCENT)
        with self.beat("half"):
            self.play(TransformMatchingTex(full, half), run_time=2)
        assert all(kept < H and max(errors) < 1e-10 for _, kept, H, *errors in half_pair_errors()), \
            "the script's 'measured' says both forms agree to rounding with fewer states"
        table = self._table().next_to(pair, DOWN, buff=0.55)
        with self.beat("measured"):
            self.play(FadeIn(table[0]), run_time=0.6)
            self.play(LaggedStart(*[FadeIn(row) for row in table[1:]], lag_ratio=0.5), run_time=1.5)
        with self.beat("mamba"):
            self.play(FadeIn(caption("the same convention as mamba_ssm's y.real * 2 "
                                     "(lessons.complex_rnn.linear_rnn_outputs_half)")), run_time=1)

    @staticmethod
    def _table() -> VGroup:
        """Header and one row per matrix: states kept and the largest error of both forms against the real loop."""
        columns = (-4.3, -0.9, 1.6, 4.3)
        header = ["W", "complex states kept", "max |all states − loop|", "max |half − loop|"]
        rows = [[label(text, SMALL_SIZE, MUTED) for text in header]]
        for name, kept, H, full_error, half_error in half_pair_errors():
            rows.append([label(name, SMALL_SIZE), label(f"{kept} of {H}", SMALL_SIZE),
                         label(scientific(full_error), SMALL_SIZE), label(scientific(half_error), SMALL_SIZE, STABLE)])
        table = VGroup()
        for y, row in enumerate(rows):
            for x, cell in zip(columns, row, strict=True):
                cell.move_to([x, -0.5 * y, 0])
            table.add(VGroup(*row))
        return table


class ComplexCost(Segment):
    """λ acts on (re, im) as a real 2×2 block; as a complex number one combine costs fewer operations (counted)."""

    def construct(self):
        self.add(title("A complex number is a cheap 2 × 2 block"))
        lam = equation(r"\lambda\,(u + i v)", r"\;\leftrightarrow\;",
                       r"\begin{pmatrix} \mathrm{Re}\,\lambda & -\mathrm{Im}\,\lambda \\ "
                       r"\mathrm{Im}\,\lambda & \mathrm{Re}\,\lambda \end{pmatrix}", r"\begin{pmatrix} u \\ v "
                       r"\end{pmatrix}").shift(1.5 * UP)
        with self.beat("block"):
            self.play(Write(lam), run_time=2)
        costs = combine_costs()
        complex_form, block = costs["complex number"], costs["2 × 2 real block"]
        assert all(complex_form[kind] < block[kind] for kind in ("multiplies", "adds")), \
            f"the script's 'count' says the complex form needs fewer operations: {costs}"
        rows = [label("one step of the scan's combine, operations counted by running it", SMALL_SIZE, MUTED)]
        for name, tally in costs.items():
            colour = STABLE if name == "complex number" else FOREGROUND
            rows.append(label(f"{name}:  {tally['multiplies']} multiplies, {tally['adds']} adds", LABEL_SIZE,
                              colour))
        table = stacked(*rows, buff=0.35).next_to(lam, DOWN, buff=0.8)
        with self.beat("count"):
            self.play(FadeIn(table[0]), run_time=0.6)
            self.play(LaggedStart(*[FadeIn(row) for row in table[1:]], lag_ratio=0.6), run_time=2)


class HermitianInverse(Segment):
    """"Use Pᴴ instead of learning P⁻¹?" Only when P is unitary (W normal): measured for both cases."""

    def construct(self):
        self.add(title("Could Pᴴ stand in for P⁻¹?"))
        question = equation("P^{-1}", r"\overset{?}{=}", r"P^{\mathsf{H}}").shift(1.6 * UP)
        with self.beat("question"):
            self.play(Write(question), run_time=1.5)
        errors = hermitian_errors()
        assert errors["rotation blocks (W normal)"] < 1e-12 and errors["random real 4 × 4"] > 0.1, \
            f"the script's 'measured' says yes for the normal W, not at all for the random one: {errors}"
        rows = [VGroup(label(name, SMALL_SIZE), equation(rf"\frac{{\lVert P^{{\mathsf{{H}}}} - P^{{-1}}\rVert}}"
                                                          rf"{{\lVert P^{{-1}}\rVert}} = \text{{{scientific(error)}}}",
                                                          size=34, color=STABLE if error < 1e-9 else EXPLODING)
                       ).arrange(RIGHT, buff=0.6)
                for name, error in errors.items()]
        VGroup(*rows).arrange(DOWN, buff=0.5, aligned_edge=RIGHT).shift(0.6 * DOWN)
        with self.beat("measured"):
            self.play(LaggedStart(*[FadeIn(row) for row in rows], lag_ratio=0.6), run_time=2)
        with self.beat("verdict"):
            self.play(FadeIn(caption("only a unitary P (a normal W) has Pᴴ = P⁻¹; learning P⁻¹'s role directly "
                                     "costs the same in backpropagation")), run_time=1)


class ClosingCard(Segment):
    """The measured result in one line, and the bridge to lesson 04."""

    def construct(self):
        name, kept, H, _full, half_error = half_pair_errors()[0]
        card = closing_card(f"{name}: {kept} complex states instead of {H} give the real output "
                            f"to {scientific(half_error)}",
                            "Next: an elementwise recurrence can run all steps at once: the parallel scan (lesson 04)")
        self.play_closing_card(card)
