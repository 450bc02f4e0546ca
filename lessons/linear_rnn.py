"""Lesson 02: linear RNNs, their closed form, and computing them in the eigenbasis.

The recurrence is h_t = W h_{t-1} + x_t for t = 1..T. Shapes are batch-first: x is (B, T, H), W is (H, H),
h0 is (B, H), and every function returns all states h_1..h_T as (B, T, H).

Naming, kept consistent everywhere: W = P · diag(λ) · P⁻¹. P⁻¹ takes a vector *into* the eigenbasis,
diag(λ) acts elementwise there, and P takes it back *out*.
"""
from __future__ import annotations

import torch

from lessons.checks import require_shape, require_tensor


def check_recurrence_inputs(W: torch.Tensor, x: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """Validate W (H, H), x (B, T, H), h0 (B, H) or None; return h0 (zeros if None)."""
    require_tensor("W", W, ndim=2)
    require_tensor("x", x, ndim=3)
    require_shape("W", W, (W.shape[0], W.shape[0]), meaning="square (H, H)")
    require_shape("x", x, (None, None, W.shape[0]), meaning="(batch, time, H) to match W")
    if h0 is None:
        return x.new_zeros(x.shape[0], x.shape[-1])
    require_tensor("h0", h0, ndim=2)
    return require_shape("h0", h0, (x.shape[0], x.shape[-1]), meaning="(batch, H)")


def linear_rnn_loop(W: torch.Tensor, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Rung 1, the loop: h_t = W h_{t-1} + x_t, one step after another. Returns (B, T, H)."""
    h = check_recurrence_inputs(W, x, h0)
    states = []
    for t in range(x.shape[1]):
        h = h @ W.T + x[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def linear_rnn_powers(W: torch.Tensor, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Rung 2, the closed form with explicit powers: h_t = Wᵗ h_0 + Σ_{k=1..t} W^{t-k} x_k. Returns (B, T, H)."""
    h0 = check_recurrence_inputs(W, x, h0)
    T = x.shape[1]
    powers = torch.stack([torch.linalg.matrix_power(W, p) for p in range(T + 1)])   # (T+1, H, H): W⁰..Wᵀ
    states = []
    for t in range(1, T + 1):
        h = h0 @ powers[t].T
        for k in range(1, t + 1):       # every input, carried forward by its own power of W
            h = h + x[:, k - 1] @ powers[t - k].T
        states.append(h)
    return torch.stack(states, dim=1)


def eigendecompose(W: torch.Tensor):
    """(P, λ, P⁻¹) with W = P · diag(λ) · P⁻¹; complex64 for float32 W, complex128 for float64 W."""
    require_tensor("W", W, ndim=2)
    require_shape("W", W, (W.shape[0], W.shape[0]), meaning="square (H, H)")
    eigenvalues, P = torch.linalg.eig(W)        # columns of P are eigenvectors
    return P, eigenvalues, torch.linalg.inv(P)


def linear_rnn_eigenbasis(W: torch.Tensor, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Rung 3, elementwise in the eigenbasis: z_t = λ ⊙ z_{t-1} + P⁻¹x_t, then h_t = P z_t. Returns (B, T, H).

    The computation is complex; for real W and x the imaginary parts cancel, and the real part is returned.
    """
    h0 = check_recurrence_inputs(W, x, h0)
    P, eigenvalues, P_inv = eigendecompose(W)
    z = h0.to(P.dtype) @ P_inv.T                 # into the eigenbasis: (B, H)
    inputs = x.to(P.dtype) @ P_inv.T             # every input into the eigenbasis at once: (B, T, H)
    states = []
    for t in range(x.shape[1]):                  # H independent scalar recurrences: no matrix product
        z = eigenvalues * z + inputs[:, t]
        states.append(z)
    out = torch.stack(states, dim=1) @ P.T       # back out of the eigenbasis: (B, T, H)
    return out.real if not (W.is_complex() or x.is_complex()) else out


def matrix_power_via_eigenbasis(W: torch.Tensor, n: int) -> torch.Tensor:
    """Wⁿ = P · diag(λⁿ) · P⁻¹: n scalar powers instead of n matrix products (real part for real W)."""
    P, eigenvalues, P_inv = eigendecompose(W)
    power = P @ torch.diag(eigenvalues**n) @ P_inv
    return power if W.is_complex() else power.real


def worked_2x2_example(n: int = 5) -> dict:
    """Every number of the lesson's worked example, W = [[0.8, 0.3], [0.2, 0.7]], computed, not typed."""
    W = torch.tensor([[0.8, 0.3], [0.2, 0.7]], dtype=torch.float64)
    P, eigenvalues, P_inv = eigendecompose(W)
    order = torch.argsort(eigenvalues.real, descending=True)          # λ₁ = 1.0 first, then λ₂ = 0.5
    P, eigenvalues, P_inv = P[:, order], eigenvalues[order], P_inv[order, :]
    return {"W": W, "eigenvalues": eigenvalues.real, "P": P.real, "P_inv": P_inv.real,
            "n": n, "W^n (matrix_power)": torch.linalg.matrix_power(W, n),
            "W^n (P diag(λ^n) P^-1)": (P @ torch.diag(eigenvalues**n) @ P_inv).real}


# ---------------------------------------------------------------------------------------------
# Why the nonlinearity between layers matters
# ---------------------------------------------------------------------------------------------
def stacked_linear_rnn(x: torch.Tensor, weights: list[torch.Tensor], nonlinearity=None) -> torch.Tensor:
    """Linear recurrences stacked as layers, with an optional per-token nonlinearity between them: (B, T, H)."""
    h = x
    for layer, W in enumerate(weights):
        h = linear_rnn_loop(W, h)
        if nonlinearity is not None and layer < len(weights) - 1:
            h = nonlinearity(h)       # acts on each token separately: no mixing over time
    return h


def superposition_defect(model, x1: torch.Tensor, x2: torch.Tensor) -> float:
    """‖f(x1 + x2) − f(x1) − f(x2)‖ / ‖f(x1 + x2)‖: zero for any linear f, clearly not for a nonlinear one."""
    together = model(x1 + x2)
    return float((together - model(x1) - model(x2)).norm() / together.norm())


# ---------------------------------------------------------------------------------------------
# Why not the SVD, and what about matrices that don't diagonalise
# ---------------------------------------------------------------------------------------------
def is_normal(W: torch.Tensor, tolerance: float = 1e-10) -> bool:
    """W is normal when W Wᴴ = Wᴴ W (symmetric, orthogonal and rotation matrices are)."""
    Wh = W.conj().T
    return bool(torch.allclose(W @ Wh, Wh @ W, atol=tolerance))


def svd_square_error(W: torch.Tensor) -> dict:
    """Try W² ≈ U S² Vᵀ, as if the SVD diagonalised W, and show why it doesn't: W² = U S (VᵀU) S Vᵀ.

    Returns U, S, Vᵀ, the matrix VᵀU, how far it is from diagonal (relative off-diagonal norm), and the
    relative error of the naive U S² Vᵀ. For a normal W with distinct singular values, VᵀU is diagonal (±1 or
    phases; exactly I for a symmetric positive semi-definite W), so powers stay elementwise; for a
    non-normal W it mixes every direction, and Wⁿ needs n full matrix products again.
    """
    U, S, Vh = torch.linalg.svd(W)
    VhU = Vh @ U
    off_diagonal = float((VhU - torch.diag(torch.diagonal(VhU))).norm() / VhU.norm())
    naive = U @ torch.diag(S**2) @ Vh
    error = float((W @ W - naive).norm() / (W @ W).norm())
    return {"U": U, "S": S, "Vh": Vh, "VhU": VhU, "off-diagonal": off_diagonal, "relative error": error}


def jordan_block(eigenvalue: float, size: int = 2) -> torch.Tensor:
    """The defective (size, size) matrix with `eigenvalue` on the diagonal and ones just above it."""
    return eigenvalue * torch.eye(size, dtype=torch.float64) + torch.diag(torch.ones(size - 1, dtype=torch.float64), 1)


def perturbed_jordan_conditioning(eigenvalue: float, epsilons) -> list[tuple[float, float, float]]:
    """(ε, eigenvalue gap, cond(P)) for a 2×2 Jordan block with ε added below the diagonal.

    Any ε ≠ 0 splits the double eigenvalue (gap 2√ε), so the matrix diagonalises, but P is nearly singular:
    its condition number grows like 1/√ε. Diagonalisable matrices are dense; well-conditioned ones are not.
    """
    rows = []
    for eps in epsilons:
        W = jordan_block(eigenvalue)
        W[1, 0] = eps
        P, eigenvalues, _ = eigendecompose(W)
        rows.append((eps, float((eigenvalues[0] - eigenvalues[1]).abs()), float(torch.linalg.cond(P))))
    return rows
