"""Lesson 04 scenes: every combine of a level happens at the same time (one `play` per level).

Each row is the array after one level; arrows show the combines x[target] ← x[source] ∘ x[target] of
that level. The values are the real partial results of lessons.scan, replayed level by level: the large
number is b, the small one under it the gate product a. The gates are not all 1, so a combine visibly
scales what came before (a₂·b₁ + b₂: a gate ½ halves it, a gate 0 at position 3 forgets it).
"""
from __future__ import annotations

import torch
from manim import DOWN, RIGHT, UP, Arrow, FadeIn, GrowArrow, Scene, Square, VGroup

from animations.style import (ACCENT, FOREGROUND, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, stacked,
                              title)
from lessons.scan import ScanTrace, combine, replay_trace, sequential_scan, trace_scan

TOKENS = (3, 1, 4, 1, 5, 9, 2, 6)                 # b
GATES = (1, 0.5, 1, 0, 1, 0.5, 1, 1)              # a: ½ halves the state, 0 resets it (h_3 = b_3)
CELL, GAP, ROW_STEP, TOP = 0.62, 0.22, 0.92, 2.2


def example_trace(algorithm: str) -> tuple[torch.Tensor, torch.Tensor, ScanTrace]:
    """(a, b) and the trace of `algorithm` on (GATES, TOKENS), computed by lessons.scan."""
    a, b = torch.tensor(GATES, dtype=torch.float64), torch.tensor(TOKENS, dtype=torch.float64)   # (8,)
    return a, b, trace_scan(algorithm, a, b)[1]


def cell_x(i: int, n: int) -> float:
    """Horizontal centre of cell i in a row of n cells (the row sits right of the level labels)."""
    return (i - (n - 1) / 2) * (CELL + GAP) + 1.2


def number(value) -> str:
    """A partial result as short text: 6.5, 12, 0.25."""
    return f"{float(value):g}"


def array_row(gates, values, row: int, highlight: set[int]) -> VGroup:
    """One row of boxes, b large and the gate product a small under it; highlighted boxes were just written."""
    n, y = len(values), TOP - row * ROW_STEP
    cells = VGroup()
    for i, (gate, value) in enumerate(zip(gates, values, strict=True)):
        colour = ACCENT if i in highlight else MUTED
        box = Square(side_length=CELL, color=colour, stroke_width=3 if i in highlight else 1.5)
        box.move_to([cell_x(i, n), y, 0])
        text = label(number(value), SMALL_SIZE + 2, ACCENT if i in highlight else None)
        text.move_to(box).shift(UP * 0.09)
        gate_text = label(f"a {number(gate)}", SMALL_SIZE - 6, MUTED).next_to(text, DOWN, buff=0.05)
        cells.add(VGroup(box, text, gate_text))
    return cells


def level_arrows(level, row: int, n: int) -> list[Arrow]:
    """Two arrows per combine x[t] ← x[s] ∘ x[t]: from the source above (blue) and from the target's own
    cell above (grey), into the target in this row."""
    top, bottom = TOP - (row - 1) * ROW_STEP - CELL / 2, TOP - row * ROW_STEP + CELL / 2
    arrows = []
    for source, target in zip(level.sources, level.targets, strict=True):
        for start, colour in ((source, VANISHING), (target, MUTED)):
            begin, end = [cell_x(start, n), top, 0], [cell_x(target, n), bottom, 0]
            length = ((begin[0] - end[0]) ** 2 + (begin[1] - end[1]) ** 2) ** 0.5
            arrows.append(Arrow(begin, end, buff=0.03, stroke_width=2.5, color=colour,
                                max_tip_length_to_length_ratio=0.14 / length, max_stroke_width_to_length_ratio=20))
    return arrows


def play_levels(scene: Scene, algorithm: str) -> ScanTrace:
    """Draw the input row, then exactly one `play` per level: all its arrows and its new row appear together."""
    a, b, trace = example_trace(algorithm)
    n = len(TOKENS)
    scene.add(label("input (a, b)", SMALL_SIZE, MUTED).move_to([cell_x(0, n) - 1.8, TOP, 0]))
    scene.play(FadeIn(array_row(a, b, 0, set())), run_time=0.6)
    for row, level in enumerate(trace.levels, start=1):
        gates, values = replay_trace(a, b, trace, row)
        name = label(f"{level.phase} {row}: {len(level.targets)}×", SMALL_SIZE, MUTED)
        name.move_to([cell_x(0, n) - 1.8, TOP - row * ROW_STEP, 0])
        arrows = level_arrows(level, row, n)
        scene.play(*[GrowArrow(arrow) for arrow in arrows], FadeIn(array_row(gates, values, row, set(level.targets))),
                   FadeIn(name), run_time=1.0)   # every combine of the level at once
    return trace


def worked_combine(a: torch.Tensor, b: torch.Tensor, level) -> str:
    """The first combine of a level on the inputs, x[t] ← x[s] ∘ x[t], written out with its numbers."""
    s, t = level.sources[0], level.targets[0]
    result = combine((a[s], b[s]), (a[t], b[t]))[1]
    return (f"x{t} ← x{s} ∘ x{t}:  a{t}·b{s} + b{t} = {number(a[t])}·{number(b[s])} + {number(b[t])} = "
            f"{number(result)}   (the gate a{t} scales what came before)")


def reset_sentence(a: torch.Tensor, b: torch.Tensor) -> str:
    """What the zero gate did, read from the loop: h right after it holds only the tokens from the reset on."""
    r, h = GATES.index(0), sequential_scan(a, b)
    return (f"a{r} = 0 forgets the past: h{r + 1} = {number(h[r + 1])}, where the running sum "
            f"(every a = 1) is {number(b[:r + 2].sum())}")


class HillisSteeleLevels(Scene):
    """Hillis–Steele on 8 numbers: 3 levels, and at each one every element combines at once."""

    def construct(self):
        self.add(title("Hillis–Steele: every combine of a level at once"))
        trace = play_levels(self, "hillis_steele")
        a, b, _ = example_trace("hillis_steele")
        worked = label(worked_combine(a, b, trace.levels[0]), SMALL_SIZE, FOREGROUND)
        reset = label(reset_sentence(a, b), SMALL_SIZE, MUTED)
        self.play(FadeIn(stacked(worked, reset, buff=0.2).move_to([0, -1.9, 0])))
        self.play(FadeIn(caption(f"{trace.depth} levels = ⌈log₂ 8⌉, but {trace.combines} combines: "
                                 f"more work than the loop's {len(TOKENS) - 1}.")))
        self.wait(1)


class BlellochSweeps(Scene):
    """The work-efficient scan on 8 numbers (the inclusive Brent–Kung form that lessons.scan calls Blelloch): the
    up-sweep builds a tree of sums, the down-sweep fills the gaps."""

    def construct(self):
        self.add(title("Work-efficient (Brent–Kung): up-sweep, then down-sweep"))
        trace = play_levels(self, "blelloch")
        done = label(f"{trace.combines} combines ≤ 2(n−1) = {2 * (len(TOKENS) - 1)}", SMALL_SIZE, STABLE)
        done.next_to(caption("x"), UP, buff=0.15).to_edge(RIGHT, buff=0.5)
        self.play(FadeIn(done), FadeIn(caption(f"{trace.depth} levels ≤ 2⌈log₂ 8⌉ = 6: O(n) work, O(log n) depth. "
                                               "GPU kernels mix: a loop per thread, then warp scans.")))
        self.wait(1)
