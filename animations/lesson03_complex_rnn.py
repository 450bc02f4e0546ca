"""Lesson 03 scene: impulse responses λᵗ as spirals; the unit circle separates forgetting from exploding."""
from __future__ import annotations

import cmath
import math

from manim import DOWN, LEFT, RIGHT, UP, Circle, ComplexPlane, Create, Dot, FadeIn, Scene, VGroup, VMobject

from animations.style import ACCENT, EXPLODING, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.complex_rnn import half_life, impulse_response

STEPS = 40
# (|λ|, arg λ in degrees, colour): long memory, short memory, on the circle, outside it
SPIRALS = ((0.97, 25, VANISHING), (0.85, 50, STABLE), (1.0, 35, ACCENT), (1.03, 20, EXPLODING))


def spiral(plane: ComplexPlane, lam: complex, colour) -> VMobject:
    """The polyline through λ⁰, λ¹, ..., computed by lessons.complex_rnn.impulse_response."""
    values, _capped = impulse_response(lam, STEPS)
    values = values[values.abs() <= 2.3]           # stop where the growing spiral leaves the picture
    points = [plane.n2p(complex(v)) for v in values]
    return VMobject(color=colour, stroke_width=3).set_points_as_corners(points)


class Spirals(Scene):
    """λᵗ for four λ drawn at the same time: inside the unit circle they spiral in, outside they spiral out."""

    def construct(self):
        self.add(title("λᵗ spirals: |λ| sets memory, arg λ sets rotation"))
        grid = {"stroke_color": MUTED, "stroke_opacity": 0.25}
        plane = ComplexPlane(x_range=[-2.4, 2.4, 1], y_range=[-2.4, 2.4, 1], x_length=5.2, y_length=5.2,
                             background_line_style=grid).shift(2.2 * LEFT + 0.3 * DOWN)
        unit = Circle(radius=plane.n2p(1)[0] - plane.n2p(0)[0], color=MUTED).move_to(plane.n2p(0))
        self.play(Create(plane), Create(unit), run_time=0.8)
        legend = VGroup()
        curves = []
        for r, degrees, colour in SPIRALS:
            lam = cmath.rect(r, math.radians(degrees))
            curves.append(spiral(plane, lam, colour))
            memory = f"half-life {half_life(lam):.0f} steps" if r < 1 else "never forgets" if r == 1 else "explodes"
            legend.add(label(f"|λ| = {r:.2f}, arg λ = {degrees}°: {memory}", SMALL_SIZE, colour))
        legend.arrange(DOWN, aligned_edge=LEFT, buff=0.3).to_edge(RIGHT, buff=0.4).shift(0.5 * UP)
        self.play(FadeIn(legend), *[FadeIn(Dot(plane.n2p(1), color=colour)) for *_, colour in SPIRALS])
        self.play(*[Create(curve) for curve in curves], run_time=3)   # every spiral grows at the same time
        self.play(FadeIn(caption("The unit circle is the border: inside, the state forgets; outside, it explodes.")))
        self.wait(1)
