"""A lesson notebook as an nbgrader source notebook, generated, never hand-copied.

Each exercise cell of `notebooks/NN_<stem>.ipynb` (a cell that calls a check from `lessons/exercises/<stem>.py`)
becomes up to three cells:
- its leading imports, read-only;
- the learner's answer, an nbgrader *solution* cell: the lesson's own scaffold (the stub with
  `raise NotImplementedError`, the `None` prediction, the buggy line to fix) followed by the teacher's solution from
  `lessons/solutions/<stem>.py` between `### BEGIN SOLUTION` and `### END SOLUTION`. nbgrader's release replaces
  that region with an empty stub, so the student's cell reads exactly as in the lesson; in the source notebook the
  solution redefines the answer, so the source notebook scores full marks;
- for each check call, an autograded read-only test cell worth `POINTS_PER_CHECK`, which asserts the check passed
  and shows the check's hint when it did not: the same check that gives hints at home grades in class.
Every other cell is read-only. The teacher's solutions pair with the exercises in order: the public functions and
UPPER_CASE constants of `lessons/solutions/<stem>.py`, in source order, answer the notebook's check calls in order.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

REPOSITORY = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPOSITORY / "notebooks"
SOLUTIONS = REPOSITORY / "lessons" / "solutions"
POINTS_PER_CHECK = 1
SCHEMA_VERSION = 3  # nbgrader 0.9's cell metadata format (nbgrader/nbgraderformat/v3.py)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Solution:
    """One answer from lessons/solutions/<stem>.py: a function or a predicted value, with what it imports."""

    name: str            # as the solutions module spells it: scalar_gradient, STEPS_TO_VANISH
    is_function: bool
    code: str            # its source with decorators and the comment lines just above it
    imports: list[str]   # the module's import statements that `code` needs, one per line


@dataclass(frozen=True)
class ExerciseCell:
    """An exercise cell of a lesson notebook, cut into its parts."""

    imports: str          # the leading import statements ('' when none)
    scaffold: str         # what the learner edits: the stub, the prediction line, the code to fix
    checks: list[str]     # each check call as written, e.g. 'check_scalar_gradient(scalar_gradient)'
    check_names: list[str]
    answers: list[str]    # the name each check is given: scalar_gradient, my_prediction
    defines: set[str]     # the functions the scaffold defines


# ------------------------------------------------------------------------------------------ lessons
def lesson_notebooks() -> list[Path]:
    """Every lesson notebook with exercises, in course order (the course map, 00, has none)."""
    return sorted(path for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not path.name.startswith("00_"))


def lesson_notebook(lesson: int) -> Path:
    """The notebook of lesson `lesson` (1 -> notebooks/01_rnn.ipynb), or a ValueError naming the lessons there are."""
    found = [path for path in lesson_notebooks() if int(path.name[:2]) == lesson]
    if not found:
        numbers = ", ".join(str(int(path.name[:2])) for path in lesson_notebooks())
        raise ValueError(f"--lesson must be one of {numbers}, got {lesson}.")
    return found[0]


def assignment_name(notebook: Path) -> str:
    """The nbgrader assignment of a lesson notebook: notebooks/01_rnn.ipynb -> '01_rnn'."""
    return notebook.stem


def lesson_stem(notebook: Path) -> str:
    """The lesson's stem, as in lessons/solutions/<stem>.py: notebooks/01_rnn.ipynb -> 'rnn'."""
    return notebook.stem[3:]


# ------------------------------------------------------------------------------------------ the teacher's solutions
def teacher_solutions(stem: str) -> list[Solution]:
    """The answers in lessons/solutions/<stem>.py, in source order."""
    text = (SOLUTIONS / f"{stem}.py").read_text()
    tree = ast.parse(text)
    lines = text.splitlines()
    imports = _imported_names(tree, text)
    answers = []
    for node in tree.body:
        name = _answer_name(node)
        if name is None:
            continue
        used = {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}
        needed = sorted({imports[used_name] for used_name in used if used_name in imports})
        answers.append(Solution(name, isinstance(node, ast.FunctionDef), _code_with_comments(node, lines), needed))
    return answers


def _answer_name(node: ast.stmt) -> str | None:
    """The name a top-level statement defines as an answer: a public function or an UPPER_CASE constant."""
    if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
        return name if name.isupper() else None
    return None


def _imported_names(tree: ast.Module, text: str) -> dict[str, str]:
    """Each name the module's top-level imports bind, with one import statement that binds it alone."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bound[name] = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                renamed = f" as {alias.asname}" if alias.asname else ""
                bound[alias.asname or alias.name] = f"from {node.module} import {alias.name}{renamed}"
    return bound


def _code_with_comments(node: ast.stmt, lines: list[str]) -> str:
    """The statement's source lines (decorators included) and the comment lines right above it."""
    first = _first_line(node) - 1
    while first > 0 and lines[first - 1].startswith("#"):
        first -= 1
    return "\n".join(lines[first:node.end_lineno])


def _first_line(node: ast.stmt) -> int:
    """The statement's first line, counting from 1: its first decorator's line when it has decorators."""
    return min([node.lineno] + [decorator.lineno for decorator in getattr(node, "decorator_list", [])])


def solution_code(solution: Solution, answer: str) -> str:
    """The teacher's solution written under the learner's name `answer`, with the imports it needs first."""
    if solution.is_function:
        code = re.sub(rf"^def {solution.name}\(", f"def {answer}(", solution.code, count=1, flags=re.MULTILINE)
    else:
        code = re.sub(rf"^{solution.name} =", f"{answer} =", solution.code, count=1, flags=re.MULTILINE)
    return "\n".join([*solution.imports, *([""] if solution.imports else []), code])


# ------------------------------------------------------------------------------------------ the lesson's exercise cells
def exercise_cell(source: str) -> ExerciseCell | None:
    """The parts of a code cell that calls checks (`check_x(answer)` as a statement of its own), else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [node for node in tree.body if _is_check_call(node)]
    if not calls:
        return None
    if calls[0] is not tree.body[-len(calls)] or not all(len(call.value.args) == 1 for call in calls):
        raise ValueError(f"an exercise cell must end with its check calls, each given one answer:\n{source}")
    lines = source.splitlines()
    leading = 0
    while leading < len(tree.body) and isinstance(tree.body[leading], ast.Import | ast.ImportFrom):
        leading += 1
    split = _first_line(tree.body[leading]) - 1 if leading < len(tree.body) else len(lines)
    start_of_checks = calls[0].lineno - 1
    return ExerciseCell(imports="\n".join(lines[:split]).strip(),
                        scaffold="\n".join(lines[split:start_of_checks]).strip(),
                        checks=[ast.get_source_segment(source, call.value) for call in calls],
                        check_names=[call.value.func.id for call in calls],
                        answers=[ast.unparse(call.value.args[0]) for call in calls],
                        defines={node.name for node in tree.body if isinstance(node, ast.FunctionDef)})


def _is_check_call(node: ast.stmt) -> bool:
    """`check_something(...)` as an expression statement."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id.startswith("check_"))


# ------------------------------------------------------------------------------------------ nbgrader cells
def nbgrader_metadata(grade_id: str, *, solution: bool = False, points: int | None = None) -> dict:
    """nbgrader's cell metadata: a solution cell, a read-only test cell with `points`, or a read-only cell."""
    return {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
            **({"points": points} if points is not None else {}),
            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}


def _code_cell(source: str, metadata: dict) -> NotebookNode:
    """A new code cell carrying nbgrader metadata."""
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": metadata})


def _read_only(cell: NotebookNode, grade_id: str) -> NotebookNode:
    """A copy of a lesson cell, its own metadata (tags, ...) kept, marked read-only for nbgrader."""
    locked = copy.deepcopy(cell)
    locked.metadata["nbgrader"] = nbgrader_metadata(grade_id)
    return locked


def check_cell_source(check: str) -> str:
    """The autograded cell for one check call: the check's verdict, asserted, its hint as the failure message."""
    return f"result = {check}\nassert result, result.message"


def graded_cells(cell: ExerciseCell, solutions: list[Solution]) -> list[NotebookNode]:
    """The cells an exercise cell becomes: its imports (read-only), the answer with the teacher's solution, and one
    test cell per check. `solutions` answer cell.checks in order."""
    first = cell.check_names[0]
    cells = [_code_cell(cell.imports, nbgrader_metadata(f"{first}_imports"))] if cell.imports else []
    regions = [solution_code(solution, answer) for solution, answer in zip(solutions, cell.answers, strict=True)]
    answer = "\n".join([*([cell.scaffold] if cell.scaffold else []), BEGIN, "\n\n".join(regions), END])
    cells.append(_code_cell(answer, nbgrader_metadata(f"{first}_answer", solution=True)))
    cells += [_code_cell(check_cell_source(check), nbgrader_metadata(name, points=POINTS_PER_CHECK))
              for check, name in zip(cell.checks, cell.check_names, strict=True)]
    return cells


def _check_pairing(cell: ExerciseCell, solutions: list[Solution], notebook: Path) -> None:
    """Each answer the scaffold defines as a function gets a function, each predicted value a constant."""
    for answer, check, solution in zip(cell.answers, cell.check_names, solutions, strict=True):
        if (answer in cell.defines) != solution.is_function:
            raise ValueError(f"{notebook.name}: {check}({answer}) is paired with {solution.name} from lessons/"
                             f"solutions/{lesson_stem(notebook)}.py; the solutions must come in exercise order.")


# ------------------------------------------------------------------------------------------ the source notebook
def source_notebook(notebook: Path) -> NotebookNode:
    """The nbgrader source notebook of a lesson: exercises graded, the teacher's solutions in, the rest read-only."""
    lesson = nbformat.read(notebook, as_version=4)
    solutions = teacher_solutions(lesson_stem(notebook))
    cells, used = [], 0
    for index, cell in enumerate(lesson.cells):
        exercise = exercise_cell(cell.source) if cell.cell_type == "code" else None
        if exercise is None:
            cells.append(_read_only(cell, f"lesson_cell_{index:03d}"))
            continue
        mine = solutions[used:used + len(exercise.checks)]
        if len(mine) < len(exercise.checks):
            raise ValueError(f"{notebook.name} has more exercises than lessons/solutions/{lesson_stem(notebook)}.py "
                             f"has answers ({len(solutions)}).")
        _check_pairing(exercise, mine, notebook)
        cells += graded_cells(exercise, mine)
        used += len(mine)
    if used != len(solutions):
        raise ValueError(f"lessons/solutions/{lesson_stem(notebook)}.py has {len(solutions)} answers but "
                         f"{notebook.name} checks {used}.")
    return nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(lesson.metadata))


def write_source(notebook: Path, course_dir: Path) -> Path:
    """Write the lesson's source notebook to course_dir/source/<assignment>/<assignment>.ipynb; return its path."""
    name = assignment_name(notebook)
    path = course_dir / "source" / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(notebook), path)
    return path
