"""A first Triton kernel: the cumulative sum of each row, with `tl.associative_scan`.

It is the smallest scan there is: the combine is `+`. Lesson 07's linear-recurrence scan uses the same
machinery with the combine (a₁, b₁)∘(a₂, b₂) = (a₁a₂, a₂b₁ + b₂).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.device import check_launchable

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
    row = tl.program_id(0)
    offsets = tl.arange(0, BLOCK)
    mask = offsets < n                                         # rows shorter than BLOCK stay in bounds
    x = tl.load(x_ptr + row * n + offsets, mask=mask, other=0.0).to(tl.float32)  # upcast bf16/fp16
    y = tl.associative_scan(x, 0, _add)
    tl.store(out_ptr + row * n + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def cumsum(x: torch.Tensor) -> torch.Tensor:
    """Cumulative sum along the last dimension of a 2-D tensor (rows, n), n ≤ 4096, computed in float32."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"`x` must be a 2-D tensor (rows, n), got {getattr(x, 'shape', type(x).__name__)}.")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"`x` must be float32, float16 or bfloat16, got {x.dtype}.")
    rows, n = x.shape
    if not 1 <= n <= MAX_BLOCK:
        raise ValueError(f"`x` rows must have length 1..{MAX_BLOCK}, got {n}.")
    check_launchable("x", x)
    out = torch.empty_like(x)
    if rows:
        cumsum_kernel[(rows,)](x, out, n, BLOCK=triton.next_power_of_2(n))
    return out


def cumsum_reference(x: torch.Tensor) -> torch.Tensor:
    """PyTorch reference, computed in float32. Memory traffic: read n and write n elements per row."""
    return x.float().cumsum(dim=-1).to(x.dtype)
