"""Mamba's selective scan as one fused Triton kernel, forward and backward.

`selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)` has the signature,
shapes and results of mamba_ssm's `selective_scan_fn` and of `lessons.ssm.selective_scan` (lesson 06):

    h_t[d, n] = exp(Δ_t[d]·A[d, n])·h_{t−1}[d, n] + Δ_t[d]·B_t[n]·u_t[d]
    y_t[d]    = Σ_n C_t[n]·h_t[d, n] + D[d]·u_t[d],       out = y·silu(z)

Forward. One program owns BLOCK_D channels of one batch element and walks L in chunks of BLOCK_L steps. It
loads the chunk's u and Δ (BLOCK_D, BLOCK_L) once, then for each state index n = 0 … N−1 builds Ā = exp(ΔA[:, n])
and ΔB[n]u in registers, scans them with `tl.associative_scan` (lesson 04's combine), adds C[n]·h to y, and keeps
the last h[:, n] as the carry into the next chunk. It writes y (and h_L if asked). Nothing of size
(batch, dim, N, L) ever reaches global memory: the ×N expansion happens in registers. That is the memory trick
of lesson 07. When the inputs need gradients it also writes the state at the start of every chunk,
(batch, dim, n_chunks, N): 1/BLOCK_L of the history of h, a few per cent of the input bytes.
(mamba's CUDA kernel has the same shape: a loop over n around a block-wide scan over a chunk of L, and it
saves the same chunk states.)

Backward. The same programs walk the chunks from the end. For each state index the chunk's states are
rebuilt from the saved start state with one forward scan, and the reverse scan
g_t = ∂L/∂h_t = C_t·∂L/∂y_t + Ā_{t+1}·g_{t+1} (Martin & Cundy 2017) runs over the same chunk; g turns into
every gradient. Ā_t h_{t−1} = h_t − Δ_t B_t u_t, so no shifted state is needed. The gradients of a B and a C
that vary in time are summed over the program's channels first, then added into (batch, N, L) with relaxed
atomics (no memory fence: the adds commute, and nothing reads the sums before the kernel ends).

Tiles. On a GPU the forward without gradients uses long chunks (FORWARD_BLOCK_L); when gradients are needed
both passes use TRAINING_BLOCK_L, so the saved states line up with the backward's chunks. How many channels a
program holds (BLOCK_D) and its warps are chosen by `triton.autotune` on the first call at each size (switched
off in the interpreter, and by KERNELS_AUTOTUNE=0).

Supported: real A (dim, N); B and C each (dim, N) or (batch, N, L); float32, float16, bfloat16 (and
float64, for gradcheck) inputs, computed in float32 (float64). Complex A and grouped B/C are not fused
here: use `lessons.ssm.selective_scan` for those.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from kernels.device import INTERPRETED, check_launchable  # first: it switches the interpreter on
from kernels.scan import combine
from lessons.checks import require_bool, require_int, require_power_of_two, require_same_device, require_tensor
from lessons.ssm import check_selective_scan_inputs
from lessons.ssm import selective_scan as lessons_selective_scan

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
MAX_STATE = 256          # h (BLOCK_D, N) lives in registers; mamba's CUDA kernel has the same limit

# ---------------------------------------------------------------------------------------------
# Kernel helpers: each loads or computes one tile
# ---------------------------------------------------------------------------------------------


@triton.jit
def softplus(x):
    """log(1 + eˣ), and x itself above 20 (PyTorch's threshold)."""
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def load_channel_vector(ptr, d, dim, PRESENT: tl.constexpr, COMPUTE: tl.constexpr):
    """D or delta_bias as a (BLOCK_D, 1) column; zeros when the argument was not given."""
    if PRESENT:  # a compile-time branch: only one of the two is generated
        column = tl.load(ptr + d, mask=d < dim, other=0.0).to(COMPUTE)[:, None]
    else:
        column = tl.zeros_like(d).to(COMPUTE)[:, None]
    return column


# exp(x) = 2^(x·log₂e): the GPU's exp unit computes 2^x, so the kernels fold log₂e into A once per column
LOG2_E = tl.constexpr(1.4426950408889634)


@triton.jit
def load_a_column(A_ptr, d, k, dim, N, COMPUTE: tl.constexpr):
    """Column k of A (dim, N) as (BLOCK_D,); 0 for channels past the end (so their gate is 1)."""
    return tl.load(A_ptr + d * N + k, mask=d < dim, other=0.0).to(COMPUTE)


@triton.jit
def load_delta(delta_ptr, at, mask, bias, SOFTPLUS: tl.constexpr, COMPUTE: tl.constexpr):
    """Δ (BLOCK_D, BLOCK_L) as the recurrence uses it, 0 where masked, and the softplus input delta + bias."""
    before = tl.load(delta_ptr + at, mask=mask, other=0.0).to(COMPUTE) + bias
    if SOFTPLUS:
        dt = softplus(before)
    else:
        dt = before
    return tl.where(mask, dt, 0.0), before


@triton.jit
def load_projection(ptr, batch, d, k, t, dim, N, L, VARYING: tl.constexpr, COMPUTE: tl.constexpr):
    """Row k of B or C, shaped to broadcast against (BLOCK_D, BLOCK_L): (1, BL) from (batch, N, L) when it
    varies in time, (BD, 1) from (dim, N) when it does not."""
    if VARYING:
        row = tl.load(ptr + (batch * N + k) * L + t, mask=t < L, other=0.0).to(COMPUTE)[None, :]
    else:
        row = tl.load(ptr + d * N + k, mask=d < dim, other=0.0).to(COMPUTE)[:, None]
    return row


@triton.jit
def column(tile, n, k):
    """tile[:, k] of a (BLOCK_D, BLOCK_N) register tile, as (BLOCK_D,): registers cannot be indexed by a variable."""
    return tl.sum(tl.where(n[None, :] == k, tile, 0.0), axis=1)


@triton.jit
def with_column(tile, n, k, value):
    """tile with column k replaced by value (BLOCK_D,)."""
    return tl.where(n[None, :] == k, value[:, None], tile)


@triton.jit
def lane(x, lanes, which: tl.constexpr):
    """x[:, which] of a (BLOCK_D, BLOCK_L) tile, as (BLOCK_D,)."""
    return tl.sum(tl.where(lanes[None, :] == which, x, 0.0), axis=1)


@triton.jit
def scan_chunk(gates, tokens, h_start):
    """h_t for one state index inside a chunk (BLOCK_D, BLOCK_L), from the state before it (BLOCK_D,)."""
    a_prefix, b_prefix = tl.associative_scan((gates, tokens), 1, combine)
    return a_prefix * h_start[:, None] + b_prefix


@triton.jit
def gate_output(y, z_ptr, at, mask, HAS_Z: tl.constexpr, COMPUTE: tl.constexpr):
    """out = y·silu(z), or y when there is no z."""
    if HAS_Z:
        z = tl.load(z_ptr + at, mask=mask, other=0.0).to(COMPUTE)
        y = y * z * tl.sigmoid(z)
    return y


# ---------------------------------------------------------------------------------------------
# Forward kernel
# ---------------------------------------------------------------------------------------------


@triton.jit
def selective_scan_forward_kernel(
    u_ptr, delta_ptr, z_ptr,        # (batch, dim, L) contiguous
    A_ptr,                          # (dim, N)
    B_ptr, C_ptr,                   # (batch, N, L) when *_VARYING, else (dim, N)
    D_ptr, bias_ptr,                # (dim,), read only when HAS_D / HAS_BIAS
    out_ptr,                        # (batch, dim, L), written: y·silu(z)
    last_state_ptr,                 # (batch, dim, N), written only when WRITE_LAST_STATE
    chunk_states_ptr,               # (batch, dim, n_chunks, N), h before each chunk, written when SAVE_STATES
    dim, L, N,                      # sizes
    B_VARYING: tl.constexpr, C_VARYING: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,         # Δ = softplus(delta + bias)
    WRITE_LAST_STATE: tl.constexpr, SAVE_STATES: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,  # powers of two, BLOCK_N ≥ N
    COMPUTE: tl.constexpr,          # tl.float32 (tl.float64 for float64 inputs)
):
    batch = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)                        # (BD,) channels
    n, lanes = tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_L)
    state_mask = (d[:, None] < dim) & (n[None, :] < N)                            # (BD, BN)
    bias = load_channel_vector(bias_ptr, d, dim, HAS_BIAS, COMPUTE)               # (BD, 1)
    skip = load_channel_vector(D_ptr, d, dim, HAS_D, COMPUTE)                     # (BD, 1)
    rows = (batch * dim + d[:, None]) * L                                         # (BD, 1) row starts
    n_chunks = tl.cdiv(L, BLOCK_L)
    saved = (batch * dim + d[:, None]) * n_chunks * N + n[None, :]                # (BD, BN) chunk 0's slots
    h = tl.zeros((BLOCK_D, BLOCK_N), COMPUTE)                                     # the state, in registers
    for chunk in range(0, n_chunks):
        if SAVE_STATES:
            tl.store(chunk_states_ptr + saved + chunk * N, h, mask=state_mask)    # for the backward pass
        t = chunk * BLOCK_L + lanes                                               # (BL,) time steps
        mask = (d[:, None] < dim) & (t[None, :] < L)                              # (BD, BL)
        at = rows + t[None, :]
        u = tl.load(u_ptr + at, mask=mask, other=0.0).to(COMPUTE)                 # (BD, BL)
        dt, _ = load_delta(delta_ptr, at, mask, bias, SOFTPLUS, COMPUTE)          # (BD, BL); 0 -> identity gate
        dtu = dt * u
        y = skip * u                                                              # (BD, BL)
        for k in range(0, N):                                                     # one state index at a time
            A_k = load_a_column(A_ptr, d, k, dim, N, COMPUTE)[:, None] * LOG2_E   # (BD, 1) column k of A, ·log₂e
            B_k = load_projection(B_ptr, batch, d, k, t, dim, N, L, B_VARYING, COMPUTE)
            C_k = load_projection(C_ptr, batch, d, k, t, dim, N, L, C_VARYING, COMPUTE)
            states = scan_chunk(tl.exp2(dt * A_k), dtu * B_k, column(h, n, k))    # (BD, BL) h_t[:, k], never stored
            y += states * C_k
            h = with_column(h, n, k, lane(states, lanes, BLOCK_L - 1))            # carry into the next chunk
        out = gate_output(y, z_ptr, at, mask, HAS_Z, COMPUTE)
        tl.store(out_ptr + at, out.to(out_ptr.dtype.element_ty), mask=mask)
    if WRITE_LAST_STATE:
        at_state = (batch * dim + d[:, None]) * N + n[None, :]
        tl.store(last_state_ptr + at_state, h.to(last_state_ptr.dtype.element_ty), mask=state_mask)


# ---------------------------------------------------------------------------------------------
# Backward kernel
# ---------------------------------------------------------------------------------------------


@triton.jit
def add_projection_grad(grad, acc, acc_ptr, batch, n, k, t, N, L, VARYING: tl.constexpr):
    """Add grad (BD, BL) of row k of B or C. When it varies in time: summed over the program's channels, then
    one relaxed atomic add per step into (batch, N, L). Else: summed over time into column k of the running
    (BD, BN) accumulator (returned)."""
    if VARYING:
        tl.atomic_add(acc_ptr + (batch * N + k) * L + t, tl.sum(grad, axis=0), mask=t < L, sem="relaxed")
    else:
        acc += tl.where(n[None, :] == k, tl.sum(grad, axis=1)[:, None], 0.0)
    return acc


@triton.jit
def selective_scan_backward_kernel(
    u_ptr, delta_ptr, z_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr,   # the forward inputs, as there
    grad_out_ptr,                   # (batch, dim, L) ∂L/∂out
    grad_last_ptr,                  # (batch, dim, N) ∂L/∂h_L, read only when HAS_GRAD_LAST
    chunk_states_ptr,               # (batch, dim, n_chunks, N) h before each chunk, saved by the forward
    du_ptr, ddelta_ptr, dz_ptr,     # (batch, dim, L), written (dz only when HAS_Z)
    dA_ptr,                         # (batch, dim, N) per-batch partial sums, written
    dB_ptr, dC_ptr,                 # zeroed (batch, N, L) for atomics when varying, else (batch, dim, N) partials
    dD_ptr, dbias_ptr,              # (batch, dim) partial sums, written when HAS_D / HAS_BIAS
    dim, L, N,
    B_VARYING: tl.constexpr, C_VARYING: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_GRAD_LAST: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, COMPUTE: tl.constexpr,
):
    batch = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    n, lanes = tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_L)
    state_mask = (d[:, None] < dim) & (n[None, :] < N)                            # (BD, BN)
    at_state = (batch * dim + d[:, None]) * N + n[None, :]
    bias = load_channel_vector(bias_ptr, d, dim, HAS_BIAS, COMPUTE)
    skip = load_channel_vector(D_ptr, d, dim, HAS_D, COMPUTE)
    rows = (batch * dim + d[:, None]) * L
    n_chunks = tl.cdiv(L, BLOCK_L)
    saved = (batch * dim + d) * n_chunks * N                                      # (BD,) chunk 0's first slot
    g_after = tl.zeros((BLOCK_D, BLOCK_N), COMPUTE)                               # g of the step after the chunk
    if HAS_GRAD_LAST:
        g_after = tl.load(grad_last_ptr + at_state, mask=state_mask, other=0.0).to(COMPUTE)
    dA = tl.zeros((BLOCK_D, BLOCK_N), COMPUTE)
    dB = tl.zeros((BLOCK_D, BLOCK_N), COMPUTE)                                    # used when B is (dim, N)
    dC = tl.zeros((BLOCK_D, BLOCK_N), COMPUTE)
    dD = tl.zeros((BLOCK_D,), COMPUTE)
    dbias = tl.zeros((BLOCK_D,), COMPUTE)
    for step in range(0, n_chunks):
        chunk = n_chunks - 1 - step                                               # from the end
        t = chunk * BLOCK_L + lanes
        mask = (d[:, None] < dim) & (t[None, :] < L)
        at = rows + t[None, :]
        u = tl.load(u_ptr + at, mask=mask, other=0.0).to(COMPUTE)
        dt, before = load_delta(delta_ptr, at, mask, bias, SOFTPLUS, COMPUTE)
        has_next = (d[:, None] < dim) & (t[None, :] + 1 < L)
        dt_next, _ = load_delta(delta_ptr, at + 1, has_next, bias, SOFTPLUS, COMPUTE)   # Δ_{t+1}
        grad_out = tl.load(grad_out_ptr + at, mask=mask, other=0.0).to(COMPUTE)   # ∂L/∂out
        dy = grad_out                                                             # ∂L/∂y
        if HAS_Z:
            z = tl.load(z_ptr + at, mask=mask, other=0.0).to(COMPUTE)
            sig = tl.sigmoid(z)
            dy = grad_out * z * sig
        dtu = dt * u
        y = skip * u                                                              # rebuilt for ∂L/∂z
        du = dy * skip
        ddt = tl.zeros_like(dt)
        for k in range(0, N):
            A_k = load_a_column(A_ptr, d, k, dim, N, COMPUTE)[:, None]            # (BD, 1)
            A2_k = A_k * LOG2_E
            B_k = load_projection(B_ptr, batch, d, k, t, dim, N, L, B_VARYING, COMPUTE)
            C_k = load_projection(C_ptr, batch, d, k, t, dim, N, L, C_VARYING, COMPUTE)
            h_start = tl.load(chunk_states_ptr + saved + chunk * N + k, mask=d < dim, other=0.0).to(COMPUTE)
            tokens = dtu * B_k                                                    # (BD, BL) Δ_t B_t u_t
            states = scan_chunk(tl.exp2(dt * A2_k), tokens, h_start)              # (BD, BL) h_t[:, k] again
            y += states * C_k
            dC = add_projection_grad(dy * states, dC, dC_ptr, batch, n, k, t, N, L, C_VARYING)
            # the reverse scan g_t = dy_t C_t + Ā_{t+1} g_{t+1}; the identity gate past the end lets ∂L/∂h_L in
            gates_next = tl.where((t + 1 < L)[None, :], tl.exp2(dt_next * A2_k), 1.0)
            g_prefix, g_sum = tl.associative_scan((gates_next, dy * C_k), 1, combine, reverse=True)
            g = g_prefix * column(g_after, n, k)[:, None] + g_sum                 # (BD, BL) ∂L/∂h_t[:, k]
            g_after = with_column(g_after, n, k, lane(g, lanes, 0))
            gh = g * (states - tokens)                                            # g_t·Ā_t h_{t−1}
            dA += tl.where(n[None, :] == k, tl.sum(gh * dt, axis=1)[:, None], 0.0)
            dB = add_projection_grad(g * dtu, dB, dB_ptr, batch, n, k, t, N, L, B_VARYING)
            gB = g * B_k
            du += gB * dt
            ddt += gB * u + gh * A_k
        if HAS_Z:
            dz = grad_out * y * sig * (1 + z * (1 - sig))                         # silu'(z) = σ(z)(1 + z(1 − σ(z)))
            tl.store(dz_ptr + at, dz.to(dz_ptr.dtype.element_ty), mask=mask)
        dD += tl.sum(dy * u, axis=1)
        if SOFTPLUS:
            ddt = tl.where(before > 20.0, ddt, ddt * tl.sigmoid(before))
        ddt = tl.where(mask, ddt, 0.0)
        dbias += tl.sum(ddt, axis=1)
        tl.store(du_ptr + at, du.to(du_ptr.dtype.element_ty), mask=mask)
        tl.store(ddelta_ptr + at, ddt.to(ddelta_ptr.dtype.element_ty), mask=mask)
    tl.store(dA_ptr + at_state, dA, mask=state_mask)
    if not B_VARYING:
        tl.store(dB_ptr + at_state, dB, mask=state_mask)
    if not C_VARYING:
        tl.store(dC_ptr + at_state, dC, mask=state_mask)
    if HAS_D:
        tl.store(dD_ptr + batch * dim + d, dD, mask=d < dim)
    if HAS_BIAS:
        tl.store(dbias_ptr + batch * dim + d, dbias, mask=d < dim)


# ---------------------------------------------------------------------------------------------
# Tiles: fixed in the interpreter, autotuned on a GPU
# ---------------------------------------------------------------------------------------------

# Steps per chunk on a GPU. Without gradients the forward takes long chunks (measured best on the H200,
# results/kernels_gpu.md). With gradients both passes use TRAINING_BLOCK_L: the backward's registers grow with
# the chunk, and the forward must save the state at the start of every backward chunk.
FORWARD_BLOCK_L, TRAINING_BLOCK_L = 1024, 128
INTERPRETER_TILE = (16, 64)      # the interpreter's cost is per padded element: tiles only round sizes up


def autotune_enabled() -> bool:
    """Autotune on a GPU unless KERNELS_AUTOTUNE=0 (read at each call: tests switch it)."""
    return not INTERPRETED and os.environ.get("KERNELS_AUTOTUNE", "1") != "0"


def warps_for(block_d: int, block_l: int) -> int:
    """One warp per 128 elements of the tile (a warp's 32 threads × 4 contiguous elements), 1 to 8."""
    return max(1, min(8, block_d * block_l // 128))


def tile_configs(block_l: int) -> list[triton.Config]:
    """(channels per program, warps) that autotune tries for chunks of `block_l` steps. On the H200
    (results/kernels_gpu.md), out of 1–8 channels and 1–8 warps, it chose 1–2 channels with one warp for
    128-step chunks and 1 channel with 4 warps for 1024-step ones; the list keeps those picks' neighbourhood."""
    warps = warps_for(1, block_l)
    tiles = [(1, warps), (1, warps // 2), (2, warps)] if warps > 1 else [(1, 1), (2, 1), (2, 2)]
    return [triton.Config({"BLOCK_D": block_d}, num_warps=w) for block_d, w in tiles]


def _autotuned(kernel, block_l: int, reset: list[str] | None = None):
    """`kernel` wrapped in triton.autotune over tile_configs(block_l), keyed on the sizes and switches."""
    key = ["dim", "L", "N", "B_VARYING", "C_VARYING", "HAS_D", "HAS_Z", "HAS_BIAS", "SOFTPLUS", "COMPUTE"]
    return triton.autotune(tile_configs(block_l), key=key, reset_to_zero=reset)(kernel)


_TUNED: dict = {}


def tuned_kernel(kernel, block_l: int):
    """The autotuned version of `kernel` for chunks of `block_l` steps (built once)."""
    if (kernel, block_l) not in _TUNED:
        reset = ["dB_ptr", "dC_ptr"] if kernel is selective_scan_backward_kernel else None
        _TUNED[kernel, block_l] = _autotuned(kernel, block_l, reset)
    return _TUNED[kernel, block_l]


def choose_tile(dim: int, length: int, *, training: bool, block_d: int | None = None,
                block_l: int | None = None) -> tuple[int | None, int]:
    """(BLOCK_D, BLOCK_L) for one call: the given sizes, else the device's default cut to the problem.
    BLOCK_D None means: let autotune choose."""
    if block_l is None:
        default_l = INTERPRETER_TILE[1] if INTERPRETED else (TRAINING_BLOCK_L if training else FORWARD_BLOCK_L)
        block_l = max(16, min(triton.next_power_of_2(length), default_l))
    if block_d is None and not autotune_enabled():
        block_d = min(triton.next_power_of_2(dim), INTERPRETER_TILE[0] if INTERPRETED else 1)
    if block_d is not None:
        block_d = require_power_of_two("block_d", block_d, 1, 256)
    return block_d, require_power_of_two("block_l", block_l, 2, 8192)


def launch(kernel, grid_size: tuple[int, int], tile: tuple[int | None, int], *args, **constexprs) -> None:
    """Launch `kernel` over (batch, channel blocks): with the given BLOCK_D, or autotuned when it is None."""
    (batch, dim), (block_d, block_l) = grid_size, tile
    if block_d is None:
        grid = lambda meta: (batch, triton.cdiv(dim, meta["BLOCK_D"]))      # noqa: E731
        tuned_kernel(kernel, block_l)[grid](*args, BLOCK_L=block_l, **constexprs)
        return
    options = {} if INTERPRETED else {"num_warps": warps_for(block_d, block_l)}
    kernel[(batch, triton.cdiv(dim, block_d))](*args, BLOCK_D=block_d, BLOCK_L=block_l, **constexprs, **options)


# ---------------------------------------------------------------------------------------------
# Launchers: every check happens here, in Python, before anything is launched
# ---------------------------------------------------------------------------------------------


def check_inputs(u, delta, A, B, C, D=None, z=None, delta_bias=None):
    """Lesson 06's shape checks, then what the fused kernel adds: real A, 2-D or 3-D B and C, dtypes, device."""
    shapes = check_selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    if shapes.complex_a:
        raise NotImplementedError("the fused kernel takes a real `A`; for complex A use lessons.ssm.selective_scan.")
    for name, value in (("B", B), ("C", C)):
        if value.ndim == 4:
            raise NotImplementedError(f"grouped `{name}` (batch, G, N, L) is not fused here; pass (batch, N, L) "
                                      f"or use lessons.ssm.selective_scan.")
    require_int("A.shape[1] (the state size N)", shapes.state, minimum=1, maximum=MAX_STATE)   # h in registers
    named = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": delta_bias}
    for name, value in named.items():
        if value is not None:
            require_tensor(name, value, dtypes=DTYPES)
            check_launchable(name, value)
            require_same_device(name, value, "u", u)
    return shapes


def _compute_dtype(*tensors) -> torch.dtype:
    """float64 when any input is float64 (so tests can compare tightly), else float32."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _switches(inputs: dict, state: int, compute: torch.dtype) -> dict:
    """The compile-time switches both kernels share."""
    return dict(B_VARYING=inputs["B"].ndim == 3, C_VARYING=inputs["C"].ndim == 3,
                HAS_D=inputs["D"] is not None, HAS_Z=inputs["z"] is not None,
                HAS_BIAS=inputs["delta_bias"] is not None, SOFTPLUS=inputs["delta_softplus"],
                BLOCK_N=triton.next_power_of_2(state), COMPUTE=tl.float64 if compute == torch.float64 else tl.float32)


def _pointers(inputs: dict) -> list[torch.Tensor]:
    """u, delta, z, A, B, C, D, delta_bias in kernel order; an absent one is replaced by u (never read)."""
    names = ("u", "delta", "z", "A", "B", "C", "D", "delta_bias")
    return [inputs[name] if inputs[name] is not None else inputs["u"] for name in names]


def _forward(inputs: dict, tile, want_last_state: bool, save_states: bool):
    """Launch the forward kernel: out (batch, dim, L) in u's dtype; h_L (batch, dim, N) and the chunk states
    (batch, dim, n_chunks, N) in the compute dtype, or None when not asked for."""
    u, A = inputs["u"], inputs["A"]
    (batch, dim, length), state = u.shape, A.shape[1]
    compute = _compute_dtype(*(v for v in inputs.values() if isinstance(v, torch.Tensor)))
    out = torch.empty_like(u)
    last_state = torch.empty(batch, dim, state, dtype=compute, device=u.device) if want_last_state else None
    chunk_states = (torch.empty(batch, dim, triton.cdiv(length, tile[1]), state, dtype=compute, device=u.device)
                    if save_states else None)
    if batch * dim:
        launch(selective_scan_forward_kernel, (batch, dim), tile, *_pointers(inputs), out,
               out if last_state is None else last_state, out if chunk_states is None else chunk_states,
               dim, length, state, WRITE_LAST_STATE=want_last_state, SAVE_STATES=save_states,
               **_switches(inputs, state, compute))
    return out, last_state, chunk_states


def _backward(inputs: dict, tile, chunk_states: torch.Tensor, grad_out: torch.Tensor | None,
              grad_last: torch.Tensor | None) -> dict:
    """Launch the backward kernel; return the gradient of every tensor input, in that input's dtype."""
    u, delta, B, C = (inputs[k] for k in ("u", "delta", "B", "C"))
    (batch, dim, length), state = u.shape, inputs["A"].shape[1]
    compute = chunk_states.dtype
    grad_out = torch.zeros_like(u) if grad_out is None else grad_out.contiguous()
    def new(*shape):
        return torch.empty(*shape, dtype=compute, device=u.device)

    def projection(x):       # zeroed (batch, N, L) for the atomics when x varies in time, else (batch, dim, N)
        return torch.zeros(batch, state, length, dtype=compute, device=u.device) if x.ndim == 3 else \
            new(batch, dim, state)

    grads = {"u": torch.empty_like(u), "delta": torch.empty_like(delta), "z": None if inputs["z"] is None
             else torch.empty_like(inputs["z"]), "A": new(batch, dim, state), "B": projection(B),
             "C": projection(C), "D": new(batch, dim), "delta_bias": new(batch, dim)}
    if batch * dim:
        order = ("u", "delta", "z", "A", "B", "C", "D", "delta_bias")
        launch(selective_scan_backward_kernel, (batch, dim), tile, *_pointers(inputs), grad_out,
               grad_last if grad_last is not None else u, chunk_states,
               *(grads[k] if grads[k] is not None else u for k in order), dim, length, state,
               HAS_GRAD_LAST=grad_last is not None, **_switches(inputs, state, compute))
    return _finish_grads(inputs, grads)


def _finish_grads(inputs: dict, grads: dict) -> dict:
    """Sum the per-batch partials over the batch, drop the absent ones, cast to each input's dtype."""
    for name in ("A", "D", "delta_bias"):
        grads[name] = grads[name].sum(0)                                  # (batch, ...) partials
    for name in ("B", "C"):
        if inputs[name].ndim == 2:
            grads[name] = grads[name].sum(0)                              # (batch, dim, N) -> (dim, N)
    return {name: None if inputs[name] is None else grad.to(inputs[name].dtype) for name, grad in grads.items()}


ARGUMENTS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


class _SelectiveScan(torch.autograd.Function):
    """The fused forward kernel (saving the chunk states when gradients are needed) and the fused backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, tile, training):
        inputs = dict(zip(ARGUMENTS, (u, delta, A, B, C, D, z, delta_bias), strict=True), delta_softplus=delta_softplus)
        out, last_state, chunk_states = _forward(inputs, tile, return_last_state, save_states=training)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chunk_states)
        ctx.delta_softplus, ctx.tile = delta_softplus, tile
        ctx.set_materialize_grads(False)
        return (out, last_state) if return_last_state else out

    @staticmethod
    def backward(ctx, grad_out, grad_last=None):
        *tensors, chunk_states = ctx.saved_tensors
        inputs = dict(zip(ARGUMENTS, tensors, strict=True), delta_softplus=ctx.delta_softplus)
        grads = _backward(inputs, ctx.tile, chunk_states, grad_out,
                          None if grad_last is None else grad_last.contiguous())
        return (*(grads[name] for name in ARGUMENTS), None, None, None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, *, block_d: int | None = None, block_l: int | None = None):
    """Mamba's selective scan, fused: the call, shapes and results of mamba_ssm's `selective_scan_fn`.

    u, delta, z: (batch, dim, L).  A: (dim, N), real.  B, C: (dim, N) or (batch, N, L).  D, delta_bias: (dim,).
    Returns out (batch, dim, L) in u's dtype, and with return_last_state also h_L (batch, dim, N) in float32
    (float64 for float64 inputs). Differentiable in every tensor argument, h_L included.
    `block_d`, `block_l` fix the tile one program holds (powers of two); by default the steps per chunk suit
    the device and, on a GPU, autotune picks the channels per program.
    """
    shapes = check_inputs(u, delta, A, B, C, D, z, delta_bias)
    delta_softplus = require_bool("delta_softplus", delta_softplus)
    return_last_state = require_bool("return_last_state", return_last_state)
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    training = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    tile = choose_tile(shapes.dim, shapes.length, training=training, block_d=block_d, block_l=block_l)
    return _SelectiveScan.apply(*tensors, delta_softplus, return_last_state, tile, training)


# ---------------------------------------------------------------------------------------------
# Reference
# ---------------------------------------------------------------------------------------------


def selective_scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                             return_last_state=False):
    """Lesson 06's `lessons.ssm.selective_scan`, which the kernel must match.

    Memory traffic: it builds Ā, Δ·B·u and h as (batch, dim, N, L) tensors, each written and read again,
    so it moves about 6·batch·dim·N·L·4 bytes on top of the inputs; the fused kernel moves only the inputs
    and y (see lessons.memory_traffic.selective_scan_traffic).
    """
    return lessons_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
