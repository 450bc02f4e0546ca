"""Lesson 04 scenes: every combine of a level happens at the same time (one `play` per level).

Each row is the array after one level; arrows show the combines x[target] ← x[source] ∘ x[target] of
that level. The values are the real partial results of lessons.scan, replayed level by level. With every
a_t = 1 the scan is a running sum, so the numbers can be checked by eye.
"""
from __future__ import annotations

import torch
from manim import RIGHT, UP, Arrow, FadeIn, GrowArrow, Scene, Square, VGroup

from animations.style import ACCENT, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.scan import ScanTrace, replay_trace, trace_scan

TOKENS = (3, 1, 4, 1, 5, 9, 2, 6)                 # b; every a = 1, so h is the running sum
CELL, GAP, ROW_STEP, TOP = 0.55, 0.25, 0.98, 2.4


def example_trace(algorithm: str) -> tuple[torch.Tensor, torch.Tensor, ScanTrace]:
    """(a, b) and the trace of `algorithm` on TOKENS, computed by lessons.scan."""
    b = torch.tensor(TOKENS, dtype=torch.float64)
    a = torch.ones_like(b)
    return a, b, trace_scan(algorithm, a, b)[1]


def cell_x(i: int, n: int) -> float:
    """Horizontal centre of cell i in a row of n cells (the row sits right of the level labels)."""
    return (i - (n - 1) / 2) * (CELL + GAP) + 1.2


def array_row(values, row: int, highlight: set[int]) -> VGroup:
    """One row of boxes with the values in them; highlighted boxes were just written."""
    n, y = len(values), TOP - row * ROW_STEP
    cells = VGroup()
    for i, value in enumerate(values):
        colour = ACCENT if i in highlight else MUTED
        box = Square(side_length=CELL, color=colour, stroke_width=3 if i in highlight else 1.5)
        box.move_to([cell_x(i, n), y, 0])
        text = label(f"{float(value):.0f}", SMALL_SIZE + 4, ACCENT if i in highlight else None).move_to(box)
        cells.add(VGroup(box, text))
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
    scene.add(label("input", SMALL_SIZE, MUTED).move_to([cell_x(0, n) - 1.6, TOP, 0]))
    scene.play(FadeIn(array_row(b, 0, set())), run_time=0.6)
    for row, level in enumerate(trace.levels, start=1):
        _, values = replay_trace(a, b, trace, row)
        name = label(f"{level.phase} {row}: {len(level.targets)}×", SMALL_SIZE, MUTED)
        name.move_to([cell_x(0, n) - 1.6, TOP - row * ROW_STEP, 0])
        arrows = level_arrows(level, row, n)
        scene.play(*[GrowArrow(arrow) for arrow in arrows], FadeIn(array_row(values, row, set(level.targets))),
                   FadeIn(name), run_time=1.0)   # every combine of the level at once
    return trace


class HillisSteeleLevels(Scene):
    """Hillis–Steele on 8 numbers: 3 levels, and at each one every element combines at once."""

    def construct(self):
        self.add(title("Hillis–Steele: every combine of a level at once"))
        trace = play_levels(self, "hillis_steele")
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
