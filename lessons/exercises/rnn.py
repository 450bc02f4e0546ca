"""Lesson 01 exercises: the scalar gradient with its factor n, the tanh step Jacobian, and a prediction."""
from __future__ import annotations

import math

import torch

from lessons.checking import (CheckResult, call_learner, close, exercise_check, prediction, read_number, read_tensor,
                              right, tolerance, wrong)
from lessons.rnn import log10_scalar_gradient, scalar_linear_rnn

SCALAR_CASES = [(0.9, 1, 1.0), (0.9, 2, 1.0), (0.5, 7, -2.0), (1.2, 17, 0.3), (-0.8, 10, 1.5)]


def _autograd_scalar_gradient(w: float, n: int, h0: float) -> torch.Tensor:
    """∂h_n/∂w for h_k = w·h_{k-1}, measured by autograd, not by formula."""
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h_n = scalar_linear_rnn(w_t, torch.zeros(n, dtype=torch.float64), torch.tensor(h0, dtype=torch.float64))
    (grad,) = torch.autograd.grad(h_n, w_t)
    return grad


@exercise_check(expects="a function fn(w, n, h0) returning ∂h_n/∂w as one number (a float or a 0-d tensor)")
def check_scalar_gradient(fn) -> CheckResult:
    """Exercise 1: fn(w, n, h0) must return ∂h_n/∂w for h_k = w·h_{k-1} (no inputs), h_0 = h0."""
    for w, n, h0 in SCALAR_CASES:
        value = call_learner(fn, w, n, h0, hint="start from h_n = wⁿ·h_0 and differentiate with respect to w.")
        got = read_number(value, "∂h_n/∂w as one number (a float or a 0-d tensor)",
                          what=f"for w={w}, n={n}, h0={h0} your function's result")
        expected = float(_autograd_scalar_gradient(w, n, h0))
        if not math.isclose(got, expected, rel_tol=max(1e-6, tolerance(value)), abs_tol=1e-12):
            return wrong(f"for w={w}, n={n}, h0={h0} you returned {got:.6g}; autograd says {expected:.6g}.",
                         _scalar_hint(got, w, n, h0))
    return right("∂h_n/∂w = n·w^(n−1)·h_0. The factor n grows only linearly; w^(n−1) decides vanishing or exploding.")


def _scalar_hint(got: float, w: float, n: int, h0: float) -> str:
    """Name the usual slip for a wrong scalar gradient."""
    if math.isclose(got, w ** (n - 1) * h0, rel_tol=1e-6):
        return "you dropped the factor n: d(wⁿ)/dw = n·w^(n−1), exactly the step the original video skipped."
    if math.isclose(got, n * w**n * h0, rel_tol=1e-6):
        return "check the exponent: differentiating wⁿ lowers the power by one."
    return "h_n = wⁿ·h_0, so ∂h_n/∂w = (d/dw wⁿ)·h_0."


def _tanh_case(seed: int, hidden: int = 4, inputs: int = 3):
    """Random (h_prev (H,), x (D,), W (H, H), U (H, D), b (H,)) in float64."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(hidden,), (inputs,), (hidden, hidden), (hidden, inputs), (hidden,)]
    return [torch.randn(*shape, generator=g, dtype=torch.float64) for shape in shapes]


@exercise_check(expects="a function fn(h_prev, x, W, U, b) returning the (H, H) Jacobian ∂h_t/∂h_{t-1}")
def check_tanh_step_jacobian(fn) -> CheckResult:
    """Exercise 2: fn(h_prev, x, W, U, b) must return the (H, H) Jacobian ∂h_t/∂h_{t-1} of the tanh cell."""
    for seed in range(3):
        h_prev, x, W, U, b = _tanh_case(seed)
        value = call_learner(fn, h_prev, x, W, U, b,
                             hint="h_t = tanh(W h_{t-1} + U x_t + b); use the chain rule, tanh'(a) = 1 − tanh(a)².")
        expected = torch.autograd.functional.jacobian(
            lambda h, x=x, W=W, U=U, b=b: torch.tanh(W @ h + U @ x + b), h_prev)
        got = read_tensor(value, tuple(expected.shape), "your Jacobian",
                          hint="row i, column j holds ∂h_t[i]/∂h_{t-1}[j].")
        if not close(got, expected, rtol=max(1e-6, tolerance(value))):
            return wrong("your Jacobian differs from autograd's.", _jacobian_hint(got, h_prev, x, W, U, b))
    return right("∂h_t/∂h_{t-1} = diag(1 − h_t²)·W. BPTT multiplies T of these, which is why the norm "
                 "shrinks or grows geometrically.")


def _jacobian_hint(got, h_prev, x, W, U, b) -> str:
    """Name the usual slip for a wrong Jacobian."""
    h = torch.tanh(W @ h_prev + U @ x + b)
    if close(got, W):
        return "you left out tanh's derivative: multiply by diag(1 − h_t²)."
    if close(got, W @ torch.diag(1 - h**2)):
        return "order matters: the diagonal scales the rows (outputs), so it goes on the left, diag(1 − h_t²)·W."
    if close(got, torch.diag(1 - h_prev**2) @ W):
        return "tanh' is evaluated at the new state h_t, not at h_{t-1}."
    return "by the chain rule, ∂h_t/∂h_{t-1} = diag(tanh'(a_t))·W with a_t = W h_{t-1} + U x_t + b."


PREDICTION_W, PREDICTION_THRESHOLD = 0.9, 1e-3


def first_n_below(w: float, threshold: float, n_max: int = 100_000) -> int:
    """The smallest n with n·|w|^(n−1) < threshold (the gradient of the scalar RNN with h_0 = 1)."""
    n = torch.arange(1, n_max + 1)
    below = (log10_scalar_gradient(w, n) < math.log10(threshold)).nonzero()
    if len(below) == 0:
        raise ValueError(f"n·|w|^(n−1) never drops below {threshold} for n ≤ {n_max} with w = {w}.")
    return int(n[below[0, 0]])


@prediction(expects="the number of steps n, a whole number such as 50")
def check_steps_to_vanish(answer: float) -> CheckResult:
    """Exercise 3: predict the first n with |∂h_n/∂w| = n·0.9^(n−1) below 1e-3."""
    expected = first_n_below(PREDICTION_W, PREDICTION_THRESHOLD)
    if round(answer) == expected:
        return right(f"n = {expected}: n·0.9^(n−1) = {expected * 0.9 ** (expected - 1):.2e}. "
                     f"Without the factor n you would have said {first_without_n()}.")
    if round(answer) == first_without_n():
        return wrong(f"{answer} is where 0.9^(n−1) alone drops below 1e-3.",
                     "keep the factor n: it delays vanishing a little, since it grows while 0.9^(n−1) shrinks.")
    direction = "too small" if answer < expected else "too large"
    return wrong(f"{answer} is {direction}.", "take log₁₀ of n·0.9^(n−1) < 10⁻³ and try a few n, or use the explorer.")


def first_without_n() -> int:
    """The smallest n with 0.9^(n−1) < 1e-3: the answer if the factor n is dropped."""
    return math.floor(math.log(PREDICTION_THRESHOLD) / math.log(PREDICTION_W)) + 2
