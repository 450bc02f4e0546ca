"""Lesson 08: Mamba-2's state space duality (SSD). With a scalar decay per head, the scan is matrix multiplication.

Dao & Gu, *Transformers are SSMs* (ICML 2024, arXiv 2405.21060), Listing 1 (`ssd_minimal_discrete`). Per head,
with x_t the input already multiplied by Δ_t, a_t = Δ_t·A the log-decay (≤ 0 normally), B_t, C_t ∈ ℝᴺ:

    h_t = exp(a_t)·h_{t−1} + x_t B_tᵀ        (h_t is P × N)
    y_t = h_t C_t                            (y_t ∈ ℝᴾ)

Unrolled, y = M x with M[t, s] = exp(a_{s+1} + … + a_t)·C_tᵀB_s for s ≤ t and 0 above: M = L ∘ (C Bᵀ), where
L = exp(segsum(a)) is a 1-semiseparable mask. That is attention with a decaying causal mask instead of a softmax.

Shapes are mamba_ssm's, batch and time first: x (batch, L, heads, P), a (batch, L, heads), B and C
(batch, L, heads, N); the state h (batch, heads, P, N); y (batch, L, heads, P).

Read top to bottom: the recurrence (a loop), the segment sum and the matrix form, the chunked algorithm in four
steps, the counts (FLOPs and bytes), mamba_ssm's layer call, the family of linear recurrences, then validation.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from lessons.checks import require_positive_int, require_same_device, require_shape, require_tensor
from lessons.scan import linear_scan

# ---------------------------------------------------------------------------------------------
# Rung 1: the recurrence, a loop over time
# ---------------------------------------------------------------------------------------------


def ssd_loop(x, a, B, C, initial_state=None) -> tuple[torch.Tensor, torch.Tensor]:
    """h_t = exp(a_t)·h_{t−1} + x_t ⊗ B_t, y_t = h_t C_t, one step at a time: (y (batch, L, heads, P), h_L)."""
    x, a, B, C = _check_ssd_inputs(x, a, B, C)
    h = _initial_state(initial_state, x, B)                                        # (batch, heads, P, N)
    ys = []
    for t in range(x.shape[1]):
        h = torch.exp(a[:, t, :, None, None]) * h + x[:, t, :, :, None] * B[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", h, C[:, t]))                      # (batch, heads, P)
    return torch.stack(ys, dim=1), h


# ---------------------------------------------------------------------------------------------
# Rung 2: the matrix form y = M x, and the segment sum that builds its mask
# ---------------------------------------------------------------------------------------------


def segsum(a: torch.Tensor) -> torch.Tensor:
    """out[..., t, s] = a[s+1] + … + a[t] for s ≤ t (0 on the diagonal), −inf above: (..., T) -> (..., T, T).

    A masked cumulative sum down each column: every entry adds only the numbers it needs, so no two large
    partial sums are ever subtracted (compare `segsum_naive`)."""
    require_tensor("a", a, dtypes=REAL_DTYPES)
    length = a.shape[-1]
    ones = torch.ones(length, length, dtype=torch.bool, device=a.device)
    column = a[..., :, None].expand(*a.shape, length)                             # column[..., t, s] = a[t]
    sums = column.masked_fill(~ones.tril(-1), 0).cumsum(dim=-2)                   # Σ_{s < r ≤ t} a[r]
    return sums.masked_fill(~ones.tril(0), -math.inf)                             # −inf above the diagonal


def segsum_naive(a: torch.Tensor) -> torch.Tensor:
    """The same as `segsum`, as cumsum[t] − cumsum[s]: two large numbers subtracted, so precision is lost
    (and inf − inf = NaN once a cumulative sum overflows). Kept to show why `segsum` is written as it is."""
    require_tensor("a", a, dtypes=REAL_DTYPES)
    length = a.shape[-1]
    total = a.cumsum(dim=-1)                                                      # (..., T)
    below = torch.ones(length, length, dtype=torch.bool, device=a.device).tril(0)
    return (total[..., :, None] - total[..., None, :]).masked_fill(~below, -math.inf)


def ssd_matrix(a, B, C) -> torch.Tensor:
    """M (batch, heads, L, L) with M[t, s] = exp(a_{s+1} + … + a_t)·C_t·B_s for s ≤ t, 0 above: M = L ∘ (C Bᵀ)."""
    _check_sequences(a=a, B=B, C=C)
    decay = torch.exp(segsum(a.transpose(1, 2)))                                  # (batch, heads, L, L): L
    return decay * torch.einsum("bthn,bshn->bhts", C, B)                          # L ∘ (C Bᵀ)


def ssd_quadratic(x, a, B, C) -> torch.Tensor:
    """y = M x (batch, L, heads, P): the attention-like form, quadratic in L, zero initial state."""
    x, a, B, C = _check_ssd_inputs(x, a, B, C)
    return torch.einsum("bhts,bshp->bthp", ssd_matrix(a, B, C), x)


# ---------------------------------------------------------------------------------------------
# Rung 3: the chunked algorithm. Split L into chunks of Q steps; then four steps, three of them matmuls.
# Inside this section tensors are chunked: x (b, c, Q, h, P), a (b, h, c, Q), B and C (b, c, Q, h, N).
# ---------------------------------------------------------------------------------------------


def diagonal_blocks(x, a, B, C) -> torch.Tensor:
    """Step 1, within each chunk: y_diag = (L ∘ C Bᵀ) x, the quadratic form on a Q × Q block. (b, c, Q, h, P)."""
    decay = torch.exp(segsum(a))                                                  # (b, h, c, Q, Q)
    scores = torch.einsum("bclhn,bcshn->bhcls", C, B) * decay                     # matmul, then the mask
    return torch.einsum("bhcls,bcshp->bclhp", scores, x)                          # matmul


def chunk_states(x, a, B) -> torch.Tensor:
    """Step 2, each chunk's final state from zero: Σ_s exp(a_{s+1} + … + a_{Q−1})·x_s B_sᵀ. (b, c, h, P, N)."""
    later = F.pad(a[..., 1:], (0, 1))                                             # a_{s+1}, 0 after the last
    to_end = later.flip(-1).cumsum(-1).flip(-1)                                   # a_{s+1} + … + a_{Q−1}, (b, h, c, Q)
    weighted_B = B * torch.exp(to_end).permute(0, 2, 3, 1)[..., None]            # (b, c, Q, h, N)
    return torch.einsum("bclhp,bclhn->bchpn", x, weighted_B)                      # matmul over the Q steps


def carry_states(states, a, initial_state) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3, a lesson-04 scan over chunks: H_c = exp(a_c,0 + … + a_c,Q−1)·H_{c−1} + S_c.

    states (b, c, h, P, N), initial_state (b, h, P, N). Returns the state entering each chunk (b, c, h, P, N)
    and the final state (b, h, P, N)."""
    chunk_decay = torch.exp(a.sum(-1)).transpose(1, 2)[..., None, None]          # (b, c, h, 1, 1)
    after = linear_scan(chunk_decay.expand_as(states), states, dim=1, h0=initial_state)   # (b, c, h, P, N)
    entering = torch.cat([initial_state[:, None], after[:, :-1]], dim=1)
    return entering, after[:, -1]


def off_diagonal(a, C, entering) -> torch.Tensor:
    """Step 4, what the carried state adds: y_off[l] = exp(a_0 + … + a_l)·H_in C_l. (b, c, Q, h, P)."""
    from_start = torch.exp(a.cumsum(-1)).permute(0, 2, 3, 1)[..., None]          # (b, c, Q, h, 1)
    return torch.einsum("bclhn,bchpn->bclhp", C, entering) * from_start           # matmul, then the decay


class SSDTerms(NamedTuple):
    """The four pieces of the chunked algorithm; y = y_diag + y_off."""

    y_diag: torch.Tensor            # (batch, L, heads, P) step 1: within-chunk output
    chunk_states: torch.Tensor      # (batch, chunks, heads, P, N) step 2: each chunk's state from zero
    carried_states: torch.Tensor    # (batch, chunks, heads, P, N) step 3: the true state entering each chunk
    y_off: torch.Tensor             # (batch, L, heads, P) step 4: the carried state's contribution


def ssd_terms(x, a, B, C, chunk_size: int = 64, initial_state=None) -> SSDTerms:
    """The four steps of `ssd`, kept apart (for the explorer and the scene)."""
    return _chunked(x, a, B, C, chunk_size, initial_state)[0]


def ssd(x, a, B, C, chunk_size: int = 64, initial_state=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The chunked SSD algorithm (Listing 1 of Dao & Gu 2024), any L: (y (batch, L, heads, P), h_L (b, h, P, N)).

    initial_state is (batch, heads, P, N), Listing 1's (batch, 1, heads, P, N), or None (zeros)."""
    terms, final_state = _chunked(x, a, B, C, chunk_size, initial_state)
    return terms.y_diag + terms.y_off, final_state


def _chunked(x, a, B, C, chunk_size, initial_state) -> tuple[SSDTerms, torch.Tensor]:
    """Pad L to whole chunks (a = 0, x = B = C = 0 leave the state alone), run the four steps, drop the padding."""
    x, a, B, C = _check_ssd_inputs(x, a, B, C)
    chunk_size = require_positive_int("chunk_size", chunk_size)
    h0 = _initial_state(initial_state, x, B)                                      # (b, h, P, N)
    length = x.shape[1]
    chunks = -(-length // chunk_size)
    pad = chunks * chunk_size - length
    x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)).unflatten(1, (chunks, chunk_size)) for t in (x, B, C))
    a = F.pad(a, (0, 0, 0, pad)).unflatten(1, (chunks, chunk_size)).permute(0, 3, 1, 2)   # (b, h, c, Q)
    y_diag = diagonal_blocks(x, a, B, C)
    states = chunk_states(x, a, B)
    entering, final_state = carry_states(states, a, h0)
    y_off = off_diagonal(a, C, entering)
    unchunk = lambda y: y.flatten(1, 2)[:, :length]                               # noqa: E731
    return SSDTerms(unchunk(y_diag), states, entering, unchunk(y_off)), final_state


# ---------------------------------------------------------------------------------------------
# Validation: every error names the argument and the shape it expected (built on lessons.checks)
# ---------------------------------------------------------------------------------------------
REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_sequences(**tensors) -> None:
    """Each of x, a, B, C (those given) is a real tensor of the right rank, on one device, sharing (batch, L, heads)."""
    ranks = {"x": 4, "a": 3, "B": 4, "C": 4, "dt": 3, "z": 4}
    meanings = {"x": "(batch, L, heads, P)", "a": "(batch, L, heads)", "B": "(batch, L, heads, N)",
                "C": "(batch, L, heads, N)"}
    first_name, first = next(iter(tensors.items()))
    require_tensor(first_name, first, ndim=ranks[first_name], dtypes=REAL_DTYPES)
    if first.shape[1] < 1:
        raise ValueError(f"`{first_name}` must have at least one time step (L ≥ 1), got shape {tuple(first.shape)}.")
    lead = tuple(first.shape[:3])
    for name, value in tensors.items():
        require_tensor(name, value, ndim=ranks[name], dtypes=REAL_DTYPES)
        require_same_device(name, value, first_name, first)
        expected = lead + (None,) * (ranks[name] - 3)
        require_shape(name, value, expected, meaning=meanings.get(name, ""))


def _check_ssd_inputs(x, a, B, C) -> tuple[torch.Tensor, ...]:
    """Check the shapes of x, a, B, C (B and C sharing N); return them in one common floating dtype."""
    _check_sequences(x=x, a=a, B=B, C=C)
    require_shape("C", C, tuple(B.shape), meaning="B's shape (batch, L, heads, N)")
    dtype = torch.promote_types(torch.promote_types(x.dtype, a.dtype), torch.promote_types(B.dtype, C.dtype))
    return tuple(t.to(dtype) for t in (x, a, B, C))


def _initial_state(initial_state, x: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """initial_state as (batch, heads, P, N) in x's dtype: zeros if None; Listing 1's (batch, 1, heads, P, N) too."""
    batch, _, heads, head_dim = x.shape
    expected = (batch, heads, head_dim, B.shape[-1])
    if initial_state is None:
        return x.new_zeros(expected)
    require_tensor("initial_state", initial_state, dtypes=REAL_DTYPES)
    require_same_device("initial_state", initial_state, "x", x)
    if initial_state.ndim == 5:
        require_shape("initial_state", initial_state, (batch, 1, heads, head_dim, B.shape[-1]),
                      meaning="(batch, 1, heads, P, N) as in Listing 1, or (batch, heads, P, N)")
        initial_state = initial_state[:, 0]
    require_shape("initial_state", initial_state, expected, meaning="(batch, heads, P, N)")
    return initial_state.to(x.dtype)
