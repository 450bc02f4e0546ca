"""Honest CPU timings of the scans in lessons.scan (a script, not a test).

    python -m lessons.scan_benchmark                 # n = 2⁸ … 2¹⁶ at B·D = 1536, float32
    python -m lessons.scan_benchmark --max-log2n 12  # quicker

Tensors are (1, n, 96, 16): batch-first, scanned along dim 1, 96·16 = 1536 independent channels, the
layout of a Mamba state (B, L, D, N). mamba.py's `pscan` (pip package `mambapy`, pure PyTorch) is timed
on the same tensors as the peer when it is installed. Times are the best of `repeats` forward calls.
"""
from __future__ import annotations

import argparse
import platform
import time
from typing import Callable

import torch

from lessons.scan import blelloch_scan, chunked_scan, hillis_steele_scan, linear_scan, log_space_scan, sequential_scan

Scan = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]      # (B, n, ...) × 2 -> (B, n, ...), scan along dim 1


def peer_pscan() -> Scan | None:
    """mamba.py's pscan, if the `mambapy` package is installed; it scans dim 1 of (B, L, D, N) tensors."""
    try:
        from mambapy.pscan import pscan
    except ImportError:
        return None
    return pscan


def candidates(include_peer: bool = True) -> dict[str, Scan]:
    """Every scan to time, by name, as f(a, b) scanning dim 1."""
    scans = {
        "loop (sequential_scan)": lambda a, b: sequential_scan(a, b, dim=1),
        "hillis_steele_scan": lambda a, b: hillis_steele_scan(a, b, dim=1),
        "blelloch_scan": lambda a, b: blelloch_scan(a, b, dim=1),
        "chunked_scan(64)": lambda a, b: chunked_scan(a, b, dim=1, chunk_size=64),
        "linear_scan": lambda a, b: linear_scan(a, b, dim=1),
        "log-space cumsum": lambda a, b: log_space_scan(a, b, dim=1),
    }
    peer = peer_pscan() if include_peer else None
    if peer is not None:
        scans["mambapy pscan (peer)"] = peer
    return scans


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time in seconds over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def benchmark_inputs(n: int, channels: tuple[int, int] = (96, 16), seed: int = 0):
    """a ~ U(0.5, 1), b ~ N(0, 1) of shape (1, n, D, N) with (D, N) = channels (the peer wants 4-d), float32."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, n, *channels)
    return 0.5 + 0.5 * torch.rand(shape, generator=generator), torch.randn(shape, generator=generator)


def timing_table(lengths, channels: tuple[int, int] = (96, 16), scans: dict[str, Scan] | None = None, repeats: int = 3,
                 skip: Callable[[str, int], bool] = lambda name, n: False) -> list[dict]:
    """One row per length: milliseconds per call for each scan (None where skipped), and the max error
    of each against `linear_scan` (to catch a fast-but-wrong entry such as the log-space trick)."""
    scans = candidates() if scans is None else scans
    rows = []
    for n in lengths:
        a, b = benchmark_inputs(n, channels)
        reference = linear_scan(a, b, dim=1)
        row = {"n": n, "ms": {}, "max_error": {}}
        for name, scan in scans.items():
            if skip(name, n):
                row["ms"][name] = row["max_error"][name] = None
                continue
            row["ms"][name] = 1e3 * best_time(lambda: scan(a, b), repeats)
            row["max_error"][name] = float((scan(a, b) - reference).abs().max())
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table: ms per call, with '(wrong)' where the error is not small or not finite."""
    names = list(rows[0]["ms"])
    lines = ["| n | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for row in rows:
        cells = []
        for name in names:
            ms, error = row["ms"][name], row["max_error"][name]
            if ms is None:
                cells.append("skipped")
            else:
                wrong = not (error == error and error < 1e-3)            # NaN fails error == error
                cells.append(f"{ms:.1f}" + (" (wrong)" if wrong else ""))
        lines.append(f"| {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def too_slow(name: str, n: int) -> bool:
    """Entries left out at large n: the loop and Hillis–Steele take seconds there and prove nothing new."""
    return (name.startswith("loop") and n > 2**14) or (name.startswith("hillis") and n > 2**13)


def head_to_head(n: int, scans: dict[str, Scan], rounds: int = 15) -> dict[str, tuple[float, float]]:
    """Alternate the scans call by call for `rounds` rounds on the same inputs; return (min, median) ms for each.

    Interleaving means background load hits every entry alike, so the ratio stays fair on a busy machine.
    """
    a, b = benchmark_inputs(n)
    times = {name: [] for name in scans}
    for scan in scans.values():
        scan(a, b)                                                       # warm-up
    for _ in range(rounds):
        for name, scan in scans.items():
            start = time.perf_counter()
            scan(a, b)
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: (min(t), sorted(t)[len(t) // 2]) for name, t in times.items()}


def machine() -> str:
    """A one-line description of where the numbers came from."""
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log2n", type=int, default=8)
    parser.add_argument("--max-log2n", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--head-to-head", type=int, metavar="LOG2N",
                        help="only compare linear_scan with the peer at n = 2^LOG2N, interleaved call by call")
    args = parser.parse_args(argv)
    if args.head_to_head is not None:
        return print_head_to_head(2**args.head_to_head)
    if peer_pscan() is None:
        print("mambapy is not installed: the peer column is left out (pip install mambapy==1.2.0 --no-deps).")
    rows = timing_table([2**k for k in range(args.min_log2n, args.max_log2n + 1)], repeats=args.repeats, skip=too_slow)
    print(f"float32, shape (1, n, 96, 16), scan along n; ms per forward call, best of {args.repeats}")
    print(f"machine: {machine()}\n")
    print(format_table(rows))
    peer = "mambapy pscan (peer)"
    if peer in rows[0]["ms"]:
        print("\nlinear_scan speed-up over mambapy's pscan: " +
              ", ".join(f"n={r['n']}: {r['ms'][peer] / r['ms']['linear_scan']:.2f}×" for r in rows))


def print_head_to_head(n: int, rounds: int = 15) -> None:
    """Print min and median ms of linear_scan against mambapy's pscan (and the loop), interleaved."""
    everything = candidates()
    names = ["linear_scan", "mambapy pscan (peer)", "blelloch_scan"]
    scans = {name: everything[name] for name in names if name in everything}
    print(f"head to head at n = {n}, shape (1, n, 96, 16) float32, {rounds} interleaved rounds; machine: {machine()}")
    results = head_to_head(n, scans, rounds)
    for name, (best, median) in results.items():
        print(f"  {name:<22} min {best:8.1f} ms   median {median:8.1f} ms")
    if "mambapy pscan (peer)" in results:
        peer, ours = results["mambapy pscan (peer)"], results["linear_scan"]
        print(f"  linear_scan speed-up: {peer[0] / ours[0]:.2f}× (min), {peer[1] / ours[1]:.2f}× (median)")


if __name__ == "__main__":
    main()
