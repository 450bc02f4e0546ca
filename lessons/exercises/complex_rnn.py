"""Lesson 03 exercises: the eigenvalues of a scaled rotation, and a half-life prediction."""
from __future__ import annotations

import math

import torch

from lessons.checking import call_learner, not_a_number, right, wrong
from lessons.complex_rnn import half_life, rotation_matrix

ROTATION_CASES = [(0.9, math.pi / 6), (1.2, 2.5), (0.5, 0.1)]
PREDICTION_RADIUS = 0.98


def check_rotation_eigenvalues(fn) -> "CheckResult":
    """Exercise 1: fn(r, theta) must return the two eigenvalues of r·R(θ), in either order."""
    for r, theta in ROTATION_CASES:
        value, error = call_learner(fn, r, theta)
        if error:
            return wrong(error, "the eigenvalues of a scaled rotation are r·e^{+iθ} and r·e^{−iθ}.")
        try:
            got = sorted((complex(v) for v in value), key=lambda z: z.imag)
        except (TypeError, ValueError):
            return wrong(f"you returned {value!r}; expected two complex numbers.", "return a pair, e.g. (z1, z2).")
        expected = sorted(torch.linalg.eigvals(rotation_matrix(r, theta)).tolist(), key=lambda z: z.imag)
        if len(got) != 2:
            return wrong(f"you returned {len(got)} numbers; a 2×2 matrix has two eigenvalues.", "return a pair.")
        if all(abs(g - e) < 1e-9 for g, e in zip(got, expected)):
            continue
        if all(abs(g.imag) < 1e-12 for g in got):
            return wrong("your eigenvalues are real.", "a rotation moves every real vector, so its eigenvalues must be complex: use cmath.")
        return wrong(f"for r={r}, θ={theta:.3f} you returned {got}; expected {expected}.",
                     "λ = r·(cos θ ± i·sin θ) = cmath.rect(r, ±θ).")
    return right("r·R(θ) has eigenvalues r·e^{±iθ}: a conjugate pair, as every non-real eigenvalue of a real matrix.")


def check_half_life_prediction(answer) -> "CheckResult":
    """Exercise 2: predict the half-life, in steps, of |λ| = 0.98 (to the nearest step)."""
    if (verdict := not_a_number(answer)) is not None:
        return verdict
    expected = half_life(PREDICTION_RADIUS)
    if abs(answer - expected) <= 1:
        return right(f"ln ½ / ln {PREDICTION_RADIUS} = {expected:.2f} steps. "
                     "Rule of thumb: half-life ≈ 0.69 / (1 − |λ|).")
    linear_guess = 0.5 / (1 - PREDICTION_RADIUS)
    if abs(answer - linear_guess) <= 1:
        return wrong(f"{answer} is 0.5 / (1 − {PREDICTION_RADIUS}).",
                     "halving needs ln 2 ≈ 0.69, not 0.5: the decay is exponential.")
    return wrong(f"{answer} is not it.", f"solve {PREDICTION_RADIUS}ᵗ = ½: t = ln ½ / ln {PREDICTION_RADIUS}.")
