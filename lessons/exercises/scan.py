"""Lesson 04 exercises: write the combine, count Hillis–Steele's levels, count its work."""
from __future__ import annotations

import math

import torch

from lessons.checking import call_learner, not_a_number, right, wrong
from lessons.scan import combine, random_pairs, sequential_scan, work_depth

LEVELS_N = 1000   # exercise 2: how many levels does Hillis–Steele need for n = 1000?
WORK_N = 16       # exercise 3: how many combines does Hillis–Steele do for n = 16?


def check_combine(fn) -> "CheckResult":
    """Exercise 1: fn((a1, b1), (a2, b2)) must return (a, b) such that scanning with it gives h_t."""
    generator = torch.Generator().manual_seed(0)
    earlier, later = random_pairs(5, generator, torch.float64), random_pairs(5, generator, torch.float64)
    value, error = call_learner(fn, earlier, later)
    if error:
        return wrong(error, "return a pair (a, b) computed from (a1, b1) and (a2, b2).")
    try:
        a, b = value
        a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return wrong(f"you returned {value!r}; expected a pair (a, b).", "return a, b")
    want_a, want_b = combine(earlier, later)
    (a1, b1), (a2, b2) = earlier, later
    if a.shape != want_a.shape or b.shape != want_b.shape:
        return wrong(f"your a, b have shapes {tuple(a.shape)}, {tuple(b.shape)}; expected {tuple(want_a.shape)}.",
                     "combine elementwise: no sums over the batch, no new dimensions.")
    if not torch.allclose(a, want_a):
        return wrong("your a is off.", "two steps in a row multiply the state by a1, then by a2: a = a1·a2.")
    if torch.allclose(b, a1 * b2 + b1):
        return wrong("your b applies the earlier gate to the later input (a1·b2 + b1).",
                     "b1 is the older state: it is the one that passes through the later gate a2.")
    if torch.allclose(b, b1 + b2):
        return wrong("your b forgets the gate: b1 + b2.", "b1 has to be multiplied by a2 on its way through step 2.")
    if not torch.allclose(b, want_b):
        return wrong("your b is off.", "run h → a1·h + b1 and then h → a2·h + b2; collect the h-free part.")
    a_seq, b_seq = random_pairs(9, generator, torch.float64)
    if not torch.allclose(sequential_scan(a_seq, b_seq, op=fn), sequential_scan(a_seq, b_seq)):
        return wrong("single combines are right but a scan with your function is not.", "return new tensors, don't modify inputs.")
    return right("(a1, b1) ∘ (a2, b2) = (a1·a2, a2·b1 + b2): two steps of the recurrence folded into one.")


def check_levels_prediction(answer) -> "CheckResult":
    """Exercise 2: predict how many levels Hillis–Steele needs for n = 1000."""
    if (verdict := not_a_number(answer)) is not None:
        return verdict
    levels = work_depth("hillis_steele", LEVELS_N)[1]
    if answer == levels:
        return right(f"offsets 1, 2, 4, …, 512: {levels} levels = ⌈log₂ {LEVELS_N}⌉ (counted by running it).")
    if answer == math.floor(math.log2(LEVELS_N)):
        return wrong(f"{answer} levels reach offset {2 ** (answer - 1)}: element 999 has not seen element 0 yet.",
                     "round log₂ n up, not down.")
    return wrong(f"{answer} is not it.", "after the level with offset d, each element holds the last 2d inputs.")


def check_work_prediction(answer) -> "CheckResult":
    """Exercise 3: predict how many combines Hillis–Steele does for n = 16."""
    if (verdict := not_a_number(answer)) is not None:
        return verdict
    combines = work_depth("hillis_steele", WORK_N)[0]
    if answer == combines:
        return right(f"(16−1) + (16−2) + (16−4) + (16−8) = {combines}, against 15 for the loop: "
                     "about n·log₂ n, the price of short depth.")
    if answer == WORK_N * 4:
        return wrong(f"{answer} = n·log₂ n counts every element at every level.",
                     "at offset d the first d elements have nothing to their left: they sit the level out.")
    return wrong(f"{answer} is not it.", "at offset d there are n − d combines; add them for d = 1, 2, 4, 8.")
