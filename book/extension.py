"""The book's Sphinx extension: the sidebar's table of contents, scenes as video files, MathJax served locally.

- The landing page (the course map notebook) gets a hidden toctree listing every lesson, then any solutions
  page, so the theme draws the sidebar and the previous/next links.
- A cell that calls show_scene("lessonNN_stem", "Scene") prints its video as megabytes of base64; on the page
  that output becomes a <video> of videos/<module>/<Scene>.mp4, which book/build.py copies next to the pages.
- MathJax 3 (node_modules/mathjax/es5) is copied into _static/mathjax, where conf.py's mathjax_path points.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"
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


def toctree_cell(docnames: list[str], root_doc: str) -> dict:
    """A Markdown cell holding a hidden toctree: the lessons, then the solutions pages (if any)."""
    here = root_doc.rsplit("/", 1)[0]
    lessons = [d.rsplit("/", 1)[1] for d in docnames if d.startswith(f"{here}/") and d != root_doc]
    solutions = [f"../{d}" for d in docnames if d.startswith("solutions/")]
    blocks = [("Lessons", lessons), ("Solutions (teachers)", solutions)]
    source = "\n\n".join(f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "\n".join(entries) + "\n```"
                         for caption, entries in blocks if entries)
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def add_toctree(app: Sphinx, docname: str, source: list[str]) -> None:
    """source-read: append the toctree cell to the landing page's notebook JSON."""
    if docname != app.config.root_doc:
        return
    notebook = json.loads(source[0])
    notebook["cells"].append(toctree_cell(sorted(app.env.found_docs), docname))
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


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: copy MathJax into the site (once; it is 24 MB and never changes between builds)."""
    target = Path(app.outdir) / "_static" / "mathjax"
    if exception is None and app.builder.format == "html" and not (target / "tex-chtml.js").exists():
        if not MATHJAX.exists():
            raise FileNotFoundError(f"{MATHJAX} is missing: run ./course setup (it installs the npm packages).")
        shutil.copytree(MATHJAX, target, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    app.connect("source-read", add_toctree)
    app.connect("doctree-read", replace_scene_videos)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
