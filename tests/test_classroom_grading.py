"""The exercises as nbgrader assignments: the release keeps every check and no solution, and nbgrader's autograde
scores submissions of lesson 03 (the fastest lesson with exercises) exactly: all right, all wrong, one unfinished with
a cell that raises, and one that is not a notebook at all."""
import contextlib
import copy
import csv
import importlib
import io
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearSolutions
from traitlets.config.loader import PyFileConfigLoader

from classroom import autograde, release
from classroom.assignments import (BEGIN, END, POINTS_PER_CHECK, exercise_cell, lesson_notebook, lesson_notebooks,
                                   lesson_stem, solution_code, source_notebook, teacher_solutions, check_cell_source)

LESSON = 3
ASSIGNMENT = "03_complex_rnn"
EXERCISES = ["check_rotation_eigenvalues", "check_half_life_prediction"]
WRONG = {  # plausible wrong answers, as tests/test_exercises.py's lesson 03 cases
    "check_rotation_eigenvalues_answer": "def rotation_eigenvalues(r, theta):\n    return r, -r   # real: no cmath",
    "check_half_life_prediction_answer": "my_prediction = 25   # 0.5 / (1 − 0.98): halving taken as linear",
}
UNFINISHED_AND_RAISING = {  # exercise 1 left as released; exercise 2 answered right, then the cell raises
    "check_half_life_prediction_answer": "my_prediction = 34\nprint(undefined_name)",
}
EXPECTED = {"all_right": [1, 1], "all_wrong": [0, 0], "unfinished": [0, 1], "not_a_notebook": [0, 0]}


# ------------------------------------------------------------------------------------------ helpers
def lesson_checks(notebook: Path) -> list[str]:
    """Every check call in the lesson notebook, as written (without the trailing ';')."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [check for cell in cells if cell.cell_type == "code" and (found := exercise_cell(cell.source))
            for check in found.checks]


def grade_ids(notebook: nbformat.NotebookNode, kind: str) -> dict[str, nbformat.NotebookNode]:
    """{grade_id: cell} of the cells whose nbgrader metadata has `kind` ('grade' or 'solution') set."""
    return {cell.metadata.nbgrader["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get(kind)}


def teacher_only_lines(notebook: Path) -> list[str]:
    """The lines of the teacher's solutions that the lesson notebook itself never shows."""
    lesson_text = Path(notebook).read_text()
    lines = [line.strip() for solution in teacher_solutions(lesson_stem(notebook)) for line in
             solution.code.splitlines()]
    return [line for line in lines if line and line not in lesson_text]


def assert_student_version(released: nbformat.NotebookNode, notebook: Path) -> None:
    """No solution region or teacher's line left; each check a locked test cell with points; answers as the lesson."""
    text = "\n".join(cell.source for cell in released.cells)
    assert BEGIN not in text and END not in text
    leaked = [line for line in teacher_only_lines(notebook) if line in text]
    assert not leaked, f"{notebook.name}: solution lines left in the release: {leaked}"
    tests = [cell for cell in grade_ids(released, "grade").values()]
    assert [cell.source for cell in tests] == [check_cell_source(check) for check in lesson_checks(notebook)]
    assert all(cell.metadata.nbgrader["locked"] and cell.metadata.nbgrader["points"] == POINTS_PER_CHECK
               for cell in tests)
    lesson_cells = nbformat.read(notebook, as_version=4).cells
    scaffolds = [found.scaffold for cell in lesson_cells if cell.cell_type == "code"
                 and (found := exercise_cell(cell.source)) and found.scaffold]
    assert [cell.source.strip() for cell in grade_ids(released, "solution").values()] == scaffolds


def submit(course_dir: Path, student: str, released: nbformat.NotebookNode, answers: dict[str, str]) -> None:
    """course_dir/submitted/<student>/<assignment>/<assignment>.ipynb: the release with `answers` typed into the
    answer cells they name."""
    notebook = copy.deepcopy(released)
    for grade_id, cell in grade_ids(notebook, "solution").items():
        cell.source = answers.get(grade_id, cell.source)
    path = course_dir / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)


# ------------------------------------------------------------------------------------------ one graded class
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release lesson 03 with `./course release`; submit four notebooks into a folder holding only submitted/, grade
    them with `./course autograde`; return (release folder, grading folder, CSV path, printed summary)."""
    released_dir, class_dir = tmp_path_factory.mktemp("released"), tmp_path_factory.mktemp("class")
    assert release.main(["--lesson", str(LESSON), "--out", str(released_dir)]) == 0
    released = nbformat.read(released_dir / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    right = {grade_id: cell.source for grade_id, cell in grade_ids(source_notebook(lesson_notebook(LESSON)),
                                                                     "solution").items()}
    submit(class_dir, "all_right", released, right)
    submit(class_dir, "all_wrong", released, WRONG)
    submit(class_dir, "unfinished", released, UNFINISHED_AND_RAISING)
    (class_dir / "submitted" / "not_a_notebook" / ASSIGNMENT).mkdir(parents=True)
    (class_dir / "submitted" / "not_a_notebook" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [')
    printed, csv_path = io.StringIO(), class_dir / "scores" / "grades.csv"
    with contextlib.redirect_stdout(printed):
        assert autograde.main([str(class_dir), "--lesson", str(LESSON), "--csv", str(csv_path)]) == 0
    return released_dir, class_dir, csv_path, printed.getvalue()


def csv_scores(csv_path: Path) -> dict[str, list[float]]:
    """{student: [score per exercise, in the notebook's order]} from the CSV, checking each row's exercise order."""
    with csv_path.open() as file:
        rows = list(csv.DictReader(file))
    scores: dict[str, list[float]] = {}
    for row in rows:
        assert row["assignment"] == ASSIGNMENT and float(row["max_score"]) == POINTS_PER_CHECK
        assert row["exercise"] == EXERCISES[len(scores.get(row["student"], []))]
        scores.setdefault(row["student"], []).append(float(row["score"]))
    return scores


def test_the_csv_scores_each_student_and_exercise_exactly(graded):
    _, _, csv_path, _ = graded
    with csv_path.open() as file:
        assert tuple(next(csv.reader(file))) == autograde.CSV_COLUMNS
    assert csv_scores(csv_path) == EXPECTED


def test_a_submission_that_is_not_a_notebook_scores_zero_with_a_note(graded):
    _, _, csv_path, printed = graded
    with csv_path.open() as file:
        notes = {row["student"]: row["note"] for row in csv.DictReader(file)}
    assert notes.pop("not_a_notebook").startswith("nbgrader could not grade this submission")
    assert set(notes.values()) == {""}
    assert "not_a_notebook, 03_complex_rnn: nbgrader could not grade" in printed


def test_the_summary_prints_every_students_total(graded):
    _, _, _, printed = graded
    for student, scores in EXPECTED.items():
        cells = [student, *(f"{score:g}" for score in scores), f"{sum(scores):g} / {len(scores)}"]
        assert "| " + " | ".join(cells) + " |" in printed, printed


def test_a_failing_check_shows_its_hint_in_the_graded_notebook(graded):
    _, class_dir, _, _ = graded
    notebook = nbformat.read(class_dir / "autograded" / "unfinished" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    outputs = {grade_id: cell.outputs for grade_id, cell in grade_ids(notebook, "grade").items()}
    errors = [output for output in outputs["check_rotation_eigenvalues"] if output.output_type == "error"]
    assert errors and errors[0].ename == "AssertionError"
    assert "still raises NotImplementedError" in errors[0].evalue
    answer = grade_ids(notebook, "solution")["check_half_life_prediction_answer"]
    assert any(output.get("ename") == "NameError" for output in answer.outputs)   # it raised, and was still graded


def test_the_release_has_no_solution_and_keeps_every_check(graded):
    released_dir, _, _, _ = graded
    released = nbformat.read(released_dir / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert_student_version(released, lesson_notebook(LESSON))
    assert all(cell.metadata.nbgrader["locked"] for cell in released.cells
               if not cell.metadata.nbgrader["solution"])


def test_the_course_folder_has_nbgraders_config_with_our_settings(graded):
    released_dir, _, _, _ = graded
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(released_dir)).load_config()
    expected = release.course_config(released_dir)
    del expected.CourseDirectory["root"]
    assert loaded == expected


# ----------------------------------------------------------------------------- every lesson, without the gradebook
@pytest.mark.parametrize("notebook", lesson_notebooks(), ids=lambda path: path.stem)
def test_every_lesson_clears_to_its_student_version(notebook, tmp_path):
    source = source_notebook(notebook)
    validator = MetadataValidator()
    for cell in source.cells:
        validator.validate_cell(cell)
    cleared, _ = ClearSolutions(config=release.course_config(tmp_path)).preprocess(copy.deepcopy(source), {})
    assert_student_version(cleared, notebook)


@pytest.mark.parametrize("notebook", lesson_notebooks(), ids=lambda path: path.stem)
def test_every_teacher_solution_is_paired_with_its_check(notebook):
    """Run each solution region under the learner's name and give it to its check; a Triton kernel's check takes
    ~9 s in a child process, so kernels are paired by name (tests/test_exercises.py runs their checks)."""
    checks = importlib.import_module(f"lessons.exercises.{lesson_stem(notebook)}")
    cells = nbformat.read(notebook, as_version=4).cells
    exercises = [pair for cell in cells if cell.cell_type == "code" and (found := exercise_cell(cell.source))
                 for pair in zip(found.check_names, found.answers, strict=True)]
    solutions = teacher_solutions(lesson_stem(notebook))
    assert len(exercises) == len(solutions)
    for (check, answer), solution in zip(exercises, solutions, strict=True):
        if "@triton.jit" in solution.code:
            assert answer == solution.name, (check, solution.name)
            continue
        namespace = {}
        exec(solution_code(solution, answer), namespace)
        verdict = getattr(checks, check)(namespace[answer])
        assert verdict, f"{check} rejects {solution.name}: {verdict.message}"


# ------------------------------------------------------------------------------------------ the commands' errors
def test_release_names_a_lesson_that_does_not_exist(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        release.main(["--lesson", "42", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--lesson must be one of 1, 2, 3, 4, 5, 6, 7, 8, got 42." in capsys.readouterr().err


def test_autograde_explains_where_submissions_go(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        autograde.main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"no submissions in {tmp_path / 'submitted'}: expected " in capsys.readouterr().err


def test_notebooks_are_graded_in_a_kernel_of_this_python():
    with autograde.course_kernel():
        assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
