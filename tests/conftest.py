"""Shared test setup: CPU-friendly defaults, and a table of notebook run times in the summary."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module defines a @triton.jit

NOTEBOOK_TIMES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter):
    """Print how long each notebook took, against the 90 s budget."""
    if not NOTEBOOK_TIMES:
        return
    terminalreporter.section("notebook run times (budget 90 s each on 2 cores)")
    for name, seconds in sorted(NOTEBOOK_TIMES.items()):
        flag = "" if seconds <= 90 else "   OVER BUDGET"
        terminalreporter.write_line(f"{name:<40} {seconds:6.1f} s{flag}")
