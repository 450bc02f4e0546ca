"""Instructor notes (classroom/notes/NN.md): fresh from their templates, 50-minute timing, and every scene, explorer
setting and exercise check they name exists. About 10 s on 2 cores, most of it one generation of every note."""
from __future__ import annotations

import importlib
import inspect
import re
from functools import cache

import ipywidgets as widgets
import pytest

from animations.render import scenes_in
from classroom import notes
from lessons import widgets as explorers

LESSONS = sorted(notes.STEMS)
SECTIONS = ["## Learning goals", "## Timing", "## What to project when", "## Questions learners ask",
            "## Misconceptions the exercise checks catch", "## Discussion prompts"]
SCENE_ROW = re.compile(r"^\| \d+ \| `(?P<scene>\w+)` \|", re.MULTILINE)
CAMEL_NAME = re.compile(r"`(?P<name>[A-Z][a-z]+(?:[A-Z][A-Za-z0-9]*)+)`")
CHECK_NAME = re.compile(r"\bcheck_\w+")


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """Every lesson's notes, generated once from the templates."""
    return {lesson: notes.generate(lesson) for lesson in LESSONS}


def committed(lesson: str) -> str:
    return notes.note_path(lesson).read_text(encoding="utf-8")


@pytest.mark.parametrize("lesson", LESSONS)
def test_committed_notes_equal_a_fresh_generation(generated, lesson):
    assert committed(lesson) == generated[lesson], (
        f"classroom/notes/{lesson}.md is stale (a template, a lesson's numbers, a widget or the narration script "
        "changed): run `python -m classroom.notes`")


@pytest.mark.parametrize("lesson", LESSONS)
def test_notes_have_every_section_and_two_prompts(lesson):
    note = committed(lesson)
    missing = [heading for heading in SECTIONS if heading not in note]
    assert not missing, f"{lesson}.md lacks {missing}"
    prompts = note.split("## Discussion prompts", 1)[1]
    assert re.findall(r"^\d+\. ", prompts, re.MULTILINE) == ["1. ", "2. "]
    assert "{{" not in note and "}}" not in note


@pytest.mark.parametrize("lesson", LESSONS)
def test_timing_fills_a_50_minute_session(lesson):
    note = committed(lesson)
    minutes = notes.timing_minutes(note)
    assert len(minutes) >= 4 and all(m > 0 for m in minutes)
    rows = notes.timing_rows(note)
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 4 for row in rows), "a '|' inside a cell splits it: write \\|"
    assert sum(minutes) == notes.SESSION_MINUTES == 50


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_scene_named_exists(lesson):
    note = committed(lesson)
    listed = SCENE_ROW.findall(note.split("## What to project when", 1)[1])
    assert listed, f"{lesson}.md projects no scene"
    named = set(listed) | (set(CAMEL_NAME.findall(note)) - set(explorers.__all__))
    existing = set(scenes_in(notes.scene_module(lesson)))
    assert named <= existing, f"{lesson}.md names scenes {sorted(named - existing)} that animations/" \
                              f"{notes.scene_module(lesson)}.py does not define; it has {sorted(existing)}"


def template_settings(lesson: str) -> list[tuple[str, dict]]:
    """The explorer settings a template names, innermost placeholders filled with the lesson's numbers."""
    values = notes.numbers(lesson)
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m[1]]) if m[1] in values else m[0],
                  (notes.TEMPLATES / f"{lesson}.md").read_text(encoding="utf-8"))
    return [notes.parse_setting(m["body"]) for m in notes.PLACEHOLDER.finditer(text)
            if m["body"].startswith("explorer ")]


@cache
def explorer_controls(name: str) -> dict[str, widgets.ValueWidget]:
    """The controls of one explorer class, built once with its defaults."""
    return getattr(explorers, name)().controls


def settable(control: widgets.ValueWidget, value) -> bool:
    """Whether a learner can put `value` on this control, read from the widget itself."""
    if isinstance(control, widgets.IntSlider | widgets.FloatSlider):
        steps = (value - control.min) / control.step
        return control.min <= value <= control.max and abs(steps - round(steps)) < 1e-6
    if isinstance(control, widgets.Dropdown | widgets.ToggleButtons):
        return value in control.options
    return isinstance(value, str)


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_explorer_setting_exists_on_the_widget(lesson):
    settings = template_settings(lesson)
    assert settings, f"templates/{lesson}.md names no explorer setting"
    for name, values in settings:
        assert name in explorers.__all__, f"{lesson}: no explorer {name}"
        controls = explorer_controls(name)
        for key, value in values.items():
            assert key in controls, f"{lesson}: {name} has no control {key!r}; it has {sorted(controls)}"
            assert settable(controls[key], value), f"{lesson}: {name}.{key} cannot be set to {value!r}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exercise_check_is_named_and_exists(lesson):
    module = importlib.import_module(f"lessons.exercises.{notes.STEMS[lesson]}")
    checks = {name for name, fn in inspect.getmembers(module, callable) if name.startswith("check_")
              and fn.__module__ == module.__name__}
    named = set(CHECK_NAME.findall(committed(lesson)))
    assert named <= checks, f"{lesson}.md names checks {sorted(named - checks)} that {module.__name__} lacks"
    assert checks <= named, f"{lesson}.md says nothing about {sorted(checks - named)}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_verdicts_are_what_the_checks_answer(lesson):
    for name, verdict in notes.VERDICTS[lesson].items():
        result = notes.run_verdict(lesson, name)
        assert bool(result) == verdict.right
        assert result.message.startswith("✔ Right." if verdict.right else "✘ Not yet:"), name


def test_the_index_links_every_lesson():
    index = (notes.NOTES / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"\]\((\d\d)\.md\)", index) == LESSONS


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`lesson` must be one of"):
        notes.generate(9)
    with pytest.raises(KeyError, match="unknown placeholder"):
        notes.fill("01", "{{no_such_number}}")
    with pytest.raises(ValueError, match="outside the slider's range"):
        notes.fill("01", "{{explorer GradientExplorer w=7.0}}")
    with pytest.raises(ValueError, match="has no control"):
        notes.fill("01", "{{explorer GradientExplorer omega=1.0}}")
    with pytest.raises(ValueError, match="not one of the options"):
        notes.fill("04", '{{explorer ScanLevelExplorer algorithm="Kogge–Stone"}}')
    with pytest.raises(AssertionError, match="accepted the answer"):
        _wrong_verdict_declared()


def _wrong_verdict_declared():
    """A verdict declared as a mistake that the check accepts must stop the generation."""
    right = notes.VERDICTS["01"]["vanish-right"]
    notes.VERDICTS["01"]["declared-wrong"] = notes.Verdict(right.check, right.answer, right=False)
    try:
        notes.run_verdict("01", "declared-wrong")
    finally:
        del notes.VERDICTS["01"]["declared-wrong"]


def test_timing_that_does_not_sum_to_50_is_refused(monkeypatch, tmp_path):
    (tmp_path / "01.md").write_text("## Timing\n\n| min | block |\n|---:|---|\n| 30 | talk |\n| 10 | work |\n")
    monkeypatch.setattr(notes, "TEMPLATES", tmp_path)
    with pytest.raises(ValueError, match="sums to 40 min"):
        notes.generate("01")


def test_check_mode_says_which_notes_are_stale(monkeypatch, tmp_path, capsys):
    (tmp_path / "03.md").write_text("an old note\n")
    monkeypatch.setattr(notes, "NOTES", tmp_path)
    assert notes.main(["--check", "--lesson", "3"]) == 1
    assert "stale notes: ['03']; run `python -m classroom.notes`" in capsys.readouterr().err
    (tmp_path / "03.md").write_text(notes.generate("03"))
    assert notes.main(["--check", "--lesson", "3"]) == 0


def test_summaries_are_one_line_of_whole_words():
    text = "Short. " + "A longer sentence that goes on and on, " * 8 + "and ends."
    summary = notes.one_line(text)
    assert summary.startswith("Short. A longer sentence") and summary.endswith(" …")
    assert len(summary) <= notes.SUMMARY_CHARS + 2 and "\n" not in summary
    assert notes.one_line("One sentence only.") == "One sentence only."
