"""Small helpers every lesson uses: seeding, timing, tables, showing source and recorded results.

Input validation lives in lessons.checks."""
from __future__ import annotations

import inspect
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch

from lessons.checks import require_int, require_positive_int


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global generator seeded, then restore the caller's random stream.

    For model init: nn.Linear and friends draw from the global generator, so `with seeded(seed): model = ...`
    gives the same weights for the same seed without changing what the caller draws next."""
    with torch.random.fork_rng():
        torch.manual_seed(require_int("seed", seed))
        yield


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of `repeats` calls of fn(), after `warmup` untimed calls."""
    repeats, warmup = require_positive_int("repeats", repeats), require_int("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_call_seconds(fn: Callable[[], object], calls: int = 1000, repeats: int = 5) -> float:
    """Seconds per call of a call too short to time alone (microseconds, near the timer's resolution): the median
    of `repeats` loops of `calls` calls, divided by `calls`."""
    calls = require_positive_int("calls", calls)
    return median_time(partial(_call_repeatedly, fn, calls), repeats=repeats) / calls


def _call_repeatedly(fn: Callable[[], object], calls: int) -> None:
    """fn() `calls` times in a row."""
    for _ in range(calls):
        fn()


class MarkdownTable(str):
    """A Markdown table: text when printed, rendered as a table when a notebook cell shows it."""

    def _repr_markdown_(self) -> str:
        return str(self)


def markdown_table(rows: Sequence[Sequence], columns: Sequence[str], number_format: str = ".4g") -> MarkdownTable:
    """`columns` as the header, then one line per row; numbers formatted with `number_format`, strings as they
    are (so a caller can format one column its own way). Show it as a cell's last line, or with display()."""
    def cell(value) -> str:
        text = value if isinstance(value, str) else format(value, number_format)
        return text.replace("|", r"\|")     # a bare | (as in |λ|) would end the cell

    for i, row in enumerate(rows):
        require_int(f"len(rows[{i}])", len(row), minimum=len(columns), maximum=len(columns))
    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---:|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return MarkdownTable("\n".join(lines))


def show_source(obj) -> None:
    """Display the source of a function or class from `lessons/` as a highlighted code block."""
    from IPython.display import Markdown, display   # optional third-party: only notebooks display

    display(Markdown(f"```python\n{inspect.getsource(obj)}```"))


def results_path(name: str):
    """Path of a recorded results file, `results/<name>` at the repository root (wherever the notebook runs)."""
    return Path(__file__).resolve().parent.parent / "results" / name


def show_results(name: str) -> None:
    """Display a recorded Markdown results file from `results/`, or say plainly that it is missing."""
    from IPython.display import Markdown, display   # optional third-party: only notebooks display

    path = results_path(name)
    display(Markdown(path.read_text() if path.exists() else f"*No recorded results yet: `results/{name}` is missing.*"))
