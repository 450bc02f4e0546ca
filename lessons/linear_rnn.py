"""Lesson 02: linear RNNs, their closed form, and computing them in the eigenbasis.

The recurrence is h_t = W h_{t-1} + x_t for t = 1..T. Shapes are batch-first: x is (B, T, H), W is (H, H),
h0 is (B, H), and every function returns all states h_1..h_T as (B, T, H).

Naming, kept consistent everywhere: W = P · diag(λ) · P⁻¹. P⁻¹ takes a vector *into* the eigenbasis,
diag(λ) acts elementwise there, and P takes it back *out*.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import nn

from lessons.checks import require_positive_int, require_shape, require_tensor

DEFECTIVE_CONDITION = 1e12   # cond(P) above this: the eigenvectors are numerically dependent, W is defective


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


def integer_eigenvectors(P: torch.Tensor) -> torch.Tensor:
    """Each real column of P rescaled to the smallest whole numbers, as one writes eigenvectors by hand."""
    columns = []
    for v in P.real.T.tolist():
        smallest = min(abs(entry) for entry in v if abs(entry) > 1e-12)
        ratios = [Fraction(entry / smallest).limit_denominator(100) for entry in v]
        scale = math.lcm(*(ratio.denominator for ratio in ratios))
        columns.append([float(ratio * scale) for ratio in ratios])
    return torch.tensor(columns, dtype=P.real.dtype).T


def worked_2x2_example(n: int = 5) -> dict:
    """Every number of the lesson's worked example, W = [[0.8, 0.3], [0.2, 0.7]], computed, not typed."""
    W = torch.tensor([[0.8, 0.3], [0.2, 0.7]], dtype=torch.float64)
    P, eigenvalues, P_inv = eigendecompose(W)
    order = torch.argsort(eigenvalues.real, descending=True)          # λ₁ = 1.0 first, then λ₂ = 0.5
    P, eigenvalues, P_inv = P[:, order].real, eigenvalues[order].real, P_inv[order, :].real
    return {"W": W, "eigenvalues": eigenvalues, "P": P, "P_inv": P_inv,
            "n": n, "W^n (matrix_power)": torch.linalg.matrix_power(W, n),
            "W^n (P diag(λ^n) P^-1)": P @ torch.diag(eigenvalues**n) @ P_inv}


def worked_example_slips(n: int = 5) -> dict[str, torch.Tensor]:
    """Wⁿ for the worked example done right, and with each slip a hand calculation makes, by name.

    Every entry is a (2, 2) float64 matrix from the same Λ and P, its eigenvectors in whole numbers as on paper
    (the slips' results depend on that scaling; the right answer does not). Only the right
    one gives back W at n = 1, which is the check to make by hand.
    """
    example = worked_2x2_example(n)
    P = integer_eigenvectors(example["P"])                              # (3, 2) and (−1, 1), as by hand
    P_inv, power = torch.linalg.inv(P), torch.diag(example["eigenvalues"] ** n)
    return {"right: P Λⁿ P⁻¹": P @ power @ P_inv,
            "swapped: P⁻¹ Λⁿ P": P_inv @ power @ P,
            "P where P⁻¹ belongs: P Λⁿ P": P @ power @ P,
            "wrong order: P P⁻¹ Λⁿ (= Λⁿ)": P @ P_inv @ power,
            "eigenvectors as rows: Pᵀ Λⁿ (Pᵀ)⁻¹": P.T @ power @ torch.linalg.inv(P.T)}


# ---------------------------------------------------------------------------------------------
# What the eigenvalues decide (the long run) and what they don't (the way there)
# ---------------------------------------------------------------------------------------------
def spectral_radius(W: torch.Tensor) -> float:
    """max |λ| over the eigenvalues of W (H, H)."""
    return float(torch.linalg.eigvals(W).abs().max())


def eigenvector_condition(W: torch.Tensor) -> float:
    """cond(P) = σ_max(P) / σ_min(P) for W = P Λ P⁻¹ with unit eigenvectors; inf when W is defective.

    1 for a normal W (orthonormal eigenvectors); large when eigenvectors are nearly parallel. It bounds the
    transient: ‖Wⁿ‖₂ ≤ cond(P) · max|λ|ⁿ for every n.
    """
    P, _, _ = eigendecompose(W)
    condition = float(torch.linalg.cond(P))
    return math.inf if condition > DEFECTIVE_CONDITION else condition


def long_run(W: torch.Tensor, tolerance: float = 1e-9) -> str:
    """What ‖Wⁿx‖ does as n → ∞, from the eigenvalues alone, for a generic x.

    |λ| < 1 for all: decays to 0 (even when W is defective or non-normal: λⁿ beats any power of n). Some
    |λ| > 1: grows. Largest |λ| = 1: bounded, unless the eigenvalues on the unit circle are defective (a Jordan
    block), whose Wⁿ holds a term n·λⁿ⁻¹ that grows like n.
    """
    P, eigenvalues, _ = eigendecompose(W)
    radius = float(eigenvalues.abs().max())
    if radius < 1 - tolerance:
        return "decays to 0"
    if radius > 1 + tolerance:
        return "grows without bound"
    on_circle = P[:, eigenvalues.abs() > 1 - tolerance]                     # (H, k) their eigenvectors
    if float(torch.linalg.cond(on_circle)) > DEFECTIVE_CONDITION:
        return "grows without bound, like n (a defective eigenvalue with |λ| = 1)"
    return "stays bounded, neither decays nor grows"


def orbit(W: torch.Tensor, x: torch.Tensor, steps: int) -> torch.Tensor:
    """x, Wx, W²x, ..., W^steps x as a (steps + 1, H) tensor, for W (H, H) and x (H,)."""
    points = [x]
    for _ in range(require_positive_int("steps", steps)):
        points.append(W @ points[-1])
    return torch.stack(points)


PEAK_RTOL = 1e-9   # norms this close (relative) to the largest count as the peak: a plateau is not noise


def peak_growth(norms: torch.Tensor) -> tuple[float, int]:
    """(largest ‖Wⁿx‖ / ‖x‖, the first n within PEAK_RTOL of it) from the norms ‖W⁰x‖, ‖W¹x‖, ... (steps + 1,).

    The first n within round-off, not argmax: on a curve rising to a limit, argmax lands on float noise.
    """
    largest = norms.max()
    n = int((norms >= largest * (1 - PEAK_RTOL)).nonzero()[0])
    return float(largest / norms[0]), n


def peak_is_a_limit(norms: torch.Tensor) -> bool:
    """True when the norms (steps + 1,) level off at their largest value: reached before the end and held to it."""
    _, n = peak_growth(norms)
    return n < len(norms) - 1 and bool(norms[-1] >= norms.max() * (1 - PEAK_RTOL))


def power_norms(W: torch.Tensor, steps: int) -> torch.Tensor:
    """‖Wⁿ‖₂ (largest singular value: the worst-case growth of any x) for n = 0..steps, as (steps + 1,)."""
    powers = [torch.eye(W.shape[0], dtype=W.dtype)]
    for _ in range(require_positive_int("steps", steps)):
        powers.append(W @ powers[-1])
    return torch.linalg.matrix_norm(torch.stack(powers), ord=2)


# ---------------------------------------------------------------------------------------------
# Learn Λ, B and C directly, and the closed form as a convolution
# ---------------------------------------------------------------------------------------------
def diagonal_rnn(lam: torch.Tensor, B: torch.Tensor, C: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """z_t = λ ⊙ z_{t−1} + B x_t from z_0 = 0, y_t = C z_t: lam (N,), B (N, I), C (O, N), x (batch, T, I).

    Returns y (batch, T, O). One step costs N multiplies for λ ⊙ z: the eigenbasis recurrence of section 3 with
    B in P⁻¹'s role and C in P's.
    """
    require_tensor("x", x, ndim=3)
    require_shape("B", B, (lam.shape[0], x.shape[-1]), meaning="(N, inputs) to match lam (N,) and x")
    require_shape("C", C, (None, lam.shape[0]), meaning="(outputs, N) to read the state")
    z = x.new_zeros(x.shape[0], lam.shape[0], dtype=torch.promote_types(x.dtype, lam.dtype))   # (batch, N)
    inputs = x.to(z.dtype) @ B.to(z.dtype).T                                  # (batch, T, N)
    states = []
    for t in range(x.shape[1]):
        z = lam * z + inputs[:, t]
        states.append(z)
    return torch.stack(states, dim=1) @ C.to(z.dtype).T


def diagonal_rnn_kernel(lam: torch.Tensor, B: torch.Tensor, C: torch.Tensor, length: int) -> torch.Tensor:
    """The impulse response K_k = C · diag(λᵏ) · B for k = 0..length−1, as (length, O, I)."""
    k = torch.arange(require_positive_int("length", length), dtype=lam.real.dtype)
    powers = lam[None, :] ** k[:, None]                                       # (length, N): λᵏ
    return torch.einsum("on,kn,ni->koi", C.to(powers.dtype), powers, B.to(powers.dtype))


def dense_rnn_kernel(W: torch.Tensor, B: torch.Tensor, C: torch.Tensor, length: int) -> torch.Tensor:
    """The same for a dense W (H, H): K_k = C Wᵏ B with B (H, I), C (O, H), as (length, O, I)."""
    kernel, power = [], torch.eye(W.shape[0], dtype=W.dtype)
    for _ in range(require_positive_int("length", length)):
        kernel.append(C @ power @ B)
        power = W @ power
    return torch.stack(kernel)


def causal_convolution(K: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y_t = Σ_{k=0..t} K_k x_{t−k}, all t at once by FFT: K (T, O, I), x (batch, T, I) -> (batch, T, O).

    This is the closed form of any linear time-invariant recurrence: no loop over t, O(T log T) per channel.
    """
    require_tensor("x", x, ndim=3)
    require_shape("K", K, (x.shape[1], None, x.shape[2]), meaning="(T, outputs, inputs) to match x (batch, T, I)")
    T = x.shape[1]
    spectrum = torch.einsum("foi,bfi->bfo", torch.fft.fft(K, n=2 * T, dim=0), torch.fft.fft(x, n=2 * T, dim=1))
    y = torch.fft.ifft(spectrum, dim=1)[:, :T]                               # zero padding: no wrap-around
    return y if (K.is_complex() or x.is_complex()) else y.real


class DiagonalLinearRNN(nn.Module):
    """Learn Λ, B and C directly: z_t = λ ⊙ z_{t−1} + B x_t, y_t = C z_t, with λ = sigmoid(ν) in (0, 1).

    No W and no eigendecomposition: the model is born diagonal. (Lesson 05 gives λ a better parameterisation.)
    """

    def __init__(self, state_size: int, inputs: int = 1, outputs: int = 1, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.nu = nn.Parameter(torch.linspace(-1.0, 3.0, state_size, dtype=torch.float64))   # λ from 0.27 to 0.95
        self.B = nn.Parameter(torch.randn(state_size, inputs, generator=g, dtype=torch.float64) / inputs**0.5)
        self.C = nn.Parameter(torch.randn(outputs, state_size, generator=g, dtype=torch.float64) / state_size**0.5)

    @property
    def lam(self) -> torch.Tensor:
        """The N eigenvalues, (N,), each in (0, 1)."""
        return torch.sigmoid(self.nu)

    def kernel(self, length: int) -> torch.Tensor:
        """Impulse response (length, O, I)."""
        return diagonal_rnn_kernel(self.lam, self.B, self.C, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y (batch, T, O) for x (batch, T, I), through the convolution (the recurrence gives the same)."""
        return causal_convolution(self.kernel(x.shape[1]), x)


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


def nudged_jordan_eigenvalues(eigenvalue: float, size: int = 4, scale: float = 1e-8, seed: int = 0) -> torch.Tensor:
    """Eigenvalues (size,) of a (size, size) Jordan block plus a random matrix with entries N(0, scale²).

    The block has one eigenvalue, `size` times over; almost every nudge splits it into `size` distinct ones, about
    scale^(1/size) apart, so the nudged matrix diagonalises.
    """
    g = torch.Generator().manual_seed(seed)
    nudge = torch.randn(size, size, generator=g, dtype=torch.float64) * scale
    return torch.linalg.eigvals(jordan_block(eigenvalue, size) + nudge)


def smallest_gap(values: torch.Tensor) -> float:
    """min |values_i − values_j| over i ≠ j, for a (k,) tensor of (complex) numbers."""
    gaps = (values[:, None] - values[None, :]).abs()
    return float(gaps[~torch.eye(len(values), dtype=torch.bool)].min())


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
