"""Lesson 06 scene: tokens enter a state through a gate that opens (large Δ) on symbols and stays shut
(small Δ) on noise. The bars show how much of each token is in the state after every step, for the
selective SSM and for a time-invariant one with the same total Δ; the values come from lessons.ssm."""
from __future__ import annotations

import torch
from manim import FadeIn, Rectangle, Scene, Square, SurroundingRectangle, Transform, VGroup

from animations.style import ACCENT, EXPLODING, MUTED, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.tasks import FIRST_SYMBOL, encode
from lessons.ssm import HAND_SET_A, hand_set_deltas, state_contents, symbol_share

TEXT = "..a....b.....c."
CELL, GAP, LEFT_EDGE = 0.5, 0.22, -4.3
ROWS = {"tokens": 2.3, "delta": 1.35, "selective": -0.35, "fixed": -2.35}
BAR_HEIGHT = 1.3


def x_of(i: int) -> float:
    return LEFT_EDGE + i * (CELL + GAP)


def contents(selective: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(Δ (L,), W (L, L)) with W[t, s] the part of token s in the state after step t."""
    tokens = encode(TEXT)
    delta = hand_set_deltas(tokens)
    if not selective:
        delta = torch.full_like(delta, float(delta.mean()))           # same total Σ Δ, no choice
    return delta, state_contents(delta, HAND_SET_A[0].double())


def bars(weights: torch.Tensor, baseline: float, colour, scale: float) -> VGroup:
    """One bar per token (height ∝ weight), standing on `baseline`."""
    group = VGroup()
    for i, w in enumerate(weights.tolist()):
        height = max(BAR_HEIGHT * w / scale, 0.01)
        bar = Rectangle(width=CELL * 0.8, height=height, fill_color=colour, fill_opacity=0.85, stroke_width=0)
        group.add(bar.move_to([x_of(i), baseline + height / 2, 0]))
    return group


class SelectiveGate(Scene):
    """Step through the tokens: the selective state keeps the symbols, the fixed-Δ one fills up with noise."""

    def construct(self):
        tokens = encode(TEXT)
        delta, selective = contents(True)
        fixed_delta, fixed = contents(False)
        scale = float(max(selective.max(), fixed.max()))
        self.add(title("Δ_t opens the gate on symbols and shuts it on noise"))
        cursor = SurroundingRectangle(self.draw_tokens_and_deltas(tokens, delta)[0], color=EXPLODING)
        shown = {row: bars(torch.zeros(len(TEXT)), ROWS[row] - 0.6, colour, scale)
                 for row, colour in (("selective", STABLE), ("fixed", VANISHING))}
        note = label("", SMALL_SIZE)
        self.add(*shown.values(), cursor, note)
        for t in range(len(TEXT)):
            gate = "open: write it, forget older" if tokens[t] >= FIRST_SYMBOL else "shut: ignore it, keep the state"
            self.remove(note)                                               # swap the text at once: a morph
            note = label(f"step {t}: Δ = {float(delta[t]):.2f}, gate {gate}", SMALL_SIZE, ACCENT)
            note.move_to([0.6, 0.75, 0])
            self.add(note)                                                  # between two sentences is unreadable
            rows = {"selective": (selective[t], STABLE), "fixed": (fixed[t], VANISHING)}
            self.play(cursor.animate.move_to([x_of(t), ROWS["tokens"], 0]),
                      *[Transform(shown[r], bars(w, ROWS[r] - 0.6, c, scale)) for r, (w, c) in rows.items()],
                      run_time=0.45)
        share = {r: symbol_share(w[-1], tokens) for r, w in (("selective", selective), ("fixed", fixed))}
        self.play(FadeIn(caption(f"Final state: symbols hold {share['selective']:.0%} with a selective Δ, "
                                 f"{share['fixed']:.0%} with a fixed Δ = {float(fixed_delta[0]):.2f}.")))
        self.wait(1)

    def draw_tokens_and_deltas(self, tokens: torch.Tensor, delta: torch.Tensor) -> list[Square]:
        """The token boxes, a Δ_t bar under each, and the row labels; returns the boxes."""
        boxes = []
        for i, ch in enumerate(TEXT):
            colour = ACCENT if tokens[i] >= FIRST_SYMBOL else MUTED
            boxes.append(Square(CELL, color=colour, stroke_width=2).move_to([x_of(i), ROWS["tokens"], 0]))
            height = 0.05 + 0.6 * float(delta[i])
            self.add(boxes[-1], label(ch, SMALL_SIZE + 6, colour).move_to(boxes[-1]),
                     Rectangle(width=CELL * 0.8, height=height, fill_color=colour, fill_opacity=0.9,
                               stroke_width=0).move_to([x_of(i), ROWS["delta"] - 0.3 + height / 2, 0]))
        names = {"delta": ("Δ_t", MUTED), "selective": ("kept (selective)", STABLE),
                 "fixed": ("kept (fixed Δ)", VANISHING)}
        for row, (text, colour) in names.items():
            self.add(label(text, SMALL_SIZE + 2, colour).move_to([LEFT_EDGE - 1.3, ROWS[row] + 0.3, 0]))
        return boxes
