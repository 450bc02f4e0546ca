"""Lesson 04 explorer: step through the levels of Hillis–Steele, Blelloch or cub's BlockScan and watch every
combine of a level happen at once, with the partial values the real implementation computed."""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle

from lessons.scan import replay_trace, sequential_scan, trace_scan
from lessons.palette import LIGHT
from lessons.widgets.base import Explorer, new_figure

ALGORITHM_NAMES = {"Hillis–Steele": "hillis_steele", "Blelloch": "blelloch", "BlockScan (cub)": "block"}
# A block small enough to see: threads hold 2 items, warps have 4 lanes (a real block: 16 items, 32 lanes).
ALGORITHM_OPTIONS = {"block": {"items_per_thread": 2, "warp_size": 4}}
GATES = ("a = 1 (running sum)", "random a in (0.5, 1)")
ACTIVE, SOURCE, IDLE = LIGHT.accent, LIGHT.vanishing, LIGHT.faint


def example_sequence(n: int, gates: str, seed: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of length n, float64: small integer b, and a = 1 or random gates in (0.5, 1)."""
    generator = torch.Generator().manual_seed(seed)
    b = torch.randint(1, 10, (n,), generator=generator).double()
    if gates == GATES[0]:
        return torch.ones(n, dtype=torch.float64), b
    a = 0.5 + 0.5 * torch.rand(n, generator=generator, dtype=torch.float64)
    return a, b


class ScanLevelExplorer(Explorer):
    """Dropdown for the algorithm, sliders for n and the level, toggle for the gates."""

    def __init__(self, algorithm: str = "Blelloch", n: int = 8, level: int = 1, gates: str = GATES[0]):
        self.controls = {
            "algorithm": widgets.Dropdown(options=list(ALGORITHM_NAMES), value=algorithm, description="algorithm"),
            "n": widgets.IntSlider(value=n, min=4, max=16, description="n", continuous_update=False),
            "level": widgets.IntSlider(value=level, min=0, max=7, description="level", continuous_update=False),
            "gates": widgets.ToggleButtons(options=list(GATES), value=gates, description="gates"),
        }
        super().__init__()

    def draw(self, algorithm: str, n: int, level: int, gates: str):
        """Readout and figure: the array before and after `level`, arrows for its combines."""
        a, b = example_sequence(n, gates)
        name = ALGORITHM_NAMES[algorithm]
        _, trace = trace_scan(name, a, b, **ALGORITHM_OPTIONS.get(name, {}))
        shown = min(level, trace.depth)
        _, before = replay_trace(a, b, trace, max(shown - 1, 0))
        _, after = replay_trace(a, b, trace, shown)
        current = trace.levels[shown - 1] if shown else None
        done_so_far = sum(len(lv.targets) for lv in trace.levels[:shown])
        fig = new_figure(7.2, 3.6)
        diagram, values = fig.add_axes([0.02, 0.38, 0.96, 0.6]), fig.add_axes([0.08, 0.1, 0.9, 0.22])
        _draw_rows(diagram, before, after, current, integers=gates == GATES[0])
        finished = sequential_scan(a, b)
        values.plot(range(n), finished, ls="--", color=LIGHT.muted, lw=1, label="finished scan")
        values.plot(range(n), after, marker="o", ms=3, lw=1, color=ACTIVE, label="after this level")
        values.set(xlim=(-0.5, n - 0.5), xticks=range(n), ylabel="h")
        values.legend(loc="upper left", fontsize=7, frameon=False)
        return _readout(algorithm, n, level, trace, current, done_so_far, bool(torch.allclose(after, finished))), fig


def _draw_rows(ax, before, after, level, integers: bool) -> None:
    """Two rows of boxes (before on top, after below) with one arrow per combine of the level."""
    n = before.shape[0]
    targets = set(level.targets) if level else set()
    sources = set(level.sources) if level else set()
    fmt = (lambda v: f"{v:.0f}") if integers else (lambda v: f"{v:.2f}")
    for row, values, y in (("before", before, 1.0), ("after", after, 0.0)):
        for i in range(n):
            active, source = row == "after" and i in targets, row == "before" and i in sources
            colour = ACTIVE if active else SOURCE if source else IDLE
            ax.add_patch(Rectangle((i - 0.45, y - 0.3), 0.9, 0.6, facecolor=colour, edgecolor=LIGHT.foreground, lw=0.4))
            ax.text(i, y, fmt(float(values[i])), ha="center", va="center", fontsize=7 if n > 12 else 8,
                    color=LIGHT.background if colour == SOURCE else LIGHT.foreground)
    if level:
        for s, t in zip(level.sources, level.targets, strict=True):
            if t >= n:                                  # a combine on the identity padding past the end
                continue
            ax.add_patch(FancyArrowPatch((s, 0.7), (t, 0.3), arrowstyle="-|>", mutation_scale=7, color=ACTIVE, lw=0.8))
    ax.set(xlim=(-0.6, n - 0.4), ylim=(-0.45, 1.45))
    ax.axis("off")


def _readout(algorithm, n, level, trace, current, done_so_far, finished) -> str:
    """What the level did, how much work so far, and whether the scan is complete."""
    if current is None:
        head = f"level 0 of {trace.depth}: the input, nothing combined yet."
    elif level > trace.depth:
        head = f"level {level} requested: {algorithm} finishes after {trace.depth} levels, so this is its last one."
    else:
        count = len(current.targets)
        head = f"level {level} of {trace.depth} ({current.phase}): " + (
            "1 combine." if count == 1 else f"{count} combines, all at once.")
    state = "equals the sequential loop ✔" if finished else "is not finished yet"
    return (f"{head} Work so far: {done_so_far} combines (total {trace.combines} for n = {n}; "
            f"a loop needs {n - 1}). The array {state}.")
