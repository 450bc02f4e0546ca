"""The course as a book (./course book): built here, then read page by page in headless Chromium as a learner would.

The students' book is built once per session into a temporary folder, with the scenes at preview quality
(216p15, -q p) to keep it quick; notebook runs are cached in build/book/jupyter_cache, as `./course book` caches
them. Every page must load with no console error, no failed request and no request to another host; every image
loads, every video plays, every internal link resolves, maths is typeset, every plot is there, previous/next links
follow the lessons, and no solution is in it. The teachers' book (--with-solutions) reuses the cache and ends each
lesson with its solutions. A failing cell fails the build, naming it. Build times are printed, never asserted.
"""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from book.build import scenes_shown
from book.extension import scene_calls, toctree_cell
from lessons.widgets.rnn import GradientExplorer
from tests.browser import CHROMIUM, static_site

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOT = ROOT / "test-artifacts" / "book_page.png"  # results/book_page.png, the README's, is a copy of one
SCREENSHOT_PAGE = "01_rnn.html"
BUILD_TIMEOUT = pytest.mark.timeout(1800)  # a cold build in a fresh clone runs every notebook and renders the scenes
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt install chromium")


def build_book(out: Path, *options: str) -> float:
    """Run `python -m book.build -q p --out OUT [options]` (as ./course book does); return the seconds it took."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "book.build", "-q", "p", "--out", str(out), *options],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"the book did not build:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return seconds


@pytest.fixture(scope="session")
def student_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("book") / "site"
    print(f"\nbook (students', scenes at 216p15): built in {build_book(site):.0f} s")
    return site


@pytest.fixture(scope="session")
def teacher_site(student_site, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("book") / "site-teacher"
    print(f"\nbook (teachers', notebooks from the cache): built in {build_book(site, '--with-solutions'):.0f} s")
    return site


@pytest.fixture(scope="session")
def server(student_site):
    """Serve the students' book on 127.0.0.1; yields its base URL."""
    with static_site(student_site) as url:
        yield url


def longest_line(path: Path) -> str:
    """The longest line of a file, stripped: a line that shows the file was included."""
    return max((line.strip() for line in path.read_text().splitlines()), key=len)


def lesson_notebooks() -> list[Path]:
    """notebooks/NN_<stem>.ipynb of every lesson (not the 00 course map)."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))


def solution_file(notebook: Path) -> Path:
    """lessons/solutions/<stem>.py for notebooks/NN_<stem>.ipynb."""
    return ROOT / "lessons" / "solutions" / f"{notebook.stem[3:]}.py"


def pages(site: Path) -> list[str]:
    """Every HTML page of a built site, relative to it (MathJax's own files aside)."""
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if "_static" not in p.parts)


# ---------------------------------------------------------------- cheap checks of the pieces, no build needed

def test_scene_calls_are_read_from_cell_source():
    source = 'show_scene("lesson01_rnn", "FactorN")\nx = 1\nshow_scene( "lesson04_scan" ,\'BlellochSweeps\')'
    assert scene_calls(source) == [("lesson01_rnn", "FactorN"), ("lesson04_scan", "BlellochSweeps")]


def test_every_notebook_scene_is_found():
    shown = scenes_shown(NOTEBOOKS)
    text = " ".join(cell.source for path in NOTEBOOKS.glob("*.ipynb")
                    for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    assert len(shown) == len(set(shown)) == len(set(scene_calls(text))) >= 1


def test_toctree_lists_the_lessons_in_order():
    docs = ["02_linear_rnn", "00_course_map", "genindex_like", "01_rnn"]
    source = toctree_cell(docs, "00_course_map")["source"]
    assert re.findall(r"^\d\d_\w+$", source, re.M) == ["01_rnn", "02_linear_rnn"] and ":hidden:" in source


def test_explorer_shows_a_still_where_widgets_cannot_run():
    bundle = GradientExplorer(w=0.9, n=60)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab: the live widget
    png = re.search(r'src="data:image/png;base64,([^"]+)"', bundle["text/html"])[1]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "w = 0.9, n = 60" in bundle["text/html"] and "./course lab" in bundle["text/html"]


@pytest.mark.notebook
def test_a_failing_cell_fails_the_build_naming_notebook_and_cell(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_code_cell("y = 2"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Map")]),
                   notebooks / "00_course_map.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebooks / "01_broken.ipynb")
    done = subprocess.run([sys.executable, "-m", "book.build", "-q", "p", "--out", str(tmp_path / "site"),
                           "--notebooks", str(notebooks), "--work", str(tmp_path / "work")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "01_broken.ipynb: cell 3 (code cell 3) failed" in done.stderr, done.stderr[-3000:]
    assert "ZeroDivisionError" in done.stderr


# ---------------------------------------------------------------- the built book, read in Chromium

READ_PAGE = """async () => {
    if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
    const images = [...document.images];
    await Promise.all(images.map(img => img.decode().catch(() => null)));
    const prose = document.body.cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
    const math = [...document.querySelectorAll('.math')];
    return {
        brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src.slice(0, 80)),
        rawMath: ['$$', '\\\\(', '\\\\['].filter(mark => prose.textContent.includes(mark)),
        untypesetMath: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
        mathCount: math.length,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        videos: document.querySelectorAll('video').length,
    };
}"""

PLAY_VIDEO = """async (video) => {
    video.scrollIntoView();
    video.muted = true;
    await video.play();
    const start = performance.now();
    while (video.currentTime < 1 && performance.now() - start < 20000) await new Promise(r => setTimeout(r, 100));
    return {readyState: video.readyState, currentTime: video.currentTime, src: video.currentSrc};
}"""


def media_abort(request) -> bool:
    """Chromium cancels a video's download itself (it buffers ahead, then stops; or the page closes): not a failure.
    A missing video still fails the test, as an HTTP 404 and as a video that never plays."""
    return request.resource_type == "media" and request.failure == "net::ERR_ABORTED"


def open_page(browser, url: str):
    """Open `url` in a fresh page that records console errors, failed requests and requests to other hosts."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    origin = urlsplit(url).netloc
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})")
            if not media_abort(r) else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.on("request", lambda r: problems.append(f"request to another host: {r.url}")
            if urlsplit(r.url).netloc not in (origin, "") and not r.url.startswith("data:") else None)
    page.goto(url, wait_until="load")
    return page, problems


def local_file(site: Path, base_url: str, href: str) -> Path | None:
    """The file a link on the local server points to, or None for a link elsewhere (or an in-page anchor)."""
    if not href.startswith(base_url):
        return None
    path = unquote(urlsplit(href).path).lstrip("/")
    return site / (path + "index.html" if path.endswith("/") or not path else path)


def read_page(page, site: Path, base_url: str) -> dict:
    """The page's report (see READ_PAGE) after every video has played, with its internal links checked."""
    report = page.evaluate(READ_PAGE)
    report["videosPlayed"] = [page.locator("video").nth(i).evaluate(PLAY_VIDEO) for i in range(report["videos"])]
    report["missingLinks"] = sorted({href for href in report.pop("links")
                                     if (file := local_file(site, base_url, href)) and not file.exists()})
    return report


@pytest.mark.browser
@needs_chromium
@BUILD_TIMEOUT
def test_every_page_loads_offline_with_images_videos_links_and_maths(student_site, server, chromium):
    site_pages = pages(student_site)
    assert "index.html" in site_pages and "00_course_map.html" in site_pages
    assert {f"{p.stem}.html" for p in lesson_notebooks()} <= set(site_pages)
    videos = 0
    for relative in site_pages:
        page, problems = open_page(chromium, f"{server}/{relative}")
        if relative == "index.html":  # the landing page is the course map
            page.wait_for_url(f"{server}/00_course_map.html")
        report = read_page(page, student_site, server)
        if relative == SCREENSHOT_PAGE:
            save_screenshot(page)
        page.close()
        videos += len(report["videosPlayed"])
        assert not problems, f"{relative}: {problems}"
        assert not report["brokenImages"], f"{relative}: images that did not load: {report['brokenImages']}"
        assert not report["missingLinks"], f"{relative}: links to files that do not exist: {report['missingLinks']}"
        assert not report["rawMath"] and not report["untypesetMath"], f"{relative}: maths left as TeX: {report}"
        for video in report["videosPlayed"]:
            assert video["readyState"] >= 3 and video["currentTime"] >= 1, f"{relative}: a video did not play: {video}"
    assert videos == len(scenes_shown(NOTEBOOKS))


def save_screenshot(page) -> None:
    """A lesson page's first screen, as a palette PNG under 300 KB (copy it to results/ to refresh the README's)."""
    from PIL import Image

    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    Image.open(SCREENSHOT).convert("RGB").quantize(colors=128).save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.stat().st_size <= 300_000


def page_text(path: Path) -> str:
    """The text of an HTML file, tags removed (code highlighting splits lines into many tags)."""
    import html

    code = re.sub(r"<(script|style)\b.*?</\1>|<!--.*?-->", "", path.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", code))


@pytest.mark.browser
@BUILD_TIMEOUT
def test_students_book_has_no_solutions(student_site):
    texts = [page_text(student_site / p) for p in pages(student_site)]
    assert not any("Solutions (for teachers)" in text for text in texts)
    for notebook in lesson_notebooks():
        line = longest_line(solution_file(notebook))
        assert not any(line in text for text in texts), f"{solution_file(notebook).name} is in the students' book"


@pytest.mark.browser
@BUILD_TIMEOUT
def test_teachers_book_ends_each_lesson_with_its_solutions(teacher_site):
    for notebook in lesson_notebooks():
        text = page_text(teacher_site / f"{notebook.stem}.html")
        assert "Solutions (for teachers)" in text, f"{notebook.stem}.html has no solutions section"
        assert longest_line(solution_file(notebook)) in text, f"{notebook.stem}.html misses {solution_file(notebook)}"


@pytest.mark.browser
@BUILD_TIMEOUT
def test_every_plot_is_on_its_page(student_site):
    """Each plt.show() in a lesson is an image on its page (a non-inline Matplotlib backend would drop them)."""
    for notebook in lesson_notebooks():
        shows = sum(cell.source.count("plt.show()") for cell in nbformat.read(notebook, as_version=4).cells
                    if cell.cell_type == "code")
        images = re.findall(r'<img [^>]*src="_images/', (student_site / f"{notebook.stem}.html").read_text())
        assert len(images) >= shows, f"{notebook.stem}: {shows} plt.show() calls but {len(images)} plots on the page"


@pytest.mark.browser
@BUILD_TIMEOUT
def test_each_page_links_to_the_previous_and_next_lesson(student_site):
    order = ["00_course_map"] + [p.stem for p in lesson_notebooks()]
    for before, page, after in zip([None, *order[:-1]], order, [*order[1:], None], strict=True):
        html = (student_site / f"{page}.html").read_text()
        for side, neighbour in (("left-prev", before), ("right-next", after)):
            link = re.search(rf'class="{side}"\s+href="([^"]+)"', html)
            assert (link and link[1]) == (neighbour and f"{neighbour}.html"), f"{page}: {side} is {link and link[1]}"
