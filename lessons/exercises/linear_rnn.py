"""Lesson 02 exercises: Wⁿ through the eigenbasis, with P and P⁻¹ the right way round; and a prediction."""
from __future__ import annotations

import torch

from lessons.checking import as_tensor, call_learner, close, not_a_number, right, wrong
from lessons.linear_rnn import eigendecompose, worked_2x2_example


def _cases():
    """A few (W, n) pairs: random diagonalisable 3×3 matrices and the worked example."""
    g = torch.Generator().manual_seed(7)
    cases = [(torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.6, n) for n in (2, 5)]
    return cases + [(worked_2x2_example()["W"], 7)]


def check_matrix_power_via_eigenbasis(fn) -> "CheckResult":
    """Exercise 1: fn(W, n) must return Wⁿ computed as P · diag(λⁿ) · P⁻¹ (real part for real W)."""
    for W, n in _cases():
        value, error = call_learner(fn, W, n)
        if error:
            return wrong(error, "P, lam, P_inv = eigendecompose(W), then combine them with lam ** n.")
        expected = torch.linalg.matrix_power(W, n)
        got = as_tensor(value.real if torch.is_tensor(value) and value.is_complex() else value)
        if got is None or got.shape != expected.shape:
            return wrong(f"expected a {tuple(expected.shape)} matrix, got {getattr(value, 'shape', value)!r}.",
                         "return an (H, H) tensor.")
        if not close(got, expected, rtol=1e-8, atol=1e-10):
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


def check_limit_prediction(answer) -> "CheckResult":
    """Exercise 2: predict the top-left entry of W¹⁰⁰ for the worked example, to 3 decimals."""
    expected = float(torch.linalg.matrix_power(worked_2x2_example()["W"], 100)[0, 0])
    if (verdict := not_a_number(answer)) is not None:
        return verdict
    if abs(answer - expected) < 1e-3:
        return right(f"(W¹⁰⁰)₀₀ = {expected:.6f}. The λ = 0.5 part has died (0.5¹⁰⁰ ≈ 8e-31); the λ = 1 part "
                     "stays forever, so Wⁿ converges to the projection onto v₁.")
    if abs(answer - 0.8**100) < 1e-3:
        return wrong(f"{answer} is 0.8¹⁰⁰, the entry raised to the power.", "matrix powers mix entries; use the eigenvalues.")
    return wrong(f"{answer} is not it.", "W¹⁰⁰ = P·diag(1¹⁰⁰, 0.5¹⁰⁰)·P⁻¹ ≈ P·diag(1, 0)·P⁻¹: multiply out the first column of P with the first row of P⁻¹.")
