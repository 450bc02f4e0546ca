"""Every lesson in a real JupyterLab in a real (headless) Chromium: run all, move every control, see it respond.

For each notebook: open it fresh, wait for the kernel, run all cells, check that no cell shows an error,
then for every explorer (found by its `.explorer-readout` line) move each slider with the keyboard, one
step and then to its minimum and maximum, and check that the readout text changes and the plot is drawn.
The time from key press to updated readout is collected for the latency table in the test summary.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, jupyter_lab
from tests.conftest import WIDGET_LATENCIES

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"
RUN_TIMEOUT_MS = 240_000
UPDATE_TIMEOUT_MS = 20_000
ERROR_MARKERS = ("Traceback (most recent call last)", "Error displaying widget", "Failed to load model class")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jupyter_lab(NOTEBOOKS, tmp_path_factory.mktemp("lab")) as base_url:
        yield base_url


ALL_CELLS_RAN = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                             .every(p => /\\[\\d+\\]/.test(p.innerText))"""
# Run All stops at the first cell that raises, leaving later prompts empty: stop waiting as soon as an error shows.
ALL_RAN_OR_ERROR = """() => [...document.querySelectorAll('.jp-OutputArea-output')]
                             .some(o => /Traceback|Error displaying widget/.test(o.innerText))
                          || [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                             .every(p => /\\[\\d+\\]/.test(p.innerText))"""
SOME_CELL_STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                                 .some(p => /\\[(\\d+|\\*)\\]/.test(p.innerText))"""


def open_and_run_all(page, url: str) -> None:
    """Open a notebook fresh, wait for its kernel, run all cells, and wait until every code cell has run."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT_MS)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=RUN_TIMEOUT_MS)
    if page.locator(".jp-CodeCell").count() == 0:
        return  # a notebook of prose only, like the course map
    for _attempt in range(3):  # a click that lands while the kernel is still connecting runs nothing
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        page.click("div.lm-Menu-itemLabel:text-is('Run All Cells')")
        try:
            page.wait_for_function(SOME_CELL_STARTED, timeout=10_000)
            break
        except playwright_api.TimeoutError:
            continue
    page.wait_for_function(ALL_RAN_OR_ERROR, timeout=RUN_TIMEOUT_MS)
    assert not error_outputs(page), f"a cell failed during Run All: {error_outputs(page)}"
    page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_TIMEOUT_MS)  # every prompt shows [n]: no [ ], no [*]
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT_MS)


def error_outputs(page) -> list[str]:
    """Texts of outputs that show an error: tracebacks, and widgets that failed to render."""
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    return [text[:300] for text in texts if any(marker in text for marker in ERROR_MARKERS)]


def press_and_wait(page, handle, readout, key: str) -> float | None:
    """Press `key` on a slider handle; return ms until the readout text changed, or None if it did not."""
    # The HTML widget replaces its inner span on every update, so watch the widget's own element.
    container = readout.element_handle().evaluate_handle("el => el.closest('.widget-html')")
    before = container.inner_text()
    handle.focus()
    start = time.perf_counter()
    handle.press(key)
    try:
        page.wait_for_function("([el, old]) => el.innerText !== old", arg=[container, before],
                               timeout=UPDATE_TIMEOUT_MS, polling=10)
    except playwright_api.TimeoutError:
        return None
    return 1e3 * (time.perf_counter() - start)


def plot_is_drawn(page, explorer) -> bool:
    """The explorer's plot image finishes loading with a non-zero size (the new PNG may still be decoding
    when the readout changes, so wait for it rather than look once)."""
    image = explorer.locator("img").first.element_handle()
    try:
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image, timeout=UPDATE_TIMEOUT_MS)
    except playwright_api.TimeoutError:
        return False
    return True


def exercise_explorer(page, notebook: str, index: int, explorer) -> None:
    """Move every slider of one explorer a step, to its minimum and to its maximum."""
    readout = explorer.locator(".explorer-readout")
    sliders = explorer.locator(".widget-slider")
    assert sliders.count() > 0, f"{notebook}: explorer {index} has no sliders"
    for s in range(sliders.count()):
        slider = sliders.nth(s)
        name = slider.locator(".widget-label").first.inner_text().strip() or f"slider {s}"
        handle = slider.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        for key in ("Home", "End", "ArrowLeft"):   # minimum, maximum, then one step back from the maximum
            latency = press_and_wait(page, handle, readout, key)
            assert latency is not None, f"{notebook}: explorer {index}, '{name}' {key}: the readout did not change"
            assert plot_is_drawn(page, explorer), f"{notebook}: explorer {index}, '{name}' {key}: no plot"
            WIDGET_LATENCIES.append((notebook, f"explorer {index}: {name} ({key})", latency))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_in_jupyterlab(path, lab, chromium):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_and_run_all(page, f"{lab}/lab/tree/notebooks/{path.name}?reset")
        assert not error_outputs(page), f"{path.name} shows errors: {error_outputs(page)}"
        explorers = page.locator(".widget-vbox").filter(has=page.locator(".explorer-readout"))
        if path.name[:2] not in ("00",):  # every lesson has at least one explorer
            assert explorers.count() > 0, f"{path.name}: no explorer widget found"
        for index in range(explorers.count()):
            exercise_explorer(page, path.name, index, explorers.nth(index))
        assert not error_outputs(page), f"{path.name} shows errors after moving sliders: {error_outputs(page)}"
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"), full_page=True)
        raise
    finally:
        page.close()
