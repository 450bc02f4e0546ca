"""Lesson 04 exercises: write the combine, count Hillis–Steele's levels, count its work."""
from __future__ import annotations

import math

import torch

from lessons.checking import CheckResult, call_learner, exercise_check, prediction, read_pair, read_tensor, right, wrong
from lessons.scan import combine, random_pairs, sequential_scan, work_depth

LEVELS_N = 10_000   # exercise 2: how many levels does Hillis–Steele need for n = 10 000? (§2 prints n = 1000)
WORK_N = 16       # exercise 3: how many combines does Hillis–Steele do for n = 16?
ELEMENTWISE = "combine elementwise: no sums over the batch, no new dimensions."
SCAN_HINT = "the scan calls your combine on one time step at a time: use only elementwise operations, new tensors."


@exercise_check(expects="a function fn((a1, b1), (a2, b2)) returning a pair of tensors (a, b) shaped like a1")
def check_combine(fn) -> CheckResult:
    """Exercise 1: fn((a1, b1), (a2, b2)) must return (a, b) such that scanning with it gives h_t."""
    generator = torch.Generator().manual_seed(0)
    earlier, later = random_pairs(5, generator, torch.float64), random_pairs(5, generator, torch.float64)
    value = call_learner(fn, earlier, later, hint="return a pair (a, b) computed from (a1, b1) and (a2, b2).")
    want_a, want_b = combine(earlier, later)
    a, b = (read_tensor(part, tuple(want_a.shape), f"your {name}", hint=ELEMENTWISE)
            for part, name in zip(read_pair(value, "(a, b)"), "ab", strict=True))
    (a1, b1), b2 = earlier, later[1]
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
    scanned = read_tensor(call_learner(lambda: sequential_scan(a_seq, b_seq, op=fn), hint=SCAN_HINT),
                          tuple(a_seq.shape), "the scan with your combine", hint=SCAN_HINT)
    if not torch.allclose(scanned, sequential_scan(a_seq, b_seq)):
        return wrong("single combines are right but a scan with your function is not.", SCAN_HINT)
    return right("(a1, b1) ∘ (a2, b2) = (a1·a2, a2·b1 + b2): two steps of the recurrence folded into one.")


@prediction(expects="the number of levels, a whole number such as 5")
def check_levels_prediction(answer: float) -> CheckResult:
    """Exercise 2: predict how many levels Hillis–Steele needs for n = LEVELS_N."""
    levels = work_depth("hillis_steele", LEVELS_N)[1]
    if answer == levels:
        return right(f"offsets 1, 2, 4, …, {2 ** (levels - 1)}: {levels} levels = ⌈log₂ {LEVELS_N}⌉ (counted by "
                     "running it).")
    if answer == math.floor(math.log2(LEVELS_N)):
        return wrong(f"{answer} levels reach offset {2 ** (answer - 1)}: element {LEVELS_N - 1} has not seen "
                     "element 0 yet.",
                     "round log₂ n up, not down.")
    return wrong(f"{answer} is not it.", "after the level with offset d, each element holds the last 2d inputs.")


@prediction(expects="the number of combines, a whole number such as 20")
def check_work_prediction(answer: float) -> CheckResult:
    """Exercise 3: predict how many combines Hillis–Steele does for n = 16."""
    combines = work_depth("hillis_steele", WORK_N)[0]
    if answer == combines:
        return right(f"(16−1) + (16−2) + (16−4) + (16−8) = {combines}, against 15 for the loop: "
                     "about n·log₂ n, the price of short depth.")
    if answer == WORK_N * 4:
        return wrong(f"{answer} = n·log₂ n counts every element at every level.",
                     "at offset d the first d elements have nothing to their left: they sit the level out.")
    return wrong(f"{answer} is not it.", "at offset d there are n − d combines; add them for d = 1, 2, 4, 8.")
