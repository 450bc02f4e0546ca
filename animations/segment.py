"""`Segment`: the base of every scene, timed beat by beat from its lesson's narration script.

    class FactorN(Segment):
        def construct(self):
            with self.beat("formula"):            # the beat's duration comes from animations/scripts/01.md
                self.play(Write(formula), run_time=2)
            with self.beat("curves"):             # whatever the animations leave of it, the scene holds still
                self.play(Create(curves))

Each `with self.beat(id)` must name the script's next beat of this scene; its animations may take at most the
beat's duration, and the rest of it is a wait. When the scene ends, every beat of the script must have played.
The beat boundaries are recorded in `beat_marks` (seconds from the scene's start): the slides split the video
there and the cut puts its chapter marks on scene boundaries. `play_title_card` and `play_closing_card` play the
two beats of a plain opening or closing card (style.title_card, style.closing_card).
"""
from __future__ import annotations

import re
from contextlib import contextmanager

from manim import UP, FadeIn, Scene, VGroup, Write

from animations.narration import Beat, SceneScript, load_script

TOLERANCE_S = 1e-6
MODULE_LESSON = re.compile(r"lesson(\d\d)_")


def lesson_of(module_name: str) -> str:
    """'animations.lesson01_rnn' or 'lesson01_rnn' -> '01'."""
    match = MODULE_LESSON.search(module_name)
    if match is None:
        raise ValueError(f"a Segment lives in a module named lessonNN_<stem>.py, not {module_name!r}")
    return match[1]


class Segment(Scene):
    """A scene whose beats, in order and duration, come from its lesson's narration script."""

    @classmethod
    def script(cls) -> SceneScript:
        return load_script(lesson_of(cls.__module__)).scene(cls.__name__)

    def setup(self):
        super().setup()
        self.scene_script = self.script()
        self.beats_played: list[str] = []
        self.beat_marks: list[float] = [0.0]
        self.beat_target = 0.0   # where the script says the beats played so far end (frame rounding can't add up)

    def next_beat(self) -> Beat:
        played = len(self.beats_played)
        if played >= len(self.scene_script.beats):
            raise ValueError(f"{type(self).__name__}: every beat of the script has played "
                             f"({self.beats_played}); the scene plays more")
        return self.scene_script.beats[played]

    @contextmanager
    def beat(self, beat_id: str):
        """Play the body as the script's next beat, then hold still for what is left of its duration."""
        expected = self.next_beat()
        if beat_id != expected.id:
            raise ValueError(f"{type(self).__name__}: the script's next beat is {expected.id!r}, "
                             f"the scene plays {beat_id!r}")
        start = self.time
        yield expected
        spent = self.time - start
        if spent > expected.seconds + TOLERANCE_S:
            raise ValueError(f"{type(self).__name__}: beat {beat_id!r} animates for {spent:.2f} s, "
                             f"longer than the script's {expected.seconds:g} s")
        self.beat_target += expected.seconds
        if self.beat_target - self.time > TOLERANCE_S:
            self.wait(self.beat_target - self.time)
        self.beats_played.append(beat_id)
        self.beat_marks.append(self.time)

    def play_title_card(self, card: VGroup) -> None:
        """The script's beats 'title' and 'question' over a style.title_card: number and title, then the question."""
        with self.beat("title"):
            self.play(FadeIn(card[:2], shift=0.2 * UP), run_time=1.5)
        with self.beat("question"):
            self.play(Write(card[2]), run_time=1.5)

    def play_closing_card(self, card: VGroup) -> None:
        """The script's beats 'result' and 'bridge' over a style.closing_card: the measured result, then the bridge."""
        with self.beat("result"):
            self.play(FadeIn(card[0], shift=0.2 * UP), run_time=1.5)
        with self.beat("bridge"):
            self.play(FadeIn(card[1], shift=0.2 * UP), run_time=1.5)

    def tear_down(self):
        missing = [beat.id for beat in self.scene_script.beats[len(self.beats_played):]]
        if missing:
            raise ValueError(f"{type(self).__name__}: the script's beats {missing} never played")
        super().tear_down()
