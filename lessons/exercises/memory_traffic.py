"""Lesson 07 exercises: the combine a scan kernel needs, a tail mask, the bytes a fused kernel moves, and two
Triton kernels the learner writes: a masked block with a tail, and the carry between the chunks of a scan.

The kernel checks never launch the learner's kernel in the notebook's process (an unmasked lane can crash it):
`lessons.kernel_sandbox` reads the source, rejects what the source alone shows (no mask, no store, a `...` left),
and runs every case in one child process through Triton's interpreter. The output buffer is padded past T with
`UNWRITTEN`, so elements never stored and elements stored past the end can both be seen. A wrong answer is
compared with what each typical mistake produces (`CARRY_RULES`, `chunked_scans`) and named in words.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from lessons import kernel_sandbox as sandbox
from lessons.checking import (CheckResult, NotYet, call_learner, close, exercise_check, read_number, read_pair,
                              read_tensor, right, wrong)
from lessons.memory_traffic import DTYPE_BYTES, sequence_bytes
from lessons.scan import sequential_scan

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
                 "which is why N = 16 is nearly free in bytes (section 3: not in time).")


# ------------------------------------------------------------------------------------------ kernels the learner writes
KERNEL_IMPORTS = "import triton\nimport triton.language as tl\nfrom kernels.scan import combine, last_lane"
UNWRITTEN = -999.0      # fills every output before the run: an element still holding it was never stored
BLOCK_CASES = [(37, 16), (100, 32), (1000, 64), (1, 16)]   # (T, BLOCK): each T leaves a partial last block
CARRY_CASES = [(37, 16), (100, 16), (1000, 64), (1, 16)]   # (T, BLOCK_T): 3, 7, 16 and 1 chunks
CARRY_ROWS = 2          # programs, one per row of (CARRY_ROWS, T)
CARRY_RTOL = CARRY_ATOL = 1e-4   # the kernel scans in float32, the references in float64


def _cdiv(n: int, block: int) -> int:
    """How many blocks of `block` cover n elements (the last one possibly partial)."""
    return -(-n // block)


def _padded(values: torch.Tensor, pad: int, fill: float) -> torch.Tensor:
    """values (n,) followed by `pad` elements equal to `fill`: room for a wrong mask to land in, where it shows."""
    return torch.cat([values, torch.full((pad,), fill, dtype=values.dtype)])


def _require_nothing_past_the_end(out: torch.Tensor, n: int, where: str) -> None:
    """NotYet if any element of `out` (n valid elements, then padding) past n was stored."""
    past = (out[n:] != UNWRITTEN).nonzero().flatten()
    if len(past):
        more = f" and {len(past) - 1} more" if len(past) > 1 else ""
        raise NotYet(f"values past T were written: {where}, your kernel stored element {n + int(past[0])}{more}, past "
                     f"the last element {n - 1}. On a GPU that overwrites someone else's memory.",
                     "the mask must be False for every lane whose offset is ≥ T: mask = offsets < T (not <=).")


@exercise_check(expects="a @triton.jit kernel (x_ptr, y_ptr, T, BLOCK: tl.constexpr) that stores y = 2·x + 1")
def check_block_kernel(kernel) -> CheckResult:
    """Exercise 4: one program per block of BLOCK elements stores y = 2·x + 1 for x of any length T, masking the
    partial last block; run on T = 37, 100, 1000, 1 in the interpreter, in a child process."""
    learner = sandbox.learner_kernel(kernel, "(x_ptr, y_ptr, T, BLOCK)")
    sandbox.require_finished(learner)
    sandbox.require_masks(learner)
    generator = torch.Generator().manual_seed(4)
    launches = [sandbox.Launch(f"T = {T}, BLOCK = {block}", _cdiv(T, block),
                               (_padded(torch.randn(T, generator=generator), block, float("nan")),   # x (T + BLOCK,)
                                torch.full((T + block,), UNWRITTEN), T, block))                      # y (T + BLOCK,)
                for T, block in BLOCK_CASES]
    results = sandbox.run_learner_kernel(learner, launches, KERNEL_IMPORTS)
    for (T, block), (x, y, _, _) in zip(BLOCK_CASES, results, strict=True):
        _diagnose_block(x[:T], y, T, block)
    return right("offsets from tl.program_id, one mask for the load and the store: the partial last block is "
                 "written, and nothing past T is.")


def _diagnose_block(x: torch.Tensor, y: torch.Tensor, T: int, block: int) -> None:
    """NotYet naming what is wrong with y (T + BLOCK,) against 2·x + 1 for x (T,); None if y is right."""
    where = f"with T = {T} and BLOCK = {block}"
    _require_nothing_past_the_end(y, T, where)
    y, expected = y[:T], 2 * x + 1
    correct, written = torch.isclose(y, expected, rtol=1e-6, atol=1e-6), y != UNWRITTEN
    tail = T - T % block                                   # where the partial last block starts
    if correct.all():
        return
    if not written.any():
        raise NotYet(f"{where}, nothing was written to y.", "store the result with the mask: "
                     "tl.store(y_ptr + offsets, 2 * x + 1, mask=mask).")
    if T % block and correct[:tail].all() and not written[tail:].any():
        raise NotYet(f"the last, partial block was not written (tail): {where}, y[{tail}] … y[{T - 1}] were never "
                     "stored.", "a lane is valid when its own offset is below T, even in a block that is only partly "
                     "inside: mask = offsets < T.")
    if correct[:block].all() and not written[block:].any():
        raise NotYet(f"only the first block was written: {where}, every program stored elements 0 … {block - 1}.",
                     "each program owns its own block: offsets = pid * BLOCK + tl.arange(0, BLOCK).")
    if not written.all():
        first = int((~written).nonzero()[0])
        raise NotYet(f"{where}, y[{first}] was never written ({int((~written).sum())} elements below T were not).",
                     "every lane with offset < T must store: mask = offsets < T.")
    if torch.equal(y, x):
        raise NotYet(f"{where}, y equals x: you copied x.", "store 2 * x + 1, computed from the loaded x.")
    first = int((~correct).nonzero()[0])
    block_name = "the first block" if first < block else f"block {first // block} (elements {first - first % block}…)"
    raise NotYet(f"{where}, the values are wrong from {block_name} on: y[{first}] = {float(y[first]):.4g}, expected "
                 f"2·x + 1 = {float(expected[first]):.4g}.", "y = 2 * x + 1, from x loaded at the same offsets.")


# ---- the carry between chunks: what the right rule and each typical mistake compute
# A rule maps one chunk's prefixes and the carry before it to the chunk's states and the next carry:
# (a_prefix (rows, chunk), b_prefix (rows, chunk), carry (rows, 1)) -> (h (rows, chunk), carry (rows, 1)).
CarryRule = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _with_last(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, its last step): the carry is the state at the chunk's last step."""
    return h, h[:, -1:]


CARRY_RULES: dict[str, CarryRule] = {
    "right": lambda a, b, carry: _with_last(a * carry + b),
    "never applied": lambda a, b, carry: (b, carry),                              # each chunk starts from 0
    "applied twice": lambda a, b, carry: (a * carry + b, a[:, -1:] * carry + (a * carry + b)[:, -1:]),
    "applied twice in h": lambda a, b, carry: _with_last(2 * a * carry + b),
    "added to itself": lambda a, b, carry: (a * carry + b, carry + (a * carry + b)[:, -1:]),
    "from b_prefix": lambda a, b, carry: (a * carry + b, b[:, -1:]),
    "not gated": lambda a, b, carry: _with_last(carry + b),
}
_TWICE = ("the carry is applied twice: h = a_prefix·carry + b_prefix already holds the old carry, and it is added "
          "again", "the next carry is just the state at the chunk's last step: carry = last_lane(h, lane, BLOCK_T).")
CARRY_MISTAKES = {   # rule name -> (what is wrong, hint)
    "never applied": ("the carry is never applied: each chunk starts from 0, so h is right in the first chunk and "
                      "wrong after it",
                      "apply the state carried from the previous chunk: h = a_prefix * carry + b_prefix, then pass "
                      "on carry = last_lane(h, lane, BLOCK_T)."),
    "applied twice": _TWICE,
    "applied twice in h": _TWICE,
    "added to itself": _TWICE,
    "from b_prefix": ("the carry forgets all but the previous chunk: you pass on b_prefix's last lane, a scan that "
                      "started from 0, instead of h's", "carry = last_lane(h, lane, BLOCK_T): h holds the old carry."),
    "not gated": ("the carry skips the gates: it is added to every step of the chunk unchanged, but it must decay "
                  "through the gates", "h = a_prefix * carry + b_prefix: a_prefix is the product of the gates from "
                  "the chunk's start to each step."),
}


def chunked_scans(gates: torch.Tensor, tokens: torch.Tensor, block_t: int,
                  rules: dict[str, CarryRule]) -> dict[str, torch.Tensor]:
    """h (rows, T) for each rule, of a scan of gates, tokens (rows, T) walked in chunks of block_t steps: lesson 04's
    scan inside each chunk from 0 (a_prefix, b_prefix), joined to the previous chunks by the rule."""
    carries = {name: torch.zeros_like(gates[:, :1]) for name in rules}                # (rows, 1) each
    states: dict[str, list[torch.Tensor]] = {name: [] for name in rules}
    for start in range(0, gates.shape[-1], block_t):
        a, b = gates[:, start:start + block_t], tokens[:, start:start + block_t]
        a_prefix, b_prefix = a.cumprod(dim=-1), sequential_scan(a, b)
        for name, rule in rules.items():
            h, carries[name] = rule(a_prefix, b_prefix, carries[name])
            states[name].append(h)
    return {name: torch.cat(chunks, dim=-1) for name, chunks in states.items()}


@exercise_check(expects="a @triton.jit kernel (gates_ptr, tokens_ptr, out_ptr, T, BLOCK_T: tl.constexpr) "
                        "that stores h")
def check_chunk_carry(kernel) -> CheckResult:
    """Exercise 5: the chunked first-order scan kernel with the carry between chunks filled in; run on
    CARRY_ROWS rows of T = 37, 100, 1000, 1 in the interpreter, in a child process."""
    learner = sandbox.learner_kernel(kernel, "(gates_ptr, tokens_ptr, out_ptr, T, BLOCK_T)")
    sandbox.require_finished(learner)
    sandbox.require_masks(learner)
    generator = torch.Generator().manual_seed(5)
    launches = [sandbox.Launch(f"T = {T}, BLOCK_T = {block_t}", CARRY_ROWS,
                               (_padded(0.8 + 0.2 * torch.rand(CARRY_ROWS * T, generator=generator), block_t, 1.0),
                                _padded(torch.randn(CARRY_ROWS * T, generator=generator), block_t, float("nan")),
                                torch.full((CARRY_ROWS * T + block_t,), UNWRITTEN), T, block_t))
                for T, block_t in CARRY_CASES]                       # (rows·T + BLOCK_T,) each, rows contiguous
    results = sandbox.run_learner_kernel(learner, launches, KERNEL_IMPORTS)
    for (T, block_t), (gates, tokens, out, _, _) in zip(CARRY_CASES, results, strict=True):
        rows = [tensor[:CARRY_ROWS * T].view(CARRY_ROWS, T).double() for tensor in (gates, tokens)]
        _diagnose_carry(*rows, out, T, block_t)
    return right("h = a_prefix·carry + b_prefix is lesson 04's fix-up, and the last lane is the state the next chunk "
                 "starts from: this is scan_chunk and scan_row in kernels/scan.py.")


def _diagnose_carry(gates: torch.Tensor, tokens: torch.Tensor, out: torch.Tensor, T: int, block_t: int) -> None:
    """NotYet naming what is wrong with out (rows·T + BLOCK_T,) for gates, tokens (rows, T); None if it is right."""
    where = f"with T = {T} and BLOCK_T = {block_t}"
    _require_nothing_past_the_end(out, CARRY_ROWS * T, where)
    h = out[:CARRY_ROWS * T].view(CARRY_ROWS, T).double()
    if (h == UNWRITTEN).any():
        row, t = ((h == UNWRITTEN).nonzero()[0]).tolist()
        raise NotYet(f"{where}, h[{row}, {t}] was never written.", "store h for every valid step of every chunk: "
                     "tl.store(out_ptr + row_start + t, h, mask=valid).")
    scans = chunked_scans(gates, tokens, block_t, CARRY_RULES)
    expected = scans["right"]
    if close(h, expected, CARRY_RTOL, CARRY_ATOL):
        return
    for name, (message, hint) in CARRY_MISTAKES.items():
        if close(h, scans[name], CARRY_RTOL, CARRY_ATOL):
            raise NotYet(f"{message} ({where}: {_cdiv(T, block_t)} chunks).", hint)
    row, t = (~torch.isclose(h, expected, rtol=CARRY_RTOL, atol=CARRY_ATOL)).nonzero()[0].tolist()
    found = f"h[{row}, {t}] = {float(h[row, t]):.4g}, expected {float(expected[row, t]):.4g}"
    if t < block_t:
        raise NotYet(f"{where}, the first chunk is already wrong, where the carry is still 0: {found}.",
                     "with carry = 0, h must equal b_prefix: h = a_prefix * carry + b_prefix.")
    raise NotYet(f"{where}, the first chunk is right, but from chunk {t // block_t} on h is off: {found}. "
                 "The carry between chunks is wrong.", "h = a_prefix * carry + b_prefix, then "
                 "carry = last_lane(h, lane, BLOCK_T), the state at the chunk's last step.")
