"""Lesson 08's segment: Mamba-2's scan as matrix multiplication, in six scenes timed by animations/scripts/08.md.

TitleCard: the lesson and its question.
MatrixForm: the scalar-decay recurrence unrolled into y = M x, M = L ∘ (C Bᵀ), with M drawn from lessons.ssd on a
small example (L = 8, N = 2, one head, P = 1) and M x checked against the loop.
SSDChunk: the output of one chunk is its diagonal block (a small masked matmul) plus what the state carried in from
the chunks before it adds: the matrix M, the two parts of y, the carried state, and the loop's y, all computed.
TensorCores: FLOPs of chunked SSD (lessons.ssd.ssd_flops, nearly all matmul) against Mamba-1's scan (none), and the
recorded H200 times (results/ssd_gpu.md).
Family: seven models as (a_t, b_t) of h_t = a_t ⊙ h_{t−1} + b_t (lessons.ssd.recurrence_family), with the range of
|a_t| each one draws and whether it changes with t.
ClosingCard: the result and the end of the road.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch
from manim import (DOWN, LEFT, RIGHT, UP, Create, DashedVMobject, FadeIn, FadeOut, GrowFromEdge, LaggedStart,
                   MathTex, Rectangle, SurroundingRectangle, TransformFromCopy, VGroup, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, MUTED, SMALL_SIZE, STABLE, VANISHING, caption,
                              closing_card, equation, label, scientific, title, title_card)
from kernels.bench import read_recorded
from lessons.palette import DARK
from lessons.ssd import recurrence_family, selective_scan_flops, ssd_flops, ssd_loop, ssd_matrix, ssd_terms
from lessons.utils import results_path
from lessons.widgets.ssd import example_ssd_inputs

LENGTH, CHUNK, STATE, DECAY = 8, 4, 2, 0.3
FOCUS = 1                                   # the chunk whose output is built
CELL = 0.62
MATRIX_CORNER = (-6.3, 2.3)                 # centre of M[0, 0]


def example():
    """x, a, B, C (one head, P = 1), M (L, L), the chunked terms and the loop's y (L,), all from lessons.ssd."""
    x, a, B, C = example_ssd_inputs(LENGTH, STATE, True, DECAY)
    return x, ssd_matrix(a, B, C)[0, 0], ssd_terms(x, a, B, C, chunk_size=CHUNK), ssd_loop(x, a, B, C)[0][0, :, 0, 0]


class TitleCard(Segment):
    """The lesson's number, title and question."""

    def construct(self):
        card = title_card("08", "Mamba-2: the scan as matrix multiplication", "Can tensor cores run the scan?")
        self.play_title_card(card)


# ---------------------------------------------------------------------------------------------
# The matrix M, drawn cell by cell (MatrixForm and SSDChunk)
# ---------------------------------------------------------------------------------------------


def cell_centre(t: int, s: int) -> list[float]:
    """Where M[t, s] is drawn."""
    return [MATRIX_CORNER[0] + s * CELL, MATRIX_CORNER[1] - t * CELL, 0]


def matrix_cells(M: torch.Tensor) -> VGroup:
    """M as a grid of numbered cells; the upper triangle (the future) is left empty."""
    cells = VGroup()
    for t in range(LENGTH):
        for s in range(LENGTH):
            box = Rectangle(width=CELL, height=CELL, stroke_color=MUTED, stroke_width=0.6,
                            fill_color=DARK.faint, fill_opacity=0.6 if s <= t else 0.15).move_to(cell_centre(t, s))
            cells.add(box)
            if s <= t:
                cells.add(label(f"{float(M[t, s]):.2f}", SMALL_SIZE - 5).move_to(box))
    return cells


def region(rows: range, columns: range, colour) -> Rectangle:
    """A rectangle around M[rows, columns]."""
    width, height = len(columns) * CELL, len(rows) * CELL
    centre = [(a + b) / 2 for a, b in zip(cell_centre(rows[0], columns[0]), cell_centre(rows[-1], columns[-1]),
                                           strict=True)]
    return Rectangle(width=width, height=height, stroke_color=colour, stroke_width=4).move_to(centre)


# ---------------------------------------------------------------------------------------------
# MatrixForm: the recurrence, unrolled, is y = M x
# ---------------------------------------------------------------------------------------------


def recurrence() -> VGroup:
    """h_t = e^{a_t} h_{t−1} + B_t x_t and y_t = C_tᵀ h_t: one scalar decay per head."""
    return VGroup(equation(r"h_t", "=", r"e^{a_t}", r"h_{t-1}", "+", r"B_t\, x_t"),
                  equation(r"y_t", "=", r"C_t^{\top}", r"h_t")).arrange(DOWN, buff=0.3)


def unrolled() -> MathTex:
    """y_t as a sum over the past, each term weighted by C_tᵀB_s and the decays in between."""
    parts = equation(r"y_t", "=", r"\sum_{s \le t}", r"C_t^{\top} B_s", r"\, e^{a_{s+1} + \dots + a_t}", r"\, x_s")
    parts[4].set_color(VANISHING)
    return parts


def matrix_form() -> VGroup:
    """y = M x with M = L ∘ (C Bᵀ), L_ts = e^{a_{s+1} + … + a_t} (0 above the diagonal)."""
    mask = equation(r"L_{ts}", "=", r"e^{a_{s+1} + \dots + a_t}", r"\quad (s \le t)", size=36)
    mask[2].set_color(VANISHING)
    return VGroup(equation(r"y", "=", r"M", r"x", r"\qquad", r"M", "=", r"L", r"\circ", r"(C B^{\top})"),
                  mask).arrange(DOWN, buff=0.35)


def power_of_ten(value: float) -> str:
    r"""1.1e-16 -> '1.1 \times 10^{-16}' for MathTex (0 stays '0')."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


class MatrixForm(Segment):
    """The recurrence, unrolled, is a matrix product; M drawn from the example, and M x against the loop."""

    def construct(self):
        self.add(title("Mamba-2: the recurrence is a matrix"))
        x, M, _terms, y_loop = example()
        steps = recurrence().move_to([0, 1.6, 0])
        with self.beat("recurrence"):
            self.play(Write(steps), run_time=2.0)
        sums = unrolled().move_to([0, 0.0, 0])
        with self.beat("unroll"):
            self.play(TransformFromCopy(steps[1], sums), run_time=2.0)
        product = matrix_form().move_to([0, -1.8, 0])
        with self.beat("matrix"):
            self.play(TransformFromCopy(sums, product), run_time=2.0)
        grid = matrix_cells(M)
        with self.beat("numbers"):
            self.play(FadeOut(steps), FadeOut(sums), product.animate.scale(0.8).move_to([2.6, 1.2, 0]), run_time=1.2)
            self.play(FadeIn(grid), FadeIn(label(f"M for L = {LENGTH} steps, N = {STATE}", SMALL_SIZE, MUTED)
                                            .next_to(grid, DOWN, buff=0.2)), run_time=1.5)
        gap = float((M @ x[0, :, 0, 0] - y_loop).abs().max())
        check = VGroup(equation(r"\max_t\, |(M x)_t - y_t^{\text{loop}}|", "=", power_of_ten(gap), size=32,
                                color=ACCENT),
                       label("attention with a decaying causal mask, no softmax", SMALL_SIZE, FOREGROUND))
        with self.beat("check"):
            self.play(FadeIn(check.arrange(DOWN, buff=0.3).move_to([2.6, -1.0, 0])), run_time=1.2)


# ---------------------------------------------------------------------------------------------
# SSDChunk: one chunk's output in two parts
# ---------------------------------------------------------------------------------------------


def column(values: torch.Tensor, colour, heading: str, x: float) -> VGroup:
    """A heading and one number per row of the focus chunk, aligned with M's rows."""
    rows = range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK)
    numbers = VGroup(*(label(f"{float(v):+.3f}", SMALL_SIZE, colour).move_to([x, cell_centre(t, 0)[1], 0])
                       for t, v in zip(rows, values.tolist(), strict=True)))
    return VGroup(label(heading, SMALL_SIZE, colour).next_to(numbers, UP, buff=0.25), numbers)


def chunk_equation(start: int, last: int) -> VGroup:
    """y_t = Σ_{s in chunk} M_ts x_s + e^{a_start + … + a_t} C_tᵀ h_last, in four parts (colours hold)."""
    return VGroup(MathTex(r"y_t =", font_size=34),
                  MathTex(r"\sum_{s \in \text{chunk}} M_{ts}\,x_s", font_size=34, color=ACCENT),
                  MathTex("+", font_size=34),
                  MathTex(rf"e^{{\,a_{{{start}}} + \dots + a_t}}\, C_t^{{\top}} h_{{{last}}}", font_size=34,
                          color=VANISHING)).arrange(RIGHT, buff=0.15).move_to([2.9, 1.75, 0])


class SSDChunk(Segment):
    """Build y on chunk 1: the diagonal block times x, plus the carried state read by C, equals the loop's y."""

    def construct(self):
        x, M, terms, y_loop = example()
        rows = slice(FOCUS * CHUNK, (FOCUS + 1) * CHUNK)
        y_diag, y_off = terms.y_diag[0, rows, 0, 0], terms.y_off[0, rows, 0, 0]
        self.add(title("Mamba-2: one chunk's output in two parts"))
        with self.beat("matrix"):
            self.play(FadeIn(matrix_cells(M)), FadeIn(caption(f"the same M: {LENGTH} steps, chunks of {CHUNK}, "
                                                              f"state size {STATE}")), run_time=1.5)
        start, last = FOCUS * CHUNK, FOCUS * CHUNK - 1                              # first step, state carried in
        formula = chunk_equation(start, last)
        block = region(range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), ACCENT)
        diag = column(y_diag, ACCENT, "diagonal block", 0.2)
        with self.beat("block"):
            self.play(Create(block), Write(formula[:3]), run_time=2.0)
        with self.beat("diagonal"):
            self.play(TransformFromCopy(block, diag), run_time=1.5)
        past = DashedVMobject(region(range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), range(0, FOCUS * CHUNK), VANISHING))
        with self.beat("past"):
            self.play(Create(past), Write(formula[3:]), run_time=2.0)
        with self.beat("state"):
            self.play_state(terms.carried_states[0, FOCUS, 0, 0], past, last)
        off = column(y_off, VANISHING, "carried state", 2.3)
        with self.beat("carried"):
            self.play(TransformFromCopy(self.state_text, off), run_time=1.5)
        total = column(y_diag + y_off, FOREGROUND, "y", 4.2)
        with self.beat("total"):
            self.play(TransformFromCopy(VGroup(diag, off), total), run_time=1.5)
        loop = column(y_loop[rows], MUTED, "the loop", 5.9)
        gap = float((y_diag + y_off - y_loop[rows]).abs().max())
        check = equation(r"\max_t |y_t - y_t^{\text{loop}}|", "=", power_of_ten(gap), size=26,
                         color=ACCENT).move_to([5.05, -2.7, 0])
        with self.beat("check"):
            self.play(FadeIn(loop), run_time=1.0)
            self.play(FadeIn(check), FadeIn(SurroundingRectangle(VGroup(total, loop), color=ACCENT, buff=0.12)))

    def play_state(self, state: torch.Tensor, past, last: int):
        """The past block becomes the N numbers of the state carried into the chunk: state (N,) since P = 1."""
        self.state_text = MathTex(rf"h_{{{last}}} = (" + ", ".join(f"{float(v):.3f}" for v in state) + ")",
                                  font_size=30, color=VANISHING).move_to([1.3, -2.65, 0])
        note = label(f"rank ≤ N = {STATE}: the past reaches chunk {FOCUS} only through these {STATE} numbers",
                     SMALL_SIZE, VANISHING).next_to(self.state_text, DOWN, buff=0.15)
        self.play(TransformFromCopy(past, self.state_text), FadeIn(note), run_time=1.5)


# ---------------------------------------------------------------------------------------------
# TensorCores: which FLOPs run on tensor cores, and what the H200 measured
# ---------------------------------------------------------------------------------------------

SSD_SIZES = dict(batch=8, length=4096, heads=48, head_dim=64, state=64, chunk_size=256, groups=1)  # ssd_gpu.md's
MAMBA1_STATE = 16
RECORDED = "ssd_gpu.md"
FLOP_LEFT, FLOP_WIDTH = -2.4, 7.4


@dataclass(frozen=True)
class Arithmetic:
    """GFLOP of chunked SSD (matmul, other) and Mamba-1's scan (other) at SSD_SIZES, and the recorded times (ms)."""

    ssd_matmul: float
    ssd_other: float
    mamba1_other: float
    forward: dict                 # {(kernel, dtype): ms}, forward pass


def mamba1_dim() -> int:
    """Mamba-1's d_inner at the same width: heads · head_dim."""
    return SSD_SIZES["heads"] * SSD_SIZES["head_dim"]


@cache
def arithmetic() -> Arithmetic:
    """The counts from lessons.ssd and the forward times recorded on the H200."""
    ssd = ssd_flops(**SSD_SIZES)["total"]
    mamba1 = selective_scan_flops(SSD_SIZES["batch"], mamba1_dim(), SSD_SIZES["length"], MAMBA1_STATE)
    (rows,) = read_recorded(str(results_path(RECORDED))).values()
    forward = {(row["kernel"], row["dtype"]): float(row["forward"]) for row in rows}
    return Arithmetic(ssd["matmul"] / 1e9, ssd["other"] / 1e9, mamba1["other"] / 1e9, forward)


def flop_bar(name: str, parts: list[tuple[float, object]], longest: float, y: float) -> VGroup:
    """A stacked horizontal bar of GFLOP (matmul first), its name on the left and its total on the right."""
    pieces, left = VGroup(), FLOP_LEFT
    for gflop, colour in parts:
        width = max(0.03, FLOP_WIDTH * gflop / longest)
        pieces.add(Rectangle(width=width, height=0.32, color=colour, fill_opacity=0.85, stroke_width=0)
                   .move_to([left, y, 0], aligned_edge=LEFT))
        left += width
    total = sum(gflop for gflop, _ in parts)
    return VGroup(pieces, label(name, SMALL_SIZE, FOREGROUND).next_to([FLOP_LEFT, y, 0], LEFT, buff=0.2),
                  label(f"{total:.0f} GFLOP", SMALL_SIZE, FOREGROUND).next_to(pieces, RIGHT, buff=0.15))


def time_bars(forward: dict, top: float) -> VGroup:
    """One bar per recorded (kernel, dtype) forward time, in ms, SSD green and Mamba-1 vermillion."""
    longest = max(forward.values())
    bars = VGroup()
    for row, ((kernel, dtype), ms) in enumerate(forward.items()):
        colour = STABLE if "SSD" in kernel else EXPLODING
        name = f"{'SSD' if 'SSD' in kernel else 'Mamba-1 scan'}, {dtype}"
        bars.add(flop_bar(name, [(ms, colour)], longest, top - 0.42 * row))
        bars[-1][2].become(label(f"{ms:.2f} ms", SMALL_SIZE, colour).next_to(bars[-1][0], RIGHT, buff=0.15))
    return bars


class TensorCores(Segment):
    """SSD's FLOPs are matmuls, Mamba-1's are not; the H200 times."""

    def construct(self):
        self.add(title("Where the arithmetic runs"))
        counts = arithmetic()
        longest = counts.ssd_matmul + counts.ssd_other
        products = VGroup(
            VGroup(label("SSD, per chunk:", SMALL_SIZE + 2, STABLE),
                   equation(r"C B^{\top},\ \ (L \circ C B^{\top})\, X,\ \ X^{\top} B,\ \ C H^{\top}", size=32,
                            color=STABLE)).arrange(RIGHT, buff=0.3),
            VGroup(label("Mamba-1, per state element:", SMALL_SIZE + 2, EXPLODING),
                   equation(r"e^{\Delta A},\ \ \Delta B u,\ \ \bar A h + \bar B u,\ \ C h", size=32,
                            color=EXPLODING)).arrange(RIGHT, buff=0.3)).arrange(DOWN, buff=0.3, aligned_edge=LEFT)
        products.move_to([0, 2.0, 0])
        ssd = flop_bar("chunked SSD", [(counts.ssd_matmul, STABLE), (counts.ssd_other, MUTED)], longest, 0.75)
        key = label(f"matmul (tensor cores): {counts.ssd_matmul:.0f} GFLOP, the rest: {counts.ssd_other:.1f} GFLOP",
                    SMALL_SIZE, MUTED).move_to([0.8, 0.3, 0])
        with self.beat("count"):
            self.play(FadeIn(products[0]), run_time=1.0)
            self.play(GrowFromEdge(ssd[0], LEFT), FadeIn(ssd[1:]), FadeIn(key), run_time=1.5)
        mamba1 = flop_bar(f"Mamba-1 scan, N = {MAMBA1_STATE}", [(counts.mamba1_other, EXPLODING)], longest, -0.2)
        with self.beat("compare"):
            self.play(FadeIn(products[1]), GrowFromEdge(mamba1[0], LEFT), FadeIn(mamba1[1:]), run_time=1.5)
        times = time_bars(counts.forward, -1.0)
        heading = label(f"forward time on an H200, batch {SSD_SIZES['batch']}, L {SSD_SIZES['length']}, d_inner "
                        f"{mamba1_dim()} (results/{RECORDED}; Mamba-1 before lesson 07's rewrite)", SMALL_SIZE,
                        MUTED).move_to([0, -0.65, 0])
        with self.beat("measured"):
            self.play(FadeIn(heading), LaggedStart(*[GrowFromEdge(bar[0], LEFT) for bar in times], lag_ratio=0.3),
                      *[FadeIn(bar[1:]) for bar in times], run_time=2.0)
        with self.beat("why"):
            self.play(FadeIn(caption(f"SSD state: {SSD_SIZES['heads']} heads × {SSD_SIZES['head_dim']} × "
                                     f"N = {SSD_SIZES['state']}; Mamba-1: {mamba1_dim()} channels × "
                                     f"N = {MAMBA1_STATE}")), run_time=1.0)


# ---------------------------------------------------------------------------------------------
# Family: seven models, one recurrence
# ---------------------------------------------------------------------------------------------

GATES = {"S4D (LegS)": r"e^{\Delta \Lambda}", "LRU": r"e^{-e^{\nu} + i e^{\theta}}", "Mamba-1": r"e^{\Delta_t A}",
         "Mamba-2": r"e^{\Delta_t A},\ A \text{ scalar per head}", "RG-LRU (Griffin)": r"\sigma(\Lambda)^{c\, r_t}",
         "RWKV-6-style": r"e^{-e^{\omega + \tanh(u_t W_1) W_2}}", "mLSTM (xLSTM)": r"\sigma(w_f \cdot u_t + b_f)"}
FAMILY_TOP, FAMILY_STEP = 1.3, 0.62
FAMILY_COLUMNS = (-6.6, -3.6, 0.9, 4.3)        # left edges: name, gate, |a_t| here, changes with t


def family_rows() -> list[tuple[str, str, float, float, bool]]:
    """(name, gate tex, min |a_t|, max |a_t|, whether a_t changes with t) for every member, from the example run."""
    family = recurrence_family()
    if set(family) != set(GATES):
        raise KeyError(f"GATES names {sorted(GATES)}, lessons.ssd.recurrence_family has {sorted(family)}")
    return [(name, GATES[name], float(m.a.abs().min()), float(m.a.abs().max()), bool((m.a != m.a[:1]).any()))
            for name, m in family.items()]


def magnitude(value: float) -> str:
    """|a_t| for the table: three decimals cut (not rounded) so that 0.99997 never reads as 1; tiny ones as 7.5e-6."""
    return scientific(value) if value < 0.01 else f"{math.floor(1000 * value) / 1000:.3f}"


def family_row(row: int, name: str, gate: str, low: float, high: float, varies: bool) -> VGroup:
    """One member: its name, its gate a_t, the range of |a_t| it drew, and whether a_t changes with t."""
    y = FAMILY_TOP - row * FAMILY_STEP
    colour = ACCENT if varies else VANISHING
    cells = (label(name, SMALL_SIZE + 2, FOREGROUND), MathTex(gate, font_size=28, color=FOREGROUND),
             label(f"{magnitude(low)} – {magnitude(high)}", SMALL_SIZE + 2, FOREGROUND),
             label("yes: selective" if varies else "no: fixed", SMALL_SIZE + 2, colour))
    return VGroup(*[cell.move_to([x, y, 0], aligned_edge=LEFT) for cell, x in zip(cells, FAMILY_COLUMNS, strict=True)])


class Family(Segment):
    """h_t = a_t ⊙ h_{t−1} + b_t, and seven ways of choosing a_t."""

    def construct(self):
        self.add(title("One recurrence, seven models"))
        shared = equation(r"h_t", "=", r"a_t", r"\odot h_{t-1} + b_t").move_to([0, 2.5, 0])
        shared[2].set_color(ACCENT)
        names = (r"\text{model}", r"\text{gate } a_t", r"|a_t| \text{ here}", r"\text{changes with } t")
        headings = VGroup(*[MathTex(tex, font_size=26, color=MUTED).move_to([x, FAMILY_TOP + 0.6, 0], aligned_edge=LEFT)
                            for tex, x in zip(names, FAMILY_COLUMNS, strict=True)])
        rows = VGroup(*[family_row(row, *member) for row, member in enumerate(family_rows())])
        with self.beat("members"):
            self.play(Write(shared), run_time=1.5)
            self.play(FadeIn(headings), LaggedStart(*[FadeIn(row, shift=0.2 * RIGHT) for row in rows],
                                                    lag_ratio=0.4), run_time=3.0)
        with self.beat("differ"):
            self.play(*[Create(SurroundingRectangle(row[3], color=row[3].get_color(), buff=0.06)) for row in rows],
                      FadeIn(caption("each run through lessons.scan.linear_scan on one input (lessons.ssd)")),
                      run_time=1.5)


class ClosingCard(Segment):
    """The result in one line, and the end of the course's road."""

    def construct(self):
        counts = arithmetic()
        ssd_ms = counts.forward[("mamba_ssm Triton SSD", "float32")]
        mamba1_ms = counts.forward[("kernels.selective_scan (Mamba-1)", "float32")]
        share = counts.ssd_matmul / (counts.ssd_matmul + counts.ssd_other)
        card = closing_card(f"SSD: {100 * share:.1f} % of its FLOPs are matmuls.\nForward on an H200, float32: "
                            f"{ssd_ms:.2f} ms against Mamba-1's {mamba1_ms:.2f} ms (before lesson 07's rewrite).",
                            "From plain RNNs to Mamba-2: a linear recurrence, made selective, made fast.")
        self.play_closing_card(card)
