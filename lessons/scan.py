"""Lesson 04: an elementwise linear recurrence is an associative scan.

The recurrence h_t = a_t·h_{t−1} + b_t (h_{−1} = 0, or a given h0) is the scan of the pairs
x_t = (a_t, b_t) under the combine

    (a₁, b₁) ∘ (a₂, b₂) = (a₁·a₂, a₂·b₁ + b₂)        (earlier element on the left)

whose identity is (1, 0). Every algorithm here takes a and b of the same shape (any batch shape,
real or complex, any length n ≥ 1 along `dim`) and returns h with that shape.

Work and depth are *counted*, not assumed: every algorithm does its combines through `_apply_level`,
one call per parallel level, and `work_depth` / `trace_scan` listen in on those calls.

Floating point differs from the reals in one way that matters here: the parallel algorithms multiply gates
together (a₁·a₂, …), which the loop never does, and such a product can overflow. The combine keeps a zero
factor exact (0 times an overflowed product is 0), and every scan refuses infinite gates (see `combine`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from lessons.checks import (require_dim, require_no_inf, require_number, require_one_of, require_positive_int,
                            require_same_device,
                            require_tensor)
from lessons.training import fit
from lessons.utils import seeded

Pair = tuple[torch.Tensor, torch.Tensor]          # (a, b), both of shape (..., k)
Combine = Callable[[Pair, Pair], Pair]


# ----------------------------------------------------------------------------------------------
# The operator


def combine(earlier: Pair, later: Pair) -> Pair:
    """(a₁, b₁) ∘ (a₂, b₂) = (a₁·a₂, a₂·b₁ + b₂): apply `earlier`'s step, then `later`'s.

    One floating-point detail: a₁, a₂ are products of gates, which can overflow to ±inf although each gate
    is finite (1e30·1e30 in float32). Such a product is finite in exact arithmetic, so times an exact 0 it
    gives 0, not inf·0 = NaN: `_zero_wins` keeps that true. (A state b₁ that is ±inf times a zero gate stays
    NaN, as in the loop.)
    """
    a1, b1 = earlier
    a2, b2 = later
    a, b = a1 * a2, a2 * b1 + b2
    if bool(torch.isfinite(a).all()):                                  # the usual case: a₁, a₂ are finite too
        return a, b
    return _zero_wins(a1, a2) * _zero_wins(a2, a1), _zero_wins(a2, b1) * b1 + b2


def _zero_wins(gates: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """`gates`, with 0 where it overflowed to ±inf and `other` is exactly 0: then gates·other is 0, not NaN.

    The factor is replaced, not the product, so both derivatives stay the ordinary ones (∂/∂gates = other,
    ∂/∂other = gates) wherever nothing overflowed; torch.where(other == 0, 0, gates·other) would instead
    give `other` a zero gradient wherever it is 0.
    """
    return torch.where(gates.isinf() & (other == 0), 0, gates)


def identity_like(a: torch.Tensor, b: torch.Tensor) -> Pair:
    """The identity element (1, 0), shaped like (a, b): e ∘ x = x ∘ e = x."""
    return torch.ones_like(a), torch.zeros_like(b)


def associativity_defect(op: Combine, x: Pair, y: Pair, z: Pair) -> float:
    """max |(x∘y)∘z − x∘(y∘z)| over both components and all elements: 0 for an associative op."""
    left, right = op(op(x, y), z), op(x, op(y, z))
    return max(float((one - other).abs().max()) for one, other in zip(left, right, strict=True))


def identity_defect(op: Combine, x: Pair) -> float:
    """max |e∘x − x| and |x∘e − x| over both components: 0 when (1, 0) is op's identity."""
    e = identity_like(*x)
    sides = (op(e, x), op(x, e))
    return max(float((got - want).abs().max()) for side in sides for got, want in zip(side, x, strict=True))


# ----------------------------------------------------------------------------------------------
# Instrumentation: every algorithm does its combines through `_apply_level`


@dataclass
class ScanLevel:
    """One parallel level: all combines x[target] ← x[source] ∘ x[target] happen at once."""

    phase: str                  # e.g. "up-sweep", "down-sweep", "level"
    sources: list[int]          # original positions read as the earlier operand
    targets: list[int]          # original positions overwritten with the result
    a: torch.Tensor             # (len(targets), ...) new a at the targets
    b: torch.Tensor             # (len(targets), ...) new b at the targets


@dataclass
class ScanTrace:
    """Every level an algorithm ran, in order; `combines` and `depth` are counted from them."""

    levels: list[ScanLevel] = field(default_factory=list)

    @property
    def combines(self) -> int:
        return sum(len(level.targets) for level in self.levels)

    @property
    def depth(self) -> int:
        return len(self.levels)

    def phases(self) -> dict[str, tuple[int, int]]:
        """{phase: (levels, combines)} in the order the phases first ran."""
        counts: dict[str, tuple[int, int]] = {}
        for level in self.levels:
            levels, combines = counts.get(level.phase, (0, 0))
            counts[level.phase] = (levels + 1, combines + len(level.targets))
        return counts


_active_trace: ScanTrace | None = None


@contextmanager
def _recording():
    """Collect the levels of every scan run inside the `with` block."""
    global _active_trace
    previous, _active_trace = _active_trace, ScanTrace()
    try:
        yield _active_trace
    finally:
        _active_trace = previous


def _apply_level(op: Combine, earlier: Pair, later: Pair, phase: str, sources, targets) -> Pair:
    """One parallel level: combine all pairs at once (one vectorised call), and record it if asked."""
    result = op(earlier, later)
    if _active_trace is not None:
        sources, targets = list(sources), list(targets)
        assert len(sources) == len(targets) == result[1].shape[0], "positions must match the combined slice"
        _active_trace.levels.append(ScanLevel(phase, sources, targets, result[0].detach(), result[1].detach()))
    return result


# ----------------------------------------------------------------------------------------------
# Input checks and the shared frame: move `dim` first, fold in h0, move back


INFINITE_GATE = ("Every scan refuses infinite gates: the parallel ones regroup products of gates, and with an "
                 "infinite gate they meet inf − inf = NaN where the loop gives ±inf.")


def check_scan_inputs(a, b, dim: int = -1, h0=None) -> int:
    """Validate (a, b, dim, h0) with errors a learner can act on; return `dim` as a non-negative index.

    h0 is cast to a's dtype, so a complex h0 with real a and b is refused (the cast would drop its imaginary
    part): make a and b complex instead. Gate values are checked apart (`require_no_inf`), as they cost a pass.
    """
    require_tensor("a", a)
    require_tensor("b", b)
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if a.dtype != b.dtype:
        raise TypeError(f"`a` and `b` must have the same dtype, got {a.dtype} and {b.dtype}; convert one with `.to()`.")
    require_same_device("b", b, "a", a)
    if a.ndim == 0:
        raise ValueError("`a` and `b` need at least one dimension (the sequence), got 0-d tensors.")
    dim = require_dim("dim", dim, a.ndim)
    if a.shape[dim] == 0:
        raise ValueError(f"the sequence (dimension {dim} of `a`) must have length n ≥ 1, got 0.")
    if h0 is not None:
        _check_initial_state(h0, a, dim)
    return dim


def _check_initial_state(h0, a: torch.Tensor, dim: int) -> None:
    """h0 has a's shape without `dim`, lives on a's device, and is not complex when a is real."""
    require_tensor("h0", h0)
    expected = a.shape[:dim] + a.shape[dim + 1:]
    if h0.shape != expected:
        raise ValueError(f"`h0` must have the batch shape {tuple(expected)} (a's shape without `dim`), "
                         f"got {tuple(h0.shape)}.")
    require_same_device("h0", h0, "a", a)
    if h0.is_complex() and not a.is_complex():
        raise TypeError(f"`h0` is complex ({h0.dtype}) but `a` and `b` are real ({a.dtype}): the scan runs in "
                        f"a's dtype and would drop h0's imaginary part. Make a and b complex, e.g. "
                        f"`a.to(torch.complex64)`.")


def _scan_frame(algorithm):
    """Wrap `algorithm(a, b, op, **kw) -> h`, which scans dim 0, with the checks, `dim` and `h0`.

    Internally the sequence is the first dim ("time-major", (n, ...)), made contiguous, so that each
    step's slice x[t] is one contiguous block: that is what makes the vectorised loops fast on a CPU.
    """

    def scan(a: torch.Tensor, b: torch.Tensor, dim: int = -1, *, h0: torch.Tensor | None = None,
             op: Combine = combine, **options) -> torch.Tensor:
        dim = check_scan_inputs(a, b, dim, h0)
        require_no_inf("a", a, INFINITE_GATE)
        a, b = a.movedim(dim, 0).contiguous(), b.movedim(dim, 0).contiguous()     # (n, ...)
        if h0 is not None:  # (1, h0) ∘ x₀ = (a₀, a₀·h0 + b₀): fold the initial state into the first token
            b = torch.cat([a[:1] * h0.to(b.dtype) + b[:1], b[1:]])
        return algorithm(a, b, op, **options).movedim(0, dim)

    scan.__name__, scan.__qualname__, scan.__doc__ = algorithm.__name__, algorithm.__name__, algorithm.__doc__
    scan.__module__, scan.__wrapped__ = algorithm.__module__, algorithm
    return scan


# ----------------------------------------------------------------------------------------------
# The algorithms. Each sees a, b of shape (n, ...) and returns h of shape (n, ...).


@_scan_frame
def sequential_scan(a, b, op):
    """The loop reference: h_t = a_t·h_{t−1} + b_t, one combine per step. Work n−1, depth n−1."""
    prefix = (a[:1], b[:1])                                              # (1, ...): slices keep their dim
    outputs = [prefix[1]]
    for t in range(1, a.shape[0]):
        prefix = _apply_level(op, prefix, (a[t:t + 1], b[t:t + 1]), "step", [t - 1], [t])
        outputs.append(prefix[1])
    return torch.cat(outputs)


@_scan_frame
def hillis_steele_scan(a, b, op):
    """Hillis–Steele: at offset d = 1, 2, 4, … every x_i with i ≥ d becomes x_{i−d} ∘ x_i, all at once.

    ⌈log₂ n⌉ levels, Σ_d (n − d) ≈ n·log₂ n combines: short depth, but more work than the loop.
    """
    n, offset = a.shape[0], 1
    while offset < n:
        new_a, new_b = _apply_level(op, (a[:-offset], b[:-offset]), (a[offset:], b[offset:]),
                                    "level", range(n - offset), range(offset, n))
        a, b = torch.cat([a[:offset], new_a]), torch.cat([b[:offset], new_b])
        offset *= 2
    return b


@_scan_frame
def blelloch_scan(a, b, op):
    """The work-efficient scan: an up-sweep then a down-sweep, ≤ 2(n−1) combines, ≤ 2⌈log₂ n⌉ − 1 levels.

    Strictly this is the Brent–Kung *inclusive* scan (1982), which the course calls "Blelloch" after the
    up-sweep/down-sweep picture: written recursively, the up-sweep combines neighbours (x₀∘x₁, x₂∘x₃, …),
    the half-length sequence is scanned, and the down-sweep fills in each even position from the prefix to
    its left. It needs no identity and no padding, so any n works, and it does less than Blelloch's
    *exclusive* scan (Blelloch 1990; GPU Gems 3, ch. 39): at n = 8, 11 combines in 5 levels against 14 in 6.
    """
    return blelloch_levels(a, b, op, stride=1)[1]


def blelloch_levels(a, b, op, stride: int) -> Pair:
    """The recursion inside `blelloch_scan`: inclusive scan of (a, b) of shape (m, ...), whose element k sits at
    original position (k+1)·stride − 1 (the positions are only for the trace)."""
    m = a.shape[0]
    if m == 1:
        return a, b
    pairs = m // 2                                                       # x_{2k} ∘ x_{2k+1}, k < pairs
    position = lambda k: (k + 1) * stride - 1                           # noqa: E731 (tiny local map)
    up = _apply_level(op, (a[0:2 * pairs:2], b[0:2 * pairs:2]), (a[1:2 * pairs:2], b[1:2 * pairs:2]), "up-sweep",
                      [position(2 * k) for k in range(pairs)], [position(2 * k + 1) for k in range(pairs)])
    odd_a, odd_b = blelloch_levels(*up, op, stride=2 * stride)        # prefixes ending at odd positions
    fills = (m - 1) // 2                                                 # even positions 2, 4, … < m
    if fills == 0:                                                       # m = 2: nothing left to fill in
        return torch.cat([a[:1], odd_a]), torch.cat([b[:1], odd_b])
    even_a, even_b = _apply_level(op, (odd_a[:fills], odd_b[:fills]), (a[2::2], b[2::2]), "down-sweep",
                                  [position(2 * k + 1) for k in range(fills)],
                                  [position(2 * k + 2) for k in range(fills)])
    return (_interleave(torch.cat([a[:1], even_a]), odd_a, m),
            _interleave(torch.cat([b[:1], even_b]), odd_b, m))


def _interleave(even: torch.Tensor, odd: torch.Tensor, m: int) -> torch.Tensor:
    """(e₀, o₀, e₁, o₁, …) of length m, from `even` with ⌈m/2⌉ and `odd` with ⌊m/2⌋ elements along dim 0."""
    if even.shape[0] > odd.shape[0]:
        odd = torch.cat([odd, torch.zeros_like(even[:1])])
    return torch.stack([even, odd], dim=1).flatten(0, 1)[:m]


@_scan_frame
def chunked_scan(a, b, op, chunk_size: int = 64):
    """Two-level scan, as GPU kernels do it: a scan inside each chunk (all chunks at once), a scan over
    the chunk totals (the carries), then every element combines with the carry from before its chunk.

    Depth ≈ chunk_size + n/chunk_size + 1, work ≈ 2n. chunk_size is capped at n. The last chunk is
    padded with the identity (1, 0), and those padded combines are counted too: they are really done.
    """
    chunk_size = require_positive_int("chunk_size", chunk_size)
    n = a.shape[0]
    chunk_size = min(chunk_size, n)
    chunks = -(-n // chunk_size)
    a, b = _pad_with_identity(a, b, chunks * chunk_size)
    a_local, b_local = _scan_within_chunks(a.unflatten(0, (chunks, chunk_size)), b.unflatten(0, (chunks, chunk_size)),
                                           op, chunk_size)                       # (chunks, chunk_size, ...)
    carry_a, carry_b = _scan_carries(a_local[:, -1], b_local[:, -1], op, chunk_size)   # (chunks, ...)
    if chunks == 1:
        return b_local[0, :n]
    tail_b = b_local[1:, :-1]                                            # (chunks−1, chunk_size−1, ...)
    if chunk_size > 1:  # the last element of each chunk is already final: it is a carry
        tail_b = _fix_up(op, (carry_a[:-1], carry_b[:-1]), (a_local[1:, :-1], tail_b), chunk_size)
    h = torch.cat([b_local[:1], torch.cat([tail_b, carry_b[1:, None]], dim=1)])    # (chunks, chunk_size, ...)
    return h.flatten(0, 1)[:n]


def _pad_with_identity(a, b, length: int) -> Pair:
    """Append identity elements (1, 0) so that dim 0 has `length` entries."""
    extra = length - a.shape[0]
    if extra == 0:
        return a, b
    one, zero = identity_like(a[:1].expand(extra, *a.shape[1:]), b[:1].expand(extra, *b.shape[1:]))
    return torch.cat([a, one]), torch.cat([b, zero])


def _scan_within_chunks(a, b, op, chunk_size: int, phase: str = "in-chunk") -> Pair:
    """Inclusive scan inside every chunk of (chunks, chunk_size, ...), all chunks at once: one level per position."""
    chunks = a.shape[0]
    prefix = (a[:, 0], b[:, 0])                                          # (chunks, ...)
    a_out, b_out = [prefix[0]], [prefix[1]]
    for j in range(1, chunk_size):
        prefix = _apply_level(op, prefix, (a[:, j], b[:, j]), phase,
                              [k * chunk_size + j - 1 for k in range(chunks)],
                              [k * chunk_size + j for k in range(chunks)])
        a_out.append(prefix[0])
        b_out.append(prefix[1])
    return torch.stack(a_out, dim=1), torch.stack(b_out, dim=1)


def _scan_carries(a_total, b_total, op, chunk_size: int) -> Pair:
    """Sequential scan over the chunk totals (chunks, ...): there are few of them."""
    prefix = (a_total[:1], b_total[:1])                                  # (1, ...)
    a_out, b_out = [prefix[0]], [prefix[1]]
    for k in range(1, a_total.shape[0]):
        prefix = _apply_level(op, prefix, (a_total[k:k + 1], b_total[k:k + 1]), "carry",
                              [k * chunk_size - 1], [(k + 1) * chunk_size - 1])
        a_out.append(prefix[0])
        b_out.append(prefix[1])
    return torch.cat(a_out), torch.cat(b_out)


def _fix_up(op, carry: Pair, local: Pair, chunk_size: int) -> torch.Tensor:
    """Combine every element of chunks 1… (local, (chunks−1, chunk_size−1, ...)) with the carry (chunks−1, ...)
    from before its chunk, in one level. Returns the new b."""
    shape = local[1].shape
    spread = lambda x: x[:, None].expand(shape).flatten(0, 1)           # noqa: E731 (chunks−1)·(chunk_size−1)
    ends = [k * chunk_size - 1 for k in range(1, shape[0] + 1)]
    _, fixed = _apply_level(op, (spread(carry[0]), spread(carry[1])), (local[0].flatten(0, 1), local[1].flatten(0, 1)),
                            "fix-up", [e for e in ends for _ in range(chunk_size - 1)],
                            [e + 1 + j for e in ends for j in range(chunk_size - 1)])
    return fixed.unflatten(0, shape[:2])


@_scan_frame
def block_scan(a, b, op, items_per_thread: int = 4, warp_size: int = 32):
    """The scan a CUDA block runs (cub::BlockScan, as mamba_ssm's selective scan calls it): serial where a thread
    holds several items, Hillis–Steele where lanes are plentiful, one hand-over between warps.

    n elements are dealt out blocked: thread t holds items t·k … t·k + k − 1 (k = items_per_thread), and threads
    form warps of `warp_size` lanes. Five phases, each a run of levels:

    1. "thread reduce"  every thread folds its k items serially (k − 1 levels, in registers);
    2. "warp scan"      Hillis–Steele over the thread totals inside each warp (⌈log₂ warp_size⌉ levels, by shuffles);
    3. "warp prefix"    the warp totals are combined one warp after another (warps − 1 levels: the only hand-over
                        through shared memory, behind one block-wide barrier);
    4. "thread prefix"  each thread's exclusive prefix: its warp's prefix ∘ the totals of the lanes before it;
    5. "thread scan"    every thread rescans its k items seeded with that prefix (k levels; thread 0, which has no
                        prefix, keeps its items' phase-1 values, as cub's scan without an initial value does).

    Depth ≈ 2k + log₂ warp_size + warps, work ≈ 2n plus the warp scans' n/k·log₂ warp_size: with as many
    processors as threads every level fits in one step, so it takes depth steps. n is padded with the identity
    to a whole number of warps, and the padded combines are counted: a real block runs them too.
    """
    k = require_positive_int("items_per_thread", items_per_thread)
    lanes = require_positive_int("warp_size", warp_size)
    n = a.shape[0]
    threads = -(-n // k)
    warps = -(-threads // lanes)
    threads = warps * lanes
    a, b = _pad_with_identity(a, b, threads * k)
    items = (a.unflatten(0, (threads, k)), b.unflatten(0, (threads, k)))                # (threads, k, ...)
    local = _scan_within_chunks(*items, op, k, phase="thread reduce")                  # (threads, k, ...)
    total = (local[0][:, -1], local[1][:, -1])                                           # (threads, ...)
    in_warp = _warp_scans(total, op, lanes, k)                                           # (threads, ...) inclusive
    warp_before = _warp_prefixes(in_warp, op, lanes, k)                                  # (warps − 1, ...)
    prefix = _thread_prefixes(in_warp, warp_before, op, lanes, k)                       # (threads − 1, ...)
    rescanned = _rescan_items(prefix, items, op, k)                                      # (threads − 1, k, ...)
    return torch.cat([local[1][:1], rescanned]).flatten(0, 1)[:n]


def _warp_scans(total: Pair, op, lanes: int, k: int) -> Pair:
    """Inclusive Hillis–Steele scan of the thread totals (threads, ...) inside each warp of `lanes` threads, all
    warps at once. Thread t's total sits at position t·k + k − 1."""
    warps = total[0].shape[0] // lanes
    a, b = (x.unflatten(0, (warps, lanes)) for x in total)                              # (warps, lanes, ...)
    end = lambda w, lane: (w * lanes + lane) * k + k - 1                                # noqa: E731
    offset = 1
    while offset < lanes:
        new_a, new_b = _apply_level(op, (a[:, :-offset].flatten(0, 1), b[:, :-offset].flatten(0, 1)),
                                    (a[:, offset:].flatten(0, 1), b[:, offset:].flatten(0, 1)), "warp scan",
                                    [end(w, lane) for w in range(warps) for lane in range(lanes - offset)],
                                    [end(w, lane) for w in range(warps) for lane in range(offset, lanes)])
        a = torch.cat([a[:, :offset], new_a.unflatten(0, (warps, lanes - offset))], dim=1)
        b = torch.cat([b[:, :offset], new_b.unflatten(0, (warps, lanes - offset))], dim=1)
        offset *= 2
    return a.flatten(0, 1), b.flatten(0, 1)


def _warp_prefixes(in_warp: Pair, op, lanes: int, k: int) -> Pair:
    """The combined totals of warps 0 … w − 1, for every warp w ≥ 1: (warps − 1, ...), one warp after another."""
    last = lambda w: ((w + 1) * lanes - 1) * k + k - 1                                  # noqa: E731
    totals = (in_warp[0][lanes - 1::lanes], in_warp[1][lanes - 1::lanes])               # (warps, ...)
    running, out_a, out_b = (totals[0][:1], totals[1][:1]), [totals[0][:1]], [totals[1][:1]]
    for w in range(1, totals[0].shape[0] - 1):
        running = _apply_level(op, running, (totals[0][w:w + 1], totals[1][w:w + 1]), "warp prefix",
                               [last(w - 1)], [last(w)])
        out_a.append(running[0])
        out_b.append(running[1])
    if totals[0].shape[0] == 1:
        return totals[0][:0], totals[1][:0]
    return torch.cat(out_a), torch.cat(out_b)


def _thread_prefixes(in_warp: Pair, warp_before: Pair, op, lanes: int, k: int) -> Pair:
    """Every thread t ≥ 1's exclusive prefix (threads − 1, ...): the scan of all items before its own. Lane 0 of a
    warp takes its warp's prefix as it is, the lanes of warp 0 the inclusive total of the lane before; the others
    combine the two, in one level."""
    threads = in_warp[0].shape[0]
    before = (in_warp[0][:-1], in_warp[1][:-1])                # thread t − 1's inclusive in-warp total, t ≥ 1
    prefix_a, prefix_b = before[0].clone(), before[1].clone()  # row t − 1 is thread t's prefix
    lane0 = torch.arange(lanes, threads, lanes)                # threads that start warps 1, 2, …
    prefix_a[lane0 - 1], prefix_b[lane0 - 1] = warp_before
    rest = torch.tensor([t for t in range(lanes + 1, threads) if t % lanes], dtype=torch.long)
    if rest.numel():
        warp_of = rest // lanes - 1
        new_a, new_b = _apply_level(op, (warp_before[0][warp_of], warp_before[1][warp_of]),
                                    (before[0][rest - 1], before[1][rest - 1]), "thread prefix",
                                    [int(t) // lanes * lanes * k - 1 for t in rest], [int(t) * k - 1 for t in rest])
        prefix_a[rest - 1], prefix_b[rest - 1] = new_a, new_b
    return prefix_a, prefix_b


def _rescan_items(prefix: Pair, items: Pair, op, k: int) -> torch.Tensor:
    """Threads 1 … rescan their k items serially from their prefix (threads − 1, ...): k levels. Returns the new b,
    (threads − 1, k, ...)."""
    threads = items[0].shape[0]
    if threads == 1:                                                     # thread 0 alone: nothing to rescan
        return items[1][:0]
    running, out = prefix, []
    for j in range(k):
        running = _apply_level(op, running, (items[0][1:, j], items[1][1:, j]), "thread scan",
                               [t * k + j - 1 for t in range(1, threads)], [t * k + j for t in range(1, threads)])
        out.append(running[1])
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------------------------
# The fast one: chunked_scan's schedule with in-place ops, and a reverse scan for the backward pass


def linear_scan(a: torch.Tensor, b: torch.Tensor, dim: int = -1, *, h0: torch.Tensor | None = None,
                chunk_size: int | None = None) -> torch.Tensor:
    """h_t = a_t·h_{t−1} + b_t along `dim`, fast on a CPU: use this one in models.

    Same schedule as `chunked_scan` (in-chunk scans, carries, fix-up), but written with in-place
    ops so that no step allocates memory, and differentiable through a hand-written backward that
    is itself a scan run in reverse (Martin & Cundy, 2017). Real or complex, any n ≥ 1, any `dim`.
    chunk_size defaults to the power of two nearest √n, which balances the in-chunk loop against the carries.
    The work runs time-major, (n, batch) in memory, whatever `dim` is; the result is a view of that buffer
    in a's shape, so its strides may differ from a's (call `.contiguous()` if that matters).
    """
    dim = check_scan_inputs(a, b, dim, h0)
    chunk_size = None if chunk_size is None else require_positive_int("chunk_size", chunk_size)
    moved = a.movedim(dim, 0)                                            # (n, ...)
    a2 = moved.reshape(moved.shape[0], -1)                               # (n, R), a view wherever possible
    b2 = b.movedim(dim, 0).reshape(a2.shape)
    if h0 is not None:  # (1, h0) ∘ x₀: fold the initial state into the first token
        b2 = torch.cat([a2[:1] * h0.reshape(1, -1).to(b2.dtype) + b2[:1], b2[1:]])
    h = _LinearScan.apply(a2, b2, chunk_size, lambda: require_no_inf("a", a, INFINITE_GATE))   # (n, R)
    return h.view(moved.shape).movedim(0, dim)


def reverse_scan_gradient(a: torch.Tensor, grad_h: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """g = ∂L/∂b (shape of a) from ḡ = grad_h: g_t = ḡ_t + conj(a_{t+1})·g_{t+1}, `linear_scan` run from the end.

    ḡ_t is the gradient reaching h_t directly from the output; g_t = ∂L/∂b_t = ∂L/∂h_t is the total, through
    every later step as well (Martin & Cundy, arXiv 1709.04057). The same reverse scan `linear_scan`'s backward
    does in place, written with the public scan to be read.
    """
    dim = check_scan_inputs(a, grad_h, dim)
    later = a.narrow(dim, 1, a.shape[dim] - 1)                         # a_{t+1} for t < n−1
    gates = torch.cat([later, torch.zeros_like(a.narrow(dim, 0, 1))], dim=dim).conj()   # nothing follows the end
    return linear_scan(gates.flip(dim), grad_h.flip(dim), dim).flip(dim)


class _LinearScan(torch.autograd.Function):
    """Forward: the in-place chunked scan. Backward: with ḡ_t = grad_h_t, the gradient reaching h_t directly from
    the output, and g_t = ∂L/∂b_t the total, g_t = ḡ_t + conj(a_{t+1})·g_{t+1}  (a scan from the end), and
    ∂L/∂a_t = g_t·conj(h_{t−1})."""

    @staticmethod
    def forward(ctx, a, b, chunk_size, check_gates):                    # a, b: (n, R), any strides
        h = _chunked_scan_inplace(a, b, chunk_size, check_gates)
        ctx.save_for_backward(a, h)
        ctx.chunk_size = chunk_size
        return h

    @staticmethod
    def backward(ctx, grad_h):                                          # (n, R)
        a, h = ctx.saved_tensors
        gates = torch.cat([a[1:], torch.zeros_like(a[:1])]).conj()      # a_{t+1}; nothing follows the last step
        g = _chunked_scan_inplace(gates.flip(0), grad_h.flip(0), ctx.chunk_size, owned=True).flip(0)
        grad_a = torch.cat([torch.zeros_like(g[:1]), g[1:] * h[:-1].conj()])   # a_0 meets no state: exactly 0
        return grad_a, g, None, None


@torch.no_grad()
def _chunked_scan_inplace(a: torch.Tensor, b: torch.Tensor, chunk_size: int | None,
                          check_gates: Callable[[], object] | None = None, owned: bool = False) -> torch.Tensor:
    """h for a, b of shape (n, R), with no allocation inside the loops: one copy each, then addcmul_ in place.

    The copies are time-major ((n, R) contiguous) whatever a's and b's strides, so that every step below reads
    and writes contiguous rows: with time innermost ((R, n) in memory, a scan along the last dim) each row
    would be R elements n apart. Full chunks take the chunked schedule; the last n mod chunk steps (fewer than
    a chunk) are a short loop, so nothing is padded. The default chunk is the power of two nearest √n.
    `check_gates()` runs only when some product of gates is not finite: it refuses infinite gates.
    owned=True: a and b are fresh buffers of the caller's, to be overwritten (no copy when already contiguous).
    """
    n, width = a.shape
    chunk = min(chunk_size or 2 ** round(math.log2(math.sqrt(n))), n)
    chunks, covered = n // chunk, (n // chunk) * chunk
    fresh = (lambda x: x.contiguous()) if owned else (lambda x: x.clone(memory_format=torch.contiguous_format))
    h = fresh(b)                                                         # (n, R), becomes the scan in place
    blocks = h[:covered].view(chunks, chunk, width)
    prefix = fresh(a[:covered]).view(chunks, chunk, width)              # a_start·…·a_t inside each chunk
    for j in range(1, chunk):                                           # all chunks at once
        blocks[:, j].addcmul_(prefix[:, j], blocks[:, j - 1])
        prefix[:, j].mul_(prefix[:, j - 1])
    guard = _guard_products(prefix, a[covered:], check_gates)
    for k in range(1, chunks):                                          # carries: chunk ends, in order
        blocks[k, -1].addcmul_(guard(prefix[k, -1], blocks[k - 1, -1]), blocks[k - 1, -1])
    blocks[1:, :-1].addcmul_(guard(prefix[1:, :-1], blocks[:-1, -1:]), blocks[:-1, -1:])   # fix-up, one op
    for t in range(covered, n):                                         # the tail: fewer than `chunk` steps
        h[t].addcmul_(a[t], h[t - 1])
    return h


def _guard_products(prefix: torch.Tensor, tail_gates: torch.Tensor, check_gates) -> Callable:
    """How to multiply a state by the chunk products `prefix` (chunks, chunk, R): as they are, or, when some
    product overflowed, with `_zero_wins` and NaN (= inf·0, a product holding a zero gate) replaced by 0.

    A running product that reaches ±inf or NaN never comes back, so the chunk ends tell: one cheap check.
    """
    if bool(torch.isfinite(prefix[:, -1]).all()) and bool(torch.isfinite(tail_gates).all()):
        return lambda gates, state: gates
    if check_gates is not None:
        check_gates()                                                   # infinite gates are refused
    prefix.nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)     # NaN gates stay NaN in h via b
    return _zero_wins


# ----------------------------------------------------------------------------------------------
# The log-space shortcut (fast, and where it breaks)


def log_space_scan(a: torch.Tensor, b: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """h_t = Aₜ·Σ_{s≤t} b_s / A_s with A_t = exp(Σ_{s≤t} log a_s): two cumsums, no loop.

    Exact in real arithmetic, but 1/A_s = exp(−Σ_{r≤s} log a_r) overflows once Σ log a_r < −log(largest float)
    (−88.7 in float32, −709.8 in float64): inf, then NaN. Needs a > 0 (or complex a ≠ 0).
    """
    dim = check_scan_inputs(a, b, dim)
    require_no_inf("a", a, INFINITE_GATE)
    if not a.is_complex() and bool((a <= 0).any()):
        raise ValueError("`log_space_scan` needs every real a_t > 0 (it takes log a); "
                         "use a complex a for negative gates.")
    log_prefix = torch.cumsum(torch.log(a), dim=dim)
    return torch.exp(log_prefix) * torch.cumsum(b * torch.exp(-log_prefix), dim=dim)


def log_space_breaking_length(gate: float, dtype: torch.dtype = torch.float32) -> int:
    """The first length n at which `log_space_scan` with every a_t = `gate` < 1 overflows in `dtype`:
    where 1/A_n = gate^(−n) passes the largest float, i.e. n = ⌈log(max) / −log(gate)⌉."""
    gate = require_number("gate", gate)
    if not 0 < gate < 1:
        raise ValueError(f"`gate` must lie in (0, 1), got {gate}.")
    return math.ceil(math.log(torch.finfo(dtype).max) / -math.log(gate))


# ----------------------------------------------------------------------------------------------
# A learner's idea: learn the combine. How associative is a learned operator?


class LearnedCombine(torch.nn.Module):
    """A small MLP imitating ∘ elementwise: (a₁, b₁), (a₂, b₂) ↦ (a, b). Real inputs of any shape."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2))

    def forward(self, earlier: Pair, later: Pair) -> Pair:
        features = torch.stack([*earlier, *later], dim=-1)              # (..., 4)
        out = self.net(features.to(self.net[0].weight.dtype))           # (..., 2)
        return out[..., 0], out[..., 1]


def random_pairs(shape, generator: torch.Generator | None = None, dtype=torch.float32) -> Pair:
    """Random elements (a, b) with a ~ U(0.5, 1) (decaying gates) and b ~ N(0, 1), of the given shape."""
    a = 0.5 + 0.5 * torch.rand(shape, generator=generator, dtype=dtype)
    return a, torch.randn(shape, generator=generator, dtype=dtype)


def fit_learned_combine(steps: int = 400, hidden: int = 32, batch: int = 512,
                        seed: int = 0) -> tuple[LearnedCombine, list[float]]:
    """Train a LearnedCombine to match `combine` on random pairs (MSE); return it and the loss history."""
    generator = torch.Generator().manual_seed(seed)
    with seeded(seed):                                                  # the init, without touching the caller's stream
        op = LearnedCombine(hidden)

    def make_batch(_step):                                              # inputs (earlier, later), target
        earlier, later = random_pairs(batch, generator), random_pairs(batch, generator)
        return (earlier, later), combine(earlier, later), None

    def pair_mse(got: Pair, want: Pair, _mask) -> torch.Tensor:
        return sum(torch.mean((g - w) ** 2) for g, w in zip(got, want, strict=True))

    return op, fit(op, make_batch, steps, lr=3e-3, clip=None, loss=pair_mse)["loss"]


# ----------------------------------------------------------------------------------------------
# Counting and tracing


ALGORITHMS = {
    "sequential": sequential_scan,
    "hillis_steele": hillis_steele_scan,
    "blelloch": blelloch_scan,
    "chunked": chunked_scan,
    "block": block_scan,
}
"""The instrumented algorithms, by name. `linear_scan` is not here: it has chunked_scan's schedule."""

DISPLAY_NAMES = {"sequential": "loop", "hillis_steele": "Hillis–Steele", "blelloch": "Blelloch (Brent–Kung form)",
                 "chunked": "chunked (64)", "block": "BlockScan (cub)"}
"""How tables and plots name each of ALGORITHMS (chunked at its default chunk size, 64)."""


def instrumented(algorithm) -> Callable:
    """The scan that `algorithm` names (a key of ALGORITHMS or one of its functions); others can't be counted."""
    if isinstance(algorithm, str) and algorithm in ALGORITHMS:
        return ALGORITHMS[algorithm]
    if any(algorithm is scan for scan in ALGORITHMS.values()):
        return algorithm
    names = ", ".join(repr(name) for name in ALGORITHMS)
    if isinstance(algorithm, str):
        require_one_of("algorithm", algorithm, list(ALGORITHMS))
    if not callable(algorithm):
        raise TypeError(f"`algorithm` must be one of {names} or one of those functions, got {algorithm!r}.")
    hint = " linear_scan runs chunked_scan's schedule: count 'chunked'." if algorithm is linear_scan else ""
    raise ValueError(f"only the instrumented algorithms can be counted and traced: {names} (or those functions, "
                     f"which do every combine through one recorded call per level); got "
                     f"{getattr(algorithm, '__name__', algorithm)!r}, which records nothing.{hint}")


def trace_scan(algorithm, a: torch.Tensor, b: torch.Tensor, **options) -> tuple[torch.Tensor, ScanTrace]:
    """Run `algorithm` (a name in ALGORITHMS or its function) and return h with every level it ran."""
    scan = instrumented(algorithm)
    with _recording() as trace:
        h = scan(a, b, **options)
    return h, trace


def work_depth(algorithm, n: int, **options) -> tuple[int, int]:
    """(combines, levels) that `algorithm` really performs on a length-n sequence, counted by running it."""
    scan, n = instrumented(algorithm), require_positive_int("n", n)
    a, b = torch.rand(n, dtype=torch.float64), torch.rand(n, dtype=torch.float64)
    _, trace = trace_scan(scan, a, b, **options)
    return trace.combines, trace.depth


def parallel_steps(trace: ScanTrace, processors: int) -> int:
    """Steps a traced scan takes on `processors` processors: Σ over levels of ⌈combines in the level / p⌉."""
    processors = require_positive_int("processors", processors)
    return sum(-(-len(level.targets) // processors) for level in trace.levels)


def cross_warp_levels(trace: ScanTrace, items_per_warp: int) -> int:
    """Levels of `trace` in which some combine reads a position held by another warp, when warps hold consecutive
    runs of `items_per_warp` positions. On a GPU each such level needs the whole block to synchronise first (a
    barrier, and a trip through shared memory); a level that stays inside warps uses registers and shuffles."""
    per_warp = require_positive_int("items_per_warp", items_per_warp)
    return sum(any(source // per_warp != target // per_warp for source, target in zip(level.sources, level.targets,
                                                                                      strict=True))
               for level in trace.levels)


@dataclass(frozen=True)
class BlockCost:
    """What one algorithm costs on a GPU block, counted from its trace."""

    work: int                  # combines
    depth: int                 # levels
    steps: int                 # on one processor per thread: Σ over levels of ⌈combines / threads⌉
    cross_warp_levels: int     # levels that read a value another warp holds (each behind a block-wide barrier)


def block_costs(algorithms=("hillis_steele", "blelloch", "chunked", "block"), threads: int = 128,
                items_per_thread: int = 16, warp_size: int = 32, seed: int = 0) -> dict[str, BlockCost]:
    """{algorithm: BlockCost} on one block of threads·items_per_thread elements (mamba_ssm's selective scan: 128
    threads × 16 items = 2048), warps holding consecutive runs of warp_size·items_per_thread elements. The block
    scan runs with the block's own shape; the others with their defaults."""
    threads = require_positive_int("threads", threads)
    items = require_positive_int("items_per_thread", items_per_thread)
    lanes = require_positive_int("warp_size", warp_size)
    a, b = random_pairs((threads * items,), torch.Generator().manual_seed(seed), torch.float64)
    costs = {}
    for name in algorithms:
        options = {"items_per_thread": items, "warp_size": lanes} if name == "block" else {}
        trace = trace_scan(name, a, b, **options)[1]
        costs[name] = BlockCost(trace.combines, trace.depth, parallel_steps(trace, threads),
                                cross_warp_levels(trace, lanes * items))
    return costs


def brent_time(work: int, depth: int, processors: int) -> float:
    """Brent's bound on the steps p processors need for a schedule of `work` operations in `depth` levels:
    T_p ≤ work/p + depth (each level of w_i operations takes ⌈w_i/p⌉ ≤ w_i/p + 1 steps)."""
    work, depth = require_positive_int("work", work), require_positive_int("depth", depth)
    return work / require_positive_int("processors", processors) + depth


def replay_trace(a: torch.Tensor, b: torch.Tensor, trace: ScanTrace, levels: int) -> Pair:
    """The whole in-place array (a, b) of shape (n,) after the first `levels` levels of a 1-D trace."""
    a, b = a.clone(), b.clone()                                         # (n,)
    for level in trace.levels[:levels]:
        index = torch.tensor(level.targets, dtype=torch.long)
        keep = index < a.shape[-1]                                      # chunked padding lies beyond n
        a[index[keep]] = level.a[keep]
        b[index[keep]] = level.b[keep]
    return a, b
