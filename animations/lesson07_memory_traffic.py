"""Lesson 07's segment: why the selective scan is fast on a GPU, in six scenes timed by animations/scripts/07.md.

TitleCard: the lesson and its question.
HbmAndSram: HBM against SRAM. The naive selective scan ships (B, D, L, N) tensors back and forth; the fused
kernel reads the inputs once, expands the state ×N inside SRAM only, and writes y once. Arrow widths grow with the
bytes from lessons.memory_traffic.
BytesToTime: time ≥ bytes / bandwidth for both, then the measured H200 times (results/kernels_gpu.md), and the gap
between the fused kernel and its own byte floor.
KernelSchedule: the schedule of kernels/selective_scan.py. A grid of programs, one per block of channels of one
batch element, each walks L in chunks of BLOCK_L steps with h in SRAM, carries h into the next chunk, saves it at
each chunk start for the backward, which walks the chunks from the end. Chunk lengths and tiles come from the
kernel module, bytes from lessons.memory_traffic.
ThreeCeilings: bytes, exps and instructions as three floors under the time (lessons.memory_traffic.time_ceilings,
with the instructions counted in the kernel's sm_90 machine code), at N = 1 and N = 16, against measured times.
ClosingCard: the result and the bridge to Mamba-2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from manim import (DOWN, LEFT, RIGHT, UP, AnimationGroup, Arrow, Create, CurvedArrow, FadeIn, FadeOut, GrowArrow,
                   GrowFromEdge, LaggedStart, MathTex, Rectangle, Square, SurroundingRectangle, Text, Transform,
                   TransformMatchingTex, VGroup, Write, config, linear)

from animations.segment import Segment
from animations.style import (ACCENT, EXPLODING, FOREGROUND, MUTED, SMALL_SIZE, STABLE, VANISHING, caption,
                              closing_card, equation, label, title, title_card)
from kernels.bench import compiled_inner_loop, read_recorded
from kernels.selective_scan import FORWARD_BLOCK_L, TRAINING_BLOCK_L, tile_configs
from lessons.experiments import memory_traffic as experiment
from lessons.memory_traffic import (ACCELERATORS, DTYPE_BYTES, STATE_BYTES, Traffic, human_bytes,
                                    selective_scan_traffic, time_ceilings)
from lessons.utils import results_path

SIZES = dict(batch=8, dim=1536, length=4096, state=16, dtype="bfloat16")
ELEMENT = DTYPE_BYTES[SIZES["dtype"]]
H200 = ACCELERATORS["NVIDIA H200"]
RECORDED = "kernels_gpu.md"                       # the H200 measurements, results/kernels_gpu.md


@cache
def recorded() -> dict:
    """The recorded H200 tables, by heading (kernels.bench.read_recorded)."""
    return read_recorded(str(results_path(RECORDED)))


def copy_bandwidth() -> float:
    """The H200's measured copy bandwidth, bytes/s, from the recorded results."""
    return experiment.copy_bandwidth(results_path(RECORDED).read_text())


def plain(text: str) -> str:
    r"""Words inside MathTex, LaTeX's special characters escaped: 'sm_90' -> '\text{sm\_90}'."""
    escaped = text.replace("_", r"\_").replace("%", r"\%")
    return rf"\text{{{escaped}}}"


class TitleCard(Segment):
    """The lesson's number, title and question."""

    def construct(self):
        card = title_card("07", "The memory trick and a Triton scan kernel", "Why is the selective scan fast on a GPU?")
        self.play_title_card(card)


# ---------------------------------------------------------------------------------------------
# HbmAndSram: where the bytes go, naive against fused
# ---------------------------------------------------------------------------------------------


def memory_box(name: str, width: float, height: float, colour, centre) -> VGroup:
    """A labelled rectangle standing for one level of the memory hierarchy."""
    box = Rectangle(width=width, height=height, color=colour).move_to(centre)
    return VGroup(box, label(name, SMALL_SIZE, colour).move_to(box).align_to(box, UP).shift(0.12 * DOWN))


def trip(tex: str, nbytes: float, scale: float, upward: bool, x: float, colour) -> VGroup:
    """An arrow between HBM and SRAM whose thickness grows with the bytes it carries, its tensor and its bytes."""
    start, end = ([x, -1.6, 0], [x, 0.9, 0]) if upward else ([x, 0.9, 0], [x, -1.6, 0])  # HBM top to SRAM bottom
    width = max(1.5, min(16.0, 16.0 * nbytes / scale))
    arrow = Arrow(start, end, buff=0, stroke_width=width, color=colour, max_tip_length_to_length_ratio=0.12)
    words = VGroup(MathTex(tex, font_size=20, color=colour), label(human_bytes(nbytes), 12, colour))
    return VGroup(arrow, words.arrange(DOWN, buff=0.06, aligned_edge=LEFT).next_to(arrow, RIGHT, buff=0.05))


def expanded_bytes() -> float:
    """Bytes of one (B, D, L, N) float32 intermediate."""
    return STATE_BYTES * SIZES["batch"] * SIZES["dim"] * SIZES["length"] * SIZES["state"]


def token_bytes() -> float:
    """Bytes of one (B, D, L) tensor in the input dtype."""
    return ELEMENT * SIZES["batch"] * SIZES["dim"] * SIZES["length"]


def hierarchy(x: float, side: str, colour) -> VGroup:
    """One side's heading, SRAM box and HBM box, their sizes from the H200's figures."""
    sram = f"SRAM: {human_bytes(H200.sram_bytes_per_sm)} per SM, on chip"
    hbm = f"HBM: {H200.hbm_bytes_per_s / 1e12:.1f} TB/s, off chip"
    return VGroup(label(side, SMALL_SIZE + 6, colour).move_to([x, 2.6, 0]),
                  memory_box(sram, 5.2, 1.1, ACCENT, [x, 1.45, 0]), memory_box(hbm, 5.8, 0.9, VANISHING, [x, -2.05, 0]))


class HbmAndSram(Segment):
    """Naive on the left, fused on the right; each group of transfers is one play."""

    def construct(self):
        self.add(title("Where the bytes go: naive against fused"))
        naive = selective_scan_traffic(**SIZES, fused=False)
        fused = selective_scan_traffic(**SIZES, fused=True)
        with self.beat("hierarchy"):
            self.play(FadeIn(hierarchy(-3.5, "naive", EXPLODING)), FadeIn(hierarchy(3.5, "fused", STABLE)),
                      run_time=1.5)
        with self.beat("naive"):
            self.play_naive()
        with self.beat("fused"):
            self.play_fused()
        with self.beat("ratio"):
            self.play(FadeIn(caption(f"B={SIZES['batch']}, D={SIZES['dim']}, L={SIZES['length']}, "
                                     f"N={SIZES['state']}, bf16: naive {human_bytes(naive.total)}, fused "
                                     f"{human_bytes(fused.total)} ({naive.total / fused.total:.0f}× fewer bytes).")))

    def play_naive(self):
        """ΔA and ΔB·u written, read by the scan, h written, read for y: six (B, D, L, N) trips, which stay drawn."""
        big = expanded_bytes()
        steps = [((r"\Delta A", False), (r"\Delta B u", False)), ((r"\Delta A", True), (r"\Delta B u", True)),
                 ((r"h", False),), ((r"h", True),)]
        column = 0
        for group in steps:
            arrows = []
            for tex, up in group:
                arrows.append(trip(tex, big, big, up, -5.8 + 0.85 * column, EXPLODING))
                column += 1
            self.play(*[FadeIn(a, shift=(UP if up else DOWN) * 0.3) for a, (_, up) in zip(arrows, group, strict=True)],
                      run_time=0.9)

    def play_fused(self):
        """Inputs up once, the state expands ×N inside SRAM, y down once."""
        big = expanded_bytes()
        inputs = trip(r"u, \Delta, z, B, C", 3 * token_bytes(), big, True, 1.6, STABLE)
        self.play(FadeIn(inputs, shift=UP * 0.3), run_time=0.9)
        seed = Square(side_length=0.18, color=STABLE, fill_opacity=0.8).move_to([2.6, 1.4, 0])
        layers = VGroup(*[seed.copy().shift(RIGHT * 0.11 * k) for k in range(SIZES["state"])])
        self.play(FadeIn(seed), run_time=0.6)
        note = label(f"state h ×{SIZES['state']}: on chip only", 12, STABLE).move_to([3.5, 1.08, 0])
        self.play(GrowFromEdge(layers, LEFT), FadeIn(note), run_time=1.5)   # the state grows N-fold, in SRAM
        output = trip(r"y", token_bytes(), big, False, 4.6, STABLE)
        self.play(FadeIn(output, shift=DOWN * 0.3), run_time=0.9)


# ---------------------------------------------------------------------------------------------
# BytesToTime: time ≥ bytes / bandwidth, then what the H200 measured
# ---------------------------------------------------------------------------------------------

FUSING_SIZES = dict(batch=8, dim=1536, length=2048, state=16, dtype="float32")   # the measured fusing row
BAR_LEFT, BAR_WIDTH = -2.2, 6.4                      # the measured bars start at x = BAR_LEFT; the longest is this


@dataclass(frozen=True)
class FusingMeasured:
    """The forward times at FUSING_SIZES recorded on the H200 (ms), and the byte floor of naive and fused (s)."""

    reference_ms: float          # lesson 06's reference: lesson 04's scan over (B, D, N, L) tensors
    naive_ms: float              # a PyTorch loop that materialises Ā, ΔB·u and h
    fused_ms: float              # kernels.selective_scan in that run
    naive_floor: float
    fused_floor: float


def fusing_measured() -> FusingMeasured:
    """The 'Fusing, measured' row at FUSING_SIZES' length, and both byte floors at the measured copy bandwidth."""
    row = experiment.row(experiment.table(recorded(), "Fusing, measured"), L=FUSING_SIZES["length"],
                         **{"pass": "forward"})
    floors = [selective_scan_traffic(**FUSING_SIZES, fused=fused).total / copy_bandwidth() for fused in (False, True)]
    return FusingMeasured(float(row["lessons reference"]), float(row["naive PyTorch"]),
                          float(row["kernels.selective_scan (then)"]), *floors)


def floor_line(who: str, fused: bool, colour) -> MathTex:
    """t_who ≥ bytes / copy bandwidth = the floor, at FUSING_SIZES."""
    moved = selective_scan_traffic(**FUSING_SIZES, fused=fused).total
    bandwidth = copy_bandwidth()
    return equation(rf"t_{{\text{{{who}}}}}", r"\ge", rf"\frac{{{plain(human_bytes(moved))}}}"
                    rf"{{{plain(f'{bandwidth / 1e9:.0f} GB/s')}}}", "=", plain(f"{1e3 * moved / bandwidth:.2f} ms"),
                    size=36, color=colour)


def measured_bar(name: str, ms: float, longest: float, y: float, colour) -> VGroup:
    """A horizontal bar of a measured time at height y, its name on the left and its milliseconds on the right."""
    bar = Rectangle(width=max(0.03, BAR_WIDTH * ms / longest), height=0.32, color=colour, fill_opacity=0.8,
                    stroke_width=0).move_to([BAR_LEFT, y, 0], aligned_edge=LEFT)
    return VGroup(bar, label(name, SMALL_SIZE, colour).next_to([BAR_LEFT, y, 0], LEFT, buff=0.2),
                  label(f"{ms:.2f} ms", SMALL_SIZE, colour).next_to(bar, RIGHT, buff=0.15))


class BytesToTime(Segment):
    """The byte floor of both, then the measured times: the fused kernel wins, yet sits above its own floor."""

    def construct(self):
        self.add(title("From bytes to time"))
        times = fusing_measured()
        bound = equation(r"t", r"\ge", r"\frac{\text{bytes moved}}{\text{bandwidth}}").move_to([0, 1.9, 0])
        with self.beat("bound"):
            self.play(Write(bound), run_time=1.5)
        naive = floor_line("naive", False, EXPLODING).move_to([0, 1.9, 0])
        with self.beat("naive"):
            self.play(TransformMatchingTex(bound, naive), run_time=1.5)
            self.play(naive.animate.move_to([0, 2.05, 0]), run_time=0.5)
        with self.beat("fused"):
            self.play(FadeIn(floor_line("fused", True, STABLE).move_to([0, 0.85, 0]), shift=0.2 * DOWN), run_time=1.2)
        longest = max(times.reference_ms, times.naive_ms, times.fused_ms)
        bars = VGroup(measured_bar("lessons reference", times.reference_ms, longest, -0.6, EXPLODING),
                      measured_bar("naive PyTorch", times.naive_ms, longest, -1.2, EXPLODING),
                      measured_bar("fused kernel", times.fused_ms, longest, -1.8, STABLE))
        heading = label(f"measured on an H200, forward, L = {FUSING_SIZES['length']}, float32 (results/{RECORDED})",
                        SMALL_SIZE, MUTED).move_to([0, -0.05, 0])
        with self.beat("measured"):
            self.play(FadeIn(heading), LaggedStart(*[GrowFromEdge(bar[0], LEFT) for bar in bars], lag_ratio=0.3),
                      *[FadeIn(VGroup(bar[1], bar[2])) for bar in bars], run_time=2.0)
            speedup = min(times.reference_ms, times.naive_ms) / times.fused_ms
            self.play(FadeIn(label(f"fused: {speedup:.0f}× faster than the best materialising one", SMALL_SIZE,
                                   STABLE).move_to([0, -2.4, 0])), run_time=0.8)
        with self.beat("gap"):
            self.play(Create(SurroundingRectangle(bars[2], color=ACCENT, buff=0.08)),
                      FadeIn(caption(f"yet the fused kernel took {times.fused_ms:.2f} ms, "
                                     f"{times.fused_ms / (1e3 * times.fused_floor):.0f}× its own byte floor of "
                                     f"{1e3 * times.fused_floor:.2f} ms: something else binds")), run_time=1.2)


# ---------------------------------------------------------------------------------------------
# KernelSchedule: what kernels/selective_scan.py does, program by program and chunk by chunk
# ---------------------------------------------------------------------------------------------

TRAINING_SIZES = dict(batch=8, dim=1536, length=4096, state=16, dtype="float32")   # Mamba-sized, in float32
DRAWN_PROGRAMS = 4                      # rows drawn; the other programs stand behind a ⋮
GRID_LEFT, GRID_RIGHT = -4.6, 6.6       # the chunk columns span this
ROW_TOP, ROW_HEIGHT, ROW_GAP = 2.25, 0.34, 0.08
HEADER_Y, LABEL_X, FORMULA_Y = 2.97, -5.6, 0.5   # the grid's heading; the row labels; each beat's formula
SRAM_Y, SRAM_HEIGHT, HBM_Y, HBM_HEIGHT = -0.5, 1.3, -2.63, 1.36   # the two boxes
CELL, TILES_Y, H_X, G_X = 0.22, -0.7, -0.2, 3.7   # register cells of h and g in the SRAM box
STRIP_X, INPUTS_X, OUTPUT_X = 3.7, -4.3, -1.0     # chunk states, inputs and y in HBM (and their arrows)


@dataclass(frozen=True)
class Schedule:
    """What KernelSchedule draws, computed from the kernel module and lessons.memory_traffic."""

    chunks: int                  # ⌈L / TRAINING_BLOCK_L⌉ chunks per program
    block_ds: tuple[int, ...]    # channels per program that autotune may pick for training-length chunks
    programs: tuple[int, ...]    # batch · ⌈dim / BLOCK_D⌉ for each of those BLOCK_D
    traffic: Traffic             # the fused forward's HBM reads (inputs) and writes (y)
    chunk_state_bytes: int       # h at each chunk start, (batch, dim, chunks, N) float32: saved for the backward
    history_bytes: int           # h at every step, (batch, dim, L, N) float32: never written


def training_schedule(batch: int, dim: int, length: int, state: int, dtype: str) -> Schedule:
    """The schedule of one training forward (chunks of TRAINING_BLOCK_L) at these sizes."""
    chunks = math.ceil(length / TRAINING_BLOCK_L)
    block_ds = tuple(sorted({config.kwargs["BLOCK_D"] for config in tile_configs(TRAINING_BLOCK_L)}))
    return Schedule(chunks, block_ds, tuple(batch * math.ceil(dim / block_d) for block_d in block_ds),
                    selective_scan_traffic(batch, dim, length, state, dtype, fused=True),
                    STATE_BYTES * batch * dim * chunks * state, STATE_BYTES * batch * dim * length * state)


def thousands(count: int) -> str:
    r"""12288 -> '12\,288' for MathTex."""
    return f"{count:,}".replace(",", r"\,")


def maths(tex: str, colour=FOREGROUND) -> MathTex:
    """One beat's formula, on the formula line between the grid and the SRAM box."""
    return MathTex(tex, font_size=30, color=colour).move_to([0.9, FORMULA_Y, 0])


def narration(text: str):
    """The caption a narrator speaks over, shrunk only if a long number would push it off the frame."""
    line = caption(text)
    return line.scale_to_fit_width(config.frame_width - 0.6) if line.width > config.frame_width - 0.6 else line


def chunk_width(chunks: int) -> float:
    """Width of one chunk column when `chunks` of them span the grid."""
    return (GRID_RIGHT - GRID_LEFT) / chunks


def chunk_x(chunk: int, chunks: int) -> float:
    """Centre of chunk column `chunk`."""
    return GRID_LEFT + (chunk + 0.5) * chunk_width(chunks)


def row_y(row: int) -> float:
    """Centre height of drawn program row `row`."""
    return ROW_TOP - row * (ROW_HEIGHT + ROW_GAP)


def program_grid(chunks: int) -> VGroup:
    """DRAWN_PROGRAMS rows of `chunks` cells: cell [r][k] is program r's k-th chunk of (BLOCK_D, BLOCK_L)."""
    return VGroup(*[VGroup(*[Rectangle(width=chunk_width(chunks), height=ROW_HEIGHT, color=MUTED, stroke_width=1)
                             .move_to([chunk_x(k, chunks), row_y(r), 0]) for k in range(chunks)])
                    for r in range(DRAWN_PROGRAMS)])


def program_labels() -> VGroup:
    """(batch element, channel block) of each drawn row, a ⋮ for the rest, and the column's heading."""
    rows = [MathTex(f"(0, {r})", font_size=26, color=ACCENT if r == 0 else MUTED).move_to([LABEL_X, row_y(r), 0])
            for r in range(DRAWN_PROGRAMS)]
    more = MathTex(r"\vdots", font_size=26, color=MUTED).move_to([LABEL_X, FORMULA_Y, 0])
    heading = label("(b, block)", SMALL_SIZE, MUTED).move_to([LABEL_X, HEADER_Y, 0])
    return VGroup(*rows, more, heading)


def cursor(chunk: int, chunks: int, colour) -> VGroup:
    """The chunk every program works on now: one filled cell per drawn row."""
    return VGroup(*[Rectangle(width=chunk_width(chunks), height=ROW_HEIGHT, color=colour, fill_opacity=0.75,
                              stroke_width=0).move_to([chunk_x(chunk, chunks), row_y(r), 0])
                    for r in range(DRAWN_PROGRAMS)]).set_z_index(1)   # above the cells, which animations re-add


def carry_arrow(chunk: int, step: int, chunks: int, name: str, colour=FOREGROUND) -> VGroup:
    """The arrow above program (0, 0)'s row that hands `name` from `chunk` to `chunk + step` (step ±1)."""
    top = row_y(0) + ROW_HEIGHT / 2 + 0.02
    start, end = [chunk_x(chunk, chunks), top, 0], [chunk_x(chunk + step, chunks), top, 0]
    arrow = CurvedArrow(start, end, angle=-step * 2.8, color=colour, stroke_width=5, tip_length=0.15)
    return VGroup(arrow, MathTex(name, font_size=30, color=colour).next_to(arrow, RIGHT if step > 0 else LEFT,
                                                                           buff=0.06))


def tiles(rows: int, columns: int, centre, colour) -> VGroup:
    """A (rows, columns) block of register cells, e.g. h (BLOCK_D, N)."""
    cells = VGroup(*[Square(CELL, color=colour, stroke_width=1.5) for _ in range(rows * columns)])
    return cells.arrange_in_grid(rows, columns, buff=0).move_to(centre)


def memory_boxes() -> VGroup:
    """SRAM (one program's registers and shared memory) above HBM, with their names."""
    sram = Rectangle(width=13.2, height=SRAM_HEIGHT, color=ACCENT).move_to([0, SRAM_Y, 0])
    hbm = Rectangle(width=13.2, height=HBM_HEIGHT, color=VANISHING).move_to([0, HBM_Y, 0])
    names = (label("SRAM / registers of program (0, 0)", SMALL_SIZE, ACCENT).next_to(sram.get_corner(UP + LEFT),
                                                                                       DOWN + RIGHT, buff=0.12),
             label("HBM", SMALL_SIZE, VANISHING).next_to(hbm.get_corner(UP + LEFT), DOWN + RIGHT, buff=0.12))
    return VGroup(sram, hbm, *names)


def in_hbm(name: str, size: str, x: float, colour) -> VGroup:
    """A tensor's name over its size, inside the HBM box at x."""
    return VGroup(label(name, SMALL_SIZE, colour).move_to([x, HBM_Y + 0.3, 0]),
                  label(size, SMALL_SIZE, colour).move_to([x, HBM_Y - 0.3, 0]))


def hbm_streams(traffic: Traffic) -> VGroup:
    """The forward's inputs and output in HBM, with their sizes."""
    return VGroup(in_hbm("u, Δ, B, C, z", f"{human_bytes(traffic.reads)} read", INPUTS_X, STABLE),
                  in_hbm("y", f"{human_bytes(traffic.writes)} written", OUTPUT_X, STABLE))


def chunk_state_strip(schedule: Schedule) -> tuple[VGroup, Text]:
    """One slot per chunk for h at its start, in HBM, and their total size."""
    slots = VGroup(*[Square(0.12, color=MUTED, stroke_width=1) for _ in range(schedule.chunks)])
    size = label(f"chunk states: {human_bytes(schedule.chunk_state_bytes)}", SMALL_SIZE, ACCENT)
    return slots.arrange(RIGHT, buff=0.02).move_to([STRIP_X, HBM_Y + 0.3, 0]), size.move_to([STRIP_X, HBM_Y - 0.3, 0])


def between_boxes(x: float, upward: bool, colour) -> Arrow:
    """A vertical arrow from HBM's top to SRAM's bottom (or back) at x."""
    hbm_top, sram_bottom = HBM_Y + HBM_HEIGHT / 2, SRAM_Y - SRAM_HEIGHT / 2
    start, end = ([x, hbm_top, 0], [x, sram_bottom, 0]) if upward else ([x, sram_bottom, 0], [x, hbm_top, 0])
    return Arrow(start, end, buff=0.04, stroke_width=5, color=colour, max_tip_length_to_length_ratio=0.3)


class KernelSchedule(Segment):
    """The fused selective scan's schedule: programs side by side, chunks in order, h on chip, a reverse backward."""

    def construct(self):
        sizes = TRAINING_SIZES
        self.schedule = training_schedule(**sizes)
        self.line, self.formula = VGroup(), VGroup()
        self.add(title("The fused selective scan, program by program"))
        self.show_programs(sizes)
        self.show_one_chunk(sizes)
        self.show_forward_walk()
        self.show_backward_walk()
        with self.beat("history"):
            self.say(f"h at every step ({human_bytes(self.schedule.history_bytes)}) never reaches HBM: "
                     f"its N = {sizes['state']} costs instructions, not bytes.")

    def say(self, text: str, formula: MathTex | None = None, *animations, run_time: float = 1.0):
        """Next beat: swap the caption (and the formula line, when given) while `animations` play."""
        self.remove(self.line)                       # at once: two sentences cross-fading are unreadable
        self.line = narration(text)
        fresh = [self.line]
        if formula is not None:
            self.remove(self.formula)
            self.formula = formula
            fresh.append(formula)
        self.play(*[FadeIn(m) for m in fresh], *animations, run_time=run_time)

    def show_programs(self, sizes: dict):
        """The grid: one row per program, one column per chunk; every program starts at once."""
        schedule, chunks = self.schedule, self.schedule.chunks
        self.grid = program_grid(chunks)
        header = label(f"L = {sizes['length']} steps: {chunks} chunks of BLOCK_L = {TRAINING_BLOCK_L} "
                       f"in training ({FORWARD_BLOCK_L} without gradients)", SMALL_SIZE, MUTED)
        header.move_to([(GRID_LEFT + GRID_RIGHT) / 2, HEADER_Y, 0])
        fewest, most = min(schedule.programs), max(schedule.programs)
        block_ds = ", ".join(map(str, schedule.block_ds))
        with self.beat("programs"):
            self.say(f"One program per batch element and block of BLOCK_D channels (autotune picks {block_ds}).",
                     maths(rf"\text{{programs}} = B \left\lceil D / \text{{BLOCK\_D}} \right\rceil = "
                           rf"{sizes['batch']} \left\lceil {sizes['dim']} / \text{{BLOCK\_D}} \right\rceil = "
                           rf"{thousands(fewest)} \text{{ to }} {thousands(most)}"),
                     FadeIn(header), FadeIn(program_labels()), FadeIn(self.grid), run_time=1.5)
        self.cursor = cursor(0, chunks, ACCENT)
        with self.beat("parallel"):
            self.say("They never wait for each other: the GPU runs as many at once as its SMs hold.",
                     None, FadeIn(self.cursor))

    def show_one_chunk(self, sizes: dict):
        """Inside one chunk: h in SRAM, the inputs coming in, y going out."""
        self.streams = hbm_streams(self.schedule.traffic)
        self.h = tiles(max(self.schedule.block_ds), sizes["state"], [H_X, TILES_Y, 0], STABLE)
        h_name = MathTex(r"h\ (\mathrm{BLOCK\_D} \times N)", font_size=26, color=STABLE)
        self.traffic = VGroup(between_boxes(INPUTS_X, True, STABLE), between_boxes(OUTPUT_X, False, STABLE))
        with self.beat("chunk"):
            self.say("In a chunk, h stays on chip: u, Δ, B, C, z come in from HBM, and only y goes out.",
                     maths(r"h_t = e^{\Delta_t A}\, h_{t-1} + \Delta_t B_t\, u_t \qquad y_t = C_t\, h_t + D\, u_t"),
                     FadeIn(memory_boxes()), FadeIn(self.streams), FadeIn(self.h),
                     FadeIn(h_name.next_to(self.h, UP, buff=0.08)), run_time=1.2)
            self.play(GrowArrow(self.traffic[0]), run_time=0.8)
            self.play(self.h.animate.set_fill(STABLE, 0.7), run_time=0.8)
            self.play(GrowArrow(self.traffic[1]), run_time=0.8)

    def show_forward_walk(self):
        """Chunk by chunk: h carried to the next chunk and saved at each chunk start; the first two slowly."""
        chunks, saved = self.schedule.chunks, human_bytes(self.schedule.chunk_state_bytes)
        self.save = between_boxes(STRIP_X, False, ACCENT)
        self.slots, size = chunk_state_strip(self.schedule)
        with self.beat("carry"):
            self.say("The chunk's last h carries into the next; in training h is also saved at each chunk start.",
                     maths(rf"B \cdot D \cdot \lceil L / \text{{BLOCK\_L}} \rceil \cdot N \cdot {STATE_BYTES}\ "
                           rf"\text{{bytes}} = \text{{{saved}}} = \tfrac{{1}}{{{TRAINING_BLOCK_L}}} \text{{ of }} h "
                           rf"\text{{ at every step}}"),
                     FadeIn(self.slots), FadeIn(size))
            self.play(GrowArrow(self.save), self.slots[0].animate.set_fill(ACCENT, 0.9), run_time=0.5)
            for chunk in (1, 2):
                self.step(chunk, +1, STABLE, ACCENT)
            self.sweep(range(3, chunks), +1, STABLE, ACCENT, run_time=2.5)
        with self.beat("saved"):
            self.say(f"Saved for the backward: {saved}, against {human_bytes(self.schedule.history_bytes)} "
                     f"for h at every step.")

    def show_backward_walk(self):
        """The backward: from the last chunk to the first, reading the saved chunk states."""
        chunks = self.schedule.chunks
        g = self.h.copy().set_fill(EXPLODING, 0.7).set_stroke(EXPLODING).move_to([G_X, TILES_Y, 0])
        g_name = MathTex(r"g = \partial \mathcal{L} / \partial h", font_size=26, color=EXPLODING)
        streams = VGroup(label("u, Δ, B, C, z, ∂out", SMALL_SIZE, EXPLODING).move_to(self.streams[0][0]),
                         label("du, dΔ, dB, dC, dz", SMALL_SIZE, EXPLODING).move_to(self.streams[1][0]))
        with self.beat("backward"):
            self.backward_start(g, g_name, streams)
            for chunk in (chunks - 2, chunks - 3):
                self.step(chunk, -1, EXPLODING, EXPLODING)
            self.sweep(range(chunks - 4, -1, -1), -1, EXPLODING, EXPLODING, run_time=2.0)

    def backward_start(self, g: VGroup, g_name: MathTex, streams: VGroup):
        """The backward's first chunk: g appears beside h, the streams turn into gradients, the last state is read."""
        self.say("Backward: from the last chunk, rebuild h from its saved start, then scan g in reverse.",
                 maths(r"g_t = C_t\, \partial \mathcal{L} / \partial y_t + e^{\Delta_{t+1} A}\, g_{t+1}",
                       EXPLODING),
                 FadeOut(self.save), GrowArrow(between_boxes(STRIP_X, True, EXPLODING)), FadeIn(g),
                 FadeIn(g_name.next_to(g, UP, buff=0.08)), self.cursor.animate.set_fill(EXPLODING),
                 *[FadeOut(m) for m in (self.streams[0], self.streams[1])], FadeIn(streams),
                 self.traffic.animate.set_color(EXPLODING),
                 self.slots[-1].animate.set_fill(EXPLODING, 0.9),
                 *[row[-1].animate.set_fill(STABLE, 0.3) for row in self.grid], run_time=1.2)

    def moves(self, chunk: int, direction: int, done, slot_colour) -> list:
        """Every program moves on to `chunk`; the chunk it leaves is done; the chunk state is saved (or read)."""
        return [*[row[chunk - direction].animate.set_fill(done, 0.3) for row in self.grid],
                self.slots[chunk].animate.set_fill(slot_colour, 0.9)]

    def step(self, chunk: int, direction: int, done, slot_colour):
        """One chunk, slowly, with the carry drawn: h forward (direction +1), g backward (−1)."""
        carry = carry_arrow(chunk - direction, direction, self.schedule.chunks, "h" if direction > 0 else "g")
        self.play(self.cursor.animate.set_x(chunk_x(chunk, self.schedule.chunks)),
                  *self.moves(chunk, direction, done, slot_colour), FadeIn(carry), run_time=0.8)
        self.wait(0.6)
        self.play(FadeOut(carry), run_time=0.3)

    def sweep(self, chunks: range, direction: int, done, slot_colour, run_time: float = 1.5):
        """The remaining chunks in one play, at a steady pace."""
        last = chunk_x(chunks[-1], self.schedule.chunks)
        self.play(self.cursor.animate(rate_func=linear).set_x(last),
                  LaggedStart(*[AnimationGroup(*self.moves(c, direction, done, slot_colour)) for c in chunks],
                              lag_ratio=1.0, rate_func=linear), run_time=run_time)


# ---------------------------------------------------------------------------------------------
# ThreeCeilings: bytes, exps and instructions, at N = 1 and N = 16, against measured times
# ---------------------------------------------------------------------------------------------

CEILING_SIZES = experiment.SIZES                  # batch 8, dim 1536, L 4096: the benchmark's sizes, float32
CEILING_NAMES = ("bytes", "exps", "instructions")
CEILING_COLOURS = (VANISHING, STABLE, EXPLODING)
CHART_LEFT, CHART_WIDTH, CHART_TOP, CHART_STEP = -1.6, 6.8, 0.05, 0.5


@dataclass(frozen=True)
class Floors:
    """What ThreeCeilings draws: the compiled loop's counts, and per N the three ceilings (s) and measured times."""

    loop: dict                                  # kernels.bench.inner_loop_instructions, compiled for sm_90
    ceilings: dict                              # {1: Ceilings, 16: Ceilings}
    measured: dict                              # {1: [(name, ms)], 16: [(name, ms), ...]}
    first_order_share: int                      # the first-order scan's % of the copy bandwidth


@cache
def floors() -> Floors:
    """The ceilings at N = 1 and 16 on the H200 (measured copy bandwidth, counted instructions) and the recorded
    forward times at L = 4096: the first-order scan for N = 1, kernels.selective_scan and mamba_ssm for N = 16."""
    loop = compiled_inner_loop()
    ceilings = {state: time_ceilings(**CEILING_SIZES, state=state, accelerator=H200, copy_bytes_per_s=copy_bandwidth(),
                                     instructions_per_element=loop["instructions_per_element"]) for state in (1, 16)}
    first, ours, mamba = experiment.measured_points(recorded(), loop["block_l"])
    share = experiment.row(experiment.table(recorded(), "First-order scan"), T=CEILING_SIZES["length"],
                           **{"pass": "forward"})["% of copy"]
    return Floors(loop, ceilings, {1: [(f"first-order scan ({share} % of copy)", first.ms)],
                                   16: [("kernels.selective_scan", ours.ms), ("mamba_ssm CUDA", mamba.ms)]},
                  int(share))


BYTES_FLOOR = r"\frac{\text{bytes}}{\text{copy bandwidth}}"
FLOOR_PARTS = (3, 5, 7)                           # where each floor sits in ceiling_equation's parts


def byte_floor_equation() -> MathTex:
    """t ≥ bytes / copy bandwidth: BytesToTime's bound, which ceiling_equation grows out of."""
    return equation("t", r"\ge", BYTES_FLOOR, size=38, color=VANISHING).move_to([0, 2.0, 0])


def ceiling_equation() -> MathTex:
    """t ≥ max(bytes / copy bandwidth, exps / SFU rate, instructions / issue rate), one coloured part per floor."""
    parts = equation("t", r"\ge", r"\max\Big(", BYTES_FLOOR, r",\ ", r"\frac{\text{exps}}{\text{SFU rate}}", r",\ ",
                     r"\frac{\text{instructions}}{\text{issue rate}}", r"\Big)", size=38)
    for index, colour in zip(FLOOR_PARTS, CEILING_COLOURS, strict=True):
        parts[index].set_color(colour)
    return parts.move_to([0, 2.0, 0])


def chart_bar(name: str, ms: float, longest: float, row: int, colour) -> VGroup:
    """Row `row` of the chart: a bar of `ms` (the longest drawn CHART_WIDTH wide), its name and its value."""
    y = CHART_TOP - row * CHART_STEP
    bar = Rectangle(width=max(0.03, CHART_WIDTH * ms / longest), height=0.3, color=colour, fill_opacity=0.8,
                    stroke_width=0).move_to([CHART_LEFT, y, 0], aligned_edge=LEFT)
    return VGroup(bar, label(name, SMALL_SIZE, colour).next_to([CHART_LEFT, y, 0], LEFT, buff=0.2),
                  label(f"{ms:.3f} ms", SMALL_SIZE, colour).next_to(bar, RIGHT, buff=0.15))


def chart(state: int, data: Floors, longest: float) -> VGroup:
    """The three ceilings at state size `state` (the binding one in full colour), then the measured times."""
    ceilings = data.ceilings[state]
    rows = [chart_bar(f"{name} ceiling", 1e3 * getattr(ceilings, name), longest, row, colour)
            for row, (name, colour) in enumerate(zip(CEILING_NAMES, CEILING_COLOURS, strict=True))]
    for row, name in zip(rows, CEILING_NAMES, strict=True):
        row[0].set_fill(opacity=0.9 if name == ceilings.bound else 0.35)
    rows += [chart_bar(name, ms, longest, 3 + k, ACCENT if k == 0 else MUTED)
             for k, (name, ms) in enumerate(data.measured[state])]
    return VGroup(*rows)


def state_heading(state: int, ceilings) -> Text:
    """'N = 16: instructions bind', above the chart."""
    return label(f"N = {state}: {ceilings.bound} bind", SMALL_SIZE + 4, ACCENT).move_to([0, CHART_TOP + 0.55, 0])


class ThreeCeilings(Segment):
    """Three floors under the fused forward's time; which binds at N = 1 and at N = 16, against measured times."""

    def construct(self):
        self.add(title("Free in bytes is not free in time"))
        data = floors()
        longest = max(max(1e3 * c.floor for c in data.ceilings.values()),
                      max(ms for times in data.measured.values() for _name, ms in times))
        formula = ceiling_equation()
        with self.beat("floors"):
            start = byte_floor_equation()
            self.play(Write(start), run_time=1.2)
            self.play(TransformMatchingTex(start, formula), run_time=2.0)
        loop = data.loop
        count = equation(plain(f"compiled for sm_90: {loop['instructions_per_element']:.1f} instructions, "
                               f"{loop['exps_per_element']:.0f} exp, {loop['shuffles_per_element']:.1f} shuffles "
                               r"per "), r"(b, d, t, n)", size=28, color=FOREGROUND).move_to([0, 1.05, 0])
        with self.beat("count"):
            self.play(FadeIn(count, shift=0.2 * DOWN), run_time=1.2)
        small, large = chart(1, data, longest), chart(16, data, longest)
        heading = state_heading(1, data.ceilings[1])
        note = caption(f"H200, batch {CEILING_SIZES['batch']}, dim {CEILING_SIZES['dim']}, "
                       f"L {CEILING_SIZES['length']}, float32, forward; measured times from results/{RECORDED}")
        with self.beat("small-state"):
            self.play(FadeIn(heading), FadeIn(note), LaggedStart(*[FadeIn(row) for row in small], lag_ratio=0.2),
                      run_time=2.0)
        with self.beat("large-state"):
            self.play(Transform(heading, state_heading(16, data.ceilings[16])),
                      *[Transform(old, new) for old, new in zip(small, large[:len(small)], strict=True)],
                      FadeIn(large[len(small):]), run_time=2.0)
        with self.beat("verdict"):
            self.play(Create(SurroundingRectangle(formula[FLOOR_PARTS[-1]], color=EXPLODING, buff=0.08)),
                      Create(SurroundingRectangle(VGroup(*large[2]), color=EXPLODING, buff=0.06)), run_time=1.2)


class ClosingCard(Segment):
    """The result in one line, and the bridge to lesson 08."""

    def construct(self):
        naive = selective_scan_traffic(**SIZES, fused=False)
        fused = selective_scan_traffic(**SIZES, fused=True)
        data = floors()
        at_16 = data.ceilings[16]
        _name, ours = data.measured[16][0]
        card = closing_card(f"Fused: {naive.total / fused.total:.0f}× fewer bytes.\nAt N = 16: {ours:.2f} ms, "
                            f"bound by instructions ({1e3 * at_16.instructions:.2f} ms), not bytes "
                            f"({1e3 * at_16.bytes:.2f} ms).",
                            "Next: Mamba-2 moves the work onto tensor cores, as matrix multiplication.")
        self.play_closing_card(card)
