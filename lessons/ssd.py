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

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F

from lessons.checks import require_bool, require_positive_int, require_same_device, require_shape, require_tensor
from lessons.lru import lru_eigenvalues, lru_gamma, ring_init
from lessons.memory_traffic import FLOPS_PER_STATE_ELEMENT
from lessons.scan import linear_scan
from lessons.ssm import a_log_init, discretise_euler, discretise_zoh, prepare_delta
from lessons.utils import MarkdownTable, markdown_table

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
    _, a, B, C = _check_ssd_inputs(None, a, B, C)
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
# Counting: FLOPs (matmul on tensor cores, the rest on the ordinary ALUs) and the least HBM bytes
# Conventions: one FLOP per add, multiply or exp; a product (m×k)(k×n) is 2·m·n·k; a cumulative sum of n
# numbers is n adds; the causal blocks are counted in full (as a dense tl.dot computes them).
# ---------------------------------------------------------------------------------------------


def ssd_flops(batch: int, length: int, heads: int, head_dim: int, state: int, chunk_size: int,
              groups: int | None = None) -> dict:
    """FLOPs of `ssd`'s four steps, each {"matmul": …, "other": …}, and their "total", read off its einsums.

    L is padded to whole chunks (c = ⌈L/Q⌉), as `ssd` does. Per chunk and head (Q steps, P = head_dim, N = state):
    step 1: C Bᵀ (Q×N)(N×Q) and (L ∘ C Bᵀ) X (Q×Q)(Q×P); the segment sums, their exps and the mask (3·Q²).
    step 2: Xᵀ (B scaled by the decay to the chunk's end) (P×Q)(Q×N); the reverse cumsum, exps, scaling (Q·(N+2)).
    step 3: the chunk's total log-decay (Q), its exp (1), one scan step H = g·H + S (2·P·N). No matmul.
    step 4: C Hᵀ (Q×N)(N×P); cumsum and exp (2·Q), the decay (Q·P), adding y_diag (Q·P).
    `groups` G: heads that share one B and C (Mamba-2's ngroups; None: every head its own, G = heads, as `ssd`
    computes it). C Bᵀ is then computed once per group, not once per head; every other product stays per head.
    """
    b, L, h, p, n, q = _check_sizes(batch=batch, length=length, heads=heads, head_dim=head_dim, state=state,
                                    chunk_size=chunk_size)
    g = h if groups is None else _check_groups(groups, h)
    per_chunk = {"diagonal_blocks": (2 * q * q * p, 3 * q * q),                  # per head; C Bᵀ added below
                 "chunk_states": (2 * p * q * n, q * (n + 2)),
                 "carry_states": (0, q + 1 + 2 * p * n),
                 "off_diagonal": (2 * q * n * p, 2 * q + 2 * q * p)}
    chunks = b * -(-L // q)                                                       # (batch, chunks)
    steps = {name: {"matmul": chunks * h * mm, "other": chunks * h * other} for name, (mm, other) in per_chunk.items()}
    steps["diagonal_blocks"]["matmul"] += chunks * g * 2 * q * q * n              # C Bᵀ, once per group
    steps["total"] = {kind: sum(step[kind] for step in steps.values()) for kind in ("matmul", "other")}
    return steps


def _check_groups(groups: int, heads: int) -> int:
    """groups must be a positive int dividing heads (each group is heads / groups whole heads)."""
    (groups,) = _check_sizes(groups=groups)
    if heads % groups:
        raise ValueError(f"groups must divide heads: got groups = {groups} for heads = {heads}")
    return groups


def diagonal_block_crossover(head_dim: int, state: int, heads: int = 1, groups: int | None = None) -> float:
    """The chunk size Q at which the diagonal blocks' matmul FLOPs per token and head, 2QP + 2QN·G/H, equal the
    state products' 4PN (steps 2 and 4): Q = 2PN / (P + N·G/H)."""
    share = 1.0 if groups is None else _check_groups(groups, heads) / heads
    return 2 * head_dim * state / (head_dim + state * share)


def selective_scan_flops(batch: int, dim: int, length: int, state: int) -> dict:
    """FLOPs of Mamba-1's selective scan (lesson 06), {"matmul": 0, "other": …}: diagonal A admits no matmul.

    Per (batch, channel, step, state index): exp(Δ·A) (1), Δ·u·B (2), Ā·h + B̄u (2), C·h accumulated (2):
    lessons.memory_traffic.FLOPS_PER_STATE_ELEMENT = 7, none of it a matrix product."""
    b, d, L, n = _check_sizes(batch=batch, dim=dim, length=length, state=state)
    return {"matmul": 0, "other": FLOPS_PER_STATE_ELEMENT * b * d * L * n}


def flop_table(batch: int, length: int, heads: int, head_dim: int, state: int, chunk_size: int,
               mamba1_state: int = 16, groups: int | None = None) -> MarkdownTable:
    """SSD's steps (matmul FLOPs run on tensor cores, the rest does not) next to Mamba-1's selective scan at the
    same d_inner = heads·head_dim with state `mamba1_state`, all in GFLOP; `groups` as in `ssd_flops`."""
    steps = ssd_flops(batch, length, heads, head_dim, state, chunk_size, groups)
    mamba1 = selective_scan_flops(batch, heads * head_dim, length, mamba1_state)
    rows = [(f"SSD {name.replace('_', ' ')}", step["matmul"] / 1e9, step["other"] / 1e9)
            for name, step in steps.items()]
    rows.append((f"Mamba-1 selective scan (N = {mamba1_state})", mamba1["matmul"] / 1e9, mamba1["other"] / 1e9))
    return markdown_table(rows, ["step", "matmul GFLOP (tensor cores)", "other GFLOP"], ".3g")


def ssd_bytes(batch: int, length: int, heads: int, head_dim: int, state: int, chunk_size: int,
              element_bytes: int = 2, state_bytes: int = 4, groups: int | None = None, gated: bool = False) -> dict:
    """The least HBM bytes of one SSD forward: read x, a, B, C once (and the gate z when `gated`), write y once
    ("fused"), and what a multi-kernel SSD adds by writing the chunk states (float32) and reading them back
    ("chunk_states").

    element_bytes: 2 for bf16/fp16 inputs, 4 for float32. `groups` G: B and C are (batch, L, G, N), shared by the
    heads of a group (None: one per head). Returns {"inputs", "outputs", "chunk_states", "fused", "unfused"}."""
    b, L, h, p, n, q = _check_sizes(batch=batch, length=length, heads=heads, head_dim=head_dim, state=state,
                                    chunk_size=chunk_size)
    element_bytes, state_bytes = _check_sizes(element_bytes=element_bytes, state_bytes=state_bytes)
    g = h if groups is None else _check_groups(groups, h)
    per_head = (2 if gated else 1) * p + 1                                         # x (and z), a (= Δ·A)
    inputs = element_bytes * b * L * (h * per_head + g * 2 * n)                   # ... and B, C per group
    outputs = element_bytes * b * L * h * p                                       # y
    chunk_states = 2 * state_bytes * b * -(-L // q) * h * p * n                    # written once, read once
    return {"inputs": inputs, "outputs": outputs, "chunk_states": chunk_states, "fused": inputs + outputs,
            "unfused": inputs + outputs + chunk_states}


# ---------------------------------------------------------------------------------------------
# mamba_ssm's call: mamba_chunk_scan_combined, in PyTorch on top of `ssd` (the reference for kernels/ssd.py)
# ---------------------------------------------------------------------------------------------


def mamba2_layer_reference(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
                           return_final_states=False):
    """mamba_ssm's `mamba_chunk_scan_combined`: Δ = softplus(dt + dt_bias) (or dt + dt_bias), y = ssd(x·Δ, Δ·A, B, C)
    + D·x, then y·silu(z).

    x (batch, L, heads, P); dt (batch, L, heads); A (heads,); B, C (batch, L, groups, N), head h reading group
    h // (heads / groups); D (heads,) or (heads, P); z like x; dt_bias (heads,). Computes in float32 (float64 if
    any input is float64). Returns y in x's dtype, and with return_final_states also h_L (batch, heads, P, N)."""
    compute = _check_layer_inputs(x, dt, A, B, C, D, z, dt_bias)
    dt_softplus = require_bool("dt_softplus", dt_softplus)
    return_final_states = require_bool("return_final_states", return_final_states)
    heads = x.shape[2]
    delta = dt.to(compute) + (0 if dt_bias is None else dt_bias.to(compute))     # (batch, L, heads)
    delta = F.softplus(delta) if dt_softplus else delta
    B, C = (t.to(compute).repeat_interleave(heads // t.shape[2], dim=2) for t in (B, C))   # (batch, L, heads, N)
    u = x.to(compute)
    y, final_state = ssd(u * delta[..., None], delta * A.to(compute), B, C, chunk_size)
    if D is not None:
        y = y + u * (D.to(compute)[:, None] if D.ndim == 1 else D.to(compute))
    if z is not None:
        y = y * F.silu(z.to(compute))
    return (y.to(x.dtype), final_state) if return_final_states else y.to(x.dtype)


def _check_layer_inputs(x, dt, A, B, C, D, z, dt_bias) -> torch.dtype:
    """Shapes as mamba_chunk_scan_combined takes them; returns the compute dtype."""
    _check_sequences(x=x, dt=dt)
    batch, length, heads, head_dim = x.shape
    require_tensor("A", A, ndim=1, dtypes=REAL_DTYPES)
    require_shape("A", A, (heads,), meaning="(heads,)")
    for name, value in (("B", B), ("C", C)):
        require_tensor(name, value, ndim=4, dtypes=REAL_DTYPES)
        require_shape(name, value, (batch, length, None, B.shape[-1]), meaning="(batch, L, groups, N)")
    require_shape("C", C, tuple(B.shape), meaning="B's shape (batch, L, groups, N)")
    if heads % B.shape[2]:
        raise ValueError(f"the number of groups in `B` and `C` (dim 2, got {B.shape[2]}) must divide heads = {heads}.")
    optional = {"D": (D, [(heads,), (heads, head_dim)], "(heads,) or (heads, P)"), "z": (z, [tuple(x.shape)], "x's"),
                "dt_bias": (dt_bias, [(heads,)], "(heads,)")}
    for name, (value, shapes, meaning) in optional.items():
        if value is None:
            continue
        require_tensor(name, value, dtypes=REAL_DTYPES)
        require_same_device(name, value, "x", x)
        if tuple(value.shape) not in shapes:
            raise ValueError(f"`{name}` must have shape {meaning} {' or '.join(map(str, shapes))}, "
                             f"got {tuple(value.shape)}.")
    given = [t for t in (x, dt, A, B, C, D, z, dt_bias) if t is not None]
    for name, value in (("A", A), ("B", B), ("C", C)):
        require_same_device(name, value, "x", x)
    return torch.float64 if any(t.dtype == torch.float64 for t in given) else torch.float32


# ---------------------------------------------------------------------------------------------
# The family: one elementwise recurrence h_t = a_t ⊙ h_{t−1} + b_t, seven ways of choosing (a_t, b_t)
# Every member reads the same input u (L, width); its state has shape `state`, and a_t, b_t are (L, *state).
# ---------------------------------------------------------------------------------------------


@dataclass
class FamilyMember:
    """One model as (a_t, b_t) of the shared recurrence, with the parameters it drew and what its gate depends on."""

    name: str
    reference: str                        # the paper that defines it
    u: torch.Tensor                       # (L, width) the input sequence, shared by all members
    parameters: dict[str, torch.Tensor]   # what the model keeps fixed (learned, not input-dependent)
    a: torch.Tensor                       # (L, *state) the gate a_t
    b: torch.Tensor                       # (L, *state) the input b_t
    fixed: str                            # in words: what does not depend on the input
    input_dependent: str                  # in words: what does
    state_formula: str                    # the state size in the model's own letters
    h: torch.Tensor = field(init=False)   # (L, *state) = linear_scan(a, b) along time

    def __post_init__(self):
        self.h = linear_scan(self.a, self.b, dim=0)


def hippo_legs(state: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS (Gu et al. 2020): A[n, k] = −√((2n+1)(2k+1)) for n > k, −(n+1) on the diagonal, 0 above;
    B[n] = √(2n+1). float64, (N, N) and (N,)."""
    n = torch.arange(require_positive_int("state", state), dtype=torch.float64)
    root = torch.sqrt(2 * n + 1)
    A = -(root[:, None] * root[None, :]).tril(-1) - torch.diag(n + 1)
    return A, root.clone()


def s4d_legs_init(state: int) -> tuple[torch.Tensor, torch.Tensor]:
    """S4D-LegS (Gu et al. 2022, S4D): diagonalise HiPPO-LegS's normal part A + P Pᵀ (P[n] = √(n + ½)), which is
    −½·I plus a skew-symmetric matrix. Returns its eigenvalues Λ (N,) complex (real parts all −½) and V⁻¹B (N,)."""
    A, B = hippo_legs(state)
    P = torch.sqrt(torch.arange(state, dtype=torch.float64) + 0.5)
    eigenvalues, V = torch.linalg.eig(A + P[:, None] * P[None, :])
    return eigenvalues, torch.linalg.solve(V, B.to(V.dtype))


def _s4d(u, state, g) -> FamilyMember:
    """S4D: a = exp(ΔΛ), b_t = (exp(ΔΛ) − 1)/Λ · B̃ · u_t (zero-order hold); Δ per channel, log-uniform."""
    Lam, B = s4d_legs_init(state)                                                 # (N,) complex, (N,) complex
    delta = torch.exp(torch.empty(u.shape[1], dtype=u.dtype).uniform_(math.log(1e-3), math.log(1e-1), generator=g))
    gate, B_bar = discretise_zoh(delta[:, None], Lam, B)                          # (width, N) each
    a = gate.expand(u.shape[0], -1, -1)                                           # (L, width, N), the same every t
    return FamilyMember("S4D (LegS)", "Gu, Gupta, Goel & Ré 2022 (S4D)", u, {"Lambda": Lam, "B": B, "delta": delta},
                        a, B_bar * u[..., None].to(B_bar.dtype), "Λ, B, Δ, C: a linear time-invariant system",
                        "nothing (b_t is B̄·u_t)", "width·N complex")


def _lru(u, state, g) -> FamilyMember:
    """LRU: a = λ = exp(−exp(ν) + i·exp(θ)), b_t = γ ⊙ (B u_t), γ = √(1 − |λ|²) (lessons.lru)."""
    nu, theta = (t.to(u.dtype) for t in ring_init(state, 0.5, 0.99, generator=g))
    B = torch.complex(*torch.randn(2, state, u.shape[1], dtype=u.dtype, generator=g)) / math.sqrt(2 * u.shape[1])
    lam, gamma = lru_eigenvalues(nu, theta), lru_gamma(nu)                        # (N,) each
    b = gamma * (u.to(B.dtype) @ B.T)                                             # (L, N)
    return FamilyMember("LRU", "Orvieto et al. 2023", u, {"nu": nu, "theta": theta, "B": B}, lam.expand_as(b), b,
                        "λ (ν, θ), γ, B, C", "nothing (b_t is γ·B u_t)", "N complex")


def _mamba1(u, state, g) -> FamilyMember:
    """Mamba-1: Δ_t = softplus(W_Δ u_t + bias), a_t = exp(Δ_t A) (A diagonal, (width, N)), b_t = Δ_t B_t u_t."""
    width = u.shape[1]
    W_delta, W_B = (torch.randn(rows, width, dtype=u.dtype, generator=g) / math.sqrt(width) for rows in (width, state))
    bias = torch.randn(width, dtype=u.dtype, generator=g) - 2
    A = -torch.exp(a_log_init(width, state).to(u.dtype))                          # (width, N) = −[1, …, N]
    delta = prepare_delta((u @ W_delta.T).T[None], bias, True, u.dtype)[0].T      # (L, width)
    gate, B_bar = discretise_euler(delta[..., None], A, (u @ W_B.T)[:, None, :])  # (L, width, N) each
    return FamilyMember("Mamba-1", "Gu & Dao 2023", u, {"W_delta": W_delta, "bias": bias, "A": A, "W_B": W_B}, gate,
                        B_bar * u[..., None], "A (diagonal, width × N), the projections", "Δ_t, B_t, C_t",
                        "width·N")


def _mamba2(u, state, heads, g) -> FamilyMember:
    """Mamba-2: one scalar A per head, a_t = exp(Δ_t A) (the same for the head's P·N numbers), b_t = Δ_t x_t B_tᵀ."""
    length, width = u.shape
    W_delta = torch.randn(heads, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    W_B = torch.randn(state, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    A = -torch.empty(heads, dtype=u.dtype).uniform_(1, 16, generator=g)            # (heads,) mamba's A init range
    delta = F.softplus(u @ W_delta.T - 2)                                          # (L, heads)
    x = u.reshape(length, heads, width // heads)                                   # (L, heads, P)
    a = torch.exp(delta * A)[..., None, None].expand(-1, -1, width // heads, state)   # (L, heads, P, N)
    b = (delta[..., None] * x)[..., None] * (u @ W_B.T)[:, None, None, :]          # Δ_t x_t ⊗ B_t
    return FamilyMember("Mamba-2", "Dao & Gu 2024", u, {"W_delta": W_delta, "A": A, "W_B": W_B}, a, b,
                        "A (one scalar per head), the projections", "Δ_t, B_t, C_t", "heads·P·N = width·N")


RG_LRU_C = 8.0     # Griffin's fixed exponent c


def _rg_lru(u, g) -> FamilyMember:
    """RG-LRU: r_t = σ(W_a u_t + b_a), i_t = σ(W_x u_t + b_x), a_t = σ(Λ)^{c·r_t}, b_t = √(1 − a_t²)·(i_t ⊙ u_t)."""
    width = u.shape[1]
    W_a, W_x = torch.randn(2, width, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    b_a, b_x = torch.randn(2, width, dtype=u.dtype, generator=g)
    base = torch.empty(width, dtype=u.dtype).uniform_(0.9, 0.999, generator=g) ** (1 / RG_LRU_C)   # a^c ∈ [.9, .999]
    Lam = torch.log(base / (1 - base))                                             # σ(Λ) = base
    log_a = -RG_LRU_C * F.softplus(-Lam) * torch.sigmoid(u @ W_a.T + b_a)           # log σ(Λ)^{c r_t}, (L, width)
    b = torch.sqrt(-torch.expm1(2 * log_a)) * torch.sigmoid(u @ W_x.T + b_x) * u   # √(1 − a²) stays accurate
    return FamilyMember("RG-LRU (Griffin)", "De et al. 2024", u,
                        {"Lambda": Lam, "W_a": W_a, "b_a": b_a, "W_x": W_x, "b_x": b_x}, torch.exp(log_a), b,
                        "Λ, the gate weights", "r_t, i_t, hence a_t and b_t", "width")


def _rwkv6(u, heads, g, rank: int = 2) -> FamilyMember:
    """RWKV-6-style: per head S_t = diag(w_t) S_{t−1} + k_t v_tᵀ, w_t = exp(−exp(ω + tanh(u_t W₁) W₂))."""
    length, width = u.shape
    W_k, W_v = torch.randn(2, width, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    W1 = torch.randn(width, rank, dtype=u.dtype, generator=g) / math.sqrt(width)
    W2 = torch.randn(rank, width, dtype=u.dtype, generator=g)
    omega = torch.randn(width, dtype=u.dtype, generator=g) - 1
    w = torch.exp(-torch.exp(omega + torch.tanh(u @ W1) @ W2))                     # (L, width) data-dependent decay
    k, v = ((u @ W.T).reshape(length, heads, width // heads) for W in (W_k, W_v))   # (L, heads, K) each
    a = w.reshape(length, heads, -1, 1).expand(-1, -1, -1, width // heads)         # (L, heads, K, V)
    return FamilyMember("RWKV-6-style", "Peng et al. 2024 (Eagle and Finch)", u,
                        {"W_k": W_k, "W_v": W_v, "W1": W1, "W2": W2, "omega": omega}, a, k[..., None] * v[..., None, :],
                        "ω, the LoRA and projections", "w_t (per key channel), k_t, v_t", "heads·K·V = width·K")


MLSTM_FORGET_BIAS = 3.0   # f_t ≈ σ(3) ≈ 0.95 at the start: the forget-gate bias lesson 01 gave the LSTM


def _mlstm(u, heads, g) -> FamilyMember:
    """xLSTM's mLSTM: per head C_t = f_t C_{t−1} + i_t k_t v_tᵀ and n_t = f_t n_{t−1} + i_t k_t, with a scalar forget
    gate f_t = σ(w_f·u_t + b_f) and an exponential input gate i_t = exp(w_i·u_t + b_i). One recurrence holds both:
    the state is [C | n] (K × (V + 1)) and b_t = i_t k_t ⊗ [v_t, 1]."""
    length, width = u.shape
    K = width // heads
    W_k, W_v = torch.randn(2, width, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    W_f, W_i = torch.randn(2, heads, width, dtype=u.dtype, generator=g) / math.sqrt(width)
    b_f = torch.full((heads,), MLSTM_FORGET_BIAS, dtype=u.dtype)
    b_i = torch.zeros(heads, dtype=u.dtype)
    forget = torch.sigmoid(u @ W_f.T + b_f)                                        # (L, heads)
    inputs = torch.exp(u @ W_i.T + b_i)                                            # (L, heads)
    k = (u @ W_k.T).reshape(length, heads, K) / math.sqrt(K)                       # (L, heads, K), scaled as in xLSTM
    v = (u @ W_v.T).reshape(length, heads, K)                                      # (L, heads, V = K)
    v_and_one = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)                # (L, heads, V + 1)
    b = inputs[..., None, None] * k[..., None] * v_and_one[..., None, :]           # (L, heads, K, V + 1)
    a = forget[..., None, None].expand_as(b)
    return FamilyMember("mLSTM (xLSTM)", "Beck et al. 2024 (xLSTM)", u,
                        {"W_k": W_k, "W_v": W_v, "W_f": W_f, "b_f": b_f, "W_i": W_i, "b_i": b_i}, a, b,
                        "the gate and projection weights", "f_t, i_t (one each per head), k_t, v_t",
                        "heads·K·(V + 1): C and n")


def recurrence_family(length: int = 16, width: int = 4, state: int = 4, heads: int = 2, seed: int = 0,
                      dtype: torch.dtype = torch.float64) -> dict[str, FamilyMember]:
    """Seven linear recurrences as (a_t, b_t) of h_t = a_t ⊙ h_{t−1} + b_t, each run through linear_scan, on one
    input u (length, width) ~ N(0, 1) drawn from `seed`. `heads` must divide `width` (Mamba-2, RWKV-6, mLSTM).

    S4D: Gu, Gupta, Goel & Ré, *On the Parameterization and Initialization of Diagonal State Space Models* (2022),
    with the S4D-LegS init (S4D-Lin would take Λ_n = −½ + iπn instead). LRU: Orvieto et al., *Resurrecting
    Recurrent Neural Networks for Long Sequences* (2023). Mamba-1: Gu & Dao, *Mamba* (2023). Mamba-2: Dao & Gu,
    *Transformers are SSMs* (2024). RG-LRU: De et al., *Griffin* (2024). RWKV-6: Peng et al., *Eagle and Finch*
    (2024); "style" because the token shift and the output's bonus term are left out: only the state's recurrence.
    mLSTM: Beck et al., *xLSTM: Extended Long Short-Term Memory* (2024), the state's recurrence without the
    stabiliser m_t (which rescales C and n together against overflow and cancels in the output) and without the
    output h_t = o_t ⊙ C_tᵀq_t / max(|n_tᵀq_t|, 1).
    """
    length, width, state, heads = _check_sizes(length=length, width=width, state=state, heads=heads)
    if width % heads:
        raise ValueError(f"`heads` ({heads}) must divide `width` ({width}): each head takes width/heads channels.")
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(length, width, dtype=dtype, generator=g)                       # (L, width)
    members = [_s4d(u, state, g), _lru(u, state, g), _mamba1(u, state, g), _mamba2(u, state, heads, g),
               _rg_lru(u, g), _rwkv6(u, heads, g), _mlstm(u, heads, g)]
    return {member.name: member for member in members}


def family_table(family: dict[str, FamilyMember] | None = None) -> MarkdownTable:
    """What each member keeps fixed, what depends on the input, and its state size (formula, and here)."""
    family = recurrence_family() if family is None else family
    rows = [(m.name, m.reference, m.fixed, m.input_dependent, m.state_formula,
             f"{m.h[0].numel()}{' complex' if m.h.is_complex() else ''}") for m in family.values()]
    return markdown_table(rows, ["model", "paper", "fixed", "depends on the input", "state size", "state here"])


# ---------------------------------------------------------------------------------------------
# Validation: every error names the argument and the shape it expected (built on lessons.checks)
# ---------------------------------------------------------------------------------------------
REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_sequences(**tensors) -> None:
    """Each of x, a, B, C (those given) is a real tensor of the right rank, on one device, sharing (batch, L, heads)."""
    ranks = {"x": 4, "a": 3, "B": 4, "C": 4, "dt": 3, "z": 4}
    meanings = {"x": "(batch, L, heads, P)", "a": "(batch, L, heads)", "B": "(batch, L, heads, N)",
                "C": "(batch, L, heads, N)", "dt": "(batch, L, heads)"}
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
    """Check the shapes of x (or None), a, B, C (B and C sharing N); return them in one common floating dtype."""
    given = {name: t for name, t in (("x", x), ("a", a), ("B", B), ("C", C)) if t is not None}
    _check_sequences(**given)
    require_shape("C", C, tuple(B.shape), meaning="B's shape (batch, L, heads, N)")
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in given.values()))
    return tuple(None if t is None else t.to(dtype) for t in (x, a, B, C))


def _check_sizes(**sizes) -> tuple[int, ...]:
    """Each size a positive int, in the order given."""
    return tuple(require_positive_int(name, value) for name, value in sizes.items())


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
