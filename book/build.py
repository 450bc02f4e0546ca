"""Build the course as a static site with Sphinx, MyST-NB and sphinx-book-theme.

    python -m book.build                    # the students' book into site/ (scenes rendered at 720p)
    python -m book.build --with-solutions   # the teachers' book, each lesson ending with its solutions: site-teacher/
    python -m book.build --open             # build, then serve the site on localhost and print its URL

Notebooks run once, cached in build/book/jupyter_cache: a rebuild after a prose change takes seconds. A cell that
raises fails the build, naming the notebook, the cell and its error. Scenes are rendered first (only those the
notebooks show, only if missing, at --quality) and copied into <site>/videos/.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace

import kernels.device  # noqa: F401  switches Triton's interpreter on without a GPU, as tests/conftest.py does
from animations.render import QUALITY_FOLDERS, output_path, render
from book.extension import scene_calls, video_path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WORK = ROOT / "build" / "book"
OUTPUTS = {False: ROOT / "site", True: ROOT / "site-teacher"}  # by with_solutions


class NotebookFailed(RuntimeError):
    """A cell raised while the book's notebooks ran."""


def scenes_shown(notebooks: Path) -> list[tuple[str, str]]:
    """Every (module, Scene) that a notebook passes to show_scene, in course order, without repeats."""
    calls = [call for path in sorted(notebooks.glob("*.ipynb")) for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "code" for call in scene_calls(cell.source)]
    return list(dict.fromkeys(calls))


def place_videos(scenes: list[tuple[str, str]], quality: str, site: Path) -> None:
    """Render at `quality` the scenes with no video at that quality yet (one Manim run per lesson), then copy
    the lesson's videos next to the pages, where book.extension's <video> tags point."""
    by_module: dict[str, list[str]] = {}
    for module, scene in scenes:
        by_module.setdefault(module, []).append(scene)
    for module, names in by_module.items():
        missing = [scene for scene in names if not output_path(module, scene, quality).exists()]
        if missing:
            print(f"rendering {module}: {' '.join(missing)} at {QUALITY_FOLDERS[quality]}", flush=True)
            render(module, missing, quality)
        for scene in names:
            target = site / video_path(module, scene)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output_path(module, scene, quality), target)


def failed_cell(notebook: Path, error: BaseException) -> str:
    """'cell 7 (code cell 4)' for the cell whose source the execution error quotes, or 'a cell' if none matches."""
    quoted = str(error).split("-" * 18)
    code = [(i, c) for i, c in enumerate(nbformat.read(notebook, as_version=4).cells) if c.cell_type == "code"]
    for number, (index, cell) in enumerate(code, start=1):
        if len(quoted) > 1 and cell.source.strip() == quoted[1].strip():
            return f"cell {index} (code cell {number})"
    return "a cell"


def execution_error(error: BaseException) -> tuple[Path, BaseException] | None:
    """(notebook, cell error) if `error` (or what caused it) is MyST-NB's 'executing a notebook failed'."""
    while error is not None:
        if type(error).__name__ == "ExecutionError" and error.__cause__ is not None:
            return Path(str(error.args[0])), error.__cause__
        error = error.__cause__ or error.__context__
    return None


def sphinx_build(notebooks: Path, out: Path, work: Path, with_solutions: bool) -> None:
    """Run Sphinx's HTML builder on the notebooks folder itself (conf.py in book/), so kernels run there, as in
    the tests; a failing notebook raises NotebookFailed naming its cell."""
    overrides = {"nb_execution_cache_path": str(work / "jupyter_cache"), "book_with_solutions": with_solutions}
    doctrees = work / ("doctrees-teacher" if with_solutions else "doctrees-student")
    try:
        with docutils_namespace():
            app = Sphinx(str(notebooks), str(ROOT / "book"), str(out), str(doctrees), "html",
                         confoverrides=overrides, status=sys.stdout, warning=sys.stderr, keep_going=True)
            app.build()
    except Exception as error:
        failure = execution_error(error)
        if failure is None:
            raise
        notebook, cause = failure
        raise NotebookFailed(f"{notebook.name}: {failed_cell(notebook, cause)} failed while building the "
                             f"book:\n{cause}") from None


def write_index(site: Path) -> None:
    """site/index.html: the landing page is the course map."""
    target = "00_course_map.html"
    site.joinpath("index.html").write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={target}">'
        # An empty inline icon: without one Chromium asks for /favicon.ico (a 404), and a linked file's download is
        # cancelled by the immediate redirect (a failed request in the browser's log).
        f'<link rel="icon" href="data:,">'
        f'<title>The course map</title></head><body><a href="{target}">The course map</a></body></html>\n')


def build(with_solutions: bool = False, quality: str = "m", out: Path | None = None,
          notebooks: Path = NOTEBOOKS, work: Path = WORK) -> Path:
    """Render the scenes and copy them next to the pages, then run Sphinx; return the site's folder."""
    if quality not in QUALITY_FOLDERS:
        raise ValueError(f"`quality` must be one of {sorted(QUALITY_FOLDERS)}, got {quality!r}.")
    site = out or OUTPUTS[with_solutions]
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # plots become outputs (tests: Agg)
    scenes = scenes_shown(notebooks)
    place_videos(scenes, quality, site)
    sphinx_build(notebooks, site, work, with_solutions)
    write_index(site)
    return site


def serve(site: Path, port: int) -> None:
    """Serve `site` on 127.0.0.1 until Ctrl-C."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"The book is at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)", flush=True)
        server.serve_forever()


def build_parser() -> argparse.ArgumentParser:
    """The `./course book` arguments."""
    parser = argparse.ArgumentParser(prog="./course book", description="Build the course as a static site.")
    parser.add_argument("--with-solutions", action="store_true",
                        help="the teachers' book (each lesson ends with its solutions) into site-teacher/")
    parser.add_argument("-q", "--quality", default="m", choices=sorted(QUALITY_FOLDERS),
                        help="the scenes' video quality (default m, 720p30; l is 480p15 and quicker)")
    parser.add_argument("--out", type=Path, help="build into this folder instead of site/ (site-teacher/)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)  # for tests
    parser.add_argument("--work", type=Path, default=WORK, help=argparse.SUPPRESS)  # for tests: cache, doctrees
    parser.add_argument("--open", action="store_true", help="then serve the site on localhost and print its URL")
    parser.add_argument("--port", type=int, default=8000, help="the port for --open (default 8000)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """The `./course book` command."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        site = build(args.with_solutions, args.quality, args.out, args.notebooks, args.work)
    except NotebookFailed as failure:
        sys.exit(f"book: {failure}")
    print(f"book: built {site} in {time.perf_counter() - start:.0f} s; open {site / 'index.html'}")
    if args.open:
        serve(site, args.port)


if __name__ == "__main__":
    main()
