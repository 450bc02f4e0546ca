"""`./course slides`: one offline reveal.js deck per lesson, one step per narration beat, checked in Chromium.

The decks are built from the session's preview renders into a temporary site/ served on 127.0.0.1; every deck is
opened in headless Chromium and driven with the arrow key as a teacher would.
"""
import re

import pytest

from tests.conftest import PREVIEW_RENDER_TIMEOUT_S

from animations.narration import SceneScript, load_script, parse_script
from animations.render import lesson_modules, scripted_modules
from animations.segment import lesson_of
from animations.slides import beat_cuts, build_deck, clip_name, main, reveal_files
from tests.browser import static_site

VIDEO_READY = 3        # HTMLMediaElement.HAVE_FUTURE_DATA: enough to play on
STEP_TIMEOUT_MS = 15_000
CURRENT_VIDEO = "() => Reveal.getSlideBackground(Reveal.getIndices().h)?.querySelector('video')"

SCENE = parse_script("# Lesson 99: a test\n\n## Demo\n\n### one · 2 s\nFirst.\n\n### two · 1.5 s\nSecond.\n\n"
                     "### three · 3 s\nThird.\n", "99").scenes[0]


def test_beats_end_where_the_script_adds_up_to():
    assert isinstance(SCENE, SceneScript)
    assert beat_cuts(SCENE) == pytest.approx([2.0, 3.5])   # the last beat ends with the video
    assert [clip_name(SCENE, i) for i in range(3)] == ["Demo_01_one", "Demo_02_two", "Demo_03_three"]


def test_reveal_files_are_read_from_the_deck():
    html = '<link rel="stylesheet" href="d_assets/reveal.js/dist/reveal.css"><script src="d_assets/reveal.js/dist/' \
           'reveal.js"></script><link href="https://example.org/x.css">'
    assert reveal_files(html, "d_assets/reveal.js") == ["dist/reveal.css", "dist/reveal.js"]


def test_a_lesson_without_a_module_or_a_script_is_named(capsys):
    with pytest.raises(SystemExit):
        main(["--lesson", "99"])
    assert "no scene module animations/lesson99_*.py" in capsys.readouterr().err
    unscripted = [module for module in lesson_modules() if module not in scripted_modules()]
    if unscripted:   # while lessons are being written; on the finished course every lesson has a script
        with pytest.raises(SystemExit):
            main(["--lesson", lesson_of(unscripted[0])])
        assert "no narration script" in capsys.readouterr().err


@pytest.fixture(scope="session")
def decks(preview_renders, tmp_path_factory):
    """Every rendered lesson's deck, built from the preview renders into a temporary site/slides/:
    (site folder, {module: deck path, or the error that stopped its render or its build})."""
    site = tmp_path_factory.mktemp("site")
    built = {}
    for module, rendered in preview_renders.items():
        try:
            rendered.checked()
            built[module] = build_deck(module, "p", site / "slides", clips=tmp_path_factory.mktemp(f"clips_{module}"))
        except (RuntimeError, FileNotFoundError, ValueError) as error:
            built[module] = error
    return site, built


def deck_of(decks, module) -> str:
    """The deck's file name under slides/, or its error raised again."""
    _, built = decks
    if isinstance(built[module], Exception):
        raise RuntimeError(f"no deck for {module}") from built[module]
    return built[module].name


@pytest.fixture(scope="session")
def site_server(decks):
    """The temporary site on a local HTTP server: its base URL."""
    site, _ = decks
    with static_site(site) as url:
        yield url


def watch(page) -> dict:
    """Record the page's console errors, failed requests and every host it asks for."""
    seen = {"errors": [], "failed": [], "hosts": set()}
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("requestfailed", lambda request: seen["failed"].append(request.url))
    page.on("response", lambda response: seen["failed"].append(response.url) if response.status >= 400 else None)
    page.on("request", lambda request: seen["hosts"].add(request.url.split("/")[2]))
    return seen


def step_through(page) -> list[int]:
    """Press → until the deck stops moving; after each press wait for the step's video to be ready to play.

    Returns the slide index after each press (the first entry is the title slide)."""
    video_ready = f"() => {{ const v = ({CURRENT_VIDEO})(); return v && v.readyState >= {VIDEO_READY}; }}"
    indices = [page.evaluate("Reveal.getIndices().h")]
    for _ in range(page.evaluate("Reveal.getTotalSlides()")):
        page.keyboard.press("ArrowRight")
        indices.append(page.evaluate("Reveal.getIndices().h"))
        if indices[-1] != indices[-2]:
            page.wait_for_function(video_ready, timeout=STEP_TIMEOUT_MS)
    return indices


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
@pytest.mark.browser
@pytest.mark.parametrize("module", scripted_modules())
def test_deck_steps_through_every_beat_offline(module, decks, site_server, chromium):
    script = load_script(lesson_of(module))
    beats = sum(len(scene.beats) for scene in script.scenes)
    page = chromium.new_page()
    seen = watch(page)
    page.goto(f"{site_server}/slides/{deck_of(decks, module)}")
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    assert page.evaluate("Reveal.getTotalSlides()") == beats + 1   # the title card, then one step per beat
    indices = step_through(page)
    page.close()
    assert indices == [*range(beats + 1), beats], "→ must advance one step at a time and stop at the last"
    assert seen["errors"] == [] and seen["failed"] == []
    assert seen["hosts"] == {site_server.removeprefix("http://")}, "a request left the local server"


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
@pytest.mark.parametrize("module", scripted_modules())
def test_deck_loads_nothing_from_the_network(module, decks):
    site, _ = decks
    html = (site / "slides" / deck_of(decks, module)).read_text(encoding="utf-8")
    remote = re.findall(r'(?:src|href|data-background-[a-z]+)="((?:https?:)?//[^"]*)"', html)
    assert remote == [], f"the deck loads {remote}"
    assert html.count("data-background-video=") == sum(len(s.beats) for s in load_script(lesson_of(module)).scenes)
