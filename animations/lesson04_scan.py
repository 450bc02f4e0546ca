"""Lesson 04 segment: a linear recurrence is an associative scan, so it runs in O(log n) depth.

Scenes in the order they play (timed by animations/scripts/04.md): TitleCard, CombineOperator,
SequentialLoop, HillisSteeleLevels, BlellochSweeps, WorkDepthTable, BlockScan, ClosingCard.

In the level scenes each row is the array after one level; arrows show the combines x[target] ← x[source] ∘
x[target] of that level, all in one `play` (they happen at the same time). The values are the real partial
results of lessons.scan, replayed level by level: the large number is b, the small one under it the gate
product a. The gates are not all 1, so a combine visibly scales what came before (a gate ½ halves it, a gate 0
at position 3 forgets it). Work, depth and steps on p processors are counted by running lessons.scan.
"""
from __future__ import annotations

import inspect

import torch
from manim import (DOWN, LEFT, RIGHT, TAU, UP, Arrow, Create, CurvedArrow, DashedLine, FadeIn, FadeOut, Group,
                   GrowArrow, LaggedStart, RoundedRectangle, Scene, Square, SurroundingRectangle, Transform,
                   TransformMatchingTex, VGroup, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, LABEL_SIZE, MUTED, SMALL_SIZE, STABLE, VANISHING,
                              arrow_between,
                              caption, cell_row, closing_card, equation, label, scientific, stacked, title,
                              title_card)
from lessons.scan import (ScanTrace, associativity_defect, block_costs, chunked_scan, combine, identity_defect,
                          parallel_steps, random_pairs, replay_trace, sequential_scan, trace_scan)

TOKENS = (3, 1, 4, 1, 5, 9, 2, 6)                 # b
GATES = (1, 0.5, 1, 0, 1, 0.5, 1, 1)              # a: ½ halves the state, 0 resets it (h_3 = b_3)
CELL, GAP, ROW_STEP, TOP = 0.62, 0.22, 0.92, 2.2
CHUNK = inspect.signature(chunked_scan).parameters["chunk_size"].default   # the table's chunked_scan uses it
TABLE_N = 1024                                    # the length the work/depth table counts at
PROCESSORS = (4, 32, 1024)                        # a few cores, a few warps, one processor per element
ALGORITHM_NAMES = {"sequential": "loop", "hillis_steele": "Hillis–Steele", "blelloch": "Brent–Kung",
                   "chunked": f"chunked ({CHUNK})"}
DEFECT_SAMPLES = 1000                             # random triples the associativity check draws
RECURRENCE = r"h_t = a_t\, h_{t-1} + b_t"


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
        text = label(number(value), SMALL_SIZE + 2, ACCENT if i in highlight else FOREGROUND)
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


def play_input(scene: Scene, a: torch.Tensor, b: torch.Tensor) -> None:
    """The input row (a, b), named on the left."""
    n = len(TOKENS)
    scene.add(label("input (a, b)", SMALL_SIZE, MUTED).move_to([cell_x(0, n) - 1.8, TOP, 0]))
    scene.play(FadeIn(array_row(a, b, 0, set())), run_time=0.6)


def play_level(scene: Scene, a: torch.Tensor, b: torch.Tensor, trace: ScanTrace, row: int) -> None:
    """Exactly one `play` for level `row` (1-based): all its arrows and its new row appear together."""
    n, level = len(TOKENS), trace.levels[row - 1]
    gates, values = replay_trace(a, b, trace, row)
    name = label(f"{level.phase} {row}: {len(level.targets)}×", SMALL_SIZE, MUTED)
    name.move_to([cell_x(0, n) - 1.8, TOP - row * ROW_STEP, 0])
    arrows = level_arrows(level, row, n)
    scene.play(*[GrowArrow(arrow) for arrow in arrows], FadeIn(array_row(gates, values, row, set(level.targets))),
               FadeIn(name), run_time=1.0)   # every combine of the level at once


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


def measured_defects(samples: int = DEFECT_SAMPLES) -> tuple[float, float]:
    """(associativity defect, identity defect) of lessons.scan.combine on random float64 pairs, seeded."""
    generator = torch.Generator().manual_seed(0)
    x, y, z = (random_pairs((samples,), generator, torch.float64) for _ in range(3))   # each (samples,)
    return associativity_defect(combine, x, y, z), identity_defect(combine, x)


def step_counts(n: int = TABLE_N) -> dict[str, tuple[int, int, list[int]]]:
    """Per algorithm: (combines, levels, [steps on p processors for p in PROCESSORS]), counted on length n."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, generator=generator, dtype=torch.float64), torch.rand(n, generator=generator,
                                                                                dtype=torch.float64)  # (n,)
    counts = {}
    for algorithm in ALGORITHM_NAMES:
        trace = trace_scan(algorithm, a, b)[1]
        counts[algorithm] = (trace.combines, trace.depth, [parallel_steps(trace, p) for p in PROCESSORS])
    return counts


class TitleCard(Segment):
    """The lesson's title, and its question: can a step-by-step recurrence run in parallel?"""

    def construct(self):
        card = title_card("04", "The parallel scan", "Can a recurrence run in parallel?")
        with self.beat("title"):
            self.play(FadeIn(card), run_time=1.5)
        with self.beat("question"):
            self.play(card.animate.scale(0.8).to_edge(UP, buff=0.6), run_time=1)
            recurrence = equation(RECURRENCE).move_to(0.6 * DOWN)
            cells = cell_row(len(TOKENS), MUTED, size=0.5, buff=0.5).next_to(recurrence, DOWN, buff=0.7)
            arrows = VGroup(*[arrow_between(cells[i], cells[i + 1]) for i in range(len(cells) - 1)])
            self.play(Write(recurrence), FadeIn(cells), run_time=1.5)
            self.play(LaggedStart(*[GrowArrow(arrow) for arrow in arrows], lag_ratio=1), run_time=3)
            self.play(FadeIn(caption("Written as a loop, every step waits for the one before it.")), run_time=0.8)


class CombineOperator(Segment):
    """Two steps of the recurrence are again one step: the operator ∘ on pairs (a, b), and it is associative."""

    def construct(self):
        heading = title("Two steps are one step")
        self.add(heading)
        self.derive_operator()
        self.associativity(heading)

    def derive_operator(self):
        """Beats recurrence, substitute, operator: h₂ multiplied out, read as a pair (gate, token)."""
        with self.beat("recurrence"):
            one = equation(r"h_1", "=", r"a_1", r"h_0", "+", r"b_1").move_to(UP * 1.2)
            self.play(Write(one), run_time=1.5)
        with self.beat("substitute"):
            two = equation(r"h_2", "=", r"a_2", "(", r"a_1", r"h_0", "+", r"b_1", ")", "+", r"b_2")
            two.next_to(one, DOWN, buff=0.5)
            self.play(FadeIn(two), run_time=1)
            expanded = equation(r"h_2", "=", r"a_2 a_1", r"h_0", "+", r"(", r"a_2 b_1 + b_2", r")")
            expanded.move_to(two)
            self.play(TransformMatchingTex(two, expanded), run_time=2)
            self.play(expanded[2].animate.set_color(ACCENT), expanded[6].animate.set_color(STABLE), run_time=1)
        with self.beat("operator"):
            operator = equation(r"(a_1, b_1)", r"\circ", r"(a_2, b_2)", "=", r"(", r"a_1 a_2", ",",
                                r"a_2 b_1 + b_2", r")")
            operator.next_to(expanded, DOWN, buff=0.8)
            operator[5].set_color(ACCENT)
            operator[7].set_color(STABLE)
            self.play(Write(operator), run_time=2)
            self.play(FadeIn(label("a gate and a token, again", SMALL_SIZE, MUTED).next_to(operator, DOWN)))

    def associativity(self, heading):
        """Beats associative, grouping: the law, the identity, their measured defects, and why grouping is a tree."""
        with self.beat("associative"):
            self.play(FadeOut(Group(*[m for m in self.mobjects if m is not heading])), run_time=0.6)
            law = equation(r"(x \circ y) \circ z", "=", r"x \circ (y \circ z)").move_to(UP * 1.3)
            unit = equation(r"(1, 0) \circ x", "=", r"x \circ (1, 0)", "=", "x").next_to(law, DOWN, buff=0.6)
            self.play(Write(law), run_time=1.5)
            self.play(Write(unit), run_time=1.2)
            assoc, ident = measured_defects()
            measured = label(f"on {DEFECT_SAMPLES} random float64 triples: max |(x∘y)∘z − x∘(y∘z)| = "
                             f"{scientific(assoc)},  max |(1, 0)∘x − x| = {scientific(ident)}", SMALL_SIZE, FOREGROUND)
            self.play(FadeIn(measured.next_to(unit, DOWN, buff=0.6)), run_time=0.8)
        with self.beat("grouping"):
            self.play(FadeOut(VGroup(unit, measured)), law.animate.shift(UP * 0.3), run_time=0.6)
            chain = equation(r"((x_1 \circ x_2) \circ x_3) \circ x_4", "=",
                             r"(x_1 \circ x_2) \circ (x_3 \circ x_4)").next_to(law, DOWN, buff=0.9)
            self.play(Write(chain), run_time=1.5)
            loop = label("the loop", SMALL_SIZE, MUTED).next_to(chain[0], DOWN)
            tree = label("independent halves: a tree", SMALL_SIZE, STABLE).next_to(chain[2], DOWN)
            self.play(FadeIn(loop), FadeIn(tree), chain[2].animate.set_color(STABLE), run_time=1)


class SequentialLoop(Segment):
    """The loop as a scan: n − 1 combines, each waiting for the one before (depth = work)."""

    def construct(self):
        self.add(title("The loop: one combine after another"))
        a, b, trace = example_trace("sequential")
        h = sequential_scan(a, b)                                            # (8,)
        cells = cell_row(len(TOKENS), MUTED, size=0.8, buff=0.6).move_to(UP * 0.6)
        values = VGroup(*[label(number(v), LABEL_SIZE).move_to(cell) for v, cell in zip(b, cells, strict=True)])
        with self.beat("chain"):
            self.play(FadeIn(cells), FadeIn(values), run_time=0.8)
            for i in range(1, len(TOKENS)):
                state = label(number(h[i]), LABEL_SIZE, ACCENT).move_to(cells[i])
                self.play(GrowArrow(arrow_between(cells[i - 1], cells[i], ACCENT)), values[i].animate.become(state),
                          cells[i].animate.set_color(ACCENT), run_time=0.75)
        with self.beat("count"):
            counted = label(f"counted: {trace.combines} combines in {trace.depth} levels "
                            f"(n − 1 = {len(TOKENS) - 1} of each)", LABEL_SIZE, FOREGROUND)
            self.play(FadeIn(counted.next_to(cells, DOWN, buff=1.0)), run_time=0.8)
            self.play(FadeIn(caption("Work O(n), depth O(n): nothing runs at the same time.")), run_time=0.8)


class HillisSteeleLevels(Segment):
    """Hillis–Steele on 8 numbers: 3 levels, and at each one every element combines at once."""

    def construct(self):
        self.add(title("Hillis–Steele: every combine of a level at once"))
        a, b, trace = example_trace("hillis_steele")
        with self.beat("input"):
            play_input(self, a, b)
        with self.beat("levels"):
            for row in range(1, trace.depth + 1):
                play_level(self, a, b, trace, row)
        worked = label(worked_combine(a, b, trace.levels[0]), SMALL_SIZE, FOREGROUND)
        reset = label(reset_sentence(a, b), SMALL_SIZE, MUTED)
        stacked(worked, reset, buff=0.2).move_to([0, -1.9, 0])
        with self.beat("worked"):
            self.play(FadeIn(worked), run_time=0.8)
        with self.beat("reset"):
            self.play(FadeIn(reset), run_time=0.8)
        with self.beat("cost"):
            self.play(FadeIn(caption(f"{trace.depth} levels = ⌈log₂ 8⌉, but {trace.combines} combines: "
                                     f"more work than the loop's {len(TOKENS) - 1}.")), run_time=0.8)


class BlellochSweeps(Segment):
    """The work-efficient scan on 8 numbers (the inclusive Brent–Kung form that lessons.scan calls Blelloch): the
    up-sweep builds a tree of sums, the down-sweep fills the gaps."""

    def construct(self):
        self.add(title("Brent–Kung: sweep up a tree, then back down"))
        a, b, trace = example_trace("blelloch")
        rows = range(1, trace.depth + 1)
        with self.beat("up-sweep"):
            play_input(self, a, b)
            for row in rows:
                if trace.levels[row - 1].phase == "up-sweep":
                    play_level(self, a, b, trace, row)
        with self.beat("down-sweep"):
            for row in rows:
                if trace.levels[row - 1].phase == "down-sweep":
                    play_level(self, a, b, trace, row)
        with self.beat("cost"):
            done = label(f"{trace.combines} combines ≤ 2(n−1) = {2 * (len(TOKENS) - 1)}", SMALL_SIZE, STABLE)
            done.next_to(caption("x"), UP, buff=0.15).to_edge(RIGHT, buff=0.5)
            self.play(FadeIn(done), FadeIn(caption(f"{trace.depth} levels ≤ 2⌈log₂ 8⌉ = 6: O(n) work, "
                                                   "O(log n) depth.")), run_time=0.8)


def table_row(cells: list[str], colours: list, y: float) -> VGroup:
    """One row of the work/depth table: the algorithm's name left-aligned, the numbers right-aligned."""
    xs = (-5.6, -1.2, 0.8, 2.7, 4.5, 6.4)
    row = VGroup()
    for i, (text, colour, x) in enumerate(zip(cells, colours, xs, strict=True)):
        item = label(text, LABEL_SIZE - 2, colour)
        item.move_to([x, y, 0], aligned_edge=LEFT if i == 0 else RIGHT).align_to([0, y + 0.15, 0], UP)
        row.add(item)                                             # tops aligned: descenders don't shift a row
    return row


class WorkDepthTable(Segment):
    """Work, depth and steps on p processors of every scan at n = 1024, counted by running lessons.scan."""

    def construct(self):
        self.add(title(f"Counted by running the code: n = {TABLE_N}"))
        counts = step_counts()
        heads = ["algorithm", "combines", "levels", *[f"p = {p}" for p in PROCESSORS]]
        header = table_row(heads, [MUTED] * len(heads), 2.0)
        rows = [table_row([ALGORITHM_NAMES[name], str(work), str(depth), *map(str, steps)],
                          [FOREGROUND] * 3 + [MUTED] * len(steps), 1.2 - 0.7 * i)
                for i, (name, (work, depth, steps)) in enumerate(counts.items())]
        steps_columns = VGroup(*[header[3 + k] for k in range(len(PROCESSORS))],
                               *[row[3 + k] for row in rows for k in range(len(PROCESSORS))])
        with self.beat("table"):
            self.play(FadeIn(VGroup(*header[:3])), *[FadeIn(VGroup(*row[:3])) for row in rows], run_time=1.5)
        with self.beat("processors"):
            rule = equation(r"T_p = \sum_{\text{levels}} \left\lceil \frac{\text{combines}}{p} \right\rceil",
                            size=36).move_to([0, -2.2, 0])
            self.play(Write(rule), FadeIn(steps_columns), run_time=1.5)
        with self.beat("winners"):
            marks = []
            for k in range(len(PROCESSORS)):
                best = min(range(len(rows)), key=lambda i, k=k: list(counts.values())[i][2][k])
                marks.append(SurroundingRectangle(rows[best][3 + k], color=STABLE, buff=0.08))
            self.play(*[FadeIn(mark) for mark in marks], run_time=1)
            self.play(FadeIn(caption("Fewest steps per column marked. GPU kernels chunk: a loop per thread, "
                                     "then a scan across.")), run_time=0.8)


# ------------------------------------------------------------------------------------------------ cub's BlockScan
BLOCK_TOKENS = (3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3)   # b; every gate is 1, so h is the running sum
BLOCK_ITEMS, BLOCK_LANES = 2, 4                    # a toy block: 8 threads of 2 items, warps of 4 lanes
MAMBA_THREADS, MAMBA_ITEMS = 128, 16               # mamba_ssm's selective scan at long L: 128 threads × 16 items
WARP_LANES = 32                                    # a CUDA warp
BLOCK_CELL, ITEM_STEP, THREAD_GAP, WARP_GAP, BLOCK_ROW_Y = 0.56, 0.64, 0.2, 0.55, 0.55
PHASE_PLACES = {"thread reduce": "registers", "warp scan": "shuffles inside a warp",
                "thread prefix": "shared memory, after one barrier", "thread scan": "registers"}


def block_x(i: int) -> float:
    """Centre of item i in the toy block: items of a thread sit close, threads a little apart, warps further."""
    thread = i // BLOCK_ITEMS
    x = i * ITEM_STEP + thread * THREAD_GAP + thread // BLOCK_LANES * WARP_GAP
    last = len(BLOCK_TOKENS) - 1
    width = last * ITEM_STEP + last // BLOCK_ITEMS * THREAD_GAP + last // BLOCK_ITEMS // BLOCK_LANES * WARP_GAP
    return x - width / 2


def block_trace() -> tuple[torch.Tensor, torch.Tensor, ScanTrace]:
    """(a, b) of the toy block and lessons.scan.block_scan's trace on it."""
    b = torch.tensor(BLOCK_TOKENS, dtype=torch.float64)           # (16,)
    a = torch.ones_like(b)
    return a, b, trace_scan("block", a, b, items_per_thread=BLOCK_ITEMS, warp_size=BLOCK_LANES)[1]


def block_cells(values) -> VGroup:
    """The 16 items as boxes with their b, placed by thread and warp."""
    cells = VGroup()
    for i, value in enumerate(values):
        box = Square(BLOCK_CELL, color=MUTED, stroke_width=1.5).move_to([block_x(i), BLOCK_ROW_Y, 0])
        cells.add(VGroup(box, label(number(value), SMALL_SIZE + 2, FOREGROUND).move_to(box)))
    return cells


def block_frame() -> VGroup:
    """Warp outlines with their names, and each thread's name under its items."""
    frame = VGroup()
    per_warp = BLOCK_ITEMS * BLOCK_LANES
    for warp in range(len(BLOCK_TOKENS) // per_warp):
        first, last = block_x(warp * per_warp), block_x((warp + 1) * per_warp - 1)
        outline = RoundedRectangle(corner_radius=0.15, width=last - first + BLOCK_CELL + 0.3, height=2.5,
                                   color=STABLE, stroke_width=2).move_to([(first + last) / 2, BLOCK_ROW_Y + 0.17, 0])
        frame.add(outline, label(f"warp {warp}", SMALL_SIZE, STABLE).next_to(outline, UP, buff=0.08))
    for thread in range(len(BLOCK_TOKENS) // BLOCK_ITEMS):
        centre = (block_x(thread * BLOCK_ITEMS) + block_x((thread + 1) * BLOCK_ITEMS - 1)) / 2
        frame.add(label(f"t{thread}", SMALL_SIZE - 2, MUTED).move_to([centre, BLOCK_ROW_Y - 0.58, 0]))
    return frame


def combine_arcs(level, start_points: dict[int, list] | None = None) -> list[CurvedArrow]:
    """One arc per combine of a level, over the row from the earlier operand into the target (or from a given
    point, e.g. shared memory, where `start_points` names one)."""
    top, bottom = BLOCK_ROW_Y + BLOCK_CELL / 2, BLOCK_ROW_Y - BLOCK_CELL / 2
    arcs = []
    for source, target in zip(level.sources, level.targets, strict=True):
        if start_points and target in start_points:   # up from below the row, gently curved
            start, end, angle = start_points[target], [block_x(target) - 0.1, bottom, 0], -TAU / 12
        else:                                          # over the row, from the earlier operand
            start, end, angle = [block_x(source), top, 0], [block_x(target), top, 0], -TAU / 3
        arcs.append(CurvedArrow(start, end, angle=angle, color=VANISHING, stroke_width=3, tip_length=0.16))
    return arcs


class BlockScan(Segment):
    """cub::BlockScan, the scan inside mamba_ssm's CUDA kernel, on a toy block: each thread folds its items
    serially, Hillis–Steele runs over the thread totals inside each warp, the warp totals meet in shared memory
    behind one barrier, and each thread rescans its items from its prefix. Levels and values from lessons.scan."""

    def construct(self):
        self.add(title("Inside a GPU block: cub's BlockScan"))
        a, b, trace = block_trace()
        cells = block_cells(b)
        phase = label("", SMALL_SIZE).to_corner(UP + LEFT)
        with self.beat("block"):
            self.play(FadeIn(block_frame()), FadeIn(cells), run_time=1.2)
            note = caption(f"{len(BLOCK_TOKENS)} items: {len(BLOCK_TOKENS) // BLOCK_ITEMS} threads of {BLOCK_ITEMS}, "
                           f"warps of {BLOCK_LANES} lanes; every gate is 1, so h is the running sum")
            self.play(FadeIn(note), run_time=0.6)
        shared = label("shared memory", SMALL_SIZE, MUTED)
        shared_box = SurroundingRectangle(shared, color=MUTED, buff=0.15)
        VGroup(shared, shared_box).move_to([0, BLOCK_ROW_Y - 2.0, 0])
        level_of = {phase_name: [level for level in trace.levels if level.phase == phase_name]
                    for phase_name in PHASE_PLACES}
        assert not [level for level in trace.levels if level.phase not in PHASE_PLACES], "a phase the scene skips"
        done = 0

        def play_phase(name: str, start_points=None) -> None:
            nonlocal done, phase
            heading = label(f"{name}: {PHASE_PLACES[name]}", LABEL_SIZE, ACCENT).move_to([0, 2.7, 0])
            self.play(FadeOut(phase), FadeIn(heading), run_time=0.4)
            phase = heading
            for level in level_of[name]:
                done += 1
                _, values = replay_trace(a, b, trace, done)
                arcs = combine_arcs(level, start_points)
                changed = [Transform(cells[t][1], label(number(values[t]), SMALL_SIZE + 2, ACCENT).move_to(cells[t][0]))
                           for t in level.targets]
                read = [cells[source][0].animate.set_stroke(VANISHING, width=3) for source in set(level.sources)
                        if start_points is None]
                written = [cells[t][0].animate.set_stroke(ACCENT, width=3) for t in level.targets]
                self.play(*[Create(arc) for arc in arcs], *changed, *read, *written, run_time=0.9)   # all at once
                self.play(*[FadeOut(arc) for arc in arcs], *[cells[t][1].animate.set_color(FOREGROUND)
                                                                  for t in level.targets],
                          *[cell[0].animate.set_stroke(MUTED, width=1.5) for cell in cells], run_time=0.3)

        with self.beat("serial"):
            play_phase("thread reduce")
        with self.beat("warp"):
            play_phase("warp scan")
        with self.beat("handover"):
            warp_total = len(BLOCK_TOKENS) // 2 - 1                         # the last item of warp 0
            carried = cells[warp_total][1].copy()
            barrier = DashedLine([block_x(0) - 0.4, BLOCK_ROW_Y - 1.3, 0], [block_x(15) + 0.4, BLOCK_ROW_Y - 1.3, 0],
                                 color=EXPLODING)
            self.play(FadeIn(VGroup(shared, shared_box)), run_time=0.5)
            self.play(carried.animate.next_to(shared_box, RIGHT, buff=0.15), Create(barrier), run_time=0.9)
            points = {t: carried.get_top() for t in level_of["thread prefix"][0].targets}
            play_phase("thread prefix", points)
        with self.beat("rescan"):
            play_phase("thread scan")
            _, final = replay_trace(a, b, trace, trace.depth)
            assert torch.equal(final, sequential_scan(a, b)), "the script's 'rescan' says the scan is done"
        with self.beat("mamba"):
            costs = block_costs(("block", "blelloch"), MAMBA_THREADS, MAMBA_ITEMS, WARP_LANES)
            ours, brent_kung = costs["block"], costs["blelloch"]
            assert ours.steps == ours.depth and ours.cross_warp_levels < brent_kung.cross_warp_levels, \
                f"the script's 'mamba' no longer holds: {costs}"
            lines = stacked(label(f"mamba's block: {MAMBA_THREADS} threads × {MAMBA_ITEMS} items = "
                                  f"{MAMBA_THREADS * MAMBA_ITEMS}", LABEL_SIZE - 2, FOREGROUND),
                            label(f"BlockScan: {ours.depth} levels, so {ours.steps} steps on {MAMBA_THREADS} threads; "
                                  f"{ours.cross_warp_levels} levels read across warps", LABEL_SIZE - 2, STABLE),
                            label(f"Brent–Kung: {brent_kung.depth} levels, but {brent_kung.steps} steps; "
                                  f"{brent_kung.cross_warp_levels} levels read across warps", LABEL_SIZE - 2, MUTED),
                            buff=0.2).move_to([0, -2.3, 0])
            self.play(FadeOut(VGroup(shared, shared_box, carried, barrier)), FadeOut(note), run_time=0.4)
            self.play(FadeIn(lines), run_time=1.0)


class ClosingCard(Segment):
    """The result in one line, and the bridge to lesson 05."""

    def construct(self):
        work, depth, _ = step_counts()["blelloch"]
        card = closing_card(f"n = {TABLE_N}: a scan in {depth} levels and {work} combines, not {TABLE_N - 1} "
                            "steps in a row",
                            "Next: which gates a to learn, so memory lasts and training stays stable (lesson 05)")
        result, bridge = card
        with self.beat("result"):
            self.play(FadeIn(equation(RECURRENCE).next_to(card, UP, buff=0.8)), FadeIn(result), run_time=1.2)
        with self.beat("bridge"):
            self.play(FadeIn(bridge, shift=UP * 0.2), run_time=1)
