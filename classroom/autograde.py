"""`./course autograde DIR [--lesson N] [--csv PATH]`: grade submitted notebooks with nbgrader; write a CSV of scores.

DIR is an nbgrader course directory. Put each student's notebook where nbgrader's `collect` puts it:

    DIR/submitted/<student>/<assignment>/<assignment>.ipynb     e.g. DIR/submitted/ada/01_rnn/01_rnn.ipynb

DIR may be the folder `./course release --out DIR` wrote (its gradebook then holds the released version), or a new
folder with only submitted/ in it: then the assignments are generated there first from the lessons. nbgrader's own
autograde runs every notebook in a fresh kernel of this Python (the course venv), overwrites the read-only and test
cells with the released ones, and records a score for every check in DIR/gradebook.db; autograded copies go to
DIR/autograded/. The CSV (default DIR/grades.csv) has one row per student, assignment and exercise: student,
assignment, exercise (the check's name), score, max_score, note. A submission that raises, is unfinished, or is not
a notebook at all is graded (0 for what fails, with a note when nbgrader could not run it); it never stops the run.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory

from classroom.assignments import NOTEBOOKS
from classroom.release import COURSE_ID, course_config, put_venv_on_path, release
from lessons.utils import markdown_table

CSV_COLUMNS = ("student", "assignment", "exercise", "score", "max_score", "note")


@dataclass(frozen=True)
class Score:
    """One exercise of one student's assignment, as the CSV writes it."""

    student: str
    assignment: str
    exercise: str      # the test cell's grade id: the check's name, e.g. check_scalar_gradient
    score: float
    max_score: float
    note: str = ""     # why nbgrader could not grade it, when it could not


# ------------------------------------------------------------------------------------------ what was submitted
def submissions(course_dir: Path, lesson: int | None = None) -> dict[str, list[str]]:
    """{assignment: [student, ...]} found in course_dir/submitted/<student>/<assignment>/ (only lesson `lesson`'s)."""
    found: dict[str, list[str]] = {}
    for folder in sorted((course_dir / "submitted").glob("*/*/")):
        student, assignment = folder.parent.name, folder.name
        if lesson is None or assignment[:2] == f"{lesson:02d}":
            found.setdefault(assignment, []).append(student)
    return found


def known_assignments(course_dir: Path) -> set[str]:
    """The assignments course_dir's gradebook holds (none when there is no gradebook yet)."""
    if not (course_dir / "gradebook.db").exists():
        return set()
    with Gradebook(_db_url(course_dir), COURSE_ID) as gradebook:
        return {assignment.name for assignment in gradebook.assignments}


def _db_url(course_dir: Path) -> str:
    """nbgrader's default gradebook: course_dir/gradebook.db."""
    return f"sqlite:///{(course_dir / 'gradebook.db').resolve()}"


def ensure_released(course_dir: Path, assignments: list[str]) -> None:
    """Generate from the lessons each assignment the gradebook does not hold yet; a name with no lesson is an error."""
    missing = sorted(set(assignments) - known_assignments(course_dir))
    for name in missing:
        if not (NOTEBOOKS / f"{name}.ipynb").exists():
            raise ValueError(f"DIR/submitted has an assignment {name!r} that is no lesson notebook "
                             f"(assignments are named like 01_rnn).")
    if missing:
        release([NOTEBOOKS / f"{name}.ipynb" for name in missing], course_dir)


# ------------------------------------------------------------------------------------------ running nbgrader
@contextlib.contextmanager
def course_kernel() -> Iterator[None]:
    """While inside, the kernel 'python3' that notebooks name is this Python (the course venv), whatever kernels the
    user has installed: a kernelspec in a temporary folder put first on JUPYTER_PATH."""
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as folder:
        spec = Path(folder) / "kernels" / "python3" / "kernel.json"
        spec.parent.mkdir(parents=True)
        spec.write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                    "display_name": "Python 3 (course venv)", "language": "python"}))
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, before]))
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("JUPYTER_PATH")
            else:
                os.environ["JUPYTER_PATH"] = before


def autograde_one(course_dir: Path, assignment: str, student: str) -> str:
    """nbgrader's autograde of one submission; '' when it ran, else why not (its grades are then 0)."""
    config = course_config(course_dir)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = Autograde(coursedir=coursedir, config=config)
    converter.force = True
    try:
        converter.start()
    except NbGraderException:  # nbgrader has logged the cause; the other submissions still get graded
        return "nbgrader could not grade this submission (is it a valid notebook?): scored 0"
    return ""


def autograde(course_dir: Path, lesson: int | None = None) -> list[Score]:
    """Autograde every submission in course_dir (of lesson `lesson` only, if given); return every exercise's score."""
    found = submissions(course_dir, lesson)
    if not found:
        where = course_dir / "submitted"
        raise ValueError(f"no submissions in {where}: expected {where}/<student>/<assignment>/<assignment>.ipynb"
                         + (f" for lesson {lesson}" if lesson is not None else "") + ".")
    put_venv_on_path()
    ensure_released(course_dir, list(found))
    notes = {}
    with course_kernel():
        for assignment, students in found.items():
            for student in students:
                notes[assignment, student] = autograde_one(course_dir, assignment, student)
    return read_scores(course_dir, notes)


def read_scores(course_dir: Path, notes: dict[tuple[str, str], str]) -> list[Score]:
    """Each exercise's score from the gradebook for the submissions in `notes` ({(assignment, student): note}),
    exercises in the order of the assignment's notebook."""
    scores = []
    with Gradebook(_db_url(course_dir), COURSE_ID) as gradebook:
        for (assignment, student), note in notes.items():
            order = graded_cells_in_order(course_dir, assignment)
            submission = gradebook.find_submission(assignment, student)
            grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
            scores += [Score(student, assignment, grade.name, float(grade.score), float(grade.max_score),
                             note if grade.auto_score is None else "")
                       for grade in sorted(grades, key=lambda grade: order.index(grade.name))]
    return scores


def graded_cells_in_order(course_dir: Path, assignment: str) -> list[str]:
    """The grade ids of the assignment's autograded cells, in the order its source notebook has them."""
    notebook = nbformat.read(course_dir / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return [cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade")]


# ------------------------------------------------------------------------------------------ reporting
def write_csv(scores: list[Score], path: Path) -> Path:
    """The scores as CSV with the header CSV_COLUMNS."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(astuple(score) for score in scores)
    return path


def summary(scores: list[Score]) -> str:
    """A table, one row per student and assignment: each exercise's score, then the total out of the maximum."""
    by_submission: dict[tuple[str, str], list[Score]] = {}
    for score in scores:
        by_submission.setdefault((score.student, score.assignment), []).append(score)
    tables = []
    for assignment in dict.fromkeys(score.assignment for score in scores):
        rows = [(student, *(f"{s.score:g}" for s in mine),
                 f"{sum(s.score for s in mine):g} / {sum(s.max_score for s in mine):g}")
                for (student, name), mine in by_submission.items() if name == assignment]
        exercises = [s.exercise for (_, name), mine in by_submission.items() if name == assignment for s in mine]
        columns = ["student", *dict.fromkeys(exercises), "total"]
        tables.append(f"{assignment}\n{markdown_table(rows, columns)}")
    return "\n\n".join(tables)


def build_parser() -> argparse.ArgumentParser:
    """The `./course autograde` arguments."""
    parser = argparse.ArgumentParser(prog="./course autograde", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("course_dir", type=Path, metavar="DIR", help="the course directory holding submitted/")
    parser.add_argument("--lesson", type=int, help="grade only this lesson's assignment, e.g. 1")
    parser.add_argument("--csv", type=Path, help="where to write the scores (default: DIR/grades.csv)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Grade, write the CSV, print the summary."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="nbgrader %(levelname)s: %(message)s")
    if not arguments.course_dir.is_dir():
        parser.error(f"DIR {arguments.course_dir} is not a folder.")
    try:
        scores = autograde(arguments.course_dir, arguments.lesson)
    except ValueError as error:
        parser.error(str(error))
    path = write_csv(scores, arguments.csv or arguments.course_dir / "grades.csv")
    print(summary(scores))
    for note in dict.fromkeys(f"{s.student}, {s.assignment}: {s.note}" for s in scores if s.note):
        print(note)
    print(f"scores per student and exercise: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
