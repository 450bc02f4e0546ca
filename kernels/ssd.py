"""Mamba-2's chunked SSD forward in Triton, with the matrix products on tensor cores (`tl.dot`).

`ssd_combined(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, return_final_states)` has the call, shapes
and results of mamba_ssm's `mamba_chunk_scan_combined`. Per head h (scalar A_h) and step t:

    Δ_t = softplus(dt_t + dt_bias) (or dt_t + dt_bias),   a_t = Δ_t·A_h
    h_t = exp(a_t)·h_{t−1} + Δ_t·x_t ⊗ B_t   (P × N),      y_t = h_t C_t + D·x_t,   out = y·silu(z)

The sequence is cut into chunks of `chunk_size` steps (the last one may be short: any L works). With
A_cum the cumulative sum of a inside a chunk, four kernels compute:

1. `chunk_cumsum_kernel`, per (batch·head, chunk): Δ and A_cum.
2. `chunk_state_kernel`, per (batch·head, chunk, P-block): the chunk's own end state
   S_c = Σ_s exp(A_cum[end] − A_cum[s])·Δ_s x_s B_sᵀ, one `tl.dot` per block of steps.
3. `state_passing_kernel`, per (batch·head, block of P·N): the scan across chunks,
   H_c = exp(A_cum_{c−1}[end])·H_{c−1} + S_{c−1}, sequential over chunks; it writes the state entering each
   chunk (in place of S) and the final state.
4. `chunk_scan_kernel`, per (batch·head, chunk·row block, P-block): the output
   y = exp(A_cum)·(C H_c) + (L ∘ C Bᵀ)(Δ x) + D·x, then the z gate, where L[t, s] = exp(A_cum[t] − A_cum[s])
   for s ≤ t inside the chunk. Both products are `tl.dot`s; the diagonal block is walked in column blocks up
   to the row block's last step (it is causal).

Everything accumulates in float32 (float64 for float64 inputs). The dot operands are in the input dtype
(bfloat16/float16 on tensor cores; float32 as TF32 on a GPU, see FLOAT32_DOT). The interpreter's bfloat16
`tl.dot` is wrong in Triton 3.7 (errors of 1e10 on 16×16 tiles), so interpreted bfloat16 dots run in float32.

Backward: NOT in Triton. `ssd_combined` is a torch.autograd.Function whose backward recomputes the forward with
the chunked PyTorch form (`ssd_combined_reference`, i.e. lesson 08's `lessons.ssd.mamba2_layer_reference`) and
differentiates that by autograd. It is correct, and
as slow and memory-hungry as PyTorch einsums of (chunk × chunk) blocks.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.device import INTERPRETED, check_launchable  # first: it switches the interpreter on
from kernels.selective_scan import gate_output, softplus   # Mamba-1's Δ and its y·silu(z)
from lessons.checks import require_bool, require_int, require_same_device, require_shape, require_tensor
from lessons.ssd import mamba2_layer_reference

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
MAX_STATE = 256            # the state's N axis is one block: C·H and C·Bᵀ read all of N at once
MAX_CHUNK = 1024
FLOAT32_DOT = "tf32"       # mamba_ssm's choice: float32 products on tensor cores with 10-bit mantissas
GPU_BLOCKS = {"M": 64, "K": 64, "P": 64}   # rows, steps per dot, head channels per program on a GPU
MATMUL_WARPS = 8           # sm_90 at N = 64 and 128: 4 warps spill registers, 8 do not (offline compile)
MIN_DOT = 16               # tl.dot needs every tile side ≥ 16

# ---------------------------------------------------------------------------------------------
# Kernel helpers
# ---------------------------------------------------------------------------------------------


@triton.jit
def chunk_steps(c, chunk, L):
    """How many steps chunk c holds: `chunk`, or fewer for the last one."""
    return tl.minimum(chunk, L - c * chunk)


@triton.jit
def load_rows(ptr, t, row_stride, offset, cols, n_cols, valid_t, COMPUTE: tl.constexpr):
    """A (len(t), len(cols)) tile of a (…, L, …, n_cols) tensor: element [t, col] at t·row_stride + offset + col."""
    mask = valid_t[:, None] & (cols[None, :] < n_cols)
    return tl.load(ptr + t[:, None] * row_stride + offset + cols[None, :], mask=mask, other=0.0).to(COMPUTE)


@triton.jit
def dot(a, b, acc, OPERAND: tl.constexpr, PRECISION: tl.constexpr):
    """acc + a @ b with the operands cast to OPERAND (the input dtype) and acc's dtype for the sum."""
    return tl.dot(a.to(OPERAND), b.to(OPERAND), acc, input_precision=PRECISION, out_dtype=acc.dtype)


@triton.jit
def skip_connection(D_ptr, head, p, P, D_PER_CHANNEL: tl.constexpr, COMPUTE: tl.constexpr):
    """D for one head as a (BLOCK_P,) row: D[head, p] when D is (heads, P), D[head] repeated when (heads,)."""
    if D_PER_CHANNEL:
        d = tl.load(D_ptr + head * P + p, mask=p < P, other=0.0).to(COMPUTE)
    else:
        d = tl.zeros_like(p).to(COMPUTE) + tl.load(D_ptr + head).to(COMPUTE)
    return d


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@triton.jit
def chunk_cumsum_kernel(
    dt_ptr,                   # (batch, L, heads) dt as given
    A_ptr,                    # (heads,)
    bias_ptr,                 # (heads,), read only when HAS_BIAS
    dt_out_ptr,               # (batch, heads, n_chunks, chunk) Δ, 0 past L; written
    acs_ptr,                  # (batch, heads, n_chunks, chunk) A_cum: cumsum of Δ·A inside the chunk; written
    L, heads, chunk, n_chunks,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_Q: tl.constexpr,    # next power of two ≥ chunk
    COMPUTE: tl.constexpr,    # tl.float32 or tl.float64
):
    bh, c = tl.program_id(0).to(tl.int64), tl.program_id(1)
    batch, head = bh // heads, bh % heads
    i = tl.arange(0, BLOCK_Q)
    valid = (i < chunk) & (c * chunk + i < L)
    dt = tl.load(dt_ptr + (batch * L + c * chunk + i) * heads + head, mask=valid, other=0.0).to(COMPUTE)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + head).to(COMPUTE)
    if SOFTPLUS:
        dt = softplus(dt)
    dt = tl.where(valid, dt, 0.0)                                       # past L: a = 0, nothing added
    acs = tl.cumsum(dt * tl.load(A_ptr + head).to(COMPUTE), 0)
    at = (bh * n_chunks + c) * chunk + i
    tl.store(dt_out_ptr + at, dt, mask=i < chunk)
    tl.store(acs_ptr + at, acs, mask=i < chunk)


@triton.jit
def chunk_state_kernel(
    x_ptr,                    # (batch, L, heads, P)
    B_ptr,                    # (batch, L, groups, N)
    dt_ptr, acs_ptr,          # (batch, heads, n_chunks, chunk) from chunk_cumsum_kernel
    states_ptr,               # (batch, n_chunks, heads, P, N) each chunk's own end state; written
    L, heads, groups, P, N, chunk, n_chunks,
    BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,   # powers of two ≥ 16
    OPERAND: tl.constexpr, PRECISION: tl.constexpr, COMPUTE: tl.constexpr,
):
    bh, c, pb = tl.program_id(0).to(tl.int64), tl.program_id(1), tl.program_id(2)
    batch, head = bh // heads, bh % heads
    group = head // (heads // groups)
    p, n = pb * BLOCK_P + tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    size = chunk_steps(c, chunk, L)
    row = (bh * n_chunks + c) * chunk                                   # chunk c's first slot in dt, acs
    acs_end = tl.load(acs_ptr + row + size - 1)
    start = batch * L + c * chunk                                       # the chunk's first step, as a row
    acc = tl.zeros((BLOCK_P, BLOCK_N), COMPUTE)
    for k0 in range(0, size, BLOCK_K):
        s = k0 + tl.arange(0, BLOCK_K)
        valid = s < size
        weight = tl.exp(acs_end - tl.load(acs_ptr + row + s, mask=valid, other=0.0)) \
            * tl.load(dt_ptr + row + s, mask=valid, other=0.0)          # (BK,) exp(A_cum[end] − A_cum[s])·Δ_s
        weight = tl.where(valid, weight, 0.0)
        x = load_rows(x_ptr, start + s, heads * P, head * P, p, P, valid, COMPUTE)        # (BK, BP)
        b = load_rows(B_ptr, start + s, groups * N, group * N, n, N, valid, COMPUTE)     # (BK, BN)
        acc = dot(tl.trans(x * weight[:, None]), b, acc, OPERAND, PRECISION)               # (BP, BN)
    at = ((batch * n_chunks + c) * heads + head) * P * N + p[:, None] * N + n[None, :]
    tl.store(states_ptr + at, acc, mask=(p[:, None] < P) & (n[None, :] < N))


@triton.jit
def state_passing_kernel(
    states_ptr,               # (batch, n_chunks, heads, P·N): chunk states in, the state entering each chunk out
    acs_ptr,                  # (batch, heads, n_chunks, chunk)
    final_ptr,                # (batch, heads, P·N) the state after the last step; written
    L, heads, PN, chunk, n_chunks,
    BLOCK: tl.constexpr,      # elements of the state per program
):
    bh, blk = tl.program_id(0).to(tl.int64), tl.program_id(1)
    batch, head = bh // heads, bh % heads
    e = blk * BLOCK + tl.arange(0, BLOCK)
    mask = e < PN
    running = tl.zeros((BLOCK,), states_ptr.dtype.element_ty)         # H_0 = 0
    for c in range(0, n_chunks):
        at = ((batch * n_chunks + c) * heads + head) * PN + e
        own = tl.load(states_ptr + at, mask=mask, other=0.0)
        tl.store(states_ptr + at, running, mask=mask)                   # H_c, the state entering chunk c
        decay = tl.exp(tl.load(acs_ptr + (bh * n_chunks + c) * chunk + chunk_steps(c, chunk, L) - 1))
        running = decay * running + own
    tl.store(final_ptr + bh * PN + e, running, mask=mask)


@triton.jit
def chunk_scan_kernel(
    x_ptr, z_ptr,             # (batch, L, heads, P); z read only when HAS_Z
    B_ptr, C_ptr,             # (batch, L, groups, N)
    dt_ptr, acs_ptr,          # (batch, heads, n_chunks, chunk)
    states_ptr,               # (batch, n_chunks, heads, P, N) the state entering each chunk
    D_ptr,                    # (heads,) or (heads, P), read only when HAS_D
    out_ptr,                  # (batch, L, heads, P) written
    L, heads, groups, P, N, chunk, n_chunks, m_blocks,
    HAS_D: tl.constexpr, D_PER_CHANNEL: tl.constexpr, HAS_Z: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr,
    OPERAND: tl.constexpr, PRECISION: tl.constexpr, COMPUTE: tl.constexpr,
):
    bh, cm, pb = tl.program_id(0).to(tl.int64), tl.program_id(1), tl.program_id(2)
    batch, head = bh // heads, bh % heads
    group = head // (heads // groups)
    c, mb = cm // m_blocks, cm % m_blocks
    size = chunk_steps(c, chunk, L)
    row = (bh * n_chunks + c) * chunk
    i = mb * BLOCK_M + tl.arange(0, BLOCK_M)                            # (BM,) steps of this row block
    valid_i = i < size
    p, n = pb * BLOCK_P + tl.arange(0, BLOCK_P), tl.arange(0, BLOCK_N)
    start = batch * L + c * chunk
    acs_i = tl.load(acs_ptr + row + i, mask=valid_i, other=0.0)
    c_rows = load_rows(C_ptr, start + i, groups * N, group * N, n, N, valid_i, COMPUTE)     # (BM, BN)
    at_state = ((batch * n_chunks + c) * heads + head) * P * N
    h_in = tl.load(states_ptr + at_state + p[None, :] * N + n[:, None],
                   mask=(n[:, None] < N) & (p[None, :] < P), other=0.0)                      # (BN, BP) Hᵀ
    acc = dot(c_rows, h_in, tl.zeros((BLOCK_M, BLOCK_P), COMPUTE), OPERAND, PRECISION)
    acc = acc * tl.exp(acs_i)[:, None]                                                       # Y_off
    for k0 in range(0, tl.minimum((mb + 1) * BLOCK_M, size), BLOCK_K):                      # causal: s ≤ t
        s = k0 + tl.arange(0, BLOCK_K)
        valid_s = s < size
        b_cols = load_rows(B_ptr, start + s, groups * N, group * N, n, N, valid_s, COMPUTE)  # (BK, BN)
        scores = dot(c_rows, tl.trans(b_cols), tl.zeros((BLOCK_M, BLOCK_K), COMPUTE), OPERAND, PRECISION)
        acs_s = tl.load(acs_ptr + row + s, mask=valid_s, other=0.0)
        dt_s = tl.load(dt_ptr + row + s, mask=valid_s, other=0.0)
        causal = (s[None, :] <= i[:, None]) & valid_s[None, :]
        decay = tl.exp(tl.minimum(acs_i[:, None] - acs_s[None, :], 0.0))                    # ≤ 1 where used
        scores = tl.where(causal, scores * decay * dt_s[None, :], 0.0)                       # (BM, BK) L ∘ CBᵀ·Δ
        x_cols = load_rows(x_ptr, start + s, heads * P, head * P, p, P, valid_s, COMPUTE)   # (BK, BP)
        acc = dot(scores, x_cols, acc, OPERAND, PRECISION)
    if HAS_D:
        x_rows = load_rows(x_ptr, start + i, heads * P, head * P, p, P, valid_i, COMPUTE)   # (BM, BP)
        acc += x_rows * skip_connection(D_ptr, head, p, P, D_PER_CHANNEL, COMPUTE)[None, :]
    at = (start + i[:, None]) * heads * P + head * P + p[None, :]
    mask = valid_i[:, None] & (p[None, :] < P)
    acc = gate_output(acc, z_ptr, at, mask, HAS_Z, COMPUTE)
    tl.store(out_ptr + at, acc.to(out_ptr.dtype.element_ty), mask=mask)


# ---------------------------------------------------------------------------------------------
# Launchers: every check happens here, in Python, before anything is launched
# ---------------------------------------------------------------------------------------------

ARGUMENTS = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias")


def check_inputs(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None) -> dict:
    """Shapes, dtypes and devices of mamba_chunk_scan_combined's arguments; returns the sizes by name."""
    require_tensor("x", x, ndim=4, dtypes=DTYPES)
    batch, length, heads, head_dim = x.shape                            # (batch, L, heads, P)
    require_int("x.shape[1] (the sequence length L)", length, minimum=1)
    require_shape("dt", require_tensor("dt", dt, dtypes=DTYPES), (batch, length, heads), meaning="(batch, L, heads)")
    require_shape("A", require_tensor("A", A, dtypes=DTYPES), (heads,), meaning="(heads,)")
    require_tensor("B", B, ndim=4, dtypes=(x.dtype,))
    groups, state = B.shape[2], B.shape[3]
    require_shape("B", B, (batch, length, None, None), meaning="(batch, L, groups, N)")
    require_int("B.shape[3] (the state size N)", state, minimum=1, maximum=MAX_STATE)
    if groups < 1 or heads % groups:
        raise ValueError(f"`B` has {groups} groups, which must divide the {heads} heads of `x` "
                         f"(B is (batch, L, groups, N)).")
    require_tensor("C", C, dtypes=(x.dtype,))
    require_shape("C", C, tuple(B.shape), meaning="(batch, L, groups, N) of `B`")
    require_int("chunk_size", chunk_size, minimum=1, maximum=MAX_CHUNK)
    if D is not None:
        require_tensor("D", D, dtypes=DTYPES)
        if tuple(D.shape) not in ((heads,), (heads, head_dim)):
            raise ValueError(f"`D` must have shape (heads,) = ({heads},) or (heads, P) = ({heads}, {head_dim}), "
                             f"got {tuple(D.shape)}.")
    if z is not None:
        require_shape("z", require_tensor("z", z, dtypes=(x.dtype,)), tuple(x.shape), meaning="(batch, L, heads, P)")
    if dt_bias is not None:
        require_shape("dt_bias", require_tensor("dt_bias", dt_bias, dtypes=DTYPES), (heads,), meaning="(heads,)")
    for name, value in zip(ARGUMENTS, (x, dt, A, B, C, D, z, dt_bias), strict=True):
        if value is not None:
            check_launchable(name, value)
            require_same_device(name, value, "x", x)
    return dict(batch=batch, length=length, heads=heads, head_dim=head_dim, groups=groups, state=state)


def _compute_dtype(*tensors) -> torch.dtype:
    """float64 when any input is float64 (so tests can compare tightly), else float32."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _dot_options(x_dtype: torch.dtype, compute: torch.dtype) -> dict:
    """OPERAND, PRECISION and COMPUTE: the dot's operand dtype, its precision, and the accumulator dtype."""
    operand = {torch.float64: tl.float64, torch.float32: tl.float32, torch.float16: tl.float16,
               torch.bfloat16: tl.bfloat16}[x_dtype]
    if INTERPRETED and operand == tl.bfloat16:
        operand = tl.float32                                            # the interpreter's bf16 dot is wrong
    precision = FLOAT32_DOT if operand == tl.float32 and not INTERPRETED else "ieee"
    return dict(OPERAND=operand, PRECISION=precision, COMPUTE=tl.float64 if compute == torch.float64 else tl.float32)


def choose_blocks(sizes: dict, chunk: int) -> dict:
    """Tile sides: on a GPU GPU_BLOCKS; in the interpreter (cost per padded element) the chunk and P whole."""
    steps = max(MIN_DOT, triton.next_power_of_2(min(chunk, sizes["length"])))
    head_dim = max(MIN_DOT, triton.next_power_of_2(sizes["head_dim"]))
    blocks = dict(BLOCK_N=max(MIN_DOT, triton.next_power_of_2(sizes["state"])))
    if INTERPRETED:
        return dict(blocks, BLOCK_M=steps, BLOCK_K=steps, BLOCK_P=head_dim)
    return dict(blocks, BLOCK_M=min(steps, GPU_BLOCKS["M"]), BLOCK_K=min(steps, GPU_BLOCKS["K"]),
                BLOCK_P=min(head_dim, GPU_BLOCKS["P"]))


def _warps(**options) -> dict:
    """num_warps on a GPU (nothing in the interpreter)."""
    return {} if INTERPRETED else options


def _buffers(x: torch.Tensor, sizes: dict, chunk: int, compute: torch.dtype) -> dict:
    """What the kernels write: Δ and A_cum (batch, heads, n_chunks, chunk), the chunk states (batch, n_chunks,
    heads, P, N) and the final state (batch, heads, P, N) in the compute dtype; y like x."""
    batch, length, heads, P, N = (sizes[k] for k in ("batch", "length", "heads", "head_dim", "state"))
    n_chunks = triton.cdiv(length, chunk)
    new = lambda *shape: torch.empty(*shape, dtype=compute, device=x.device)     # noqa: E731
    return dict(dt=new(batch, heads, n_chunks, chunk), acs=new(batch, heads, n_chunks, chunk),
                states=new(batch, n_chunks, heads, P, N), final=new(batch, heads, P, N), out=torch.empty_like(x))


def _present(inputs: dict, name: str) -> torch.Tensor:
    """The argument, or x in place of an absent one (a compile-time switch keeps the kernel from reading it)."""
    return inputs[name] if inputs[name] is not None else inputs["x"]


def _launch_chunk_states(inputs: dict, sizes: dict, chunk: int, out: dict, blocks: dict, dots: dict) -> None:
    """Kernels 1–3: Δ and A_cum, each chunk's own state, then the states entering each chunk and the final one."""
    batch, length, heads, P, groups, N = (sizes[k] for k in ("batch", "length", "heads", "head_dim", "groups", "state"))
    n_chunks, bh = out["dt"].shape[2], batch * heads
    chunk_cumsum_kernel[(bh, n_chunks)](
        inputs["dt"], inputs["A"], _present(inputs, "dt_bias"), out["dt"], out["acs"], length, heads, chunk, n_chunks,
        HAS_BIAS=inputs["dt_bias"] is not None, SOFTPLUS=inputs["dt_softplus"],
        BLOCK_Q=triton.next_power_of_2(chunk), COMPUTE=dots["COMPUTE"], **_warps(num_warps=4))
    chunk_state_kernel[(bh, n_chunks, triton.cdiv(P, blocks["BLOCK_P"]))](
        inputs["x"], inputs["B"], out["dt"], out["acs"], out["states"], length, heads, groups, P, N, chunk, n_chunks,
        BLOCK_P=blocks["BLOCK_P"], BLOCK_N=blocks["BLOCK_N"], BLOCK_K=blocks["BLOCK_K"], **dots,
        **_warps(num_warps=MATMUL_WARPS))
    state_block = min(1024, triton.next_power_of_2(P * N))
    state_passing_kernel[(bh, triton.cdiv(P * N, state_block))](
        out["states"], out["acs"], out["final"], length, heads, P * N, chunk, n_chunks, BLOCK=state_block,
        **_warps(num_warps=4))


def _launch_chunk_scan(inputs: dict, sizes: dict, chunk: int, out: dict, blocks: dict, dots: dict) -> None:
    """Kernel 4: y from the diagonal blocks and the entering states, plus D·x, gated by z."""
    batch, length, heads, P, groups, N = (sizes[k] for k in ("batch", "length", "heads", "head_dim", "groups", "state"))
    n_chunks, m_blocks, D = out["dt"].shape[2], triton.cdiv(chunk, blocks["BLOCK_M"]), inputs["D"]
    chunk_scan_kernel[(batch * heads, n_chunks * m_blocks, triton.cdiv(P, blocks["BLOCK_P"]))](
        inputs["x"], _present(inputs, "z"), inputs["B"], inputs["C"], out["dt"], out["acs"], out["states"],
        _present(inputs, "D"), out["out"], length, heads, groups, P, N, chunk, n_chunks, m_blocks,
        HAS_D=D is not None, D_PER_CHANNEL=D is not None and D.ndim == 2, HAS_Z=inputs["z"] is not None,
        **blocks, **dots, **_warps(num_warps=MATMUL_WARPS))


def _forward(inputs: dict, sizes: dict, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the four kernels: y (batch, L, heads, P) in x's dtype, final state (batch, heads, P, N) in the
    compute dtype."""
    compute = _compute_dtype(*(inputs[k] for k in ARGUMENTS))
    out = _buffers(inputs["x"], sizes, chunk, compute)
    if sizes["batch"] * sizes["heads"] * sizes["head_dim"] == 0:
        return out["out"], out["final"].zero_()
    blocks, dots = choose_blocks(sizes, chunk), _dot_options(inputs["x"].dtype, compute)
    _launch_chunk_states(inputs, sizes, chunk, out, blocks, dots)
    _launch_chunk_scan(inputs, sizes, chunk, out, blocks, dots)
    return out["out"], out["final"]


class _SSDCombined(torch.autograd.Function):
    """Forward: the Triton kernels. Backward: autograd through `ssd_combined_reference`, recomputed."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, z, dt_bias, chunk_size, dt_softplus, return_final_states, sizes):
        inputs = dict(zip(ARGUMENTS, (x, dt, A, B, C, D, z, dt_bias), strict=True), dt_softplus=dt_softplus)
        out, final = _forward(inputs, sizes, chunk_size)
        ctx.save_for_backward(x, dt, A, B, C, D, z, dt_bias)
        ctx.chunk_size, ctx.dt_softplus, ctx.return_final_states = chunk_size, dt_softplus, return_final_states
        ctx.set_materialize_grads(False)
        return (out, final) if return_final_states else out

    @staticmethod
    def backward(ctx, grad_out, grad_final=None):
        tensors = ctx.saved_tensors
        wanted = [i for i, t in enumerate(tensors) if t is not None and ctx.needs_input_grad[i]]
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(i in wanted) if t is not None else None for i, t in enumerate(tensors)]
            out, final = ssd_combined_reference(*leaves[:5], ctx.chunk_size, *leaves[5:], dt_softplus=ctx.dt_softplus,
                                                return_final_states=True)
            pairs = [(o, g) for o, g in ((out, grad_out), (final, grad_final)) if g is not None]
            grads = torch.autograd.grad([o for o, _ in pairs], [leaves[i] for i in wanted],
                                        [g for _, g in pairs], allow_unused=True) if pairs and wanted else []
        result = [None] * len(tensors)
        for i, g in zip(wanted, grads, strict=True):
            result[i] = g
        return (*result, None, None, None, None)


def ssd_combined(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
                 return_final_states=False):
    """Mamba-2's SSD, chunked, forward in Triton: the call, shapes and results of mamba_ssm's
    `mamba_chunk_scan_combined`.

    x, z: (batch, L, heads, P).  dt: (batch, L, heads).  A: (heads,).  B, C: (batch, L, groups, N), groups
    dividing heads.  D: (heads,) or (heads, P).  dt_bias: (heads,).  Any L ≥ 1 and chunk_size in [1, 1024].
    Returns y (batch, L, heads, P) in x's dtype, and with return_final_states also the state after the last
    step (batch, heads, P, N) in float32 (float64 for float64 inputs). Differentiable; the backward is autograd
    through the chunked PyTorch form (`ssd_combined_reference`), not a Triton kernel.
    """
    sizes = check_inputs(x, dt, A, B, C, chunk_size, D, z, dt_bias)
    dt_softplus = require_bool("dt_softplus", dt_softplus)
    return_final_states = require_bool("return_final_states", return_final_states)
    return _SSDCombined.apply(x, dt, A, B, C, D, z, dt_bias, int(chunk_size), dt_softplus, return_final_states, sizes)


# ---------------------------------------------------------------------------------------------
# Reference
# ---------------------------------------------------------------------------------------------


def ssd_combined_reference(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
                           return_final_states=False):
    """Lesson 08's `lessons.ssd.mamba2_layer_reference` (the chunked algorithm of Listing 1 in PyTorch), which the
    kernels must match and whose autograd is `ssd_combined`'s backward.

    Memory traffic: it materialises the (batch, heads, chunks, chunk, chunk) decay and score blocks in HBM, a
    chunk_size/P-fold more than x itself; the kernels keep those blocks on chip and move only the inputs, y,
    and one (P × N) state per chunk and head.
    """
    return mamba2_layer_reference(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, return_final_states)
