"""Lessons 00–06 without Triton: the README says they run on macOS, where Triton has no wheels.

Nothing here can run macOS, so the test does the part that decides it: in a fresh interpreter where `import triton`
fails, everything notebooks 00–06 import, and the scene modules they show, must import, and none of it may pull in
`kernels` (the Triton package of lesson 07).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRITON_FREE_LESSONS = range(0, 7)   # 00_course_map … 06_ssm

BLOCKED_IMPORT = """
import importlib, sys
sys.modules["triton"] = None            # `import triton` now raises ImportError, as on macOS
failures = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as error:
        failures.append(f"{name}: {type(error).__name__}: {error}")
failures += [f"{name} was imported" for name in sys.modules if name == "kernels" or name.startswith("kernels.")]
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def lesson_number(path: Path) -> int:
    return int(path.name[:2])


def notebook_imports(notebook: Path) -> set[str]:
    """The modules a notebook's code cells import (`from a.b import c` gives a.b and a.b.c if that is a module)."""
    modules = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
                modules.update(f"{node.module}.{alias.name}" for alias in node.names
                               if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists())
    return modules


def triton_free_modules() -> list[str]:
    notebooks = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if lesson_number(p) in TRITON_FREE_LESSONS]
    scenes = [p for p in sorted((ROOT / "animations").glob("lesson*.py"))
              if int(p.stem.removeprefix("lesson")[:2]) in TRITON_FREE_LESSONS]
    modules = set().union(*(notebook_imports(p) for p in notebooks))
    return sorted(modules | {f"animations.{p.stem}" for p in scenes})


def test_the_notebooks_imports_are_read():
    modules = triton_free_modules()
    assert {"lessons.rnn", "lessons.ssm", "lessons.widgets.ssm", "animations.render", "torch"} <= set(modules)
    assert {"animations.lesson01_rnn", "animations.lesson06_ssm"} <= set(modules)
    assert not any(m.startswith("animations.lesson07") for m in modules)


def test_lessons_00_to_06_import_without_triton():
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT, *triton_free_modules()],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"without Triton:\n{done.stdout}{done.stderr}"


def test_the_check_fails_when_a_module_needs_triton():
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT, "lessons.rnn", "kernels.scan"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "kernels.scan: ModuleNotFoundError" in done.stdout
