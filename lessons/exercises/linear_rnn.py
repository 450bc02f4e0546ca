"""Lesson 02 exercises: Wⁿ through the eigenbasis, with P and P⁻¹ the right way round; and a prediction."""
from __future__ import annotations

import torch

from lessons.checking import (CheckResult, call_learner, close, exercise_check, prediction, read_tensor, right,
                              tolerance, wrong)
from lessons.linear_rnn import eigendecompose, worked_2x2_example


def _cases():
    """A few (W, n) pairs: random diagonalisable 3×3 matrices and the worked example."""
    g = torch.Generator().manual_seed(7)
    cases = [(torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.6, n) for n in (2, 5)]
    return cases + [(worked_2x2_example()["W"], 7)]


@exercise_check(expects="a function fn(W, n) returning the (H, H) matrix Wⁿ")
def check_matrix_power_via_eigenbasis(fn) -> CheckResult:
    """Exercise 1: fn(W, n) must return Wⁿ computed as P · diag(λⁿ) · P⁻¹ (real part for real W)."""
    for W, n in _cases():
        value = call_learner(fn, W, n, hint="P, lam, P_inv = eigendecompose(W), then combine them with lam ** n.")
        expected = torch.linalg.matrix_power(W, n)
        real = value.real if torch.is_tensor(value) and value.is_complex() else value  # the imaginary part is ~0
        got = read_tensor(real, tuple(expected.shape), "your matrix", hint="return an (H, H) tensor.")
        if not close(got, expected, rtol=max(1e-8, tolerance(value)), atol=1e-10):
            return wrong(f"for n = {n} your matrix differs from torch.linalg.matrix_power(W, n).", _hint(got, W, n))
    return right("Wⁿ = P·diag(λⁿ)·P⁻¹: one scalar power per eigenvalue instead of n matrix products.")


def _hint(got: torch.Tensor, W: torch.Tensor, n: int) -> str:
    """Name the usual slip."""
    P, eigenvalues, P_inv = eigendecompose(W)
    swapped = (P_inv @ torch.diag(eigenvalues**n) @ P).real
    if close(got, swapped, rtol=1e-8, atol=1e-10):
        return "P and P⁻¹ are swapped: P⁻¹ goes in first (on the right, next to x), P brings the result back."
    if close(got, W**n, rtol=1e-8, atol=1e-10):
        return "W ** n raises each entry to the power n; that is not the matrix power."
    return "Wⁿ = P · diag(λ)ⁿ · P⁻¹; only the diagonal part gets the power."


@prediction(expects="a number to 3 decimals, such as 0.123")
def check_limit_prediction(answer: float) -> CheckResult:
    """Exercise 2: predict the top-left entry of W¹⁰⁰ for the worked example, to 3 decimals."""
    expected = float(torch.linalg.matrix_power(worked_2x2_example()["W"], 100)[0, 0])
    if abs(answer - expected) < 1e-3:
        return right(f"(W¹⁰⁰)₀₀ = {expected:.6f}. The λ = 0.5 part has died (0.5¹⁰⁰ ≈ 8e-31); the λ = 1 part "
                     "stays forever, so Wⁿ converges to the projection onto v₁.")
    if abs(answer) < 1e-3:   # 0.8¹⁰⁰ ≈ 2e-10 (the entry raised to the power) lands here too
        return wrong(f"{answer} says W¹⁰⁰ has faded to nothing, but only the λ = 0.5 part dies.",
                     "W has an eigenvalue λ₁ = 1, and 1¹⁰⁰ = 1: that part never decays (raising the entry 0.8 "
                     "to the power 100 also gives ≈ 0, but matrix powers mix entries). Keep the λ₁ term of "
                     "P·diag(λ¹⁰⁰)·P⁻¹.")
    return wrong(f"{answer} is not it.", "W¹⁰⁰ = P·diag(1¹⁰⁰, 0.5¹⁰⁰)·P⁻¹ ≈ P·diag(1, 0)·P⁻¹: multiply out the "
                 "first column of P with the first row of P⁻¹.")
