"""Lesson 02 scene: Wⁿ as stretching along the eigenvectors, with the worked example's numbers."""
from __future__ import annotations

from manim import (DOWN, LEFT, RIGHT, UP, Arrow, Create, DashedLine, Dot, FadeIn, GrowArrow, MathTex,
                   NumberPlane, Scene, Transform, VGroup, Write)

from animations.style import ACCENT, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.linear_rnn import worked_2x2_example

COEFFICIENTS = (1.5, 2.0)   # x = c₁v₁ + c₂v₂: the start vector, written in the eigenbasis
STEPS = 5


class EigenbasisStretch(Scene):
    """x, Wx, W²x, ... for W = [[0.8, 0.3], [0.2, 0.7]]: the v₁ part stays (λ₁ = 1), the v₂ part halves."""

    def construct(self):
        example = worked_2x2_example()
        P, eigenvalues = example["P"], example["eigenvalues"]
        grid = {"stroke_color": MUTED, "stroke_opacity": 0.25}
        plane = NumberPlane(x_range=[-1.5, 3, 0.5], y_range=[-0.5, 3, 0.5], x_length=6.5, y_length=5,
                            background_line_style=grid).shift(0.3 * DOWN + 1.7 * LEFT)
        self.add(title("Wⁿ in the eigenbasis: stretch along each eigenvector"))
        self.play(Create(plane), run_time=0.8)
        eigen_arrows = VGroup(*[Arrow(plane.c2p(0, 0), plane.c2p(*P[:, i].tolist()), buff=0, color=colour)
                                for i, colour in enumerate((STABLE, VANISHING))])
        names = VGroup(*[label(f"v{i + 1}: λ{i + 1} = {float(eigenvalues[i]):.2f}", SMALL_SIZE, arrow.get_color())
                         .next_to(arrow.get_end(), side, buff=0.05)
                         for i, (arrow, side) in enumerate(zip(eigen_arrows, (DOWN + RIGHT, UP + LEFT), strict=True))])
        self.play(*[GrowArrow(a) for a in eigen_arrows], FadeIn(names))
        legend = self._legend(example).to_edge(RIGHT, buff=0.4).shift(0.3 * DOWN)
        self.play(Write(legend))
        parts = self._parts(plane, P, eigenvalues, 0)
        self.play(FadeIn(parts))
        for n in range(1, STEPS + 1):  # both components change in the same step
            trail = Dot(parts[2].get_center(), radius=0.05, color=ACCENT).set_opacity(0.5)
            self.add(trail)
            self.play(Transform(parts, self._parts(plane, P, eigenvalues, n)), run_time=0.7)
        self.play(FadeIn(caption("Wⁿx = c₁·1ⁿ·v₁ + c₂·0.5ⁿ·v₂ (numbers: lessons.linear_rnn.worked_2x2_example)")))
        self.wait(1)

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
            label(f"n = {n}", SMALL_SIZE, ACCENT).next_to(plane.c2p(*point.tolist()), RIGHT, buff=0.1),
        )

    @staticmethod
    def _legend(example) -> VGroup:
        """W, its eigenvalues and the power identity, as computed."""
        W = example["W"]
        w11, w12, w21, w22 = W.flatten().tolist()
        matrix = MathTex(rf"W = \begin{{pmatrix}} {w11:.1f} & {w12:.1f} \\ {w21:.1f} & {w22:.1f} \end{{pmatrix}}",
                         font_size=34)
        identity = MathTex(r"W^n = P\,\Lambda^n P^{-1}", font_size=34)
        note = label("P⁻¹ takes x into the eigenbasis,\nP takes it back out", SMALL_SIZE, MUTED)
        return VGroup(matrix, identity, note).arrange(DOWN, buff=0.35, aligned_edge=LEFT)
