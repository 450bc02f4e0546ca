"""Solutions to lesson 07's exercises. The kernels (exercises 4 and 5) are what the learner writes in the notebook;
their checks run them in a child process, with the names the notebook imports: triton, tl, combine, last_lane."""
import kernels.device  # noqa: F401  (first: it switches Triton's interpreter on before any @triton.jit)
import torch
import triton
import triton.language as tl

from kernels.scan import combine, last_lane


def kernel_combine(a1, b1, a2, b2):
    """Exercise 1: the four-argument combine for tl.associative_scan."""
    return a1 * a2, a2 * b1 + b2


def block_mask(block_start, block_size, n):
    """Exercise 2: lanes whose offset is inside the sequence."""
    return block_start + torch.arange(block_size) < n


def fused_bytes(batch, dim, length, state, element_bytes):
    """Exercise 3: u, Δ, z in and y out (batch, dim, L); B, C in (batch, N, L)."""
    return element_bytes * (4 * batch * dim * length + 2 * batch * state * length)


@triton.jit
def affine_kernel(x_ptr, y_ptr, T, BLOCK: tl.constexpr):
    """Exercise 4: y = 2·x + 1 for x (T,), one program per block of BLOCK elements, the last block masked."""
    pid = tl.program_id(0)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < T
    x = tl.load(x_ptr + offsets, mask=mask)
    tl.store(y_ptr + offsets, 2 * x + 1, mask=mask)


@triton.jit
def chunked_scan_kernel(gates_ptr, tokens_ptr, out_ptr, T, BLOCK_T: tl.constexpr):
    """Exercise 5: h_t = a_t·h_{t−1} + b_t along each row of (rows, T), one program per row, in chunks of BLOCK_T."""
    row_start = tl.program_id(0) * T
    lane = tl.arange(0, BLOCK_T)
    carry = tl.zeros((), tl.float32)                                  # h before this chunk: h_{−1} = 0
    for chunk in range(0, tl.cdiv(T, BLOCK_T)):
        t = chunk * BLOCK_T + lane
        valid = t < T
        a = tl.load(gates_ptr + row_start + t, mask=valid, other=1.0)     # the identity (1, 0) past the end
        b = tl.load(tokens_ptr + row_start + t, mask=valid, other=0.0)
        a_prefix, b_prefix = tl.associative_scan((a, b), 0, combine)
        h = a_prefix * carry + b_prefix                                   # the carry, through the chunk's gates
        carry = last_lane(h, lane, BLOCK_T)                               # the state the next chunk starts from
        tl.store(out_ptr + row_start + t, h, mask=valid)
