"""A first Triton kernel: the cumulative sum of each row, with `tl.associative_scan`.

It is the smallest scan there is: the combine is `+`. Lesson 07's linear-recurrence scan uses the same
machinery with the combine (a₁, b₁)∘(a₂, b₂) = (a₁a₂, a₂b₁ + b₂). The backward pass of a cumulative sum is
a cumulative sum too, run from the end: ∂L/∂x_i = Σ_{j ≥ i} ∂L/∂y_j.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.device import require_kernel_device
from lessons.checks import require_contiguous, require_int, require_tensor

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_BLOCK = 4096  # one program scans one row in one block; longer rows need lesson 07's chunked scan


@triton.jit
def _add(a, b):
    """The combine of a cumulative sum."""
    return a + b


@triton.jit
def cumsum_kernel(
    x_ptr,                    # input, (rows, n) contiguous
    out_ptr,                  # output, same shape
    n,                        # row length
    BLOCK: tl.constexpr,      # power of two ≥ n
):
    row = tl.program_id(0).to(tl.int64)                        # int64: rows·n may pass 2³¹
    offsets = tl.arange(0, BLOCK)
    mask = offsets < n                                         # rows shorter than BLOCK stay in bounds
    x = tl.load(x_ptr + row * n + offsets, mask=mask, other=0.0).to(tl.float32)  # upcast bf16/fp16
    y = tl.associative_scan(x, 0, _add)
    tl.store(out_ptr + row * n + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def _launch_cumsum(x: torch.Tensor) -> torch.Tensor:
    """Run the kernel on a checked, contiguous (rows, n) tensor: one program per row."""
    rows, n = x.shape
    out = torch.empty_like(x)
    if rows:
        cumsum_kernel[(rows,)](x, out, n, BLOCK=triton.next_power_of_2(n))
    return out


class _Cumsum(torch.autograd.Function):
    """y = cumsum(x) along rows; the backward pass is the same kernel on the reversed gradient."""

    @staticmethod
    def forward(ctx, x):                                              # (rows, n)
        return _launch_cumsum(x)

    @staticmethod
    def backward(ctx, grad_out):                                      # (rows, n)
        return _launch_cumsum(grad_out.flip(-1).contiguous()).flip(-1)


def cumsum(x: torch.Tensor) -> torch.Tensor:
    """Cumulative sum along the last dimension of a 2-D tensor (rows, n), n ≤ 4096, computed in float32.

    Contiguous float32, float16 or bfloat16 on the kernel device; differentiable."""
    require_tensor("x", x, ndim=2, dtypes=DTYPES)
    require_int("x.shape[-1] (the row length n)", x.shape[1], minimum=1, maximum=MAX_BLOCK)
    require_contiguous("x", x)
    require_kernel_device("x", x)
    return _Cumsum.apply(x)


def cumsum_reference(x: torch.Tensor) -> torch.Tensor:
    """PyTorch reference, computed in float32. Memory traffic: read n and write n elements per row."""
    return x.float().cumsum(dim=-1).to(x.dtype)
