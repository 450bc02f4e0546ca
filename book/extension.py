"""The book's Sphinx extension: the sidebar, solutions for teachers, scenes as video files, MathJax served locally.

- The landing page (the course map notebook) gets a hidden toctree listing every lesson, so the theme draws the
  sidebar and the previous/next links.
- In the teachers' book (book_with_solutions), each lesson NN_<stem> ends with the source of
  lessons/solutions/<stem>.py.
- A cell that calls show_scene("lessonNN_stem", "Scene") prints its video as megabytes of base64; on the page
  that output becomes a <video> of videos/<module>/<Scene>.mp4, which book/build.py copies next to the pages.
- MathJax 3 (node_modules/mathjax/es5) is copied into _static/mathjax, where conf.py's mathjax_path points.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"
LESSON_DOC = re.compile(r"\d\d_(\w+)")  # docname NN_<stem>: lesson NN, stem as in lessons/<stem>.py
SHOW_SCENE = re.compile(r"""show_scene\(\s*["'](\w+)["']\s*,\s*["'](\w+)["']""")


def scene_calls(source: str) -> list[tuple[str, str]]:
    """The (module, Scene) pairs a cell's source passes to show_scene, in order."""
    return SHOW_SCENE.findall(source)


def video_path(module: str, scene: str) -> str:
    """Where a scene's video lies in the site, relative to the site's root."""
    return f"videos/{module}/{scene}.mp4"


def video_html(module: str, scene: str, depth: int) -> str:
    """A playable <video> of one scene for a page `depth` folders below the site's root."""
    src = "../" * depth + video_path(module, scene)
    return (f'<figure class="scene"><video controls loop muted playsinline preload="metadata" width="720" '
            f'src="{src}"></video><figcaption class="scene-caption">Scene <code>{scene}</code> '
            f"(animations/{module}.py)</figcaption></figure>")


def markdown_cell(cell_id: str, source: str) -> dict:
    """A notebook Markdown cell (nbformat 4.5)."""
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def toctree_cell(docnames: list[str], root_doc: str) -> dict:
    """A Markdown cell holding a hidden toctree of every lesson, in order."""
    lessons = [d for d in sorted(docnames) if LESSON_DOC.fullmatch(d) and d != root_doc]
    return markdown_cell("book-toctree", "```{toctree}\n:hidden:\n:caption: Lessons\n\n" + "\n".join(lessons) + "\n```")


def solutions_cell(stem: str, srcdir: Path) -> dict | None:
    """A Markdown cell showing lessons/solutions/<stem>.py, or None for a lesson without one."""
    path = ROOT / "lessons" / "solutions" / f"{stem}.py"
    if not path.exists():
        return None
    include = os.path.relpath(path, srcdir)
    return markdown_cell("book-solutions", f"## Solutions (for teachers)\n\nThe worked solutions of this "
                         f"lesson's exercises, `lessons/solutions/{stem}.py`:\n\n"
                         f"```{{literalinclude}} {include}\n:language: python\n```\n")


def added_cells(app: Sphinx, docname: str) -> list[dict]:
    """The cells the book adds to a notebook: the toctree on the landing page, solutions in the teachers' book."""
    if docname == app.config.root_doc:
        return [toctree_cell(list(app.env.found_docs), docname)]
    lesson = LESSON_DOC.fullmatch(docname)
    solutions = solutions_cell(lesson[1], Path(app.srcdir)) if lesson and app.config.book_with_solutions else None
    return [solutions] if solutions else []


def add_cells(app: Sphinx, docname: str, source: list[str]) -> None:
    """source-read: append the book's cells to the notebook's JSON (code cells, and so the cache, unchanged)."""
    cells = added_cells(app, docname)
    if cells:
        notebook = json.loads(source[0])
        notebook["cells"].extend(cells)
        source[0] = json.dumps(notebook)


def cell_source(cell: nodes.Element) -> str:
    """The code of a MyST-NB cell node (its input block), or '' for a cell without one."""
    block = next(cell.findall(nodes.literal_block), None)
    return block.astext() if block is not None else ""


def replace_scene_videos(app: Sphinx, doctree: nodes.document) -> None:
    """doctree-read: swap each embedded base64 scene video for a <video> of the file next to the page."""
    depth = app.env.docname.count("/")
    for cell in doctree.findall(lambda n: isinstance(n, nodes.container) and "cell" in n.get("classes", [])):
        calls = scene_calls(cell_source(cell))
        videos = [n for n in cell.findall(nodes.raw) if "<video" in n.astext()]
        if len(videos) != len(calls):
            raise ValueError(f"{app.env.docname}: a cell calls show_scene {len(calls)} times but printed "
                             f"{len(videos)} videos; one show_scene(...) result per video, please.")
        for node, (module, scene) in zip(videos, calls, strict=True):
            node.replace_self(nodes.raw("", video_html(module, scene, depth), format="html"))


def drop_widget_state(app: Sphinx, doctree: nodes.document) -> None:
    """doctree-read: no ipywidgets state (tens of KB of JSON) on the page; the explorers show a still instead."""
    NbMetadataCollector.get_js_files(app.env, app.env.docname).pop("ipywidgets_state", None)


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: copy MathJax into the site (once; it is 24 MB and never changes between builds)."""
    target = Path(app.outdir) / "_static" / "mathjax"
    if exception is None and app.builder.format == "html" and not (target / "tex-chtml.js").exists():
        if not MATHJAX.exists():
            raise FileNotFoundError(f"{MATHJAX} is missing: run ./course setup (it installs the npm packages).")
        shutil.copytree(MATHJAX, target, dirs_exist_ok=True)


def keep_outputs_in_build(app: Sphinx) -> None:
    """builder-inited, after MyST-NB's: write executed notebooks and images under the doctrees folder (build/),
    not into a jupyter_execute/ folder beside the site (the repository root for site/)."""
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(Path(app.doctreedir) / "jupyter_execute"))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", keep_outputs_in_build, priority=900)
    app.add_config_value("book_with_solutions", False, "env", bool)
    app.connect("source-read", add_cells)
    app.connect("doctree-read", replace_scene_videos)
    app.connect("doctree-read", drop_widget_state)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
