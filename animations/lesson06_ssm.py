"""Lesson 06 segment: let the token choose Δ, B and C, and the state keeps what matters (Mamba's selectivity).

Scenes in the order they play (timed by animations/scripts/06.md): TitleCard, SelectiveParameters,
SelectiveGate, NotationMap, Discretisation, ConvolutionBreaks, MambaBlockPath, ClosingCard.

SelectiveGate: tokens enter a state through a gate that opens (large Δ) on symbols and stays shut (small Δ) on
noise. The bars show how much of each token is in the state after every step, for the selective SSM and for a
time-invariant one with the same total Δ. Every number comes from lessons.ssm (and a real lessons.ssm.MambaBlock
for the shapes and initial values).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from manim import (DOWN, LEFT, RIGHT, UP, FadeIn, FadeOut, GrowArrow, Rectangle, RoundedRectangle, Square,
                   SurroundingRectangle, Transform, TransformMatchingTex, VGroup, Write)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, LABEL_SIZE, MUTED, SMALL_SIZE, STABLE, VANISHING,
                              arrow_between, caption, cell_row, closing_card, equation, label, scientific, title,
                              title_card)
from lessons.ssm import (HAND_SET_A, MambaBlock, hand_set_deltas, lti_gate, ssm_matrix, state_contents,
                         symbol_share, toeplitz_gap, zoh_euler_gap)
from lessons.tasks import FIRST_SYMBOL, encode
from lessons.utils import seeded

TEXT = "..a....b.....c."
CELL, GAP, LEFT_EDGE = 0.5, 0.22, -4.3
ROWS = {"tokens": 2.3, "delta": 1.35, "selective": -0.35, "fixed": -2.35}
BAR_HEIGHT = 1.3
MATRIX_TEXT = "..a..b.."                     # the tokens of the input-to-output matrices (L = 8)
STEPS = (0.01, 0.1, 1.0)                     # |ΔA| of the ZOH-against-Euler rows
BLOCK = {"d_model": 32, "length": 12}        # the MambaBlock whose shapes the diagram prints


def x_of(i: int) -> float:
    return LEFT_EDGE + i * (CELL + GAP)


def contents(selective: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(Δ (L,), W (L, L)) with W[t, s] the part of token s in the state after step t."""
    tokens = encode(TEXT)
    delta = hand_set_deltas(tokens)
    if not selective:
        delta = torch.full_like(delta, float(delta.mean()))           # same total Σ Δ, no choice
    return delta, state_contents(delta, HAND_SET_A[0].double())


def final_shares() -> dict[str, float]:
    """Share of the final state that sits on the symbols, selective and fixed Δ."""
    tokens = encode(TEXT)
    return {name: symbol_share(contents(name == "selective")[1][-1], tokens) for name in ("selective", "fixed")}


def bars(weights: torch.Tensor, baseline: float, colour, scale: float) -> VGroup:
    """One bar per token (height ∝ weight), standing on `baseline`."""
    group = VGroup()
    for i, w in enumerate(weights.tolist()):
        height = max(BAR_HEIGHT * w / scale, 0.01)
        bar = Rectangle(width=CELL * 0.8, height=height, fill_color=colour, fill_opacity=0.85, stroke_width=0)
        group.add(bar.move_to([x_of(i), baseline + height / 2, 0]))
    return group


def symbol_and_noise_deltas() -> tuple[float, float]:
    """(Δ on a symbol, Δ on noise) as lessons.ssm.hand_set_deltas sets them."""
    delta = hand_set_deltas(encode("a."))
    return float(delta[0]), float(delta[1])


class TitleCard(Segment):
    """The lesson's title, and its question: a fixed gate treats every token alike; how can the model choose?"""

    def construct(self):
        card = title_card("06", "Selectivity", "How can the model choose what to remember?")
        with self.beat("title"):
            self.play(FadeIn(card), run_time=1.5)
        with self.beat("question"):
            self.play(card.animate.scale(0.8).to_edge(UP, buff=0.6), run_time=1)
            recurrence = equation(r"h_t = \lambda\, h_{t-1} + x_t", r"\qquad \lambda \text{ fixed}").move_to(DOWN * 0.3)
            tokens = encode(TEXT)
            boxes = cell_row(len(TEXT), MUTED, size=0.5, buff=0.15).next_to(recurrence, DOWN, buff=0.7)
            letters = VGroup(*[label(ch, LABEL_SIZE, ACCENT if int(t) >= FIRST_SYMBOL else MUTED).move_to(box)
                               for ch, t, box in zip(TEXT, tokens, boxes, strict=True)])
            self.play(Write(recurrence), FadeIn(boxes), FadeIn(letters), run_time=1.5)
            self.play(FadeIn(caption("The same gate for the dots as for the symbols.")), run_time=0.8)


class SelectiveParameters(Segment):
    """From a time-invariant SSM to a selective one: Δ_t = softplus(w·x_t + b), Ā_t = exp(Δ_t A), B_t and C_t."""

    def construct(self):
        self.add(title("Let the token choose the step"))
        with self.beat("lti"):
            lti = equation(r"h_t", "=", r"\bar A", r"h_{t-1}", "+", r"\bar B", r"x_t", r"\qquad y_t = ", "C",
                           r"h_t").move_to(UP * 1.6)
            self.play(Write(lti), run_time=2)
        with self.beat("delta"):
            delta = equation(r"\Delta_t = \operatorname{softplus}(w^\top x_t + b) > 0").next_to(lti, DOWN, buff=0.6)
            delta.set_color(ACCENT)
            self.play(Write(delta), run_time=2)
        with self.beat("gate"):
            gate = equation(r"\bar A_t = \exp(\Delta_t A),\quad A < 0").next_to(delta, DOWN, buff=0.5)
            self.play(Write(gate), run_time=1.5)
            a = HAND_SET_A[0, 1].double()                                     # A = −1
            meanings = (("forget, write the token", STABLE), ("keep, ignore the token", VANISHING))
            rows = VGroup(*[equation(rf"\Delta = {d:g}:\ \ \bar A = {float(lti_gate(d, a)):.2f}",
                                     rf"\quad \text{{{words}}}", size=34, color=colour)
                            for d, (words, colour) in zip(symbol_and_noise_deltas(), meanings, strict=True)])
            rows.arrange(DOWN, aligned_edge=LEFT, buff=0.25).next_to(gate, DOWN, buff=0.4)
            caption_a = label(f"(A = {signed(a)})", SMALL_SIZE, MUTED).next_to(rows, RIGHT, buff=0.4)
            self.play(FadeIn(rows, lag_ratio=0.5), FadeIn(caption_a), run_time=2)
        with self.beat("bc"):
            selective = equation(r"h_t", "=", r"\bar A_t", r"h_{t-1}", "+", r"\bar B_t", r"x_t", r"\qquad y_t = ",
                                 r"C_t", r"h_t").move_to(lti)
            for index in (2, 5, 8):
                selective[index].set_color(ACCENT)
            self.play(TransformMatchingTex(lti, selective), run_time=1.5)
            bc = equation(r"B_t = W_B\, x_t, \qquad C_t = W_C\, x_t", size=36, color=ACCENT)
            self.play(FadeOut(VGroup(rows, caption_a)), FadeIn(bc.next_to(gate, DOWN, buff=0.6)), run_time=1)


class SelectiveGate(Segment):
    """Step through the tokens: the selective state keeps the symbols, the fixed-Δ one fills up with noise."""

    def construct(self):
        tokens = encode(TEXT)
        delta, selective = contents(True)
        fixed_delta, fixed = contents(False)
        scale = float(max(selective.max(), fixed.max()))
        self.add(title("The gate opens on symbols and shuts on noise"))
        with self.beat("tokens"):
            boxes, drawn = self.tokens_and_deltas(tokens, delta)
            self.play(FadeIn(drawn), run_time=1.2)
        cursor = SurroundingRectangle(boxes[0], color=EXPLODING)
        shown = {row: bars(torch.zeros(len(TEXT)), ROWS[row] - 0.6, colour, scale)
                 for row, colour in (("selective", STABLE), ("fixed", VANISHING))}
        note = VGroup()
        with self.beat("steps"):
            self.add(*shown.values(), cursor)
            for t in range(len(TEXT)):
                self.remove(note)                                           # swap the text at once: a morph
                note = self.step_note(t, float(delta[t]), bool(tokens[t] >= FIRST_SYMBOL))
                self.add(note)                                              # between two sentences is unreadable
                rows = {"selective": (selective[t], STABLE), "fixed": (fixed[t], VANISHING)}
                self.play(cursor.animate.move_to([x_of(t), ROWS["tokens"], 0]),
                          *[Transform(shown[r], bars(w, ROWS[r] - 0.6, c, scale)) for r, (w, c) in rows.items()],
                          run_time=0.45)
        with self.beat("share"):
            share = final_shares()
            self.play(FadeIn(caption(f"Final state: symbols hold {share['selective']:.0%} with a selective Δ, "
                                     f"{share['fixed']:.0%} with a fixed Δ = {float(fixed_delta[0]):.2f}.")),
                      run_time=0.8)

    @staticmethod
    def step_note(t: int, delta: float, symbol: bool):
        """The line above the bars: which step, its Δ, and what the gate does."""
        gate = "open: write it, forget older" if symbol else "shut: ignore it, keep the state"
        return equation(rf"\text{{step {t}: }}\Delta_{{{t}}} = {delta:.2f}", rf"\text{{, gate {gate}}}", size=28,
                        color=ACCENT).move_to([0.6, 0.75, 0])

    @staticmethod
    def tokens_and_deltas(tokens: torch.Tensor, delta: torch.Tensor) -> tuple[list[Square], VGroup]:
        """The token boxes, a Δ_t bar under each, and the row labels; returns the boxes and everything drawn."""
        boxes, drawn = [], VGroup()
        for i, ch in enumerate(TEXT):
            colour = ACCENT if tokens[i] >= FIRST_SYMBOL else MUTED
            boxes.append(Square(CELL, color=colour, stroke_width=2).move_to([x_of(i), ROWS["tokens"], 0]))
            height = 0.05 + 0.6 * float(delta[i])
            drawn.add(boxes[-1], label(ch, SMALL_SIZE + 6, colour).move_to(boxes[-1]),
                      Rectangle(width=CELL * 0.8, height=height, fill_color=colour, fill_opacity=0.9,
                                stroke_width=0).move_to([x_of(i), ROWS["delta"] - 0.3 + height / 2, 0]))
        names = {"delta": (equation(r"\Delta_t", size=34, color=MUTED)),
                 "selective": label("kept (selective)", SMALL_SIZE + 2, STABLE),
                 "fixed": label("kept (fixed Δ)", SMALL_SIZE + 2, VANISHING)}
        for row, name in names.items():
            drawn.add(name.move_to([LEFT_EDGE - 1.3, ROWS[row] + 0.3, 0]))
        return boxes, drawn


def signed(value) -> str:
    """-16.0 -> '−16': a short number with a true minus sign."""
    return f"{float(value):g}".replace("-", "−")


def example_block() -> MambaBlock:
    """The MambaBlock the notation table and the diagram read: seeded, so its random Δ init is the same every render."""
    with seeded(0):
        return MambaBlock(BLOCK["d_model"])


def notation_rows() -> list[tuple[str, str, str]]:
    """(SSM symbol as TeX, linear-RNN name, this course's MambaBlock value) for the notation table."""
    block = example_block()
    A = -torch.exp(block.A_log.detach())                                     # (d_inner, N)
    delta = F.softplus(block.dt_proj.bias.detach())                          # (d_inner,) Δ at init for x = 0
    n = block.d_state
    return [(r"A = -e^{A_{\log}}", "log-eigenvalues (per unit step)",
             f"{signed(A[0, 0])}, {signed(A[0, 1])}, …, {signed(A[0, -1])}"),
            (r"B_t", "input projection", f"{n} numbers per token"),
            (r"C_t", "output projection", f"{n} numbers per token"),
            (r"D", "skip connection", f"init {float(block.D.detach()[0]):g}"),
            (r"\Delta_t", "step size, the gate", f"init {scientific(float(delta.min()))} to "
                                                 f"{scientific(float(delta.max()))}"),
            (r"N", "state size per channel", f"{n}")]


class NotationMap(Segment):
    """The SSM names mapped onto the linear-RNN view, with the values of a real MambaBlock at initialisation."""

    def construct(self):
        self.add(title("State space names, linear RNN meanings"))
        xs, top, step = (-5.8, -2.8, 2.2), 1.9, 0.72
        heads = VGroup(*[label(text, SMALL_SIZE + 2, MUTED).move_to([x, top + 0.7, 0], aligned_edge=LEFT)
                         for text, x in zip(("SSM", "linear-RNN view", f"MambaBlock(d_model={BLOCK['d_model']})"),
                                            xs, strict=True)])
        rows = []
        for i, (tex, meaning, value) in enumerate(notation_rows()):
            y = top - step * i
            rows.append(VGroup(equation(tex, size=34).move_to([xs[0], y, 0], aligned_edge=LEFT),
                               label(meaning, LABEL_SIZE - 2).move_to([xs[1], y, 0], aligned_edge=LEFT),
                               label(value, LABEL_SIZE - 2, ACCENT).move_to([xs[2], y, 0], aligned_edge=LEFT)))
        with self.beat("table"):
            self.play(FadeIn(heads), FadeIn(rows[0], shift=RIGHT * 0.2), run_time=1.2)
        with self.beat("rest"):
            self.play(*[FadeIn(row, shift=RIGHT * 0.2) for row in rows[1:]], lag_ratio=0.3, run_time=2.5)


class Discretisation(Segment):
    """Zero-order hold against the reference code's Euler B̄ = ΔB: they differ by about |ΔA|/2 (measured)."""

    def construct(self):
        self.add(title("Where Ā and B̄ come from"))
        with self.beat("zoh"):
            zoh = equation(r"\bar A = \exp(\Delta A)", r"\qquad", r"\bar B_{\text{ZOH}} = (\Delta A)^{-1}"
                           r"(\exp(\Delta A) - I)\, \Delta B").move_to(UP * 1.7)
            name = label("zero-order hold: the input is constant over one step", SMALL_SIZE, MUTED)
            self.play(Write(zoh), run_time=2)
            self.play(FadeIn(name.next_to(zoh, DOWN, buff=0.25)), run_time=0.6)
        with self.beat("euler"):
            euler = equation(r"\bar B_{\text{Euler}} = \Delta B", color=ACCENT).next_to(name, DOWN, buff=0.5)
            self.play(Write(euler), run_time=1.5)
        with self.beat("gap"):
            law = equation(r"\frac{|\bar B_{\text{Euler}} - \bar B_{\text{ZOH}}|}{|\bar B_{\text{ZOH}}|}"
                           r"\approx \frac{|\Delta A|}{2}", size=38).next_to(euler, DOWN, buff=0.5)
            measured = VGroup(*[label(f"|ΔA| = {step:g}:  measured {float(zoh_euler_gap(step, -1.0)):.3g}",
                                      SMALL_SIZE + 2) for step in STEPS])
            measured.arrange(RIGHT, buff=0.8).next_to(law, DOWN, buff=0.4)
            self.play(Write(law), run_time=1.5)
            self.play(FadeIn(measured, lag_ratio=0.4), run_time=1.5)


def matrix_grid(M: torch.Tensor, colour, cell: float = 0.42) -> VGroup:
    """A lower-triangular (L, L) matrix as squares whose opacity is the entry over the largest entry."""
    top = float(M.max())
    grid = VGroup()
    for t in range(M.shape[0]):
        for s in range(M.shape[1]):
            value = float(M[t, s]) / top if s <= t else 0.0
            square = Square(cell, stroke_width=0.8, stroke_color=MUTED, fill_color=colour, fill_opacity=value)
            grid.add(square.move_to([s * cell, -t * cell, 0]))
    return grid


def io_matrices() -> tuple[float, dict[str, torch.Tensor]]:
    """(the fixed Δ, the input-to-output maps M (L, L) of one channel on MATRIX_TEXT): selective Δ, and a fixed Δ
    of equal total."""
    delta = hand_set_deltas(encode(MATRIX_TEXT))                                  # (L,)
    A = HAND_SET_A[0].double()                                                    # (N,)
    fixed = torch.full_like(delta, float(delta.mean()))
    ones = torch.ones(A.shape[0], delta.shape[0], dtype=delta.dtype)              # B = C = 1, (N, L)
    return float(fixed[0]), {"fixed": ssm_matrix(fixed, A, ones, ones), "selective": ssm_matrix(delta, A, ones, ones)}


class ConvolutionBreaks(Segment):
    """A fixed Δ gives a Toeplitz input-to-output matrix (a convolution); a token-chosen Δ doesn't. The scan works."""

    def construct(self):
        self.add(title("A token-chosen Δ breaks the convolution, not the scan"))
        fixed_delta, matrices = io_matrices()
        placed = {}
        for name, colour, x in (("fixed", VANISHING, -3.4), ("selective", STABLE, 3.4)):
            grid = matrix_grid(matrices[name], colour).move_to([x, 0.3, 0])
            head = label(f"fixed Δ = {fixed_delta:.2f}" if name == "fixed"
                         else f"Δ chosen by the tokens  {MATRIX_TEXT}", SMALL_SIZE + 2, colour)
            gap = label(f"largest spread along a diagonal: {scientific(toeplitz_gap(matrices[name]))}", SMALL_SIZE,
                        FOREGROUND)
            placed[name] = VGroup(head.next_to(grid, UP, buff=0.3), grid, gap.next_to(grid, DOWN, buff=0.3))
        with self.beat("lti"):
            self.play(FadeIn(placed["fixed"]), run_time=1.5)
        with self.beat("selective"):
            self.play(FadeIn(placed["selective"]), run_time=1.5)
        with self.beat("scan"):
            scan = equation(r"(a_t, b_t) = (\bar A_t,\ \bar B_t x_t)", r"\ \Rightarrow\ \text{lesson 04's scan}",
                            size=36, color=ACCENT).to_edge(DOWN, buff=0.35)
            self.play(Write(scan), run_time=1.5)


def block_shapes() -> dict[str, tuple[int, ...]]:
    """Tensor shapes inside a real MambaBlock on a (1, L, d_model) input."""
    block = example_block()
    x = torch.randn(1, BLOCK["length"], BLOCK["d_model"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        s = block.select(x)
        y = block(x)
    return {"x": tuple(x.shape), "u": tuple(s.u.shape), "z": tuple(s.z.shape), "B": tuple(s.B.shape),
            "y": tuple(y.shape), "kernel": tuple(block.conv1d.kernel_size)}


def block_box(text: str, shape: str, colour=FOREGROUND) -> VGroup:
    """A rounded box naming one stage, with the shape of what leaves it underneath."""
    name = label(text, SMALL_SIZE + 2, colour)
    box = RoundedRectangle(corner_radius=0.12, width=max(name.width + 0.4, 1.5), height=0.8, color=colour)
    return VGroup(box, name.move_to(box), label(shape, SMALL_SIZE - 2, MUTED).next_to(box, DOWN, buff=0.12))


class MambaBlockPath(Segment):
    """The Mamba block's path, with the shapes a real lessons.ssm.MambaBlock produces."""

    def construct(self):
        self.add(title("The Mamba block"))
        shapes = block_shapes()
        shape = lambda key: "(" + ", ".join(map(str, shapes[key])) + ")"      # noqa: E731
        stages = [block_box("input x", shape("x"), MUTED), block_box("in_proj", shape("u")),
                  block_box(f"causal conv (k={shapes['kernel'][0]})", shape("u")), block_box("SiLU", shape("u")),
                  block_box("selective scan", shape("u"), ACCENT)]
        VGroup(*stages).arrange(RIGHT, buff=0.45).move_to(UP * 1.4)
        inputs = label(f"Δ, B, C computed from u (B: {shape('B')})", SMALL_SIZE - 2, ACCENT)
        inputs.next_to(stages[-1][0], UP, buff=0.15).align_to(stages[-1][0], RIGHT)
        z = block_box("z", shape("z"), STABLE).move_to([stages[1][0].get_x(), -0.5, 0])
        gate = block_box("× SiLU(z)", shape("u"), STABLE).move_to([stages[-1][0].get_x(), -0.5, 0])
        out = block_box("out_proj", shape("y"), MUTED).move_to([stages[-1][0].get_x(), -2.3, 0])
        with self.beat("path"):
            self.play(FadeIn(stages[0]), run_time=0.6)
            for before, after in zip(stages, stages[1:], strict=False):
                self.play(GrowArrow(arrow_between(before[0], after[0])), FadeIn(after), run_time=0.9)
            self.play(FadeIn(inputs), run_time=0.6)
        with self.beat("gate"):
            self.play(GrowArrow(arrow_between(stages[1], z[0], STABLE)), FadeIn(z), run_time=0.8)   # below its shape
            self.play(GrowArrow(arrow_between(z[0], gate[0], STABLE)),
                      GrowArrow(arrow_between(stages[-1], gate[0])), FadeIn(gate), run_time=1)
            self.play(GrowArrow(arrow_between(gate, out[0])), FadeIn(out), run_time=0.8)


class ClosingCard(Segment):
    """The result in one line, and the bridge to lesson 07 (memory traffic and a Triton kernel)."""

    def construct(self):
        share = final_shares()
        card = closing_card(f"Selective Δ: the symbols hold {share['selective']:.0%} of the final state "
                            f"(fixed Δ: {share['fixed']:.0%})",
                            "Next: making the selective scan fast on a GPU (lesson 07)")
        result, bridge = card
        with self.beat("result"):
            self.play(FadeIn(equation(r"h_t = \exp(\Delta_t A)\, h_{t-1} + \Delta_t B_t\, x_t",
                                      r"\qquad y_t = C_t h_t").next_to(card, UP, buff=0.8)),
                      FadeIn(result), run_time=1.2)
        with self.beat("bridge"):
            self.play(FadeIn(bridge, shift=UP * 0.2), run_time=1)
