"""Two frames of every scene (the last, and the one halfway through) against committed reference images.

The frames come from the session's preview renders (216p15), scaled to 320 px wide, like the references in
tests/reference_frames/<module>/. The tolerance and why: animations/reference_frames.py. After an intended
change to a scene, refresh its references with `python -m animations.render --refresh-references --lesson NN`
and look at the new PNGs before committing them.
"""
import numpy as np
import pytest

from tests.conftest import PREVIEW_RENDER_TIMEOUT_S

from animations.narration import load_script
from animations.reference_frames import (FRAMES, MAX_MEAN_DIFFERENCE, MAX_SHARE_DIFFERING, PIXEL_THRESHOLD, WIDTH,
                                         frame_difference, load_rgb, matches, reference_path)
from animations.render import scripted_modules
from animations.segment import lesson_of
from animations.video import grab_frame

CASES = [(module, scene.name, at) for module in scripted_modules()
         for scene in load_script(lesson_of(module)).scenes for at in FRAMES]


def frame(seed: int = 0) -> np.ndarray:
    """A 180×320 test frame: a dark background with a bright box, as a scene draws."""
    image = np.full((180, 320, 3), 0.07)
    image[60:120, 100:220] = 0.9
    return image + np.random.default_rng(seed).uniform(-0.5, 0.5, image.shape) / 255   # sub-level noise


def test_identical_frames_and_encoding_noise_match():
    assert frame_difference(frame(), frame()) == (0.0, 0.0)
    assert matches(*frame_difference(frame(0), frame(1)))


def test_a_moved_box_does_not_match():
    moved = np.roll(frame(), 12, axis=1)   # the box 12 px to the right: 2·12·60 px change by far more than 32/255
    mean, share = frame_difference(moved, frame())
    assert share == pytest.approx(2 * 12 * 60 / (180 * 320))
    assert not matches(mean, share)


def test_a_dimmed_frame_does_not_match():
    mean, share = frame_difference(frame() * 0.9, frame())   # every pixel a little darker: the mean catches it
    assert share == 0 and mean > MAX_MEAN_DIFFERENCE and not matches(mean, share)


def test_frames_of_different_sizes_are_named():
    with pytest.raises(ValueError, match="size"):
        frame_difference(frame()[:90], frame())


@pytest.mark.timeout(PREVIEW_RENDER_TIMEOUT_S)
@pytest.mark.render
@pytest.mark.parametrize("module,scene,at", CASES, ids=[f"{m}.{s}.{a}" for m, s, a in CASES])
def test_frame_matches_its_reference(module, scene, at, preview_renders, tmp_path):
    reference = reference_path(module, scene, at)
    if not reference.exists():
        pytest.fail(f"no reference frame {reference}: create it with "
                    f"`python -m animations.render --refresh-references --lesson {lesson_of(module)}`, "
                    "look at it, and commit it")
    (video,) = [v for v in preview_renders[module].checked() if v.stem == scene]
    new = grab_frame(video, tmp_path / f"{scene}_{at}.png", at, WIDTH)
    mean, share = frame_difference(load_rgb(new), load_rgb(reference))
    assert matches(mean, share), (
        f"{module}.{scene} ({at} frame) differs from {reference.name}: mean difference {mean * 255:.2f}/255 "
        f"(at most {MAX_MEAN_DIFFERENCE * 255:.0f}/255), {share:.2%} of pixels off by more than "
        f"{PIXEL_THRESHOLD * 255:.0f}/255 (at most {MAX_SHARE_DIFFERING:.0%}); the new frame is {new}. "
        f"If the change is intended: python -m animations.render --refresh-references --lesson {lesson_of(module)}")
