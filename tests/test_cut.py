"""`./course render --cut`: a lesson's scenes joined in script order, one chapter per scene, as long as its script.

The ffmpeg steps are checked on small synthetic videos (ffmpeg's test pattern, seconds); the cut of every lesson
with a narration script is made from the session's preview renders (the `preview_renders` fixture).
"""
import subprocess

import pytest

from tests.conftest import PREVIEW_RENDER_TIMEOUT_S

from animations.narration import load_script
from animations import render as render_module
from animations.render import (CUTS, cut_lesson, cut_path, lesson_modules, main, missing_scenes, output_path,
                               scene_title, scripted_modules)
from animations.segment import lesson_of
from animations.video import FFMPEG, chapters_metadata, duration, join_with_chapters, probe, split_at

CUT_TOLERANCE = 0.10   # the bar: a cut lasts within 10 % of its script's total


def test_pattern(path, seconds: float, rate: int = 15):
    """A small synthetic video: ffmpeg's moving test pattern, 64×36 at `rate` fps."""
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", f"testsrc=size=64x36:rate={rate}:duration={seconds}",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)], check=True)
    return path


def frame_count(path) -> int:
    """Frames in a video, decoded and counted."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip())


test_pattern.__test__ = False   # a helper, not a test


def test_chapters_metadata_is_back_to_back_in_milliseconds_and_escaped():
    text = chapters_metadata(["Intro", "a=b; #c"], [1.5, 2.25], title="Lesson 01: x")
    assert text.splitlines() == [";FFMETADATA1", "title=Lesson 01: x",
                                 "[CHAPTER]", "TIMEBASE=1/1000", "START=0", "END=1500", "title=Intro",
                                 "[CHAPTER]", "TIMEBASE=1/1000", "START=1500", "END=3750", r"title=a\=b\; \#c"]
    with pytest.raises(ValueError, match="titles"):
        chapters_metadata(["one"], [1.0, 2.0])


def test_join_keeps_every_frame_and_puts_a_chapter_on_each_video(tmp_path):
    parts = [test_pattern(tmp_path / f"{i}.mp4", seconds) for i, seconds in enumerate([1, 2, 1.4])]
    joined = join_with_chapters(parts, ["One", "Two", "Three"], tmp_path / "out" / "joined.mp4", title="T")
    info = probe(joined)
    assert frame_count(joined) == sum(frame_count(part) for part in parts) == 15 + 30 + 21
    assert [chapter["tags"]["title"] for chapter in info["chapters"]] == ["One", "Two", "Three"]
    starts = [float(chapter["start_time"]) for chapter in info["chapters"]]
    assert starts == pytest.approx([0, 1, 3], abs=1 / 15)
    assert info["format"]["tags"]["title"] == "T"


def test_split_cuts_on_the_frame(tmp_path):
    video = test_pattern(tmp_path / "v.mp4", 3)
    clips = split_at(video, [1.0, 2.2], tmp_path / "clips", ["a", "b", "c"])
    assert [clip.name for clip in clips] == ["a.mp4", "b.mp4", "c.mp4"]
    assert [frame_count(clip) for clip in clips] == [15, 18, 12]
    assert [duration(clip) for clip in clips] == pytest.approx([1.0, 1.2, 0.8], abs=1e-3)


def test_split_names_its_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="names"):
        split_at(tmp_path / "v.mp4", [1.0], tmp_path, ["only one"])
    with pytest.raises(ValueError, match="cuts"):
        split_at(tmp_path / "v.mp4", [2.0, 1.0], tmp_path, ["a", "b", "c"])


def test_scene_titles_read_as_words():
    assert scene_title("RnnTitle") == "RNN title"
    assert scene_title("FactorN") == "Factor N"
    assert scene_title("WhyGradientsVanish") == "Why gradients vanish"
    assert scene_title("SSDChunk") == "SSD chunk"


def test_cut_path_uses_the_lesson_stem():
    assert cut_path("lesson01_rnn", "h") == CUTS / "1080p60" / "01_rnn.mp4"


def test_cut_without_a_script_or_a_render_says_what_to_do(tmp_path):
    unscripted = [m for m in lesson_modules() if m not in scripted_modules()]
    if unscripted:
        with pytest.raises(FileNotFoundError, match="no narration script"):
            cut_lesson(unscripted[0], "p", media_dir=tmp_path, cuts_dir=tmp_path)
    if scripted_modules():
        with pytest.raises(FileNotFoundError, match="render them first"):
            cut_lesson(scripted_modules()[0], "p", media_dir=tmp_path, cuts_dir=tmp_path)


def test_missing_keeps_the_scenes_rendered_at_that_quality(tmp_path):
    made = output_path("lesson01_rnn", "FactorN", "h", media_dir=tmp_path)
    made.parent.mkdir(parents=True)
    made.write_bytes(b"")
    scenes = {"lesson01_rnn": ["ChainRule", "FactorN"], "lesson02_linear_rnn": ["ClosedForm"]}
    assert missing_scenes(scenes, "h", media_dir=tmp_path) == {"lesson01_rnn": ["ChainRule"],
                                                               "lesson02_linear_rnn": ["ClosedForm"]}
    assert missing_scenes(scenes, "l", media_dir=tmp_path) == scenes       # another quality is another video


def test_missing_refuses_last_frames(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--missing", "-s", "--scene", "FactorN"])
    assert exit.value.code == 2 and "--missing" in capsys.readouterr().err


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
def test_cut_with_missing_joins_existing_renders_without_rendering(preview_renders, monkeypatch, capsys):
    """After a full render, `--cut --missing` only joins: no Manim run (a second 1080p60 render costs ~20 min)."""
    module = scripted_modules()[0]
    preview_renders[module].checked()
    monkeypatch.setattr(render_module, "render", lambda *args, **kwargs: pytest.fail(f"rendered {args[:2]}"))
    main(["--lesson", lesson_of(module), "-q", "p", "--cut", "--missing"])
    out = capsys.readouterr().out
    scenes = len(load_script(lesson_of(module)).scenes)
    assert f"{module}: kept {scenes} scenes already rendered at 216p15 (--missing)" in out
    assert probe(cut_path(module, "p"))["chapters"], out


def test_cut_flag_refuses_a_single_scene(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--cut", "--scene", "FactorN"])
    assert exit.value.code == 2 and "whole lessons" in capsys.readouterr().err


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
@pytest.mark.parametrize("module", scripted_modules())
def test_cut_of_each_lesson_plays_with_a_chapter_per_scene(module, preview_renders, tmp_path):
    preview_renders[module].checked()
    script = load_script(lesson_of(module))
    cut = cut_lesson(module, "p", cuts_dir=tmp_path)
    info = probe(cut)   # ffprobe reads it
    seconds = float(info["format"]["duration"])
    assert abs(seconds - script.seconds) <= CUT_TOLERANCE * script.seconds, (seconds, script.seconds)
    assert [c["tags"]["title"] for c in info["chapters"]] == [scene_title(s.name) for s in script.scenes]
    starts = [float(chapter["start_time"]) for chapter in info["chapters"]]
    assert starts == sorted(starts) and starts[0] == 0
