"""Shared test setup: CPU-friendly defaults, and a table of notebook run times in the summary."""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# kernels.device switches Triton's interpreter on when there is no CUDA GPU. Importing it here, before any test
# module, keeps the switch ahead of every @triton.jit definition (the kernels package imports it first too).
import kernels.device  # noqa: E402,F401

NOTEBOOK_TIMES: dict[str, float] = {}
STATED_RUN_TIMES: dict[str, int] = {}   # notebook -> the "under N s" its header states (test_notebooks)
NOTEBOOK_BUDGET_S = 90
WIDGET_LATENCIES: list[tuple[str, str, float]] = []  # (notebook, control and key, ms), from the browser test
LATENCY_TARGET_MS = 300
PREVIEW_RENDERS: dict = {}   # module -> animations.render.LessonRender, from the preview_renders fixture
# The first test that asks for preview_renders waits for every scene to render: ~3 min of CPU for the course on
# 2 cores, far more on a busy machine, so those tests get longer than pytest's default 600 s.
PREVIEW_RENDER_TIMEOUT_S = 1800


@pytest.fixture(scope="session")
def preview_renders() -> dict:
    """Every scene of every lesson with a narration script, rendered once at preview quality (216p15) into renders/
    (where notebooks executed later find them): {module: LessonRender}, a failed lesson holding its error.

    COURSE_REUSE_PREVIEWS=1 reuses a lesson's existing preview videos instead (quick reruns while you work on the
    cut, slides or frame tests; stale if a scene changed since)."""
    from animations.render import render_scripted_lessons   # here, not at the top: importing Manim takes seconds

    reuse = os.environ.get("COURSE_REUSE_PREVIEWS") == "1"
    PREVIEW_RENDERS.update(render_scripted_lessons(quality="p", reuse=reuse))
    return PREVIEW_RENDERS


def pytest_terminal_summary(terminalreporter):
    """Print how long each notebook took, against its header's stated run time and the budget, and the widget
    latencies."""
    if NOTEBOOK_TIMES:
        terminalreporter.section(f"notebook run times (budget {NOTEBOOK_BUDGET_S} s each on 2 cores)")
        for name, seconds in sorted(NOTEBOOK_TIMES.items()):
            stated = STATED_RUN_TIMES.get(name)
            flag = ("   OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S
                    else f"   OVER THE HEADER'S {stated} s" if stated and seconds > stated else "")
            claim = f"(header: under {stated} s)" if stated else ""
            terminalreporter.write_line(f"{name:<40} {seconds:6.1f} s  {claim}{flag}")
    _latency_table(terminalreporter)
    if PREVIEW_RENDERS:
        terminalreporter.section("preview renders (216p15, two Manim processes side by side)")
        for module, done in PREVIEW_RENDERS.items():
            terminalreporter.write_line(f"{module:<28} {done.seconds:6.1f} s  {'FAILED' if done.error else ''}")


def _latency_table(terminalreporter):
    """Print slider-to-readout latencies measured in the browser."""
    if not WIDGET_LATENCIES:
        return
    terminalreporter.section(f"widget latency in JupyterLab (target {LATENCY_TARGET_MS} ms)")
    for notebook, control, ms in WIDGET_LATENCIES:
        flag = "" if ms <= LATENCY_TARGET_MS else "   SLOW"
        terminalreporter.write_line(f"{notebook:<28} {control:<40} {ms:7.0f} ms{flag}")


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for every browser test of the session: Playwright's sync API runs one instance per
    thread, so a second `sync_playwright()` opened while another is open fails ("inside the asyncio loop")."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.browser import CHROMIUM, CHROMIUM_FLAGS

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
