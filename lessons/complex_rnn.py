"""Lesson 03: complex eigenvalues. Real matrices that rotate diagonalise over ℂ, in conjugate pairs.

Conventions: λ is a Python complex or a complex tensor; a real W of shape (H, H) is diagonalised as
W = P · diag(λ) · P⁻¹ (lessons.linear_rnn.eigendecompose). Complex results are complex128 unless said.
"""
from __future__ import annotations

import cmath
import math
from collections import Counter

import torch

from lessons.linear_rnn import check_recurrence_inputs, eigendecompose
from lessons.checks import require_positive_int, require_shape, require_tensor

DRAW_CAP = 1e6   # impulse responses are capped at this magnitude, so growing ones stay drawable


def rotation_matrix(r: float, theta: float) -> torch.Tensor:
    """r·R(θ) = r·[[cos θ, −sin θ], [sin θ, cos θ]]: rotate by θ and scale by r. Eigenvalues r·e^{±iθ}."""
    c, s = math.cos(theta), math.sin(theta)
    return r * torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def block_rotation_matrix(radii, angles) -> torch.Tensor:
    """Block-diagonal (2K, 2K) real matrix of K scaled rotations: K conjugate eigenvalue pairs r_k·e^{±iθ_k}."""
    if len(radii) != len(angles):
        raise ValueError(f"`radii` and `angles` must have the same length, got {len(radii)} and {len(angles)}.")
    return torch.block_diag(*[rotation_matrix(r, theta) for r, theta in zip(radii, angles, strict=True)])


def impulse_response(lam: complex, steps: int, cap: float = DRAW_CAP) -> tuple[torch.Tensor, bool]:
    """(λ⁰, λ¹, ..., λ^{steps−1}) as complex128, and whether any magnitude was capped at `cap`.

    Computed in polar form, |λ|ᵗ = exp(t·ln|λ|), so |λ| > 1 never overflows: magnitudes above `cap`
    are clipped to it (the phase stays exact), and the flag says so.
    """
    steps = require_positive_int("steps", steps)
    radius, angle = abs(lam), cmath.phase(lam)
    t = torch.arange(steps, dtype=torch.float64)
    if radius > 0:
        log_magnitude = t * math.log(radius)
    else:  # λ = 0 forgets at once: 1, 0, 0, ...
        log_magnitude = torch.where(t == 0, torch.zeros_like(t), torch.full_like(t, -math.inf))
    capped = bool((log_magnitude > math.log(cap)).any())
    magnitude = torch.exp(log_magnitude.clamp(max=math.log(cap)))
    return torch.polar(magnitude, t * angle), capped


def half_life(lam: complex) -> float:
    """Steps until |λ|ᵗ falls to one half: ln ½ / ln|λ|. Infinite for |λ| ≥ 1, which never forgets."""
    radius = abs(lam)
    if radius >= 1:
        return math.inf
    return 0.0 if radius == 0 else math.log(0.5) / math.log(radius)


def doubling_time(lam: complex) -> float:
    """Steps until |λ|ᵗ doubles: ln 2 / ln|λ| for |λ| > 1; infinite otherwise."""
    radius = abs(lam)
    return math.log(2) / math.log(radius) if radius > 1 else math.inf


def steps_per_turn(lam: complex) -> float:
    """Steps for one full turn of the spiral, 2π / |arg λ|; infinite for real λ ≥ 0 (no oscillation)."""
    angle = abs(cmath.phase(lam))
    return math.inf if angle == 0 else 2 * math.pi / angle


def linear_rnn_outputs_full(W: torch.Tensor, x: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """y_t = C h_t for the real recurrence h_t = W h_{t−1} + x_t, via all H complex eigen-coordinates.

    Shapes: W (H, H), x (B, T, H), C (O, H); returns (B, T, O) real.
    """
    _check_readout(W, x, C)
    P, eigenvalues, P_inv = eigendecompose(W)
    z = _eigen_states(eigenvalues, x.to(P.dtype) @ P_inv.T)            # (B, T, H) complex
    return (z @ (C.to(P.dtype) @ P).T).real


def linear_rnn_outputs_half(W: torch.Tensor, x: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """The same outputs from one eigenvalue of each conjugate pair: y = 2·Re(Σ_pairs ...) + Σ_real ...

    For a real W the partner of λ contributes the complex conjugate of λ's term, so the pair adds up to
    2·Re of one of them. mamba_ssm's `y.real * 2` is this, for a state made only of pairs.
    """
    _check_readout(W, x, C)
    P, eigenvalues, P_inv = eigendecompose(W)
    upper = eigenvalues.imag > 1e-12                                     # one of each pair
    real = eigenvalues.imag.abs() <= 1e-12                               # real eigenvalues count once
    weight = 2.0 * upper + 1.0 * real                                    # (H,), 0 for the dropped partners
    keep = weight > 0
    z = _eigen_states(eigenvalues[keep], x.to(P.dtype) @ P_inv[keep].T)  # (B, T, K): K < H states
    readout = (C.to(P.dtype) @ P[:, keep]) * weight[keep]                # (O, K)
    return (z @ readout.T).real


def _eigen_states(eigenvalues: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """z_t = λ ⊙ z_{t−1} + inputs_t from z_0 = 0, elementwise: inputs (B, T, K) -> (B, T, K)."""
    z = torch.zeros_like(inputs[:, 0])
    states = []
    for t in range(inputs.shape[1]):
        z = eigenvalues * z + inputs[:, t]
        states.append(z)
    return torch.stack(states, dim=1)


def _check_readout(W: torch.Tensor, x: torch.Tensor, C: torch.Tensor) -> None:
    """W (H, H) and x (B, T, H) as in lesson 02, and C (O, H)."""
    check_recurrence_inputs(W, x, None)
    require_tensor("C", C, ndim=2)
    require_shape("C", C, (None, W.shape[0]), meaning="(outputs, H) to read the state")


def hermitian_inverse_error(P: torch.Tensor) -> float:
    """‖Pᴴ − P⁻¹‖ / ‖P⁻¹‖: zero only when P is unitary (W normal, eigenvectors orthonormal)."""
    require_tensor("P", P, ndim=2)
    P_inv = torch.linalg.inv(P)
    return float((P.conj().T - P_inv).norm() / P_inv.norm())


# ---------------------------------------------------------------------------------------------
# Real 2×2 blocks or complex numbers: both scan, one costs less
# ---------------------------------------------------------------------------------------------
def block_combine(earlier, later):
    """(A₁, b₁) ∘ (A₂, b₂) = (A₂A₁, A₂b₁ + b₂) for a 2×2 real gate A (nested lists) and a 2-vector b.

    Lesson 04's combine with a matrix where the scalar gate was: associative, because matrix products are.
    """
    (A1, b1), (A2, b2) = earlier, later
    A = [[A2[i][0] * A1[0][j] + A2[i][1] * A1[1][j] for j in range(2)] for i in range(2)]
    b = [A2[i][0] * b1[0] + A2[i][1] * b1[1] + b2[i] for i in range(2)]
    return A, b


def complex_combine(earlier, later):
    """The same combine with a complex gate a and state b, each held as a (real, imaginary) pair."""
    (a1, b1), (a2, b2) = earlier, later
    carried = _complex_multiply(a2, b1)
    return _complex_multiply(a2, a1), (carried[0] + b2[0], carried[1] + b2[1])


def _complex_multiply(u, v):
    """(u_re + i·u_im)(v_re + i·v_im) in real arithmetic: 4 multiplies, 2 adds."""
    return u[0] * v[0] - u[1] * v[1], u[0] * v[1] + u[1] * v[0]


def rotation_block(lam: complex) -> list[list[float]]:
    """The real 2×2 block [[re, −im], [im, re]] that acts on (re, im) as multiplying by λ does."""
    return [[lam.real, -lam.imag], [lam.imag, lam.real]]


class Counted:
    """A real number that tallies every multiply and every add or subtract made with it in a shared Counter."""

    def __init__(self, value: float, tally: Counter):
        self.value, self.tally = value, tally

    def _operate(self, other, kind: str, fn) -> Counted:
        self.tally[kind] += 1
        return Counted(fn(self.value, other.value if isinstance(other, Counted) else other), self.tally)

    def __mul__(self, other):
        return self._operate(other, "multiplies", lambda a, b: a * b)

    def __add__(self, other):
        return self._operate(other, "adds", lambda a, b: a + b)

    def __sub__(self, other):
        return self._operate(other, "adds", lambda a, b: a - b)

    __rmul__, __radd__ = __mul__, __add__


def count_numbers(item) -> int:
    """How many real numbers a gate or state holds: the leaves of nested lists or tuples of floats."""
    return sum(count_numbers(part) for part in item) if isinstance(item, (list, tuple)) else 1


def count_operations(combine, earlier, later) -> Counter:
    """Run combine(earlier, later) on Counted numbers and return how many real multiplies and adds it made."""
    tally: Counter = Counter()

    def wrap(item):
        return [wrap(part) for part in item] if isinstance(item, (list, tuple)) else Counted(float(item), tally)

    combine(wrap(earlier), wrap(later))
    return tally
