"""Shared test setup: CPU-friendly defaults, and a table of notebook run times in the summary."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

# kernels.device switches Triton's interpreter on when there is no CUDA GPU. Importing it here, before any test
# module, keeps the switch ahead of every @triton.jit definition (the kernels package imports it first too).
import kernels.device  # noqa: E402,F401

NOTEBOOK_TIMES: dict[str, float] = {}
WIDGET_LATENCIES: list[tuple[str, str, float]] = []  # (notebook, control and key, ms), from the browser test
LATENCY_TARGET_MS = 300


def pytest_terminal_summary(terminalreporter):
    """Print how long each notebook took, against the 90 s budget, and the widget latencies."""
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook run times (budget 90 s each on 2 cores)")
        for name, seconds in sorted(NOTEBOOK_TIMES.items()):
            flag = "" if seconds <= 90 else "   OVER BUDGET"
            terminalreporter.write_line(f"{name:<40} {seconds:6.1f} s{flag}")
    _latency_table(terminalreporter)


def _latency_table(terminalreporter):
    """Print slider-to-readout latencies measured in the browser."""
    if not WIDGET_LATENCIES:
        return
    terminalreporter.section(f"widget latency in JupyterLab (target {LATENCY_TARGET_MS} ms)")
    for notebook, control, ms in WIDGET_LATENCIES:
        flag = "" if ms <= LATENCY_TARGET_MS else "   SLOW"
        terminalreporter.write_line(f"{notebook:<28} {control:<40} {ms:7.0f} ms{flag}")
