"""Every Manim scene renders: the last frame of each, and the full low-quality video of each lesson's first."""
import pytest

from animations.render import lesson_modules, render, scenes_in

SCENES = [(module, scene) for module in lesson_modules() for scene in scenes_in(module)]


def test_every_lesson_with_a_notebook_has_scenes():
    assert {"lesson01_rnn", "lesson02_linear_rnn", "lesson03_complex_rnn", "lesson04_scan",
            "lesson05_lru", "lesson06_ssm", "lesson07_memory_traffic", "lesson08_ssd"} <= set(lesson_modules())
    assert all(scenes_in(module) for module in lesson_modules())


@pytest.mark.render
@pytest.mark.parametrize("module,scene", SCENES, ids=[f"{m}.{s}" for m, s in SCENES])
def test_scene_last_frame_renders(module, scene, tmp_path):
    (path,) = render(module, [scene], quality="l", last_frame=True, media_dir=tmp_path)
    assert path.exists() and path.stat().st_size > 10_000, f"{path} is missing or blank"


@pytest.mark.render
@pytest.mark.parametrize("module", lesson_modules())
def test_first_scene_of_each_lesson_renders_as_video(module, tmp_path):
    scene = scenes_in(module)[0]
    (path,) = render(module, [scene], quality="l", media_dir=tmp_path)
    assert path.exists() and path.stat().st_size > 10_000


def test_bad_quality_is_named():
    with pytest.raises(ValueError, match="quality"):
        render("lesson01_rnn", ["FactorN"], quality="x")
