"""Lesson 08 scene: the output of one chunk is its diagonal block (a small masked matmul) plus what the state
carried in from the chunks before it adds. Every number is computed by lessons.ssd on a small example (L = 8,
chunk Q = 4, N = 2, one head, P = 1): the matrix M, the two parts of y, the carried state, and the loop's y."""
from __future__ import annotations

import torch
from manim import (DOWN, RIGHT, UP, Create, DashedVMobject, FadeIn, MathTex, Rectangle, Scene, SurroundingRectangle,
                   TransformFromCopy, VGroup, Write)

from animations.style import ACCENT, FOREGROUND, MUTED, SMALL_SIZE, VANISHING, caption, label, title
from lessons.palette import DARK
from lessons.ssd import ssd_loop, ssd_matrix, ssd_terms
from lessons.widgets.ssd import example_ssd_inputs

LENGTH, CHUNK, STATE, DECAY = 8, 4, 2, 0.3
FOCUS = 1                                   # the chunk whose output is built
CELL = 0.62
SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"
MATRIX_CORNER = (-6.3, 2.3)                 # centre of M[0, 0]


def example():
    """x, a, B, C (one head, P = 1), M (L, L), the chunked terms and the loop's y (L,), all from lessons.ssd."""
    x, a, B, C = example_ssd_inputs(LENGTH, STATE, True, DECAY)
    return x, ssd_matrix(a, B, C)[0, 0], ssd_terms(x, a, B, C, chunk_size=CHUNK), ssd_loop(x, a, B, C)[0][0, :, 0, 0]


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


def column(values: torch.Tensor, colour, heading: str, x: float) -> VGroup:
    """A heading and one number per row of the focus chunk, aligned with M's rows."""
    rows = range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK)
    numbers = VGroup(*(label(f"{float(v):+.3f}", SMALL_SIZE, colour).move_to([x, cell_centre(t, 0)[1], 0])
                       for t, v in zip(rows, values.tolist(), strict=True)))
    return VGroup(label(heading, SMALL_SIZE, colour).next_to(numbers, UP, buff=0.25), numbers)


class SSDChunk(Scene):
    """Build y on chunk 1: the diagonal block times x, plus the carried state read by C, equals the loop's y."""

    def construct(self):
        x, M, terms, y_loop = example()
        rows = slice(FOCUS * CHUNK, (FOCUS + 1) * CHUNK)
        y_diag, y_off = terms.y_diag[0, rows, 0, 0], terms.y_off[0, rows, 0, 0]
        self.add(title("Mamba-2: one chunk's output in two parts"))
        grid = matrix_cells(M)
        self.play(FadeIn(grid), FadeIn(caption(f"M = L ∘ (C Bᵀ) for L = {LENGTH}, chunks of Q = {CHUNK}, "
                                               f"N = {STATE}: y = M x")), run_time=1)
        start, last = FOCUS * CHUNK, FOCUS * CHUNK - 1                              # first step, state carried in
        equation = VGroup(MathTex(r"y_t =", font_size=34),
                          MathTex(r"\sum_{s \in \text{chunk}} M_{ts}\,x_s", font_size=34, color=ACCENT),
                          MathTex("+", font_size=34),
                          MathTex(rf"e^{{\,a_{{{start}}} + \dots + a_t}}\, C_t^{{\top}} h_{{{last}}}", font_size=34,
                                  color=VANISHING)).arrange(RIGHT, buff=0.15).move_to([2.9, 1.75, 0])
        block = region(range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), ACCENT)
        diag = column(y_diag, ACCENT, "diagonal block", 0.2)
        self.play(Create(block), Write(equation[:3]), run_time=1.2)
        self.play(TransformFromCopy(block, diag), run_time=1.2)
        past = DashedVMobject(region(range(FOCUS * CHUNK, (FOCUS + 1) * CHUNK), range(0, FOCUS * CHUNK), VANISHING))
        state = terms.carried_states[0, FOCUS, 0, 0]                                # (N,) since P = 1
        state_text = MathTex(rf"h_{{{last}}} = (" + ", ".join(f"{float(v):.3f}" for v in state) + ")", font_size=30,
                             color=VANISHING).move_to([1.3, -2.65, 0])
        note = label(f"rank ≤ N = {STATE}: this block reaches chunk {FOCUS} only through h{SUBSCRIPTS[last]}, "
                     f"{STATE} numbers", SMALL_SIZE, VANISHING).next_to(state_text, DOWN, buff=0.15)
        self.play(Create(past), Write(equation[3:]), run_time=1.2)
        self.play(TransformFromCopy(past, state_text), FadeIn(note), run_time=1.2)
        off = column(y_off, VANISHING, "carried state", 2.3)
        self.play(TransformFromCopy(state_text, off), run_time=1.2)
        total = column(y_diag + y_off, FOREGROUND, "y", 4.2)
        loop = column(y_loop[rows], MUTED, "the loop", 5.9)
        self.play(TransformFromCopy(VGroup(diag, off), total), run_time=1.2)
        self.play(FadeIn(loop), run_time=0.8)
        gap = float((y_diag + y_off - y_loop[rows]).abs().max())
        check = label(f"max |y − loop| = {gap:.1e}", SMALL_SIZE, ACCENT).move_to([5.05, -2.65, 0])
        self.play(FadeIn(check), FadeIn(SurroundingRectangle(VGroup(total, loop), color=ACCENT, buff=0.12)))
        self.wait(1)



