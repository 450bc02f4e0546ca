"""Lesson 07 scene: HBM against SRAM. The naive selective scan ships (B, D, L, N) tensors back and forth; the
fused kernel reads the inputs once, expands the state ×N inside SRAM only, and writes y once.

Bar heights are proportional to bytes from lessons.memory_traffic (log scale would hide the point, so the
naive trips are drawn to scale and the fused ones are drawn at their true, tiny, relative size).
"""
from __future__ import annotations

from manim import DOWN, LEFT, RIGHT, UP, Arrow, FadeIn, GrowFromEdge, Rectangle, Scene, Square, VGroup

from animations.style import ACCENT, EXPLODING, SMALL_SIZE, STABLE, VANISHING, caption, label, title
from lessons.memory_traffic import DTYPE_BYTES, STATE_BYTES, human_bytes, selective_scan_traffic

SIZES = dict(batch=8, dim=1536, length=4096, state=16, dtype="bfloat16")
ELEMENT = DTYPE_BYTES[SIZES["dtype"]]


def memory_box(name: str, width: float, height: float, colour, centre) -> VGroup:
    """A labelled rectangle standing for one level of the memory hierarchy."""
    box = Rectangle(width=width, height=height, color=colour).move_to(centre)
    return VGroup(box, label(name, SMALL_SIZE, colour).move_to(box).align_to(box, UP).shift(0.08 * DOWN))


def trip(text: str, nbytes: float, scale: float, upward: bool, x: float, colour) -> VGroup:
    """An arrow between HBM and SRAM whose thickness grows with the bytes it carries, and its label."""
    start, end = ([x, -1.6, 0], [x, 0.9, 0]) if upward else ([x, 0.9, 0], [x, -1.6, 0])  # HBM top to SRAM bottom
    width = max(1.5, min(16.0, 16.0 * nbytes / scale))
    arrow = Arrow(start, end, buff=0, stroke_width=width, color=colour, max_tip_length_to_length_ratio=0.12)
    return VGroup(arrow, label(f"{text}\n{human_bytes(nbytes)}", 12, colour).next_to(arrow, RIGHT, buff=0.05))


def expanded_bytes() -> float:
    """Bytes of one (B, D, L, N) float32 intermediate."""
    return STATE_BYTES * SIZES["batch"] * SIZES["dim"] * SIZES["length"] * SIZES["state"]


def token_bytes() -> float:
    """Bytes of one (B, D, L) tensor in the input dtype."""
    return ELEMENT * SIZES["batch"] * SIZES["dim"] * SIZES["length"]


class HbmAndSram(Scene):
    """Naive on the left, fused on the right; each group of transfers is one play."""

    def construct(self):
        self.add(title("Where the bytes go: naive against fused"))
        naive = selective_scan_traffic(**SIZES, fused=False)
        fused = selective_scan_traffic(**SIZES, fused=True)
        for side, x in (("naive", -3.5), ("fused", 3.5)):
            self.add(label(side, SMALL_SIZE + 6, EXPLODING if side == "naive" else STABLE).move_to([x, 2.6, 0]))
            self.add(memory_box("SRAM (on chip, ~200 KiB per SM)", 3.4, 0.8, ACCENT, [x, 1.3, 0]))
            self.add(memory_box("HBM (off chip, 141 GiB)", 5.8, 0.9, VANISHING, [x, -2.05, 0]))
        self.play_naive(naive.total)
        self.play_fused(naive.total)
        self.play(FadeIn(caption(f"B={SIZES['batch']}, D={SIZES['dim']}, L={SIZES['length']}, N={SIZES['state']}, "
                                 f"bf16: naive {human_bytes(naive.total)}, fused {human_bytes(fused.total)} "
                                 f"({naive.total / fused.total:.0f}× fewer bytes).")))
        self.wait(1)

    def play_naive(self, scale: float):
        """ΔA and ΔB·u written, read by the scan, h written, read for y: six (B, D, L, N) trips, which stay drawn."""
        big = expanded_bytes()
        steps = [(("ΔA ↓", False), ("ΔB·u ↓", False)), (("ΔA ↑", True), ("ΔB·u ↑", True)),
                 (("h ↓", False),), (("h ↑", True),)]
        column = 0
        for group in steps:
            arrows = []
            for text, up in group:
                arrows.append(trip(text, big, big, up, -6.1 + 0.9 * column, EXPLODING))
                column += 1
            self.play(*[FadeIn(a, shift=(UP if up else DOWN) * 0.3) for a, (_, up) in zip(arrows, group, strict=True)],
                      run_time=0.7)

    def play_fused(self, scale: float):
        """Inputs up once, the state expands ×N inside SRAM, y down once."""
        big = expanded_bytes()
        inputs = trip("u, Δ, z, B, C ↑", 3 * token_bytes(), big, True, 1.6, STABLE)
        self.play(FadeIn(inputs, shift=UP * 0.3), run_time=0.7)
        seed = Square(side_length=0.18, color=STABLE, fill_opacity=0.8).move_to([2.6, 1.2, 0])
        layers = VGroup(*[seed.copy().shift(RIGHT * 0.11 * k) for k in range(SIZES["state"])])
        self.play(FadeIn(seed))
        note = label(f"state h ×{SIZES['state']}: on chip only", 12, STABLE).move_to([3.5, 0.98, 0])
        self.play(GrowFromEdge(layers, LEFT), FadeIn(note), run_time=1.0)   # the state grows N-fold, in SRAM
        output = trip("y ↓", token_bytes(), big, False, 4.6, STABLE)
        self.play(FadeIn(output, shift=DOWN * 0.3), run_time=0.7)
