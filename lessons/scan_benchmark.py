"""Honest CPU timings of the scans in lessons.scan (a script, not a test).

    python -m lessons.scan_benchmark                   # n = 2⁸ … 2¹⁶, both layouts, float32
    python -m lessons.scan_benchmark --max-log2n 12    # quicker
    python -m lessons.scan_benchmark --head-to-head 14 # linear_scan against the peer, interleaved, both layouts

The same 96·16 = 1536 independent channels in two layouts:
    time-major  (1, n, 96, 16), scanned along dim 1: a Mamba state (B, L, D, N), the layout of mamba.py;
    time-last   (1, 96, 16, n), scanned along dim −1: (batch, channels, L), the layout of lessons.ssm and
                the Triton kernels, where time is the innermost (contiguous) axis.
mamba.py's `pscan` (pip package `mambapy`, pure PyTorch) is the peer when it is installed; it scans dim 1,
so in the time-last layout it is handed a movedim view, as linear_scan hands back one. Every time is the
median of `repeats` (≥ 5 by default) forward calls after one warm-up call, and the entries take turns call by
call (`interleaved_times`), so that a burst of load from other programs hits all of them alike.
"""
from __future__ import annotations

import argparse
import platform
import re
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from lessons.scan import blelloch_scan, chunked_scan, hillis_steele_scan, linear_scan, log_space_scan, sequential_scan
from lessons.utils import markdown_table, per_call_seconds, results_path

Scan = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]      # a, b -> h, all of one layout's shape
LAYOUTS = {"time-major": 1, "time-last": -1}                      # layout -> the dim the scan runs along
PEER, OURS, LOOP = "mambapy pscan (peer)", "linear_scan", "loop (sequential_scan)"
RESULTS = results_path("scan_cpu.md")                             # the recorded full-size run
MAINTAINER_NOTES = "## Maintainer notes"                          # where the learner-facing part of RESULTS ends


def peer_pscan() -> Scan | None:
    """mamba.py's pscan, if the `mambapy` package is installed; it scans dim 1 of (B, L, D, N) tensors."""
    try:
        from mambapy.pscan import pscan          # optional third-party peer, so imported lazily
    except ImportError:
        return None
    return pscan


def candidates(layout: str = "time-major", include_peer: bool = True) -> dict[str, Scan]:
    """Every scan to time, by name, as f(a, b) scanning the layout's time axis."""
    dim = LAYOUTS[layout]
    scans = {
        LOOP: lambda a, b: sequential_scan(a, b, dim=dim),
        "hillis_steele_scan": lambda a, b: hillis_steele_scan(a, b, dim=dim),
        "blelloch_scan": lambda a, b: blelloch_scan(a, b, dim=dim),
        "chunked_scan(64)": lambda a, b: chunked_scan(a, b, dim=dim, chunk_size=64),
        OURS: lambda a, b: linear_scan(a, b, dim=dim),
        "log-space cumsum": lambda a, b: log_space_scan(a, b, dim=dim),
    }
    peer = peer_pscan() if include_peer else None
    if peer is not None:
        scans[PEER] = peer if dim == 1 else lambda a, b: peer(a.movedim(dim, 1), b.movedim(dim, 1)).movedim(1, dim)
    return scans


def benchmark_inputs(n: int, layout: str = "time-major", channels: tuple[int, int] = (96, 16), seed: int = 0):
    """a ~ U(0.5, 1), b ~ N(0, 1), float32: (1, n, D, N) time-major, or the same values as (1, D, N, n)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, n, *channels)                                        # (1, n, D, N): the peer wants 4-d
    a, b = 0.5 + 0.5 * torch.rand(shape, generator=generator), torch.randn(shape, generator=generator)
    if LAYOUTS[layout] == 1:
        return a, b
    return a.movedim(1, -1).contiguous(), b.movedim(1, -1).contiguous()   # (1, D, N, n), time innermost


def timing_table(lengths, layout: str = "time-major", channels: tuple[int, int] = (96, 16),
                 scans: dict[str, Scan] | None = None, repeats: int = 5,
                 skip: Callable[[str, int], bool] = lambda name, n: False) -> list[dict]:
    """One row per length: median milliseconds per call for each scan (None where skipped), and the max error
    of each against `linear_scan` (to catch a fast-but-wrong entry such as the log-space trick)."""
    scans = candidates(layout) if scans is None else scans
    return [timing_row(n, layout, channels, scans, repeats, skip) for n in lengths]


def timing_row(n: int, layout: str, channels: tuple[int, int], scans: dict[str, Scan], repeats: int,
               skip: Callable[[str, int], bool]) -> dict:
    """{"n", "layout", "ms": {name: median ms or None}, "max_error": {name: max |h − linear_scan| or None}}."""
    a, b = benchmark_inputs(n, layout, channels)
    reference = linear_scan(a, b, dim=LAYOUTS[layout])
    timed = {name: scan for name, scan in scans.items() if not skip(name, n)}
    times = interleaved_times(timed, a, b, repeats)
    row = {"n": n, "layout": layout, "ms": dict.fromkeys(scans), "max_error": dict.fromkeys(scans)}
    for name, scan in timed.items():
        row["ms"][name] = statistics.median(times[name])
        row["max_error"][name] = float((scan(a, b) - reference).abs().max())
    return row


def interleaved_times(scans: dict[str, Scan], a: torch.Tensor, b: torch.Tensor, rounds: int) -> dict[str, list]:
    """Milliseconds of each call: one warm-up call each, then `rounds` rounds in which every scan runs once.

    Taking turns call by call (rather than all calls of one entry, then the next) spreads background load over
    every entry alike, which keeps the ratios between entries fair on a busy machine.
    """
    for scan in scans.values():
        scan(a, b)                                                       # warm-up
    times = {name: [] for name in scans}
    for _ in range(rounds):
        for name, scan in scans.items():
            start = time.perf_counter()
            scan(a, b)
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def is_wrong(error: float) -> bool:
    """An error that is not small, or not finite (NaN fails error == error)."""
    return not (error == error and error < 1e-3)


def format_table(rows: list[dict]) -> str:
    """A Markdown table: median ms per call, with '(wrong)' where the error is not small or not finite."""
    names = list(rows[0]["ms"])
    cells = [[str(row["n"])] + ["skipped" if row["ms"][name] is None else
                                f"{row['ms'][name]:.1f}" + (" (wrong)" if is_wrong(row["max_error"][name]) else "")
                                for name in names] for row in rows]
    return markdown_table(cells, ["n", *names])


def summary(row: dict) -> str:
    """One sentence read from a timing row: the exact entries from fastest to slowest, each also as a multiple
    of the loop's time, then the wrong entries, labelled and not ranked. Prose about a run should quote this."""
    ms = {name: t for name, t in row["ms"].items() if t is not None}
    exact = sorted((name for name in ms if not is_wrong(row["max_error"][name])), key=ms.get)
    wrong = [name for name in ms if name not in exact]
    ranked = [f"{name} {ms[name]:.1f} ms{_versus_loop(ms, name)}" for name in exact]
    unranked = [f"{name} {ms[name]:.1f} ms{_versus_loop(ms, name)}" for name in wrong]
    return (f"At n = {row['n']}, exact entries from fastest to slowest: {', '.join(ranked)}"
            + (f"; wrong (not ranked): {', '.join(unranked)}." if wrong else "."))


def _versus_loop(ms: dict[str, float], name: str) -> str:
    """' (0.22× the loop's time)', or '' for the loop itself or when the loop did not run."""
    loop = ms.get(LOOP)
    return f" ({ms[name] / loop:.2f}× the loop's time)" if loop and name != LOOP else ""


def microseconds_per_step(row: dict, name: str = LOOP) -> float:
    """Time per sequence step of one entry of a timing row: ms / n, in µs."""
    return 1e3 * row["ms"][name] / row["n"]


def elementwise_op_microseconds(numel: int = 1536, calls: int = 2000) -> float:
    """µs of one small torch op (a multiply of two float32 vectors of `numel`): the per-op cost of dispatch, which a
    loop pays at every step however little arithmetic the op does."""
    x, y = torch.rand(numel), torch.rand(numel)
    return 1e6 * per_call_seconds(partial(torch.mul, x, y), calls=calls)


def recorded_tables(path: Path = RESULTS) -> str:
    """The learner-facing part of the recorded results (the tables and how to read them), without the file's title
    and the maintainers' notes that follow `MAINTAINER_NOTES`; headings one level down, to sit under a section."""
    text = path.read_text().split(MAINTAINER_NOTES)[0]
    text = re.sub(r"\A# [^\n]*\n+", "", text)                        # the file's own title
    return re.sub(r"^(#{2,}) ", r"#\1 ", text, flags=re.M).rstrip() + "\n"


def speed_ups(rows: list[dict], slower: str, faster: str = OURS) -> dict[int, float]:
    """{n: time of `slower` / time of `faster`} for the rows where both ran."""
    return {row["n"]: row["ms"][slower] / row["ms"][faster] for row in rows
            if row["ms"].get(slower) is not None and row["ms"].get(faster) is not None}


def too_slow(name: str, n: int) -> bool:
    """Entries left out at large n, where they take seconds per call and prove nothing new: the loop and
    Hillis–Steele beyond 2¹⁴ and 2¹³, the other teaching scans beyond 2¹⁵."""
    limits = {"loop": 2**14, "hillis": 2**13, "blelloch": 2**15, "chunked": 2**15, "log-space": 2**15}
    return any(name.startswith(prefix) and n > limit for prefix, limit in limits.items())


def head_to_head(n: int, scans: dict[str, Scan], layout: str = "time-major",
                 rounds: int = 15) -> dict[str, tuple[float, float]]:
    """Alternate the scans call by call for `rounds` rounds on the same inputs; return (min, median) ms for each.

    Interleaving means background load hits every entry alike, so the ratio stays fair on a busy machine.
    """
    a, b = benchmark_inputs(n, layout)
    return {name: (min(t), statistics.median(t)) for name, t in interleaved_times(scans, a, b, rounds).items()}


def machine() -> str:
    """A one-line description of where the numbers came from."""
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def print_tables(lengths: list[int], repeats: int) -> None:
    """The full table for each layout, then linear_scan's speed-ups (against the peer, and time-last against
    time-major)."""
    if peer_pscan() is None:
        print("mambapy is not installed: the peer column is left out (pip install mambapy==1.2.0 --no-deps).")
    print(f"float32, 1536 channels; ms per forward call, median of {repeats} after a warm-up; machine: {machine()}")
    tables = {}
    for layout, dim in LAYOUTS.items():
        tables[layout] = rows = timing_table(lengths, layout, repeats=repeats, skip=too_slow)
        shape = "(1, n, 96, 16)" if dim == 1 else "(1, 96, 16, n)"
        print(f"\n{layout}: shape {shape}, scanned along dim {dim}\n\n{format_table(rows)}")
        if PEER in rows[0]["ms"]:
            print(f"\n{OURS} speed-up over mambapy's pscan ({layout}): " + _ratios(speed_ups(rows, PEER)))
    last, major = ({row["n"]: row["ms"][OURS] for row in tables[layout]} for layout in ("time-last", "time-major"))
    print(f"\n{OURS}, time-last time / time-major time: " + _ratios({n: last[n] / major[n] for n in major}))


def _ratios(ratios: dict[int, float]) -> str:
    return ", ".join(f"n={n}: {ratio:.2f}×" for n, ratio in ratios.items())


def print_head_to_head(n: int, rounds: int = 15) -> None:
    """Print min and median ms of linear_scan against mambapy's pscan (and Blelloch), interleaved, per layout."""
    print(f"head to head at n = {n}, float32, 1536 channels, {rounds} interleaved rounds; machine: {machine()}")
    for layout in LAYOUTS:
        everything = candidates(layout)
        scans = {name: everything[name] for name in [OURS, PEER, "blelloch_scan"] if name in everything}
        results = head_to_head(n, scans, layout, rounds)
        print(f"{layout}:")
        for name, (best, median) in results.items():
            print(f"  {name:<22} min {best:8.1f} ms   median {median:8.1f} ms")
        if PEER in results:
            peer, ours = results[PEER], results[OURS]
            print(f"  {OURS} speed-up: {peer[0] / ours[0]:.2f}× (min), {peer[1] / ours[1]:.2f}× (median)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log2n", type=int, default=8)
    parser.add_argument("--max-log2n", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per entry (the median is kept)")
    parser.add_argument("--head-to-head", type=int, metavar="LOG2N",
                        help="only compare linear_scan with the peer at n = 2^LOG2N, interleaved call by call")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice); 1 is steadier on a "
                        "machine shared with other jobs, where every small parallel op waits for a busy core")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.head_to_head is not None:
        return print_head_to_head(2**args.head_to_head)
    print_tables([2**k for k in range(args.min_log2n, args.max_log2n + 1)], args.repeats)


if __name__ == "__main__":
    main()
