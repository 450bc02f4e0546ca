"""Reference frames for the visual regression test: two frames of every scene, and how far a new render may drift.

    tests/reference_frames/<module>/<Scene>_last.png      the scene's last frame
    tests/reference_frames/<module>/<Scene>_middle.png    the frame halfway through

Both come from the preview render (216p15, `./course render -q p`), scaled to 320 px wide, and are refreshed
after an intended change with `python -m animations.render --refresh-references [--lesson N]`.

The tolerance: a frame matches when its mean absolute difference is at most 2/255 per channel AND at most 1 % of
its pixels differ by more than 32/255 in some channel. Re-encoding and anti-aliasing on another machine (another
x264, cairo or pango build) moves edges by a fraction of a pixel: small differences on a thin rim of pixels. A
changed number, a moved arrow or a missing label changes whole glyphs or shapes: many pixels by far more than
32/255. What can slip through is a change smaller than both bars (one digit of a label): the frames guard layout
and content, the unit tests guard the numbers the scenes import.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from animations.video import grab_frame

REFERENCES = Path(__file__).resolve().parent.parent / "tests" / "reference_frames"
FRAMES = ("last", "middle")
WIDTH = 320
MAX_MEAN_DIFFERENCE = 2 / 255
PIXEL_THRESHOLD = 32 / 255
MAX_SHARE_DIFFERING = 0.01


def reference_path(module_name: str, scene: str, at: str, references: Path = REFERENCES) -> Path:
    """tests/reference_frames/<module>/<Scene>_<at>.png"""
    return references / module_name / f"{scene}_{at}.png"


def load_rgb(path: Path) -> np.ndarray:
    """An image as floats in [0, 1], shape (height, width, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def frame_difference(new: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(mean absolute difference per channel, share of pixels off by more than PIXEL_THRESHOLD in a channel)."""
    if new.shape != reference.shape:
        raise ValueError(f"the frames differ in size: new {new.shape}, reference {reference.shape}")
    difference = np.abs(new - reference)                       # (H, W, 3)
    return float(difference.mean()), float((difference.max(axis=2) > PIXEL_THRESHOLD).mean())


def matches(mean_difference: float, share_differing: float) -> bool:
    """Whether a frame is within the stated tolerance of its reference."""
    return mean_difference <= MAX_MEAN_DIFFERENCE and share_differing <= MAX_SHARE_DIFFERING


def write_references(module_name: str, videos: list[Path], references: Path = REFERENCES) -> list[Path]:
    """Grab the last and middle frame of each preview video (named <Scene>.mp4) as the module's references."""
    return [grab_frame(video, reference_path(module_name, video.stem, at, references), at, WIDTH)
            for video in videos for at in FRAMES]
