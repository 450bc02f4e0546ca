"""Lesson 05 scenes: λ = exp(−exp(ν) + i·exp(θ)) maps the whole (ν, θ) plane into the unit disc, and the
ring initialisation fills an annulus, uniformly by area. Every point drawn is computed by lessons.lru."""
from __future__ import annotations

import math

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Axes, Circle, ComplexPlane, Create, Dot, FadeIn, Scene, TransformFromCopy,
                   VGroup, VMobject)

from animations.style import ACCENT, BACKGROUND, FOREGROUND, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.lru import lru_eigenvalues, lru_magnitude, nu_for_magnitude, ring_init

NU_RANGE = (-5.0, 1.0)
THETA_RANGE = (-3.0, math.log(2 * math.pi))                  # phases from e^−3 ≈ 0.05 rad to a full turn
RADII = (0.3, 0.6, 0.9, 0.99)                                # lines of constant ν: circles of these |λ|
THETAS = (-2.0, -1.0, 0.0, 1.0, 1.6)                         # lines of constant θ: rays at angle e^θ
RING = (0.5, 0.95, 400)                                      # r_min, r_max, samples


def parameter_axes() -> tuple[Axes, VGroup]:
    """The (ν, θ) plane on the left."""
    axes = Axes(x_range=[*NU_RANGE, 1], y_range=[*THETA_RANGE, 1], x_length=4.6, y_length=4.0,
                axis_config={"color": MUTED, "include_numbers": True, "font_size": 24,
                             "decimal_number_config": {"num_decimal_places": 0, "color": FOREGROUND}}, tips=False)
    axes.shift(3.3 * LEFT + 0.4 * DOWN)
    for number in [*axes.x_axis.numbers, *axes.y_axis.numbers]:   # stay readable where grid lines cross them
        number.add_background_rectangle(color=BACKGROUND, opacity=0.85, buff=0.03)
    names = VGroup(axes.get_x_axis_label(label("ν", SMALL_SIZE + 6), direction=RIGHT, buff=0.2),
                   axes.get_y_axis_label(label("θ", SMALL_SIZE + 6), direction=UP, buff=0.2))
    return axes, names


def eigen_plane() -> tuple[ComplexPlane, Circle]:
    """The complex plane on the right, with the unit circle."""
    plane = ComplexPlane(x_range=[-1.2, 1.2, 1], y_range=[-1.2, 1.2, 1], x_length=4.4, y_length=4.4,
                         background_line_style={"stroke_color": MUTED, "stroke_opacity": 0.25})
    plane.shift(3.3 * RIGHT + 0.4 * DOWN)
    unit = Circle(radius=plane.n2p(1)[0] - plane.n2p(0)[0], color=MUTED).move_to(plane.n2p(0))
    return plane, unit


def polyline(points, colour, width: float = 3) -> VMobject:
    """A curve through the given scene points."""
    return VMobject(color=colour, stroke_width=width).set_points_as_corners(points)


def mapped_lines(axes: Axes, plane: ComplexPlane):
    """Pairs (line in the (ν, θ) plane, its image under λ(ν, θ)): constant ν -> circles, constant θ -> rays."""
    theta = torch.linspace(*THETA_RANGE, 120, dtype=torch.float64)
    nu = torch.linspace(*NU_RANGE, 120, dtype=torch.float64)
    pairs = []
    for radius in RADII:
        nu_value = float(nu_for_magnitude(radius))
        lam = lru_eigenvalues(torch.full_like(theta, nu_value), theta)
        pairs.append((polyline([axes.c2p(nu_value, float(t)) for t in theta], VANISHING),
                      polyline([plane.n2p(complex(v)) for v in lam], VANISHING)))
    for theta_value in THETAS:
        lam = lru_eigenvalues(nu, torch.full_like(nu, theta_value))
        pairs.append((polyline([axes.c2p(float(n), theta_value) for n in nu], ACCENT),
                      polyline([plane.n2p(complex(v)) for v in lam], ACCENT)))
    return pairs


class ParameterMap(Scene):
    """Lines of constant ν become circles |λ| = exp(−e^ν); lines of constant θ become rays arg λ = e^θ."""

    def construct(self):
        self.add(title("λ = exp(−exp(ν) + i·exp(θ)) never leaves the unit disc"))
        axes, names = parameter_axes()
        plane, unit = eigen_plane()
        self.play(Create(axes), FadeIn(names), Create(plane), Create(unit), run_time=0.8)
        pairs = mapped_lines(axes, plane)
        self.play(*[Create(left) for left, _ in pairs], run_time=1.2)
        self.bring_to_front(axes.x_axis.numbers, axes.y_axis.numbers)
        self.play(*[TransformFromCopy(left, right) for left, right in pairs], run_time=2.5)
        smallest = float(nu_for_magnitude(RADII[-1]))
        self.play(FadeIn(caption(f"ν = {smallest:.2f} already gives |λ| = {RADII[-1]}; "
                                 f"ν → −∞ approaches the circle but never reaches it.")))
        self.wait(1)


class RingInit(Scene):
    """ring_init's samples in both planes: uniform by area in the annulus r_min ≤ |λ| ≤ r_max."""

    def construct(self):
        r_min, r_max, n = RING
        self.add(title(f"Ring init: |λ| uniform by area in [{r_min}, {r_max}]"))
        axes, names = parameter_axes()
        plane, unit = eigen_plane()
        edges = VGroup(*[Circle(radius=r * (plane.n2p(1)[0] - plane.n2p(0)[0]), color=STABLE, stroke_width=2)
                         .move_to(plane.n2p(0)) for r in (r_min, r_max)])
        self.play(Create(axes), FadeIn(names), Create(plane), Create(unit), Create(edges), run_time=0.8)
        nu, theta = ring_init(n, r_min, r_max, 2 * math.pi, generator=torch.Generator().manual_seed(0))
        lam = lru_eigenvalues(nu.double(), theta.double())
        visible = (theta >= THETA_RANGE[0]) & (nu >= NU_RANGE[0]) & (nu <= NU_RANGE[1])
        left = VGroup(*[Dot(axes.c2p(float(a), float(b)), radius=0.025, color=STABLE)
                        for a, b in zip(nu[visible], theta[visible], strict=True)])
        right = VGroup(*[Dot(plane.n2p(complex(v)), radius=0.025, color=STABLE) for v in lam])
        self.play(FadeIn(left, lag_ratio=0.01), run_time=1.2)
        self.play(TransformFromCopy(left, VGroup(*[right[i] for i in torch.nonzero(visible).flatten().tolist()])),
                  run_time=2)
        self.add(right)
        outer = float((lru_magnitude(nu) > (r_min + r_max) / 2).float().mean())
        self.play(FadeIn(caption(f"{outer:.0%} of the {n} eigenvalues lie in the outer half of the ring: "
                                 f"more area, more eigenvalues.")))
        self.wait(1)
