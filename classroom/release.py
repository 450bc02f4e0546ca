"""`./course release [--lesson N] [--out DIR]`: the student version of each lesson, in nbgrader's release layout.

For each lesson it writes the nbgrader source notebook (classroom.assignments) to DIR/source/<assignment>/, then runs
nbgrader's own generate_assignment, which removes the solutions into DIR/release/<assignment>/ and records every
graded cell in DIR/gradebook.db. DIR also gets an nbgrader_config.py with the settings used here, so nbgrader's own
commands (formgrader, generate_feedback, ...) work in DIR too. Assignment names are the notebooks': 01_rnn, 02_...
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from classroom.assignments import (REPOSITORY, assignment_name, lesson_notebook, lesson_notebooks,
                                   write_source)

DEFAULT_COURSE_DIR = REPOSITORY / "build" / "classroom"
COURSE_ID = "linear_rnn_course"
CELL_TIMEOUT_S = 180  # a whole lesson runs in ≤ 90 s on 2 cores; one cell may take 2× that on a loaded machine


def course_config(course_dir: Path) -> Config:
    """nbgrader's settings for the course directory `course_dir`, the one source for release and autograde."""
    config = Config()
    config.CourseDirectory.root = str(course_dir.resolve())
    config.CourseDirectory.course_id = COURSE_ID
    # the lesson's own scaffold stays above the solution region, so the region is replaced by nothing
    config.ClearSolutions.code_stub = {"python": ""}
    config.Execute.timeout = CELL_TIMEOUT_S
    return config


def write_config_file(course_dir: Path) -> Path:
    """course_dir/nbgrader_config.py with course_config's settings (the root is wherever nbgrader is run)."""
    lines = ["# Written by `./course release` (classroom/release.py); run nbgrader's commands in this folder.",
             "c = get_config()  # noqa: F821"]
    for section, settings in course_config(course_dir).items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in settings.items() if key != "root"]
    path = course_dir / "nbgrader_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def put_venv_on_path() -> None:
    """Put this Python's bin/ first on PATH: nbgrader runs the `alembic` command when it creates a gradebook, and
    `./course` runs .venv/bin/python without activating the venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def generate_assignment(course_dir: Path, assignment: str) -> Path:
    """Run nbgrader's generate_assignment on course_dir/source/<assignment>/; return the release folder."""
    put_venv_on_path()
    config = course_config(course_dir)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    converter.force = True
    converter.start()
    return course_dir / "release" / assignment


def release(notebooks: list[Path], course_dir: Path) -> list[Path]:
    """Source notebooks, then nbgrader's release of each lesson in `notebooks`; return the release folders."""
    course_dir.mkdir(parents=True, exist_ok=True)
    write_config_file(course_dir)
    folders = []
    for notebook in notebooks:
        write_source(notebook, course_dir)
        folders.append(generate_assignment(course_dir, assignment_name(notebook)))
    return folders


def build_parser() -> argparse.ArgumentParser:
    """The `./course release` arguments."""
    parser = argparse.ArgumentParser(prog="./course release", description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", type=int, help="lesson number, e.g. 1 (default: every lesson with exercises)")
    parser.add_argument("--out", type=Path, default=DEFAULT_COURSE_DIR,
                        help=f"the nbgrader course directory (default: {DEFAULT_COURSE_DIR.relative_to(REPOSITORY)})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Release the chosen lessons and print where the student versions are."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="nbgrader %(levelname)s: %(message)s")
    try:
        notebooks = lesson_notebooks() if arguments.lesson is None else [lesson_notebook(arguments.lesson)]
    except ValueError as error:
        parser.error(str(error))
    for folder in release(notebooks, arguments.out):
        print(f"released {folder.name}: {folder}")
    print(f"course directory: {arguments.out} (source/, release/, gradebook.db, nbgrader_config.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
