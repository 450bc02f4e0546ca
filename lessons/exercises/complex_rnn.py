"""Lesson 03 exercises: the eigenvalues of a scaled rotation, and a half-life prediction."""
from __future__ import annotations

import math

import torch

from lessons.checking import (CheckResult, call_learner, exercise_check, prediction, read_complex, read_pair, right,
                              tolerance, wrong)
from lessons.complex_rnn import half_life, rotation_matrix

ROTATION_CASES = [(0.9, math.pi / 6), (1.2, 2.5), (0.5, 0.1)]
PREDICTION_RADIUS = 0.98


@exercise_check(expects="a function fn(r, theta) returning the two eigenvalues (z1, z2) of r·R(θ)")
def check_rotation_eigenvalues(fn) -> CheckResult:
    """Exercise 1: fn(r, theta) must return the two eigenvalues of r·R(θ), in either order."""
    for r, theta in ROTATION_CASES:
        value = call_learner(fn, r, theta, hint="the eigenvalues of a scaled rotation are r·e^{+iθ} and r·e^{−iθ}.")
        first, second = read_pair(value, "(z1, z2)")
        got = sorted((read_complex(z, "each eigenvalue") for z in (first, second)), key=lambda z: z.imag)
        expected = sorted(torch.linalg.eigvals(rotation_matrix(r, theta)).tolist(), key=lambda z: z.imag)
        rtol = tolerance(value)  # a complex64 answer is right to ~1e-7, not 1e-9
        if all(abs(g - e) <= rtol * max(1.0, abs(e)) for g, e in zip(got, expected, strict=True)):
            continue
        if all(abs(g.imag) <= rtol * max(1.0, abs(g)) for g in got):
            return wrong("your eigenvalues are real.",
                         "a rotation moves every real vector, so its eigenvalues must be complex: use cmath.")
        shown = ", ".join(f"{z:.6f}" for z in got)
        return wrong(f"for r={r}, θ={theta:.3f} you returned ({shown}); expected "
                     f"({', '.join(f'{z:.6f}' for z in expected)}).", "λ = r·(cos θ ± i·sin θ) = cmath.rect(r, ±θ).")
    return right("r·R(θ) has eigenvalues r·e^{±iθ}: a conjugate pair, as every non-real eigenvalue of a real matrix.")


@prediction(expects="the half-life in steps, such as 10")
def check_half_life_prediction(answer: float) -> CheckResult:
    """Exercise 2: predict the half-life, in steps, of |λ| = 0.98 (to the nearest step)."""
    expected = half_life(PREDICTION_RADIUS)
    if abs(answer - expected) <= 1:
        return right(f"ln ½ / ln {PREDICTION_RADIUS} = {expected:.2f} steps. "
                     "Rule of thumb: half-life ≈ 0.69 / (1 − |λ|).")
    linear_guess = 0.5 / (1 - PREDICTION_RADIUS)
    if abs(answer - linear_guess) <= 1:
        return wrong(f"{answer} is 0.5 / (1 − {PREDICTION_RADIUS}).",
                     "halving needs ln 2 ≈ 0.69, not 0.5: the decay is exponential.")
    return wrong(f"{answer} is not it.", f"solve {PREDICTION_RADIUS}ᵗ = ½: t = ln ½ / ln {PREDICTION_RADIUS}.")
