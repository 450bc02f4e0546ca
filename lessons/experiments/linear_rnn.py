"""Lesson 02's experiments: the cost of Wⁿ and of a dense step against a diagonal one, and learning Λ, B, C directly."""
from __future__ import annotations

from fractions import Fraction
from functools import partial

import torch

from lessons.linear_rnn import DiagonalLinearRNN, causal_convolution, dense_rnn_kernel, eigendecompose
from lessons.palette import LIGHT
from lessons.training import fit, masked_mse
from lessons.utils import median_time


def time_dense_and_diagonal_steps(sizes, batch: int = 32, steps: int = 64,
                                  repeats: int = 5) -> list[tuple[int, float, float]]:
    """(H, dense µs per step, diagonal µs per step): `steps` recurrence steps timed together, each the median
    of `repeats` runs after a warm-up. A dense step h @ Wᵀ costs batch·H² multiply-adds, a diagonal λ ⊙ z
    costs batch·H. Timed on one thread: on a shared CPU, threads waiting for each other would be measured
    instead of the arithmetic."""
    g = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [_time_one_size(H, batch, steps, repeats, g) for H in sizes]
    finally:
        torch.set_num_threads(threads)


def _time_one_size(H: int, batch: int, steps: int, repeats: int, g: torch.Generator) -> tuple[int, float, float]:
    """One row of time_dense_and_diagonal_steps."""
    W = torch.randn(H, H, generator=g) / H**0.5                                   # (H, H)
    lam = torch.rand(H, generator=g)                                              # (H,)
    x = torch.randn(steps, batch, H, generator=g)                                 # (T, batch, H)
    dense, diagonal = (1e6 * median_time(partial(run, weights, x), repeats=repeats) / steps
                       for run, weights in ((_dense_steps, W), (_diagonal_steps, lam)))
    return H, dense, diagonal


def _dense_steps(W: torch.Tensor, x: torch.Tensor) -> None:
    """h_t = W h_{t−1} + x_t for x (T, batch, H): a full matrix product per step."""
    h = torch.zeros_like(x[0])
    for x_t in x:
        h = torch.addmm(x_t, h, W.T)


def _diagonal_steps(lam: torch.Tensor, x: torch.Tensor) -> None:
    """z_t = λ ⊙ z_{t−1} + x_t for x (T, batch, H): H independent multiply-adds per step."""
    z = torch.zeros_like(x[0])
    for x_t in x:
        z = torch.addcmul(x_t, lam, z)


def time_matrix_power_and_eigenbasis(H: int = 256, n: int = 1000, repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """Seconds (medians after a warm-up) for Wⁿ by torch.linalg.matrix_power (O(H³ log n): repeated squaring), for
    W = P Λ P⁻¹ by torch.linalg.eig and an inverse (O(H³), once per W), and for λⁿ (H scalar powers, per new n)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(H, H, generator=g, dtype=torch.float64) * 0.9 / H**0.5        # (H, H)
    _, eigenvalues, _ = eigendecompose(W)                                          # (H,) complex
    return {"matrix_power": median_time(partial(torch.linalg.matrix_power, W, n), repeats=repeats),
            "eigendecompose": median_time(partial(eigendecompose, W), repeats=repeats),
            "scalar powers": median_time(partial(torch.pow, eigenvalues, n), repeats=repeats)}


def dense_target(H: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A dense W (H, H) with real eigenvalues spread in (0.3, 0.95) in a random, non-orthogonal basis, and a
    random input column B (H, 1) and output row C (1, H): the system the diagonal model will imitate."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(H, H, generator=g, dtype=torch.float64)
    eigenvalues = torch.linspace(0.3, 0.95, H, dtype=torch.float64)
    W = basis @ torch.diag(eigenvalues) @ torch.linalg.inv(basis)
    return W, torch.randn(H, 1, generator=g, dtype=torch.float64), torch.randn(1, H, generator=g, dtype=torch.float64)


def fit_diagonal_to_dense(state_size: int = 16, steps: int = 300, length: int = 64, batch: int = 32,
                          lr: float = 0.05, seed: int = 0) -> dict:
    """Train a DiagonalLinearRNN with Adam on `batch` input/output sequences of the dense system (dense_target).

    The targets come from the dense system's own convolution, y = K * x with K_k = C Wᵏ B, scaled so that
    max |K_k| = 1. Returns the model, the loss history, the dense W, and both impulse responses (length,).
    """
    W, B, C = dense_target(seed=seed)
    target = dense_rnn_kernel(W, B, C, length)                                  # (length, 1, 1)
    C = C / target.abs().max()
    target = target / target.abs().max()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, length, 1, generator=g, dtype=torch.float64)         # (batch, T, 1)
    y = causal_convolution(target, x)                                           # (batch, T, 1)
    model = DiagonalLinearRNN(state_size, seed=seed)                           # draws from its own generator
    history = fit(model, lambda _step: (x, y, None), steps, lr=lr, clip=None, loss=masked_mse)
    with torch.no_grad():
        learned = model.kernel(length)[:, 0, 0]
    return {"model": model, "loss": history["loss"], "W": W, "B": B, "C": C,
            "target kernel": target[:, 0, 0], "learned kernel": learned}


def plot_impulse_fit(result: dict, ax_kernel, ax_loss) -> None:
    """The target and learned impulse responses on ax_kernel, the loss curve on ax_loss."""
    ax_kernel.plot(result["target kernel"], color=LIGHT.vanishing, lw=2.5, label="dense W: C Wᵏ B")
    ax_kernel.plot(result["learned kernel"], color=LIGHT.exploding, ls="--", lw=1.5, label="learned: C Λᵏ B")
    ax_kernel.axhline(0, color=LIGHT.muted, lw=0.5)
    ax_kernel.set(xlabel="lag k", ylabel="$K_k$ (scaled: max $|K| = 1$)", title="impulse response $K_k$")
    ax_kernel.legend(frameon=False)
    ax_loss.semilogy(result["loss"], color=LIGHT.foreground, lw=1)
    ax_loss.set(xlabel="Adam step", title="training loss (mean squared error)")


def latex_fraction_matrix(M: torch.Tensor, max_denominator: int = 100) -> str:
    """A 2-D tensor as a LaTeX pmatrix of fractions (3/5, not 0.6), for hand-checkable prose."""
    def entry(value: float) -> str:
        q = Fraction(value).limit_denominator(max_denominator)
        sign = "-" if q < 0 else ""
        if q.denominator == 1:
            return f"{sign}{abs(q.numerator)}"
        return f"{sign}\\tfrac{{{abs(q.numerator)}}}{{{q.denominator}}}"
    rows = [" & ".join(entry(float(v)) for v in row) for row in M]
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


def latex_matrix(M: torch.Tensor, number_format: str = ".4g") -> str:
    """A 2-D tensor as a LaTeX pmatrix, for prose formatted from computed values."""
    rows = [" & ".join(format(float(v) if abs(float(v)) > 1e-12 else 0.0, number_format) for v in row)   # no −5.6e−17
            for row in M]
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"
