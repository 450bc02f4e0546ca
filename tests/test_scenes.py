"""Every Manim scene renders: each lesson's segment follows its narration script, and each scene renders as a
preview video (the session's `preview_renders`) that lasts what its script says and ends on a frame with content.

Every lesson has a script (tested), so every scene renders whole; `./course render --scene X -s` (a last frame as a
PNG) is checked on one scene."""
import importlib

import numpy as np
import pytest

from tests.conftest import PREVIEW_RENDER_TIMEOUT_S

from animations.narration import load_script, script_path
from animations.render import (QUALITY_FOLDERS, find_rendered, lesson_modules, output_path, render,
                               scenes_in, scripted_modules)
from animations.segment import Segment, lesson_of
from animations.reference_frames import load_rgb
from animations.video import duration, grab_frame

PREVIEW_FRAME_S = 1 / 15


def test_every_lesson_with_a_notebook_has_scenes():
    assert {"lesson01_rnn", "lesson02_linear_rnn", "lesson03_complex_rnn", "lesson04_scan",
            "lesson05_lru", "lesson06_ssm", "lesson07_memory_traffic", "lesson08_ssd"} <= set(lesson_modules())
    assert all(scenes_in(module) for module in lesson_modules())


@pytest.mark.parametrize("module", lesson_modules())
def test_every_lesson_has_a_narration_script(module):
    assert script_path(lesson_of(module)).exists(), f"{module} has no script {script_path(lesson_of(module))}"


@pytest.mark.parametrize("module", scripted_modules())
def test_the_segment_plays_exactly_the_scripts_scenes_in_order(module):
    scenes = scenes_in(module)
    assert scenes == [scene.name for scene in load_script(lesson_of(module)).scenes]
    classes = vars(importlib.import_module(f"animations.{module}"))
    assert all(issubclass(classes[name], Segment) for name in scenes), "every scene is a beat-timed Segment"


@pytest.mark.render
def test_a_scenes_last_frame_renders_as_a_png(tmp_path):
    """`-s`: one scene's last frame at low quality, as a PNG with content (the title card: quick to render)."""
    (path,) = render("lesson01_rnn", ["TitleCard"], quality="l", last_frame=True, media_dir=tmp_path)
    assert path.suffix == ".png" and path.exists(), path
    frame = load_rgb(path)
    assert frame.shape[:2] == (480, 854) and np.abs(frame - frame[0, 0]).max() > 0.25, f"{path} is blank"


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
@pytest.mark.parametrize("module", scripted_modules())
def test_every_scene_renders_as_video_as_long_as_its_script(module, preview_renders, tmp_path):
    script = load_script(lesson_of(module))
    videos = preview_renders[module].checked()
    assert [video.stem for video in videos] == [scene.name for scene in script.scenes]
    for video, scene in zip(videos, script.scenes, strict=True):
        assert duration(video) == pytest.approx(scene.seconds, abs=1.5 * PREVIEW_FRAME_S), scene.name
        assert find_rendered(module, scene.name) is not None   # show_scene takes whatever render exists
        last = load_rgb(grab_frame(video, tmp_path / f"{scene.name}.png", "last"))
        assert np.abs(last - last[0, 0]).max() > 0.25, f"{scene.name} ends on a blank frame"


def test_find_rendered_takes_the_best_quality_there_is(tmp_path):
    assert find_rendered("lesson01_rnn", "Demo", media_dir=tmp_path) is None
    for quality in ("p", "l"):
        path = output_path("lesson01_rnn", "Demo", quality, media_dir=tmp_path)
        path.parent.mkdir(parents=True)
        path.touch()
        assert find_rendered("lesson01_rnn", "Demo", media_dir=tmp_path) == path
    assert find_rendered("lesson01_rnn", "Demo", media_dir=tmp_path).parent.name == QUALITY_FOLDERS["l"] == "480p15"


def test_bad_quality_is_named():
    with pytest.raises(ValueError, match="quality"):
        render("lesson01_rnn", ["FactorN"], quality="x")
