"""Lesson 05 exercises: write λ(ν, θ), predict |λ| for a given ν, predict γ for a given |λ|."""
from __future__ import annotations

import cmath
import math

import torch

from lessons.checking import (CheckResult, call_learner, exercise_check, prediction, read_complex, right, tolerance,
                              wrong)
from lessons.lru import lru_eigenvalues

EIGENVALUE_CASES = [(-3.0, -1.0), (0.5, 1.2), (-8.0, 0.3), (-1.0, -3.0)]
PREDICTION_NU = -3.0       # exercise 2: |λ| for ν = −3
GAMMA_RADIUS = 0.99        # exercise 3: γ for |λ| = 0.99


@exercise_check(expects="a function fn(nu, theta) returning λ as one complex number")
def check_eigenvalue(fn) -> CheckResult:
    """Exercise 1: fn(nu, theta) (floats) must return λ = exp(−exp(ν) + i·exp(θ)) as a complex number."""
    for nu, theta in EIGENVALUE_CASES:
        value = call_learner(fn, nu, theta,
                             hint="build the complex exponent −exp(ν) + i·exp(θ), then take cmath.exp of it.")
        got = read_complex(value, "your λ")
        expected = complex(lru_eigenvalues(torch.tensor(nu, dtype=torch.float64),
                                           torch.tensor(theta, dtype=torch.float64)))
        rtol = tolerance(value)  # a complex64 answer is right to ~1e-7, not 1e-9
        if abs(got - expected) <= rtol:
            continue
        return _diagnose_eigenvalue(got, nu, theta, expected, rtol)
    return right("λ = exp(−exp(ν) + i·exp(θ)): |λ| = exp(−exp(ν)) < 1 for every real ν, whatever the optimiser does.")


def _diagnose_eigenvalue(got: complex, nu: float, theta: float, expected: complex, rtol: float) -> CheckResult:
    """Name the usual slips: a missing inner exp, a lost minus sign, a phase of θ instead of exp(θ)."""
    one_exp = math.exp(-nu)
    if min(abs(got - cmath.rect(one_exp, theta)), abs(got - cmath.rect(one_exp, math.exp(theta)))) <= rtol * one_exp:
        return wrong(f"for ν = {nu}, θ = {theta} your |λ| is exp(−ν) = {abs(got):.4g}.",
                     "the magnitude is exp(−exp(ν)): two exps, so it stays below 1 for every ν.")
    if abs(abs(got) - math.exp(math.exp(nu))) <= rtol * max(1.0, abs(got)):
        return wrong(f"your |λ| = {abs(got):.4g} is above 1.",
                     "the real part of the exponent is −exp(ν): keep the minus.")
    if abs(abs(got) - abs(expected)) <= rtol:
        return wrong(f"the magnitude is right but the phase is not (for θ = {theta}).",
                     "the phase is exp(θ), not θ: the exponent's imaginary part is exp(θ).")
    return wrong(f"for ν = {nu}, θ = {theta} you returned {got:.4f}; expected {expected:.4f}.",
                 "λ = cmath.exp(complex(−math.exp(ν), math.exp(θ))).")


@prediction(expects="|λ| to three decimals, such as 0.5")
def check_magnitude_prediction(answer: float) -> CheckResult:
    """Exercise 2: predict |λ| for ν = −3, to three decimals."""
    expected = math.exp(-math.exp(PREDICTION_NU))
    if abs(answer - expected) <= 6e-4:
        return right(f"|λ| = exp(−e^{PREDICTION_NU:.0f}) = exp(−{math.exp(PREDICTION_NU):.4f}) = {expected:.4f}: "
                     f"a half-life of {math.log(0.5) / math.log(expected):.1f} steps.")
    if abs(answer - (1 - math.exp(PREDICTION_NU))) <= 6e-4:
        return wrong(f"{answer} is 1 − e^ν, the first-order approximation.",
                     "close, but take the exponential: exp(−e^ν).")
    if abs(answer - math.exp(PREDICTION_NU)) <= 6e-4:
        return wrong(f"{answer} is e^ν = −ln|λ|, the decay rate.", "|λ| = exp(−e^ν): one more exponential.")
    return wrong(f"{answer} is not it.", f"compute e^{PREDICTION_NU:.0f} first, then exp(−that).")


@prediction(expects="γ to three decimals, such as 0.5")
def check_gamma_prediction(answer: float) -> CheckResult:
    """Exercise 3: predict γ = √(1 − |λ|²) for |λ| = 0.99, to three decimals."""
    expected = math.sqrt(1 - GAMMA_RADIUS**2)
    if abs(answer - expected) <= 6e-4:
        return right(f"γ = √(1 − 0.99²) = √{1 - GAMMA_RADIUS**2:.4f} = {expected:.4f}. Each input is scaled down "
                     f"about 7×, because the state adds up about 1/(1 − |λ|²) ≈ 50 of them.")
    if abs(answer - math.sqrt(1 - GAMMA_RADIUS)) <= 6e-4:
        return wrong(f"{answer} is √(1 − |λ|); the square is missing.", "γ = √(1 − |λ|²): square |λ| first.")
    if abs(answer - (1 - GAMMA_RADIUS**2)) <= 6e-4:
        return wrong(f"{answer} is 1 − |λ|², the variance factor.", "γ scales the input, so it is the square root.")
    return wrong(f"{answer} is not it.", "γ = √(1 − |λ|²) with |λ| = 0.99.")
