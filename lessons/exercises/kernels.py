"""Lesson 07 exercises: the combine a scan kernel needs, a tail mask, and the bytes a fused kernel moves."""
from __future__ import annotations

import torch

from lessons.checking import (CheckResult, call_learner, exercise_check, read_number, read_pair, read_tensor, right,
                              wrong)
from lessons.memory_traffic import DTYPE_BYTES, sequence_bytes

MASK_CASES = [(0, 8, 20), (16, 8, 20), (8, 8, 16), (0, 32, 7), (96, 32, 97), (0, 4, 1)]   # (block_start, BLOCK, n)
STATE_FLOAT = 4   # bytes of a float32 state element
BYTES_CASES = [(8, 1536, 4096, 16, "bfloat16"), (1, 7, 13, 3, "float32"), (2, 64, 1000, 64, "float16")]


@exercise_check(expects="a function fn(a1, b1, a2, b2) returning a pair of tensors (a, b) shaped like a1")
def check_kernel_combine(fn) -> CheckResult:
    """Exercise 1: fn(a1, b1, a2, b2) -> (a, b), the combine in the four-argument form tl.associative_scan calls."""
    generator = torch.Generator().manual_seed(1)
    a1, b1, a2, b2 = (torch.rand(6, generator=generator, dtype=torch.float64) + 0.1 for _ in range(4))
    value = call_learner(fn, a1, b1, a2, b2, hint="return two values: the combined gate and the combined token.")
    a, b = (read_tensor(part, tuple(a1.shape), f"your {name}",
                        hint="return a tuple (a, b): Triton's combine returns one value per input tensor.")
            for part, name in zip(read_pair(value, "(a, b)"), "ab", strict=True))
    if not torch.allclose(a, a1 * a2):
        return wrong("the gate part is off.", "gates multiply: a = a1 * a2.")
    if torch.allclose(b, a1 * b2 + b1):
        return wrong("you gated the later token with the earlier gate.",
                     "the earlier state b1 goes through the later gate: a2 * b1 + b2.")
    if not torch.allclose(b, a2 * b1 + b2):
        return wrong("the token part is off.", "b = a2 * b1 + b2, the same combine as lesson 04.")
    return right("this is exactly the combine kernels/scan.py passes to tl.associative_scan.")


@exercise_check(expects="a function fn(block_start, BLOCK, n) returning a bool tensor of shape (BLOCK,)")
def check_block_mask(fn) -> CheckResult:
    """Exercise 2: fn(block_start, BLOCK, n) -> bool tensor (BLOCK,), True where offset block_start + i < n."""
    for start, block, n in MASK_CASES:
        value = call_learner(fn, start, block, n,
                             hint="build offsets = block_start + torch.arange(BLOCK) and compare them with n.")
        mask = read_tensor(value, (block,), f"for block_start={start}, BLOCK={block} your mask", dtype=torch.bool,
                           hint="one True/False per lane of the block: compare the offsets with n.")
        offsets = start + torch.arange(block)
        if torch.equal(mask, offsets < n):
            continue
        if torch.equal(mask, offsets <= n):
            return wrong(f"with n = {n} your mask lets lane {n - start} read offset {n}, one past the end.",
                         "valid offsets are 0 … n−1: use <, not <=. On a GPU that read is garbage; "
                         "in the interpreter it can crash.")
        return wrong(f"for block_start={start}, BLOCK={block}, n={n} the mask is wrong.",
                     "a lane is valid when its offset block_start + i is below n; the last block is usually partial.")
    return right("offsets < n: every load and store of the last, partial block is masked.")


@exercise_check(expects="a function fn(batch, dim, length, state, element_bytes) returning a whole number of bytes")
def check_fused_bytes(fn) -> CheckResult:
    """Exercise 3: fn(batch, dim, length, state, element_bytes) -> bytes the fused kernel moves for u, Δ, z, B, C in
    and y out (A, D and delta_bias are tiny: leave them out)."""
    for batch, dim, length, state, dtype in BYTES_CASES:
        value = call_learner(fn, batch, dim, length, state, DTYPE_BYTES[dtype],
                             hint="count tensors: four of shape (batch, dim, L) and two of shape (batch, N, L).")
        count = read_number(value, "the number of bytes, one whole number",
                            what=f"for batch={batch}, dim={dim}, L={length}, N={state} your result")
        expected = sequence_bytes(batch, dim, length, state, dtype)
        if count == expected:
            continue
        if count == expected + 6 * STATE_FLOAT * batch * dim * length * state:
            return wrong("that is the naive count: the (batch, dim, L, N) intermediates never leave the chip "
                         "when fused.", "only the inputs and y cross HBM.")
        if count == DTYPE_BYTES[dtype] * 4 * batch * dim * length * state:
            return wrong("you multiplied the (batch, dim, L) tensors by N.",
                         "u, Δ, z and y have no N dimension; only B and C do.")
        return wrong(f"for batch={batch}, dim={dim}, L={length}, N={state}, {dtype}: you said {count:.12g}, "
                     f"expected {expected}.", "u, Δ, z in and y out are (batch, dim, L); B and C are (batch, N, L); "
                     "multiply by element_bytes.")
    return right("inputs once, y once: the state size N only enters through B and C, "
                 "which is why N = 16 is nearly free.")
