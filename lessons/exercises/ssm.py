"""Lesson 06 exercises: write mamba's discretisation, predict one decay Ā, find the shape of the state."""
from __future__ import annotations

import math

import torch

from lessons.checking import (CheckResult, call_learner, exercise_check, prediction, read_pair, read_shape, read_tensor,
                              right, wrong)
from lessons.ssm import KEEP_ABOVE, RESET_BELOW, decay_meaning, discretise_euler, discretise_zoh

PREDICT_DELTA, PREDICT_A = 0.1, -2.0                  # exercise 2: the decay Ā for this Δ and A
STATE_SIZES = {"batch": 4, "dim": 64, "L": 100, "N": 16}   # exercise 3: the shape of h_t


def _discretisation_cases():
    """Fresh random (Δ (3, 1), A (1, 5), B (1, 5)) in float64: broadcasting like the scan's tensors."""
    g = torch.Generator().manual_seed(6)
    delta = torch.rand(3, 1, generator=g, dtype=torch.float64) * 0.5 + 0.01
    A = -torch.rand(1, 5, generator=g, dtype=torch.float64) * 8 - 0.5
    return delta, A, torch.randn(1, 5, generator=g, dtype=torch.float64)


@exercise_check(expects="a function fn(delta, A, B) returning a pair of real tensors (A_bar, B_bar)")
def check_discretise(fn) -> CheckResult:
    """Exercise 1: fn(delta, A, B) must return (Ā, B̄) as mamba's reference code computes them."""
    delta, A, B = _discretisation_cases()
    value = call_learner(fn, delta, A, B,
                         hint="return a pair (A_bar, B_bar) built from delta, A and B with torch operations.")
    A_bar, B_bar = (read_tensor(part, None, f"your {name}")
                    for part, name in zip(read_pair(value, "(A_bar, B_bar)"), ("A_bar", "B_bar"), strict=True))
    want_A, want_B = discretise_euler(delta, A, B)
    if B_bar.shape == B.shape and torch.allclose(B_bar, B):
        return wrong("your B̄ is B itself.", "a step of length Δ writes Δ times as much: B̄ = Δ·B.")
    if A_bar.shape != want_A.shape or B_bar.shape != want_B.shape:
        return wrong(f"your shapes are {tuple(A_bar.shape)} and {tuple(B_bar.shape)}; expected {tuple(want_A.shape)}.",
                     "multiply elementwise and let broadcasting do the rest: A is diagonal, stored as a vector.")
    if torch.allclose(A_bar, 1 + delta * A):
        return wrong("your Ā is 1 + ΔA: Euler for the decay too.",
                     "the decay keeps its exact form exp(ΔA): it stays in (0, 1) for every Δ > 0, 1 + ΔA does not.")
    if not torch.allclose(A_bar, want_A):
        return wrong("your Ā is off.", "Ā = exp(Δ·A), elementwise.")
    if torch.allclose(B_bar, discretise_zoh(delta, A, B)[1]):
        return wrong("that B̄ is the zero-order hold, (ΔA)⁻¹(exp(ΔA) − 1)·ΔB: correct maths, but not what "
                     "mamba's code does.", "the reference code uses the simpler Euler step for B̄.")
    if torch.allclose(B_bar, B.expand_as(want_B)):
        return wrong("your B̄ is B itself.", "a step of length Δ writes Δ times as much: B̄ = Δ·B.")
    if not torch.allclose(B_bar, want_B):
        return wrong("your B̄ is off.", "B̄ = Δ·B (the Euler step).")
    return right("Ā = exp(ΔA) exactly, B̄ = ΔB by Euler: what selective_scan_ref computes as deltaA and deltaB_u.")


@prediction(expects="Ā to 3 decimals, such as 0.5")
def check_gate_prediction(answer: float) -> CheckResult:
    """Exercise 2: predict the decay Ā = exp(ΔA) for Δ = 0.1 and A = −2, to 3 decimals."""
    expected = math.exp(PREDICT_DELTA * PREDICT_A)
    if abs(answer - expected) < 5e-4:
        return right(f"exp(0.1 · −2) = exp(−0.2) = {expected:.4f}: each step keeps {expected:.0%} of the state, "
                     f"a {decay_meaning(expected)} in section 2's terms (keep above {KEEP_ABOVE}, reset below "
                     f"{RESET_BELOW}): the old state fades over a few steps while the token is written with weight Δ.")
    if abs(answer - (1 + PREDICT_DELTA * PREDICT_A)) < 5e-4:
        return wrong(f"{answer} is 1 + ΔA, the first-order approximation.",
                     "the decay is exp(ΔA); 1 + ΔA is close only for small ΔA.")
    if abs(answer - PREDICT_DELTA * PREDICT_A) < 5e-4:
        return wrong(f"{answer} is ΔA itself.", "exponentiate it: Ā = exp(ΔA).")
    if abs(answer - math.exp(PREDICT_A)) < 5e-4:
        return wrong(f"{answer} is exp(A): you left out Δ.", "Δ scales A before the exponential: exp(Δ·A).")
    return wrong(f"{answer} is not it.", "compute exp(Δ·A) with Δ = 0.1 and A = −2.")


@exercise_check(expects="a shape: a tuple of whole numbers such as (1, 2, 3)")
def check_state_shape(answer) -> CheckResult:
    """Exercise 3: the shape of the state h_t for u (batch=4, dim=64, L=100) and N = 16, as a tuple."""
    b, d, length, n = (STATE_SIZES[k] for k in ("batch", "dim", "L", "N"))
    shape = read_shape(answer)
    if shape == (b, d, n):
        return right(f"h_t is (batch, dim, N) = {shape}: every one of the {d} channels has its own {n} numbers, "
                     f"{n}× the state of a plain per-channel RNN.")
    if shape == (b, d):
        return wrong(f"{shape} is one number per channel.", "each channel carries N = 16 numbers, one per A[d, n].")
    if shape in ((b, n), (b, n, 1)):
        return wrong(f"{shape} shares one state among all channels.", "every channel d runs its own recurrence.")
    if shape in ((b, d, length), (b, d, n, length)):
        return wrong(f"{shape} includes L.", "the state at one time t has no time axis: that is what makes it an RNN.")
    return wrong(f"{shape} is not it.", "one state per (batch element, channel, state index n).")
