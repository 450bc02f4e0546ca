"""Lesson 08 exercises: write the stable segment sum, predict the matmul FLOPs of SSD's diagonal blocks, and
write one step of the scalar-A recurrence."""
from __future__ import annotations

import math

import torch

from lessons.checking import (CheckResult, NotYet, call_learner, exercise_check, prediction, read_pair, read_tensor,
                              right, wrong)
from lessons.ssd import segsum, segsum_naive, ssd_flops, ssd_loop

SEGSUM_LENGTHS = (1, 2, 7, 13)                     # exercise 1: awkward lengths, a batch of (3, 2) sequences each
FLOP_SIZES = {"length": 1024, "chunk": 256, "head_dim": 64, "state": 128}   # exercise 2: one head, batch 1
STEP_SIZES = {"batch": 2, "heads": 3, "head_dim": 5, "state": 4}              # exercise 3


# ------------------------------------------------------------------------------------------ exercise 1
def _log_decays(length: int, seed: int) -> torch.Tensor:
    """Fresh log-decays a (3, 2, length) in float64, all < 0 (Δ·A with Δ > 0, A < 0)."""
    g = torch.Generator().manual_seed(seed)
    return -torch.rand(3, 2, length, generator=g, dtype=torch.float64) * 2 - 0.01


def _with_reset(length: int = 9) -> torch.Tensor:
    """Log-decays (1, length) with a hard reset a = −inf (a gate of exactly 0) in the middle."""
    a = _log_decays(length, 80)[0, :1].clone()
    a[0, length // 2] = -math.inf
    return a


def _same(value: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same shape, −inf where expected is −inf, close elsewhere (NaN never matches)."""
    return value.shape == expected.shape and bool(torch.isclose(value, expected, rtol=1e-9, atol=1e-12).all())


def _segsum_mistake(value: torch.Tensor, a: torch.Tensor) -> tuple[str, str] | None:
    """Name a typical segment-sum mistake that `value` (for log-decays `a`) shows, or None."""
    want = segsum(a)
    length = a.shape[-1]
    if _same(value, want.transpose(-1, -2)):
        return ("your matrix is transposed: out[t, s] must be the sum for s ≤ t (below the diagonal).",
                "row t is the output time, column s the input time; the future (s > t) is −inf.")
    if value.shape == want.shape and torch.equal(torch.isneginf(value.diagonal(dim1=-2, dim2=-1)),
                                                 torch.ones(value.shape[:-1], dtype=torch.bool)) and length > 0:
        return ("your diagonal is −inf: out[t, t] is the empty sum, 0, so exp gives 1 (x_t reaches y_t in full).",
                "mask with s ≤ t (torch.tril with diagonal 0), not s < t.")
    if value.shape == want.shape and _same(value, want + a[..., :, None].expand_as(want).masked_fill(
            ~torch.ones(length, length, dtype=torch.bool).tril(), -math.inf)):
        return ("your out[t, s] includes a[s]: that is one decay too many (off by one).",
                "the segment runs from s + 1 to t: a[s] decayed the state *before* x_s was written.")
    if value.shape == want.shape and _same(value.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(),
                                                             -math.inf), want):
        return ("below and on the diagonal you are right, but above it you did not put −inf.",
                "above the diagonal (the future, s > t) must be −inf, so that exp(segsum) is 0 there.")
    return None


@exercise_check(expects="a function fn(a) taking a (..., T) and returning the (..., T, T) segment sums")
def check_segsum(fn) -> CheckResult:
    """Exercise 1: fn(a)[..., t, s] = a[s+1] + … + a[t] for s ≤ t, −inf above the diagonal, stably."""
    hint = "return out of shape (..., T, T) with out[..., t, s] = a[s+1] + … + a[t] for s ≤ t, −inf for s > t."
    for seed, length in enumerate(SEGSUM_LENGTHS):
        a = _log_decays(length, seed)
        value = read_tensor(call_learner(fn, a, hint=hint), None, f"your segment sum for T = {length}", hint=hint)
        if value.shape != segsum(a).shape:
            raise NotYet(f"your segment sum for a of shape {tuple(a.shape)} has shape {tuple(value.shape)}; "
                         f"expected {tuple(segsum(a).shape)}: one (T, T) matrix per sequence.", hint)
        if not _same(value, segsum(a)):
            return wrong(*(_segsum_mistake(value, a) or (f"your segment sums are off for T = {length}.", hint)))
    a = _with_reset()
    value = read_tensor(call_learner(fn, a, hint=hint), tuple(segsum(a).shape), "your segment sum with a reset",
                        hint=hint)
    if _same(value, segsum(a)):
        return right("masked cumulative sums: only additions of numbers of one sign, never a difference of large "
                     "sums, so a hard reset (a = −inf) gives −inf where it should and no NaN.")
    if torch.isnan(value).any() and bool(torch.isnan(segsum_naive(a)).any()):
        return wrong("right on ordinary inputs, but with a hard reset (one a_t = −inf, a gate of exactly 0) you "
                     "return NaN: that is the difference of cumulative sums, −inf − (−inf).",
                     "sum only the entries of each segment: mask a[s+1..t] first, then take a cumulative sum.")
    return wrong("right on ordinary inputs, but not with a hard reset (one a_t = −inf).", hint)


# ------------------------------------------------------------------------------------------ exercise 2
def diagonal_block_flops(length: int, chunk: int, head_dim: int, state: int) -> int:
    """Matmul FLOPs of SSD's diagonal blocks for one head and batch 1, as lessons.ssd.ssd_flops counts them."""
    return ssd_flops(1, length, 1, head_dim, state, chunk)["diagonal_blocks"]["matmul"]


@prediction(expects="a whole number of FLOPs, such as 1000000")
def check_flop_prediction(answer: int) -> CheckResult:
    """Exercise 2: the matmul FLOPs of the diagonal blocks at FLOP_SIZES (one head, batch 1)."""
    length, q, p, n = (FLOP_SIZES[k] for k in ("length", "chunk", "head_dim", "state"))
    chunks = length // q
    expected = diagonal_block_flops(length, q, p, n)
    if answer == expected:
        return right(f"{chunks} chunks × (2·{q}²·{n} for C Bᵀ + 2·{q}²·{p} for the product with X) = {expected:,}; "
                     f"all of it on tensor cores.")
    slips = {expected // 2: ("that is half: a multiply-add counts as 2 FLOPs.", "count 2·m·k·n for an (m×k)(k×n)."),
             2 * chunks * q * q * n: ("that is C Bᵀ alone.", "add the second matmul, (L ∘ C Bᵀ) times X (Q×Q by Q×P)."),
             2 * chunks * q * q * p: ("that is the product with X alone.", "add C Bᵀ itself (Q×N by N×Q)."),
             expected // chunks: ("that is one chunk.", f"there are L / Q = {chunks} chunks."),
             2 * length * length * (n + p): ("that is the full quadratic form over all L² pairs.",
                                             "the diagonal blocks cover only Q×Q pairs per chunk.")}
    if answer in slips:
        return wrong(f"{answer:,}: {slips[answer][0]}", slips[answer][1])
    return wrong(f"{answer:,} is not it.", "per chunk: C Bᵀ is (Q×N)(N×Q), then (Q×Q)(Q×P); 2 FLOPs per "
                 "multiply-add; then times the number of chunks.")


# ------------------------------------------------------------------------------------------ exercise 3
def step_inputs(seed: int = 8) -> tuple[torch.Tensor, ...]:
    """Fresh (h (b, h, P, N), a (b, h) log-decay, x (b, h, P), B (b, h, N), C (b, h, N)) in float64."""
    g = torch.Generator().manual_seed(seed)
    b, h, p, n = (STEP_SIZES[k] for k in ("batch", "heads", "head_dim", "state"))
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)   # noqa: E731
    return randn(b, h, p, n), -torch.rand(b, h, generator=g, dtype=torch.float64) - 0.1, randn(b, h, p), \
        randn(b, h, n), randn(b, h, n)


def reference_step(h, a, x, B, C) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of lessons.ssd.ssd_loop from state h: (h_t (b, h, P, N), y_t (b, h, P))."""
    y, state = ssd_loop(x[:, None], a[:, None], B[:, None], C[:, None], initial_state=h)
    return state, y[:, 0]


@exercise_check(expects="a function fn(h, a, x, B, C) returning a pair of real tensors (h_new, y)")
def check_ssd_step(fn) -> CheckResult:
    """Exercise 3: h_t = exp(a_t)·h_{t−1} + x_t ⊗ B_t, y_t = h_t C_t, per head."""
    h, a, x, B, C = step_inputs()
    want_h, want_y = reference_step(h, a, x, B, C)
    hint = ("h_new = exp(a)[..., None, None] * h + x[..., :, None] * B[..., None, :], "
            "then y = (h_new * C[..., None, :]).sum(-1)")
    new_h, y = (read_tensor(part, None, f"your {name}", hint=hint)
                for part, name in zip(read_pair(call_learner(fn, h, a, x, B, C, hint=hint), "(h_new, y)"),
                                      ("h_new", "y"), strict=True))
    if new_h.shape == want_y.shape and y.shape == want_h.shape:
        return wrong("you returned (y, h_new): the order is swapped.", "return (h_new, y).")
    if new_h.shape != want_h.shape:
        return wrong(f"your h_new has shape {tuple(new_h.shape)}; expected {tuple(want_h.shape)} "
                     "(batch, heads, P, N).", "the state is the outer product x_t ⊗ B_t per head: P rows, N columns.")
    if not torch.allclose(new_h, want_h):
        if torch.allclose(new_h, a[..., None, None] * h + x[..., :, None] * B[..., None, :]):
            return wrong("your h_new multiplies by a itself.", "a is the log-decay Δ·A: the gate is exp(a).")
        if torch.allclose(new_h, torch.exp(a)[..., None, None] * (h + x[..., :, None] * B[..., None, :])):
            return wrong("you decay the new input too.", "only the old state decays: exp(a)·h + x ⊗ B.")
        return wrong("your h_new is off.", hint)
    if y.shape != want_y.shape:
        return wrong(f"your y has shape {tuple(y.shape)}; expected {tuple(want_y.shape)} (batch, heads, P).",
                     "y_t = h_t C_t sums over the state index N.")
    if torch.allclose(y, (h * C[..., None, :]).sum(-1)):
        return wrong("your y reads the old state h_{t−1}.", "read the new one: y_t = h_t C_t, after the update.")
    if torch.allclose(y, (want_h * B[..., None, :]).sum(-1)):
        return wrong("your y reads the state with B.", "B writes, C reads: y_t = h_t C_t.")
    if not torch.allclose(y, want_y):
        return wrong("your y is off.", hint)
    return right("h_t = exp(a_t)·h_{t−1} + x_t ⊗ B_t and y_t = h_t C_t: one step of Mamba-2's recurrence, "
                 "the same as lessons.ssd.ssd_loop.")
