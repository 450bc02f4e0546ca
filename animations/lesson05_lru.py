"""Lesson 05 segment: λ = exp(−exp(ν) + i·exp(θ)) keeps every eigenvalue inside the unit disc, and training it
through ν is smooth where training λ directly explodes.

Scenes in the order they play (timed by animations/scripts/05.md): TitleCard, FragileLambda,
StableParameterisation, ParameterMap, RingInit, GammaNormalisation, ClosingCard. Every number and point drawn is
computed by lessons.lru.
"""
from __future__ import annotations

import math

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Arrow, Axes, Circle, ComplexPlane, Create, Dot, FadeIn, FadeOut,
                   TransformFromCopy, TransformMatchingTex, VGroup, VMobject, Write)

from animations.segment import Segment
from animations.style import (ACCENT, BACKGROUND, EXPLODING, FOREGROUND, LABEL_SIZE, MUTED, SMALL_SIZE, STABLE,
                              VANISHING, caption, closing_card, equation, label, left_column, right_column, stacked,
                              title, title_card)
from lessons.lru import (fit_one_eigenvalue, gradient_sizes, lru_eigenvalues, lru_magnitude, nu_for_magnitude,
                         ring_init, state_variance)

NU_RANGE = (-5.0, 1.0)
THETA_RANGE = (-3.0, math.log(2 * math.pi))                  # phases from e^−3 ≈ 0.05 rad to a full turn
RADII = (0.3, 0.6, 0.9, 0.99)                                # lines of constant ν: circles of these |λ|
THETAS = (-2.0, -1.0, 0.0, 1.0, 1.6)                         # lines of constant θ: rays at angle e^θ
RING = (0.5, 0.95, 400)                                      # r_min, r_max, samples
NINES = (0.9, 0.99, 0.999)                                   # |λ| with one, two, three nines
FIT = {"start": 0.99, "target": 0.999, "steps": 30}          # fit_one_eigenvalue's run, plain SGD
GRADIENT_LENGTH = 1000                                       # T of ∂h_T/∂p
LAMBDA_FORM = (r"\lambda", "=", r"\exp(", r"-e^{\nu}", r"+\, i\, e^{\theta}", ")")


def parameter_axes() -> tuple[Axes, VGroup]:
    """The (ν, θ) plane on the left."""
    axes = Axes(x_range=[*NU_RANGE, 1], y_range=[*THETA_RANGE, 1], x_length=4.6, y_length=4.0,
                axis_config={"color": MUTED, "include_numbers": True, "font_size": 24,
                             "decimal_number_config": {"num_decimal_places": 0, "color": FOREGROUND}}, tips=False)
    axes.shift(3.3 * LEFT + 0.4 * DOWN)
    for number in [*axes.x_axis.numbers, *axes.y_axis.numbers]:   # stay readable where grid lines cross them
        number.add_background_rectangle(color=BACKGROUND, opacity=0.85, buff=0.03)
    names = VGroup(axes.get_x_axis_label(equation(r"\nu", size=32), direction=RIGHT, buff=0.2),
                   axes.get_y_axis_label(equation(r"\theta", size=32), direction=UP, buff=0.2))
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


def half_life(radius: float) -> float:
    """Steps until |λ|^k falls to ½: ln 2 / (−ln |λ|)."""
    return math.log(2) / -math.log(radius)


def readable(value: float) -> str:
    """9119.5 -> '9,120', 9.11 -> '9.11', 0.283 -> '0.283': three significant digits, no exponent."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def fit_runs() -> dict[str, list[float]]:
    """|λ| per SGD step when training λ directly and through ν (lessons.lru.fit_one_eigenvalue, same loss and lr)."""
    return {name: fit_one_eigenvalue(name, FIT["start"], FIT["target"], FIT["steps"]) for name in ("λ", "ν")}


def fit_plot(runs: dict[str, list[float]]) -> VGroup:
    """|λ| against the step: the ν run as a curve, the direct run until it leaves the chart (an arrow up)."""
    axes = Axes(x_range=[0, FIT["steps"], 10], y_range=[0.985, 1.0, 0.005], x_length=5.2, y_length=3.6,
                axis_config={"color": MUTED, "include_numbers": True, "font_size": 20,
                             "decimal_number_config": {"num_decimal_places": 3, "color": FOREGROUND}},
                x_axis_config={"decimal_number_config": {"num_decimal_places": 0, "color": FOREGROUND}}, tips=False)
    target = axes.plot(lambda _: FIT["target"], color=MUTED, stroke_width=2)
    stable = polyline([axes.c2p(k, r) for k, r in enumerate(runs["ν"])], STABLE)
    escape = next(k for k, r in enumerate(runs["λ"]) if r > 1)           # first step outside the circle
    direct = Arrow(axes.c2p(escape - 1, runs["λ"][escape - 1]), axes.c2p(escape, 1.0) + UP * 0.5, buff=0,
                   color=EXPLODING, stroke_width=4)
    notes = VGroup(label(f"λ directly: |λ| = {runs['λ'][escape]:.3g} at step {escape}, then "
                         f"{'inf' if math.isinf(runs['λ'][-1]) else runs['λ'][-1]}", SMALL_SIZE, EXPLODING),
                   label(f"through ν: |λ| = {runs['ν'][-1]:.4f} after {len(runs['ν']) - 1} steps "
                         f"(target {FIT['target']})", SMALL_SIZE, STABLE))
    names = VGroup(label("SGD step", SMALL_SIZE, MUTED).next_to(axes.x_axis, DOWN, buff=0.4),
                   equation(r"|\lambda|", size=30).next_to(axes.y_axis, UP, buff=0.15))
    notes.arrange(DOWN, aligned_edge=LEFT, buff=0.12).next_to(names[0], DOWN, buff=0.25)
    return VGroup(axes, target, names, stable, direct, notes)


class TitleCard(Segment):
    """The lesson's title, and its question: how do we keep |λ| < 1 and still train λ?"""

    def construct(self):
        card = title_card("05", "Stable parameterisation", "How do we keep |λ| < 1 and still train?")
        with self.beat("title"):
            self.play(FadeIn(card), run_time=1.5)
        with self.beat("question"):
            self.play(card.animate.scale(0.8).to_edge(UP, buff=0.6), run_time=1)
            plane, unit = eigen_plane()
            disc = VGroup(plane, unit).scale(0.7).move_to(DOWN * 1.2)
            radius = plane.n2p(1)[0] - plane.n2p(0)[0]
            near = Dot(plane.n2p(NINES[-1]), color=ACCENT)
            outside = Circle(radius=radius, color=EXPLODING, stroke_width=5, fill_color=STABLE,
                             fill_opacity=0.2).move_to(plane.n2p(0))
            recurrence = equation(r"h_t = \lambda\, h_{t-1} + x_t").next_to(disc, LEFT, buff=0.8)
            self.play(FadeIn(disc), Write(recurrence), run_time=1.5)
            self.play(FadeIn(near), Create(outside), run_time=1.5)
            self.play(FadeIn(label("memory lives just inside the circle; outside, the state explodes", SMALL_SIZE,
                                   ACCENT).next_to(disc, DOWN, buff=0.2)), run_time=0.8)


class FragileLambda(Segment):
    """Memory needs |λ| ≈ 1, where ∂h_T/∂λ is huge: one SGD step on λ itself leaves the circle, through ν it doesn't."""

    def construct(self):
        self.add(title("Training λ directly is fragile"))
        with self.beat("memory"):
            rule = equation(r"t_{1/2} = \frac{\ln 2}{-\ln |\lambda|}", size=38)
            lines = VGroup(*[label(f"|λ| = {r}:  half-life {half_life(r):.1f} steps", SMALL_SIZE + 2)
                             for r in NINES]).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
            left_column(stacked(rule, lines, buff=0.3), top=2.6)
            self.play(Write(rule), run_time=1.2)
            self.play(FadeIn(lines, lag_ratio=0.4), run_time=1.5)
        with self.beat("gradients"):
            sizes = gradient_sizes(NINES[-1], length=GRADIENT_LENGTH)
            head = label(f"RMS of ∂h_T/∂p at |λ| = {NINES[-1]}, T = {GRADIENT_LENGTH}", SMALL_SIZE, MUTED)
            rows = VGroup(*[label(f"{name}:  {readable(value)}", SMALL_SIZE + 2, EXPLODING if i == 0 else STABLE)
                            for i, (name, value) in enumerate(sizes.items())]).arrange(DOWN, aligned_edge=LEFT,
                                                                                         buff=0.15)
            block = stacked(head, rows, buff=0.2).next_to(lines, DOWN, buff=0.6).align_to(lines, LEFT)
            self.play(FadeIn(block), run_time=1)
        with self.beat("fit"):
            plot = right_column(fit_plot(fit_runs()), top=2.4)
            axes, target, names, stable, direct, notes = plot
            self.play(Create(axes), FadeIn(names), Create(target), run_time=1.2)
            self.play(Create(direct), FadeIn(notes[0]), run_time=1.2)
            self.play(Create(stable), FadeIn(notes[1]), run_time=2)


class StableParameterisation(Segment):
    """λ = exp(−e^ν + i e^θ): |λ| = exp(−e^ν) ∈ (0, 1) for every real ν, and ν = log(−log r) for any radius r."""

    def construct(self):
        self.add(title("Learn ν and θ, build λ from them"))
        with self.beat("formula"):
            form = equation(*LAMBDA_FORM).move_to(UP * 1.6)
            form[3].set_color(VANISHING)
            form[4].set_color(ACCENT)
            self.play(Write(form), run_time=2)
        with self.beat("magnitude"):
            parts = equation(r"|\lambda|", "=", r"\exp(", r"-e^{\nu}", ")", r"\qquad", r"\arg\lambda", "=",
                             r"e^{\theta}").next_to(form, DOWN, buff=0.7)
            parts[3].set_color(VANISHING)
            parts[8].set_color(ACCENT)
            self.play(TransformFromCopy(form[3], parts[3]), FadeIn(parts[:3]), FadeIn(parts[4]), run_time=1.5)
            self.play(TransformFromCopy(form[4], parts[8]), FadeIn(parts[5:8]), run_time=1.5)
        with self.beat("bound"):
            bound = equation(r"e^{\nu} > 0", r"\;\Rightarrow\;", r"0 < |\lambda| < 1",
                             r"\quad \text{for every real } \nu").next_to(parts, DOWN, buff=0.7)
            bound[2].set_color(STABLE)
            self.play(Write(bound), run_time=2)
        with self.beat("inverse"):
            radius = NINES[-1]
            inverse = equation(r"\nu = \log(-\log r)", r"\qquad", rf"r = {radius}", r"\;\Rightarrow\;",
                               rf"\nu = {float(nu_for_magnitude(radius)):.2f}").next_to(bound, DOWN, buff=0.7)
            self.play(Write(inverse), run_time=2)


class ParameterMap(Segment):
    """Lines of constant ν become circles |λ| = exp(−e^ν); lines of constant θ become rays arg λ = e^θ."""

    def construct(self):
        self.add(title("Every (ν, θ) lands inside the unit disc"))
        axes, names = parameter_axes()
        plane, unit = eigen_plane()
        with self.beat("planes"):
            self.play(Create(axes), FadeIn(names), Create(plane), Create(unit), run_time=1.2)
        pairs = mapped_lines(axes, plane)
        with self.beat("lines"):
            self.play(*[Create(left) for left, _ in pairs], run_time=1.5)
            self.bring_to_front(axes.x_axis.numbers, axes.y_axis.numbers)
        with self.beat("map"):
            self.play(*[TransformFromCopy(left, right) for left, right in pairs], run_time=3)
        with self.beat("edge"):
            smallest = float(nu_for_magnitude(RADII[-1]))
            edge = equation(rf"\nu = {smallest:.2f} \Rightarrow |\lambda| = {RADII[-1]}", r"\qquad",
                            r"\nu \to -\infty:\ |\lambda| \to 1,\ \text{never reached}", size=32)
            self.play(FadeIn(edge.to_edge(DOWN, buff=0.3)), run_time=1)


class RingInit(Segment):
    """ring_init's samples in both planes: uniform by area in the annulus r_min ≤ |λ| ≤ r_max."""

    def construct(self):
        r_min, r_max, n = RING
        self.add(title("Ring initialisation, uniform by area"))
        axes, names = parameter_axes()
        plane, unit = eigen_plane()
        edges = VGroup(*[Circle(radius=r * (plane.n2p(1)[0] - plane.n2p(0)[0]), color=STABLE, stroke_width=2)
                         .move_to(plane.n2p(0)) for r in (r_min, r_max)])
        formula = equation(r"\nu = \log\!\Big(-\tfrac12 \log\big(u\,(r_{\max}^2 - r_{\min}^2) + r_{\min}^2\big)\Big)",
                           rf"\qquad r_{{\min}} = {r_min},\ r_{{\max}} = {r_max}", size=28).to_edge(DOWN, buff=0.3)
        with self.beat("annulus"):
            self.play(Create(axes), FadeIn(names), Create(plane), Create(unit), Create(edges), run_time=1.2)
            self.play(Write(formula), run_time=1.5)
        nu, theta = ring_init(n, r_min, r_max, 2 * math.pi, generator=torch.Generator().manual_seed(0))   # (n,)
        lam = lru_eigenvalues(nu.double(), theta.double())
        visible = (theta >= THETA_RANGE[0]) & (nu >= NU_RANGE[0]) & (nu <= NU_RANGE[1])
        left = VGroup(*[Dot(axes.c2p(float(a), float(b)), radius=0.025, color=STABLE)
                        for a, b in zip(nu[visible], theta[visible], strict=True)])
        right = VGroup(*[Dot(plane.n2p(complex(v)), radius=0.025, color=STABLE) for v in lam])
        with self.beat("samples"):
            self.play(FadeIn(left, lag_ratio=0.01), run_time=1.5)
        with self.beat("map"):
            self.play(TransformFromCopy(left, VGroup(*[right[i] for i in torch.nonzero(visible).flatten().tolist()])),
                      run_time=2.5)
            self.add(right)
        with self.beat("outer"):
            middle = (r_min + r_max) / 2
            outer = float((lru_magnitude(nu) > middle).float().mean())
            by_area = (r_max**2 - middle**2) / (r_max**2 - r_min**2)
            self.play(FadeOut(formula), run_time=0.5)
            self.play(FadeIn(caption(f"{outer:.0%} of the {n} samples have |λ| > {middle} (area predicts "
                                     f"{by_area:.0%}): more area, more eigenvalues.")), run_time=0.8)


class GammaNormalisation(Segment):
    """γ = √(1 − |λ|²) on the input keeps Var(h) near Var(x) however close |λ| is to 1 (measured on white noise)."""

    def construct(self):
        self.add(title("Normalising the input keeps the state's size"))
        with self.beat("blowup"):
            law = equation(r"\operatorname{Var}(h) = \frac{\operatorname{Var}(x)}{1 - |\lambda|^2}",
                           size=40).move_to([-3.2, 1.7, 0])
            self.play(Write(law), run_time=1.5)
            header, rows = variance_table()
            self.play(FadeIn(header), *[FadeIn(VGroup(*row[:3])) for row in rows], run_time=1.2)
        with self.beat("gamma"):
            plain = equation(r"h_t = \lambda\, h_{t-1} +", r"x_t", size=40).move_to([3.2, 1.7, 0])
            self.play(Write(plain), run_time=1)
            scaled = equation(r"h_t = \lambda\, h_{t-1} +", r"\gamma\,", r"x_t", size=40).move_to(plain)
            scaled[1].set_color(STABLE)
            self.play(TransformMatchingTex(plain, scaled), run_time=1.2)
            gamma = equation(r"\gamma = \sqrt{1 - |\lambda|^2}", size=36, color=STABLE).next_to(scaled, DOWN)
            self.play(FadeIn(gamma), run_time=0.8)
        with self.beat("measured"):
            self.play(*[FadeIn(row[3]) for row in rows], run_time=1.2)


def variance_table() -> tuple[VGroup, list[VGroup]]:
    """Header and rows: |λ|, predicted 1/(1 − |λ|²), measured Var(h_T) without and with γ (lru.state_variance)."""
    xs = (-5.0, -2.2, 0.8, 3.8)
    heads = ["|λ|", "1/(1 − |λ|²)", "Var(h), no γ", "Var(h), with γ"]

    def row(cells, colours, y):
        return VGroup(*[label(text, LABEL_SIZE - 2, colour).move_to([x, y, 0])
                        for text, colour, x in zip(cells, colours, xs, strict=True)])

    header = row(heads, [MUTED] * 4, -0.2)
    rows = [row([f"{r}", f"{1 / (1 - r**2):.1f}", f"{state_variance(r, False):.1f}", f"{state_variance(r, True):.2f}"],
                [FOREGROUND, MUTED, EXPLODING, STABLE], -1.0 - 0.7 * i) for i, r in enumerate(NINES)]
    return header, rows


class ClosingCard(Segment):
    """The result in one line, and the bridge to lesson 06: λ = exp(Δ·a), Δ a step size the input will choose."""

    def construct(self):
        runs = fit_runs()
        card = closing_card(f"Through ν, |λ| < 1 always: SGD took it from {FIT['start']} to {runs['ν'][-1]:.4f}",
                            "Next: let the input choose the step size Δ (lesson 06)")
        result, bridge = card
        delta = equation(r"\lambda = \exp(\Delta\, a)", r"\qquad \Delta > 0,\ \operatorname{Re} a < 0")
        VGroup(result, delta, bridge).arrange(DOWN, buff=0.6).move_to(DOWN * 0.6)   # result, Δ view, next lesson
        with self.beat("result"):
            self.play(FadeIn(equation(*LAMBDA_FORM).next_to(result, UP, buff=0.8)), FadeIn(result), run_time=1.2)
        with self.beat("bridge"):
            self.play(Write(delta), run_time=1.5)
            self.play(FadeIn(bridge, shift=UP * 0.2), run_time=1)
