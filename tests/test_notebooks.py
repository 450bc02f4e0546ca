"""Every notebook runs top to bottom in a fresh kernel, and is committed without outputs."""
import json
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import NOTEBOOK_TIMES

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    names = [nb.name for nb in NOTEBOOKS]
    assert names[:4] == ["00_course_map.ipynb", "01_rnn_gradients.ipynb", "02_linear_rnn_diagonalisation.ipynb",
                         "03_complex_eigenvalues.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, cell in enumerate(cells)
             if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing."


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell, with its traceback
    NOTEBOOK_TIMES[path.name] = time.perf_counter() - start
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error" or output.get("name") == "stderr" and "Traceback" in output.get("text", "")]
    assert not errors, f"{path.name} printed errors: {errors[:1]}"
