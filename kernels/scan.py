"""The first-order linear recurrence h_t = gates_t·h_{t−1} + tokens_t as Triton kernels, real and complex.

`scan(gates, tokens)` is accelerated-scan's call: (batch, channels, T) contiguous tensors, the recurrence
along the last dim, h_{−1} = 0. One program scans one (batch, channel) row. It walks the row in chunks of
BLOCK_T: inside a chunk `tl.associative_scan` applies lesson 04's combine

    (a₁, b₁)∘(a₂, b₂) = (a₁a₂, a₂b₁ + b₂)

and the last state of each chunk is carried into the next, so any T ≥ 1 works. Loads past the end are
masked and filled with the identity (1, 0), so a partial chunk leaves the carried state unchanged.

The backward pass is itself a scan, run from the end (Martin & Cundy 2017, arXiv 1709.04057): with
g_t = ∂L/∂tokens_t,

    g_t = ∂L/∂h_t + conj(gates_{t+1})·g_{t+1},      ∂L/∂gates_t = g_t·conj(h_{t−1}).

`reverse=True` runs the recurrence from the end instead: h_t = gates_t·h_{t+1} + tokens_t.
The complex variant carries real and imaginary parts as separate tensors through the combine.
Everything is computed in float32 (float64 for float64 inputs) and stored in the input dtype.

Exact zeros stay exact. The loop never multiplies gates together, but a parallel scan does, and a product of
finite gates can overflow to ±inf (10 ** 39 in float32) where the loop's h is exactly 0 or was reset by a zero
gate; plain arithmetic would then make inf·0 = NaN. The exact answer takes 0 as absorbing (a zero state times
any gate product is 0, and so is a product that contains a zero gate): `combine_exact_zeros`. Its compares and
selects, run on every chunk, cost 10-14 % forward, 50 % forward + backward and 2x for the complex scan (measured
on an H200), so each row is scanned with the plain combine, and scanned again with the exact one only if the
plain scan left an inf or NaN anywhere in it; the two agree wherever the plain scan stays finite. The check
costs one multiply per element, folded into the reduction that extracts each chunk's carry. A NaN gate that
meets an exactly-zero state is absorbed; wherever it meets a nonzero state, h is NaN from there on, as in the
loop.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.device import INTERPRETED, require_kernel_device  # first: it switches the interpreter on
from lessons.checks import require_bool, require_contiguous, require_int, require_power_of_two, require_shape, \
    require_tensor
from lessons.scan import sequential_scan

REAL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
COMPLEX_DTYPES = (torch.complex64, torch.complex128)
MIN_BLOCK_T, MAX_BLOCK_T = 16, 8192
DEFAULT_MAX_BLOCK_T = 1024   # longer rows are walked in chunks of this many steps

# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@triton.jit
def combine(a1, b1, a2, b2):
    """Lesson 04's operator: (a₁, b₁) earlier, (a₂, b₂) later -> (a₁a₂, a₂b₁ + b₂)."""
    return a1 * a2, a2 * b1 + b2


@triton.jit
def complex_combine(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2):
    """The same operator on complex numbers, each held as (real, imaginary) parts."""
    ar = ar1 * ar2 - ai1 * ai2
    ai = ar1 * ai2 + ai1 * ar2
    br = ar2 * br1 - ai2 * bi1 + br2
    bi = ar2 * bi1 + ai2 * br1 + bi2
    return ar, ai, br, bi


@triton.jit
def apply_step(a, b, h):
    """The step (a, b) applied to the state h: a·h + b, where a zero state stays zero even if a is ±inf."""
    return tl.where(h == 0, b, a * h + b)


@triton.jit
def combine_exact_zeros(a1, b1, a2, b2):
    """`combine` with 0·(±inf) = 0: a zero state, or a product with a reset gate (0), stays exactly zero."""
    a = tl.where((a1 == 0) | (a2 == 0), 0.0, a1 * a2)
    return a, apply_step(a2, b2, b1)


@triton.jit
def complex_apply_step(ar, ai, br, bi, hr, hi):
    """`apply_step` on complex numbers held as (real, imaginary) parts: a·h + b, a zero h stays zero."""
    zero = (hr == 0) & (hi == 0)
    return tl.where(zero, br, ar * hr - ai * hi + br), tl.where(zero, bi, ar * hi + ai * hr + bi)


@triton.jit
def complex_combine_exact_zeros(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2):
    """`complex_combine` with 0·(±inf) = 0, as `combine_exact_zeros`."""
    reset = ((ar1 == 0) & (ai1 == 0)) | ((ar2 == 0) & (ai2 == 0))
    ar = tl.where(reset, 0.0, ar1 * ar2 - ai1 * ai2)
    ai = tl.where(reset, 0.0, ar1 * ai2 + ai1 * ar2)
    br, bi = complex_apply_step(ar2, ai2, br2, bi2, br1, bi1)
    return ar, ai, br, bi


@triton.jit
def chunk_positions(chunk, T, BLOCK_T: tl.constexpr, FROM_END: tl.constexpr):
    """Positions of one chunk in scan order: lane index, time index t, and whether t lies in [0, T)."""
    lane = tl.arange(0, BLOCK_T)
    step = chunk * BLOCK_T + lane                       # how many steps into the scan
    if FROM_END:
        t = T - 1 - step
    else:
        t = step
    return lane, t, step < T


@triton.jit
def last_lane(x, lane, BLOCK_T: tl.constexpr):
    """The last lane of a chunk (the state to carry), as a scalar."""
    return tl.sum(tl.where(lane == BLOCK_T - 1, x, 0.0), axis=0)


@triton.jit
def last_lane_if_finite(x, lane, BLOCK_T: tl.constexpr):
    """`last_lane`, but NaN if any lane of x is ±inf or NaN: x·0 is 0 for finite x and NaN otherwise, so the
    check rides on the same reduction for one multiply per element."""
    return tl.sum(tl.where(lane == BLOCK_T - 1, x, x * 0.0), axis=0)


@triton.jit
def needs_exact_rescan(last):
    """True if the plain scan left an inf or NaN in its row (`last`, its final carry from `last_lane_if_finite`,
    is then NaN or ±inf): x − x is 0 exactly for finite x, NaN otherwise."""
    return last - last != 0


@triton.jit
def scan_chunk(a, b, carry, lane, BLOCK_T: tl.constexpr, EXACT: tl.constexpr):
    """States h of one chunk of steps (a, b), BLOCK_T lanes, from the state `carry` before it; and the state to
    carry on. Plain (EXACT False): lesson 04's combine, and the carry is NaN if any h is ±inf or NaN."""
    if EXACT:
        a_prefix, b_prefix = tl.associative_scan((a, b), 0, combine_exact_zeros)
        h = apply_step(a_prefix, b_prefix, carry)
        last = last_lane(h, lane, BLOCK_T)
    else:
        a_prefix, b_prefix = tl.associative_scan((a, b), 0, combine)
        h = a_prefix * carry + b_prefix
        last = last_lane_if_finite(h, lane, BLOCK_T)
    return h, last


@triton.jit
def complex_scan_chunk(ar, ai, br, bi, carry_re, carry_im, lane, BLOCK_T: tl.constexpr, EXACT: tl.constexpr):
    """`scan_chunk` for complex steps held as parts: (h_re, h_im, last_re, last_im)."""
    if EXACT:
        pr, pi, qr, qi = tl.associative_scan((ar, ai, br, bi), 0, complex_combine_exact_zeros)
        hr, hi = complex_apply_step(pr, pi, qr, qi, carry_re, carry_im)
        last_re, last_im = last_lane(hr, lane, BLOCK_T), last_lane(hi, lane, BLOCK_T)
    else:
        pr, pi, qr, qi = tl.associative_scan((ar, ai, br, bi), 0, complex_combine)
        hr = pr * carry_re - pi * carry_im + qr
        hi = pr * carry_im + pi * carry_re + qi
        last_re, last_im = last_lane_if_finite(hr, lane, BLOCK_T), last_lane_if_finite(hi, lane, BLOCK_T)
    return hr, hi, last_re, last_im


@triton.jit
def scan_row(gates_ptr, tokens_ptr, out_ptr, row_start, T, REVERSE: tl.constexpr, BLOCK_T: tl.constexpr,
             COMPUTE: tl.constexpr, EXACT: tl.constexpr):
    """h of one row, chunk by chunk, stored; returns the last state (see `scan_chunk` for EXACT)."""
    carry = tl.zeros((), COMPUTE)                                   # h before this chunk
    for chunk in range(0, tl.cdiv(T, BLOCK_T)):
        lane, t, valid = chunk_positions(chunk, T, BLOCK_T, REVERSE)
        a = tl.load(gates_ptr + row_start + t, mask=valid, other=1.0).to(COMPUTE)   # identity past the end
        b = tl.load(tokens_ptr + row_start + t, mask=valid, other=0.0).to(COMPUTE)
        h, carry = scan_chunk(a, b, carry, lane, BLOCK_T, EXACT)
        tl.store(out_ptr + row_start + t, h.to(out_ptr.dtype.element_ty), mask=valid)
    return carry


@triton.jit
def scan_row_backward(gates_ptr, states_ptr, grad_out_ptr, grad_gates_ptr, grad_tokens_ptr, row_start, T,
                      REVERSE: tl.constexpr, BLOCK_T: tl.constexpr, COMPUTE: tl.constexpr, EXACT: tl.constexpr):
    """The gradients of one row, by a scan from the end, stored; returns the last g (see `scan_chunk`)."""
    STEP: tl.constexpr = -1 if REVERSE else 1                       # the forward pass moves t by STEP
    carry = tl.zeros((), COMPUTE)                                   # g of the step after this chunk
    for chunk in range(0, tl.cdiv(T, BLOCK_T)):
        lane, t, valid = chunk_positions(chunk, T, BLOCK_T, not REVERSE)
        has_next = valid & (t + STEP >= 0) & (t + STEP < T)
        a_next = tl.load(gates_ptr + row_start + t + STEP, mask=has_next, other=0.0).to(COMPUTE)
        a_next = tl.where(valid, a_next, 1.0)                       # identity past the end; 0 after the last step
        dh = tl.load(grad_out_ptr + row_start + t, mask=valid, other=0.0).to(COMPUTE)
        g, carry = scan_chunk(a_next, dh, carry, lane, BLOCK_T, EXACT)
        has_previous = valid & (t - STEP >= 0) & (t - STEP < T)
        h_previous = tl.load(states_ptr + row_start + t - STEP, mask=has_previous, other=0.0).to(COMPUTE)
        tl.store(grad_tokens_ptr + row_start + t, g.to(grad_tokens_ptr.dtype.element_ty), mask=valid)
        tl.store(grad_gates_ptr + row_start + t, (g * h_previous).to(grad_gates_ptr.dtype.element_ty), mask=valid)
    return carry


@triton.jit
def complex_scan_row(gates_re_ptr, gates_im_ptr, tokens_re_ptr, tokens_im_ptr, out_re_ptr, out_im_ptr, row_start, T,
                     STRIDE: tl.constexpr, REVERSE: tl.constexpr, BLOCK_T: tl.constexpr, COMPUTE: tl.constexpr,
                     EXACT: tl.constexpr):
    """`scan_row` for complex parts; returns (last_re, last_im)."""
    carry_re, carry_im = tl.zeros((), COMPUTE), tl.zeros((), COMPUTE)
    for chunk in range(0, tl.cdiv(T, BLOCK_T)):
        lane, t, valid = chunk_positions(chunk, T, BLOCK_T, REVERSE)
        at = (row_start + t) * STRIDE
        ar = tl.load(gates_re_ptr + at, mask=valid, other=1.0).to(COMPUTE)        # identity (1 + 0i, 0)
        ai = tl.load(gates_im_ptr + at, mask=valid, other=0.0).to(COMPUTE)
        br = tl.load(tokens_re_ptr + at, mask=valid, other=0.0).to(COMPUTE)
        bi = tl.load(tokens_im_ptr + at, mask=valid, other=0.0).to(COMPUTE)
        hr, hi, carry_re, carry_im = complex_scan_chunk(ar, ai, br, bi, carry_re, carry_im, lane, BLOCK_T, EXACT)
        tl.store(out_re_ptr + at, hr.to(out_re_ptr.dtype.element_ty), mask=valid)
        tl.store(out_im_ptr + at, hi.to(out_im_ptr.dtype.element_ty), mask=valid)
    return carry_re, carry_im


@triton.jit
def complex_scan_row_backward(gates_re_ptr, gates_im_ptr, states_re_ptr, states_im_ptr, grad_re_ptr, grad_im_ptr,
                              dgates_re_ptr, dgates_im_ptr, dtokens_re_ptr, dtokens_im_ptr, row_start, T,
                              STRIDE: tl.constexpr, REVERSE: tl.constexpr, BLOCK_T: tl.constexpr,
                              COMPUTE: tl.constexpr, EXACT: tl.constexpr):
    """`scan_row_backward` for complex parts; returns (last_re, last_im)."""
    STEP: tl.constexpr = -1 if REVERSE else 1
    carry_re, carry_im = tl.zeros((), COMPUTE), tl.zeros((), COMPUTE)
    for chunk in range(0, tl.cdiv(T, BLOCK_T)):
        lane, t, valid = chunk_positions(chunk, T, BLOCK_T, not REVERSE)
        at = (row_start + t) * STRIDE
        has_next = valid & (t + STEP >= 0) & (t + STEP < T)
        ar = tl.where(valid, tl.load(gates_re_ptr + at + STEP * STRIDE, mask=has_next, other=0.0).to(COMPUTE), 1.0)
        ai = -tl.load(gates_im_ptr + at + STEP * STRIDE, mask=has_next, other=0.0).to(COMPUTE)   # conj(a_{t+1})
        dr = tl.load(grad_re_ptr + at, mask=valid, other=0.0).to(COMPUTE)
        di = tl.load(grad_im_ptr + at, mask=valid, other=0.0).to(COMPUTE)
        gr, gi, carry_re, carry_im = complex_scan_chunk(ar, ai, dr, di, carry_re, carry_im, lane, BLOCK_T, EXACT)
        has_previous = valid & (t - STEP >= 0) & (t - STEP < T)
        hr = tl.load(states_re_ptr + at - STEP * STRIDE, mask=has_previous, other=0.0).to(COMPUTE)
        hi = tl.load(states_im_ptr + at - STEP * STRIDE, mask=has_previous, other=0.0).to(COMPUTE)
        tl.store(dtokens_re_ptr + at, gr.to(dtokens_re_ptr.dtype.element_ty), mask=valid)
        tl.store(dtokens_im_ptr + at, gi.to(dtokens_im_ptr.dtype.element_ty), mask=valid)
        tl.store(dgates_re_ptr + at, (gr * hr + gi * hi).to(dgates_re_ptr.dtype.element_ty), mask=valid)
        tl.store(dgates_im_ptr + at, (gi * hr - gr * hi).to(dgates_im_ptr.dtype.element_ty), mask=valid)
    return carry_re, carry_im


# Each kernel scans its row with the plain combine and, only if that left an inf or NaN in it (the last state
# is then NaN or ±inf), scans the row again with exact zeros (see the module docstring). Two loops one after the
# other, rather than a rescan inside the loop, keep the exact scan's registers off the fast path.


@triton.jit
def scan_forward_kernel(
    gates_ptr,                # (rows, T) contiguous: a_t
    tokens_ptr,               # (rows, T) contiguous: b_t
    out_ptr,                  # (rows, T) contiguous: h_t, written
    T,                        # sequence length, ≥ 1
    REVERSE: tl.constexpr,    # False: h_t = a_t h_{t-1} + b_t;  True: h_t = a_t h_{t+1} + b_t
    BLOCK_T: tl.constexpr,    # steps per chunk, a power of two
    COMPUTE: tl.constexpr,    # tl.float32 (tl.float64 for float64 inputs)
):
    row_start = tl.program_id(0).to(tl.int64) * T
    last = scan_row(gates_ptr, tokens_ptr, out_ptr, row_start, T, REVERSE, BLOCK_T, COMPUTE, False)
    if needs_exact_rescan(last):
        scan_row(gates_ptr, tokens_ptr, out_ptr, row_start, T, REVERSE, BLOCK_T, COMPUTE, True)


@triton.jit
def scan_backward_kernel(
    gates_ptr,                # (rows, T): a_t of the forward pass
    states_ptr,               # (rows, T): h_t the forward pass returned
    grad_out_ptr,             # (rows, T): ∂L/∂h_t
    grad_gates_ptr,           # (rows, T): ∂L/∂a_t, written
    grad_tokens_ptr,          # (rows, T): ∂L/∂b_t = g_t, written
    T,                        # sequence length, ≥ 1
    REVERSE: tl.constexpr,    # the direction of the forward pass (this pass runs the other way)
    BLOCK_T: tl.constexpr,    # steps per chunk, a power of two
    COMPUTE: tl.constexpr,    # tl.float32 or tl.float64
):
    row_start = tl.program_id(0).to(tl.int64) * T
    last = scan_row_backward(gates_ptr, states_ptr, grad_out_ptr, grad_gates_ptr, grad_tokens_ptr, row_start, T,
                             REVERSE, BLOCK_T, COMPUTE, False)
    if needs_exact_rescan(last):
        scan_row_backward(gates_ptr, states_ptr, grad_out_ptr, grad_gates_ptr, grad_tokens_ptr, row_start, T,
                          REVERSE, BLOCK_T, COMPUTE, True)


@triton.jit
def complex_scan_forward_kernel(
    gates_re_ptr, gates_im_ptr,     # (rows, T) parts of a_t; element t of a row at (row·T + t)·STRIDE
    tokens_re_ptr, tokens_im_ptr,   # (rows, T) parts of b_t
    out_re_ptr, out_im_ptr,         # (rows, T) parts of h_t, written
    T,                              # sequence length, ≥ 1
    STRIDE: tl.constexpr,           # 1 for separate part tensors, 2 for interleaved complex storage
    REVERSE: tl.constexpr,          # run the recurrence from the end
    BLOCK_T: tl.constexpr,          # steps per chunk, a power of two
    COMPUTE: tl.constexpr,          # tl.float32 or tl.float64
):
    row_start = tl.program_id(0).to(tl.int64) * T
    last_re, last_im = complex_scan_row(gates_re_ptr, gates_im_ptr, tokens_re_ptr, tokens_im_ptr, out_re_ptr,
                                        out_im_ptr, row_start, T, STRIDE, REVERSE, BLOCK_T, COMPUTE, False)
    if needs_exact_rescan(last_re) | needs_exact_rescan(last_im):
        complex_scan_row(gates_re_ptr, gates_im_ptr, tokens_re_ptr, tokens_im_ptr, out_re_ptr, out_im_ptr, row_start,
                         T, STRIDE, REVERSE, BLOCK_T, COMPUTE, True)


@triton.jit
def complex_scan_backward_kernel(
    gates_re_ptr, gates_im_ptr,     # (rows, T) parts of a_t of the forward pass
    states_re_ptr, states_im_ptr,   # (rows, T) parts of h_t the forward pass returned
    grad_re_ptr, grad_im_ptr,       # (rows, T) parts of ∂L/∂h_t (PyTorch's convention: ∂L/∂Re + i ∂L/∂Im)
    dgates_re_ptr, dgates_im_ptr,   # (rows, T) parts of ∂L/∂a_t = g_t·conj(h_{t−1}), written
    dtokens_re_ptr, dtokens_im_ptr,  # (rows, T) parts of ∂L/∂b_t = g_t, written
    T,                              # sequence length, ≥ 1
    STRIDE: tl.constexpr,           # 1 for separate part tensors, 2 for interleaved complex storage
    REVERSE: tl.constexpr,          # the direction of the forward pass
    BLOCK_T: tl.constexpr,          # steps per chunk, a power of two
    COMPUTE: tl.constexpr,          # tl.float32 or tl.float64
):
    row_start = tl.program_id(0).to(tl.int64) * T
    last_re, last_im = complex_scan_row_backward(
        gates_re_ptr, gates_im_ptr, states_re_ptr, states_im_ptr, grad_re_ptr, grad_im_ptr, dgates_re_ptr,
        dgates_im_ptr, dtokens_re_ptr, dtokens_im_ptr, row_start, T, STRIDE, REVERSE, BLOCK_T, COMPUTE, False)
    if needs_exact_rescan(last_re) | needs_exact_rescan(last_im):
        complex_scan_row_backward(
            gates_re_ptr, gates_im_ptr, states_re_ptr, states_im_ptr, grad_re_ptr, grad_im_ptr, dgates_re_ptr,
            dgates_im_ptr, dtokens_re_ptr, dtokens_im_ptr, row_start, T, STRIDE, REVERSE, BLOCK_T, COMPUTE, True)


# ---------------------------------------------------------------------------------------------
# Launchers: every check happens here, in Python, before anything is launched
# ---------------------------------------------------------------------------------------------


def check_sequences(names: tuple[str, ...], tensors: tuple, allowed: tuple[torch.dtype, ...]) -> tuple[int, int, int]:
    """All `tensors` must be contiguous (batch, channels, T) tensors, T ≥ 1, of one shape and one allowed dtype."""
    first = names[0]
    for name, value in zip(names, tensors, strict=True):
        require_tensor(name, value, ndim=3, dtypes=allowed)
    shape = tuple(tensors[0].shape)                                 # (batch, channels, T)
    for name, value in zip(names[1:], tensors[1:], strict=True):
        require_shape(name, value, shape, meaning=f"(batch, channels, T) of `{first}`")
        require_tensor(name, value, dtypes=(tensors[0].dtype,))    # the dtype of `first`
    require_int(f"{first}.shape[-1] (the sequence length T)", shape[2], minimum=1)
    for name, value in zip(names, tensors, strict=True):
        require_contiguous(name, value)
        if value.is_conj():  # kernels read raw memory, where a lazily conjugated view holds the unconjugated numbers
            raise ValueError(f"`{name}` must not be a lazily conjugated view; call `.resolve_conj()` first.")
    return shape


def check_scan_arguments(names: tuple[str, ...], tensors: tuple, allowed: tuple[torch.dtype, ...], reverse,
                         block_t) -> tuple[bool, int]:
    """Check a launcher's arguments and return (reverse, block_t). Where the tensors live is checked last, so
    that when one argument is at fault its own error comes first, compiled or interpreted."""
    T = check_sequences(names, tensors, allowed)[2]
    reverse, block_t = require_bool("reverse", reverse), choose_block_t(T, block_t)
    for name, value in zip(names, tensors, strict=True):
        require_kernel_device(name, value)
    return reverse, block_t


def choose_block_t(T: int, block_t: int | None = None) -> int:
    """Steps per chunk: `block_t` if given (a power of two in [16, 8192]), else T rounded up to a power of two,
    at most 1024."""
    if block_t is None:
        return max(MIN_BLOCK_T, min(triton.next_power_of_2(T), DEFAULT_MAX_BLOCK_T))
    return require_power_of_two("block_t", block_t, MIN_BLOCK_T, MAX_BLOCK_T)


def _launch_options(block_t: int, dtype: torch.dtype) -> dict:
    """Compile-time options shared by every launch: chunk size, compute dtype and (on a GPU) warps."""
    options = {"BLOCK_T": block_t, "COMPUTE": tl.float64 if dtype in (torch.float64, torch.complex128) else tl.float32}
    if not INTERPRETED:
        options["num_warps"] = max(1, min(8, block_t // 256))
    return options


class _Scan(torch.autograd.Function):
    """h = scan(gates, tokens); the backward pass is one fused reverse-scan kernel."""

    @staticmethod
    def forward(ctx, gates, tokens, reverse, block_t):               # (batch, channels, T) each
        batch, channels, T = gates.shape
        states = torch.empty_like(tokens)
        if batch * channels:
            scan_forward_kernel[(batch * channels,)](gates, tokens, states, T, REVERSE=reverse,
                                                     **_launch_options(block_t, gates.dtype))
        ctx.save_for_backward(gates, states)
        ctx.reverse, ctx.block_t = reverse, block_t
        return states

    @staticmethod
    def backward(ctx, grad_states):                                   # (batch, channels, T)
        gates, states = ctx.saved_tensors
        grad_states = grad_states.contiguous()
        grad_gates, grad_tokens = torch.empty_like(gates), torch.empty_like(states)
        batch, channels, T = gates.shape
        if batch * channels:
            scan_backward_kernel[(batch * channels,)](gates, states, grad_states, grad_gates, grad_tokens, T,
                                                      REVERSE=ctx.reverse, **_launch_options(ctx.block_t, gates.dtype))
        return grad_gates, grad_tokens, None, None


def scan(gates: torch.Tensor, tokens: torch.Tensor, reverse: bool = False, *,
         block_t: int | None = None) -> torch.Tensor:
    """h_t = gates_t·h_{t−1} + tokens_t along the last dim of (batch, channels, T) tensors; differentiable.

    The call of accelerated-scan's `scan(gates, tokens)`. Contiguous float32, float16, bfloat16 (or float64)
    tensors of one shape and dtype, any T ≥ 1; computed in float32 (float64), returned in the input dtype.
    `reverse=True` computes h_t = gates_t·h_{t+1} + tokens_t. `block_t` sets the chunk length (a power of two).
    """
    reverse, block_t = check_scan_arguments(("gates", "tokens"), (gates, tokens), REAL_DTYPES, reverse, block_t)
    return _Scan.apply(gates, tokens, reverse, block_t)


# ---------------------------------------------------------------------------------------------
# The complex variant: parts as separate tensors, or complex tensors read in place (stride 2)
# ---------------------------------------------------------------------------------------------


def _launch_complex(kernel, parts: list[torch.Tensor], rows: int, T: int, stride: int, reverse: bool,
                    block_t: int, dtype: torch.dtype) -> None:
    """Launch a complex kernel on its part tensors (views of complex storage when stride is 2)."""
    if rows:
        kernel[(rows,)](*parts, T, STRIDE=stride, REVERSE=reverse, **_launch_options(block_t, dtype))


def _split(z: torch.Tensor) -> list[torch.Tensor]:
    """The (real, imaginary) parts of complex storage as strided real views, no copy."""
    pairs = torch.view_as_real(z)                                     # (..., 2)
    return [pairs[..., 0], pairs[..., 1]]


class _ComplexScan(torch.autograd.Function):
    """Complex tensors in, complex tensors out; the kernels read and write the interleaved parts in place."""

    @staticmethod
    def forward(ctx, gates, tokens, reverse, block_t):               # complex (batch, channels, T)
        batch, channels, T = gates.shape
        states = torch.empty_like(tokens)
        _launch_complex(complex_scan_forward_kernel, _split(gates) + _split(tokens) + _split(states),
                        batch * channels, T, 2, reverse, block_t, gates.dtype)
        ctx.save_for_backward(gates, states)
        ctx.reverse, ctx.block_t = reverse, block_t
        return states

    @staticmethod
    def backward(ctx, grad_states):                                   # complex (batch, channels, T)
        gates, states = ctx.saved_tensors
        grad_states = grad_states.resolve_conj().contiguous()
        grad_gates, grad_tokens = torch.empty_like(gates), torch.empty_like(states)
        batch, channels, T = gates.shape
        parts = _split(gates) + _split(states) + _split(grad_states) + _split(grad_gates) + _split(grad_tokens)
        _launch_complex(complex_scan_backward_kernel, parts, batch * channels, T, 2, ctx.reverse, ctx.block_t,
                        gates.dtype)
        return grad_gates, grad_tokens, None, None


class _ComplexScanParts(torch.autograd.Function):
    """Four real part tensors in, two out: for float16/bfloat16 parts, which torch has no complex dtype for."""

    @staticmethod
    def forward(ctx, gates_re, gates_im, tokens_re, tokens_im, reverse, block_t):
        batch, channels, T = gates_re.shape
        states_re, states_im = torch.empty_like(tokens_re), torch.empty_like(tokens_im)
        _launch_complex(complex_scan_forward_kernel, [gates_re, gates_im, tokens_re, tokens_im, states_re, states_im],
                        batch * channels, T, 1, reverse, block_t, gates_re.dtype)
        ctx.save_for_backward(gates_re, gates_im, states_re, states_im)
        ctx.reverse, ctx.block_t = reverse, block_t
        return states_re, states_im

    @staticmethod
    def backward(ctx, grad_re, grad_im):
        gates_re, gates_im, states_re, states_im = ctx.saved_tensors
        grad_re = torch.zeros_like(states_re) if grad_re is None else grad_re.contiguous()
        grad_im = torch.zeros_like(states_im) if grad_im is None else grad_im.contiguous()
        outs = [torch.empty_like(gates_re) for _ in range(4)]         # dgates re, im; dtokens re, im
        batch, channels, T = gates_re.shape
        parts = [gates_re, gates_im, states_re, states_im, grad_re, grad_im, *outs]
        _launch_complex(complex_scan_backward_kernel, parts, batch * channels, T, 1, ctx.reverse, ctx.block_t,
                        gates_re.dtype)
        return (*outs, None, None)


def complex_scan(gates: torch.Tensor, tokens: torch.Tensor, reverse: bool = False, *,
                 block_t: int | None = None) -> torch.Tensor:
    """`scan` for complex64/complex128 (batch, channels, T) tensors; real and imaginary parts are carried
    separately through the combine, read in place from the complex storage. Differentiable."""
    reverse, block_t = check_scan_arguments(("gates", "tokens"), (gates, tokens), COMPLEX_DTYPES, reverse, block_t)
    return _ComplexScan.apply(gates, tokens, reverse, block_t)


def complex_scan_parts(gates_real: torch.Tensor, gates_imag: torch.Tensor, tokens_real: torch.Tensor,
                       tokens_imag: torch.Tensor, reverse: bool = False, *,
                       block_t: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`complex_scan` on separate real and imaginary parts (any of scan's real dtypes): returns (h_real, h_imag)."""
    names = ("gates_real", "gates_imag", "tokens_real", "tokens_imag")
    parts = (gates_real, gates_imag, tokens_real, tokens_imag)
    reverse, block_t = check_scan_arguments(names, parts, REAL_DTYPES, reverse, block_t)
    return _ComplexScanParts.apply(*parts, reverse, block_t)


# ---------------------------------------------------------------------------------------------
# Reference
# ---------------------------------------------------------------------------------------------


def scan_reference(gates: torch.Tensor, tokens: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """The loop from lesson 04 (`lessons.scan.sequential_scan`), real or complex, in the input dtype.

    Memory traffic of any scan: read gates and tokens, write h, 3·batch·channels·T elements. That is the
    least a kernel can move, so a fast scan runs at the speed of copying memory.
    """
    if reverse:
        return sequential_scan(gates.flip(-1), tokens.flip(-1), dim=-1).flip(-1)
    return sequential_scan(gates, tokens, dim=-1)
