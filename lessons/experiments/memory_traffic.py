"""Lesson 07's experiments: the recorded H200 measurements set against the three ceilings of lessons.memory_traffic.

The numbers come from `results/kernels_gpu.md` (read by `kernels.bench.read_recorded`, passed in here as `tables`)
and from the sm_90 machine code of the fused kernel's loop (`kernels.bench.compiled_inner_loop`, passed in as
`loop`): this module only combines and draws them.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt

from lessons.memory_traffic import ACCELERATORS, bound_changes_at, human_seconds, time_ceilings
from lessons.palette import LIGHT
from lessons.utils import MarkdownTable, markdown_table

H200 = ACCELERATORS["NVIDIA H200"]
SIZES = dict(batch=8, dim=1536, length=4096)          # the benchmark's sizes at L = 4096
STATES = tuple(range(1, 65))


@dataclass(frozen=True)
class Measured:
    """One recorded time at the benchmark's sizes, L = 4096, float32, forward."""

    label: str
    state: int                  # N (the first-order scan is the N = 1 case without B and C)
    ms: float


def table(tables: dict, prefix: str) -> list[dict]:
    """The recorded table whose heading starts with `prefix`."""
    for heading, rows in tables.items():
        if heading.startswith(prefix):
            return rows
    raise KeyError(f"no table starting with {prefix!r} in the recorded results; found {list(tables)}")


def row(rows: list[dict], **match) -> dict:
    """The one row whose cells equal `match` (values compared as strings)."""
    found = [r for r in rows if all(r.get(k) == str(v) for k, v in match.items())]
    if len(found) != 1:
        raise KeyError(f"{len(found)} rows match {match}")
    return found[0]


def copy_bandwidth(text: str) -> float:
    """Bytes/s from the recorded header line 'Measured copy bandwidth: 4250 GB/s …'."""
    for line in text.splitlines():
        if line.startswith("Measured copy bandwidth:"):
            return float(line.split(":")[1].split("GB/s")[0]) * 1e9
    raise ValueError("the recorded results have no 'Measured copy bandwidth' line")


def measured_points(tables: dict, block_l: int) -> list[Measured]:
    """The forward times at L = 4096 the lesson places against the ceilings: the first-order scan (N = 1), and
    the fused selective scan at the chunk length `block_l` (from the sweep) and mamba_ssm's CUDA kernel (N = 16)."""
    first = row(table(tables, "First-order scan"), T=4096, **{"pass": "forward"})
    sweep = row(table(tables, "Chunk length"), **{"chunk (block_l) at L = 4096": block_l, "pass": "forward"})
    selective = row(table(tables, "Selective scan"), L=4096, dtype="float32", **{"pass": "forward"})
    return [Measured("kernels.scan (first order)", 1, float(first["kernels.scan"])),
            Measured("kernels.selective_scan", 16, float(sweep["ms"])),
            Measured("mamba_ssm CUDA", 16, float(selective["mamba_ssm CUDA"]))]


def ceilings_rows(copy: float, instructions: float, states=(1, 2, 4, 8, 16, 32, 64)) -> MarkdownTable:
    """For each N: the three ceilings of the forward at the benchmark's sizes on the H200, and which binds."""
    rows = []
    for state in states:
        c = time_ceilings(**SIZES, state=state, accelerator=H200, copy_bytes_per_s=copy,
                          instructions_per_element=instructions)
        rows.append([state, human_seconds(c.bytes), human_seconds(c.exps), human_seconds(c.instructions), c.bound])
    return markdown_table(rows, ["N", "bytes", "exps", "instructions", "binds"])


def ceilings_figure(copy: float, instructions: float, points: list[Measured]):
    """Time of one selective-scan forward pass against N: the three ceilings, the floor they make, and the measured
    N = 16 kernels (points whose N is 16)."""
    curves = [time_ceilings(**SIZES, state=n, accelerator=H200, copy_bytes_per_s=copy,
                            instructions_per_element=instructions) for n in STATES]
    change = bound_changes_at(**SIZES, accelerator=H200, copy_bytes_per_s=copy, instructions_per_element=instructions)
    figure, axes = plt.subplots(figsize=(8, 4.6))
    for name, style, colour in (("bytes", "-", LIGHT.vanishing), ("exps", ":", LIGHT.stable),
                                ("instructions", "--", LIGHT.exploding)):
        axes.plot(STATES, [1e3 * getattr(c, name) for c in curves], style, color=colour, label=f"{name} ceiling")
    axes.plot(STATES, [1e3 * c.floor for c in curves], color=LIGHT.foreground, linewidth=4, alpha=0.15,
              label="the floor: the largest ceiling")
    for point, marker in zip([p for p in points if p.state == 16], ("s", "^"), strict=False):
        axes.plot(point.state, point.ms, marker, color=LIGHT.accent if marker == "s" else LIGHT.muted, markersize=9,
                  markeredgecolor=LIGHT.foreground, label=f"{point.label}: {point.ms:.3f} ms (measured)")
    if change is not None:
        axes.axvline(change, color=LIGHT.muted, linewidth=1)
        axes.annotate(f"N = {change}: instructions\nstart to bind", (change, 0.02), xytext=(6, 0),
                      textcoords="offset points", fontsize=9, color=LIGHT.foreground)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks([1, 2, 4, 8, 16, 32, 64], ["1", "2", "4", "8", "16", "32", "64"])
    axes.set_xlabel("state size N")
    axes.set_ylabel("forward time (ms)")
    axes.set_title("H200, batch 8, dim 1536, L 4096, float32: where the fused scan's time goes")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure
