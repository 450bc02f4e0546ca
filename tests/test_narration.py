"""The narration scripts: the parser reads the format its docstring gives, and rejects what it cannot time."""
import pytest

from animations.narration import lesson_key, lessons_with_scripts, load_script, parse_script

GOOD = """# Lesson 42: A title

## TitleCard
### title · 4 s
Lesson forty-two.

### question · 6.5 s
Why does it
work?

## Result
### number · 3 s
It is 0.95.
"""


def test_a_script_parses_into_scenes_and_beats_with_their_seconds():
    script = parse_script(GOOD, "42")
    assert script.title == "Lesson 42: A title"
    assert [scene.name for scene in script.scenes] == ["TitleCard", "Result"]
    assert [(b.id, b.seconds) for b in script.scene("TitleCard").beats] == [("title", 4.0), ("question", 6.5)]
    assert script.scene("TitleCard").beats[1].text == "Why does it work?"
    assert script.seconds == pytest.approx(13.5)


@pytest.mark.parametrize("broken,message", [
    (GOOD.replace("### title · 4 s", "### title 4 s"), "expected"),
    (GOOD.replace("Lesson forty-two.", ""), "no narration"),
    (GOOD.replace("### number · 3 s", "### number · 0 s"), "more than 0"),
    (GOOD.replace("### question", "### title"), "repeats a beat"),
    (GOOD.replace("# Lesson 42: A title\n", ""), "Title"),
    (GOOD.replace("## Result", "## TitleCard"), "twice"),
    (GOOD.replace("## TitleCard\n", ""), "before any"),
])
def test_a_broken_script_is_rejected_naming_the_problem(broken, message):
    with pytest.raises(ValueError, match=message):
        parse_script(broken, "42")


def test_an_unknown_scene_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match="TitleCard"):
        parse_script(GOOD, "42").scene("Nope")


@pytest.mark.parametrize("given,expected", [(1, "01"), ("1", "01"), ("08", "08")])
def test_lesson_numbers_normalise(given, expected):
    assert lesson_key(given) == expected


def test_a_bad_lesson_number_is_named():
    with pytest.raises(ValueError, match="lesson"):
        lesson_key("one")


@pytest.mark.parametrize("lesson", lessons_with_scripts())
def test_every_committed_script_parses_and_lasts_two_to_four_minutes(lesson):
    script = load_script(lesson)
    assert 120 <= script.seconds <= 240, f"scripts/{lesson}.md lasts {script.seconds:.0f} s, not 2–4 minutes"


SPEAKING_PACE_WPS = 3.0   # 180 words a minute: brisk narration; audiobooks run at about 150–160


@pytest.mark.parametrize("lesson", lessons_with_scripts())
def test_every_beat_can_be_read_aloud_in_its_seconds(lesson):
    """A narrator must be able to say a beat's words in its time, or the recording runs over the picture."""
    rushed = [f"{scene.name}.{beat.id}: {len(beat.text.split())} words in {beat.seconds:g} s"
              for scene in load_script(lesson).scenes for beat in scene.beats
              if len(beat.text.split()) > SPEAKING_PACE_WPS * beat.seconds]
    assert not rushed, f"scripts/{lesson}.md, faster than {SPEAKING_PACE_WPS * 60:.0f} words a minute: {rushed}"


def test_the_readme_course_map_states_each_segments_length_and_scene_count():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for lesson in lessons_with_scripts():
        script = load_script(lesson)
        row = next(line for line in readme.splitlines() if line.startswith(f"| {lesson} |"))
        assert f"{script.seconds:.0f} s, {len(script.scenes)} scenes" in row, \
            f"README's course map row {lesson} should say {script.seconds:.0f} s, {len(script.scenes)} scenes"


def test_the_readme_states_the_total_minutes_of_animation():
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    total = sum(load_script(lesson).seconds for lesson in lessons_with_scripts()) / 60
    assert f"({total:.1f} minutes for the eight lessons)" in readme
