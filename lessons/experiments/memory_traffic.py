"""Lesson 07's experiments: the recorded H200 measurements set against the three ceilings of lessons.memory_traffic.

The numbers come from `results/kernels_gpu.md` (read by `kernels.bench.read_recorded`, passed in here as `tables`)
and from the sm_90 machine code of the fused kernel's loop (`kernels.bench.compiled_inner_loop`, passed in as
`loop`): this module only combines and draws them.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt

from lessons.memory_traffic import (ACCELERATORS, bound_changes_at, first_order_scan_bytes, human_seconds,
                                    time_ceilings)
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
    source: str                 # which recorded table the time comes from


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
    return [Measured("kernels.scan (first order)", 1, float(first["kernels.scan"]), "first-order table"),
            Measured("kernels.selective_scan", 16, float(sweep["ms"]), f"chunk sweep, {block_l} steps"),
            Measured("mamba_ssm CUDA", 16, float(selective["mamba_ssm CUDA"]), "interleaved table")]


def first_order_floor(copy: float) -> float:
    """Seconds: the first-order scan's own byte floor at the benchmark's sizes (a, b in, h out, float32)."""
    return first_order_scan_bytes(SIZES["batch"], SIZES["dim"], SIZES["length"]) / copy


def ceilings_rows(copy: float, instructions: float, states=(1, 2, 4, 8, 16, 32, 64)) -> MarkdownTable:
    """For each N: the three floors on the forward's time at the benchmark's sizes on the H200, and which binds."""
    rows = []
    for state in states:
        c = time_ceilings(**SIZES, state=state, accelerator=H200, copy_bytes_per_s=copy,
                          instructions_per_element=instructions)
        rows.append([state, human_seconds(c.bytes), human_seconds(c.exps), human_seconds(c.instructions), c.bound])
    return markdown_table(rows, ["N", "bytes floor", "exps floor", "instructions floor", "binds"])


def ceilings_figure(copy: float, instructions: float, points: list[Measured]):
    """Time of one selective-scan forward pass against N: the three floors, the largest of them, the measured N = 16
    kernels, and the first-order scan (N = 1, a different kernel) against its own byte floor."""
    curves = [time_ceilings(**SIZES, state=n, accelerator=H200, copy_bytes_per_s=copy,
                            instructions_per_element=instructions) for n in STATES]
    change = bound_changes_at(**SIZES, accelerator=H200, copy_bytes_per_s=copy, instructions_per_element=instructions)
    figure, axes = plt.subplots(figsize=(11, 4.6))
    for name, style, colour in (("bytes", "-", LIGHT.vanishing), ("exps", ":", LIGHT.stable),
                                ("instructions", "--", LIGHT.exploding)):
        axes.plot(STATES, [1e3 * getattr(c, name) for c in curves], style, color=colour, label=f"{name} floor")
    axes.plot(STATES, [1e3 * c.floor for c in curves], color=LIGHT.foreground, linewidth=7, alpha=0.3,
              label="the binding floor (the largest)", zorder=1)
    for point, marker in zip([p for p in points if p.state == 16], ("s", "^"), strict=False):
        axes.plot(point.state, point.ms, marker, color=LIGHT.accent if marker == "s" else LIGHT.muted, markersize=9,
                  markeredgecolor=LIGHT.foreground, label=f"{point.label}: {point.ms:.3f} ms ({point.source})")
    for point in (p for p in points if p.state == 1):
        axes.plot(point.state, point.ms, "D", color=LIGHT.stable, markersize=8, markeredgecolor=LIGHT.foreground,
                  label=f"{point.label}: {point.ms:.3f} ms, measured")
        axes.plot(point.state, 1e3 * first_order_floor(copy), "_", color=LIGHT.foreground, markersize=22,
                  markeredgewidth=2, label=f"its own byte floor (3 arrays): {1e3 * first_order_floor(copy):.3f} ms")
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
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    return figure


LEARNER_SECTIONS = ("Selective scan", "Chunk length", "First-order scan", "Complex scan")
LEARNER_HEADER = ("Date:", "Versions:", "Measured copy bandwidth:")


def learner_view(text: str) -> str:
    """The recorded results file cut to what a learner needs: its title, date, versions and copy bandwidth, and the
    measurement tables whose heading starts with one of LEARNER_SECTIONS (no run log, no duplicated tables)."""
    kept, keep_section = [], False
    for line in text.splitlines():
        heading = line.lstrip("#").strip()
        if line.startswith("# "):
            kept.append(f"**{heading}**\n")
        elif line.startswith(LEARNER_HEADER):
            kept.append(line + "\n")
        elif line.startswith("#"):
            keep_section = heading.startswith(LEARNER_SECTIONS)
            kept += ["", f"### {heading}", ""] if keep_section else []
        elif keep_section and line.startswith("|"):
            kept.append(line)
    return "\n".join(kept)
