"""Every notebook runs top to bottom in a fresh kernel, and is committed without outputs."""
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import NOTEBOOK_BUDGET_S, NOTEBOOK_TIMES, STATED_RUN_TIMES

from classroom.notes import embedded_scenes

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
LESSONS = [path for path in NOTEBOOKS if not path.name.startswith("00_")]
RUN_TIME = re.compile(r"\*\*Run time:\*\* under (\d+) s on a 2-core CPU[^\n]*?; the first time, add the render of "
                      r"the (\d+|one) scenes? it shows")
WARNING = re.compile(r"\bWARNING\b|\w+Warning:|findfont")   # a log record (rich or plain) or a Python warning


def stated_run_time(path: Path) -> tuple[int, int]:
    """(seconds, scenes) that a lesson's header states: 'Run time: under N s on a 2-core CPU …; the first time, add
    the render of the M scenes it shows'."""
    header = "".join(json.loads(path.read_text())["cells"][0]["source"])
    match = RUN_TIME.search(header.replace("\n", " "))
    assert match, f"{path.name}: the first cell states no '**Run time:** under N s on a 2-core CPU …' line"
    return int(match[1]), 1 if match[2] == "one" else int(match[2])


def run_notebook(notebook: nbformat.NotebookNode, folder: Path) -> float:
    """Execute every cell in a fresh kernel; return the seconds taken, or fail naming the cell, its source and
    its error. A cell that prints a traceback to stderr (an error caught and printed) counts as failing too."""
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(failure_report(notebook, f"{error.ename}: {error.evalue}"), pytrace=False)
    seconds = time.perf_counter() - start
    printed = [i for i, cell in enumerate(notebook.cells) for output in cell.get("outputs", [])
               if output.get("name") == "stderr" and "Traceback" in output.get("text", "")]
    if printed:
        pytest.fail(failure_report(notebook, "printed a traceback to stderr", printed[0]), pytrace=False)
    warned = [i for i, cell in enumerate(notebook.cells) for output in cell.get("outputs", [])
              if WARNING.search(output_text(output))]
    if warned:
        pytest.fail(failure_report(notebook, "printed a warning", warned[0]), pytrace=False)
    return seconds


def output_text(output: nbformat.NotebookNode) -> str:
    """What a cell output shows as text: a stream's text, or a display's plain or HTML text."""
    data = output.get("data", {})
    return output.get("text", "") + data.get("text/plain", "") + data.get("text/html", "")


def failure_report(notebook: nbformat.NotebookNode, error: str, index: int | None = None) -> str:
    """'cell 7 (code cell 4) raised ...', then the cell's source: the failing cell is the last one with outputs."""
    if index is None:
        ran = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.get("outputs")]
        index = next((i for i in ran if any(o.get("output_type") == "error" for o in notebook.cells[i].outputs)),
                     ran[-1] if ran else 0)
    code_number = sum(cell.cell_type == "code" for cell in notebook.cells[:index + 1])
    source = "\n".join(f"    {line}" for line in notebook.cells[index].source.splitlines())
    return f"cell {index} (code cell {code_number}) failed: {error}\n  source:\n{source}"


def test_there_are_notebooks():
    names = [nb.name for nb in NOTEBOOKS]
    assert names[:4] == ["00_course_map.ipynb", "01_rnn.ipynb", "02_linear_rnn.ipynb",
                         "03_complex_rnn.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, cell in enumerate(cells)
             if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing."


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path):
    NOTEBOOK_TIMES[path.name] = run_notebook(nbformat.read(path, as_version=4), path.parent)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_the_header_states_a_run_time_within_budget_and_the_scenes_it_renders(path):
    """The stated bound is printed next to the measured time in the run-time table at the end of a run (a time is
    never asserted: a busy machine is slower); the scene count must match the show_scene calls."""
    seconds, scenes = stated_run_time(path)
    STATED_RUN_TIMES[path.name] = seconds
    assert seconds <= NOTEBOOK_BUDGET_S, f"{path.name} states {seconds} s, over the {NOTEBOOK_BUDGET_S} s budget"
    shown = embedded_scenes(path.name[:2])
    assert scenes == len(shown), f"{path.name}: the header counts {scenes} scenes, the notebook shows {shown}"


@pytest.mark.notebook
@pytest.mark.parametrize("cells,expected", [
    (["x = 1", "# the bad cell\n1 / 0", "print('never runs')"], r"cell 2 \(code cell 2\) failed: ZeroDivisionError"),
    (["import sys, traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()"],
     r"cell 1 \(code cell 1\) failed: printed a traceback"),
], ids=["raises", "prints a traceback"])
def test_a_failing_cell_is_reported_with_its_number_source_and_error(cells, expected, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# a title"),
                                               *map(nbformat.v4.new_code_cell, cells)])
    with pytest.raises(pytest.fail.Exception, match=expected) as failure:
        run_notebook(notebook, tmp_path)
    assert cells[-2 if len(cells) > 1 else 0].splitlines()[-1] in str(failure.value)
