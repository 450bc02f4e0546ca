"""The narration scripts, `animations/scripts/NN.md`: one per lesson, split into scenes and beats.

A script is the one source of a segment's timing. Its layout:

    # Lesson 01: Why plain RNN gradients vanish or explode      <- the segment's title

    ## TitleCard                                                  <- a scene: the class name in lessonNN_*.py
    ### title · 4 s                                               <- a beat: an id and its duration in seconds
    The words a narrator speaks over this beat, one paragraph or more.

    ### question · 7.5 s
    ...

Scenes appear in the order the segment plays them. A scene's beats run in the order written, and the scene
(a `animations.segment.Segment`) takes each beat's duration from here, so script and picture cannot drift.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SCENE_HEADING = re.compile(r"^## (?P<scene>[A-Za-z_][A-Za-z0-9_]*)\s*$")
BEAT_HEADING = re.compile(r"^### (?P<beat>[a-z0-9][a-z0-9-]*) · (?P<seconds>\d+(?:\.\d+)?) s\s*$")
TITLE_HEADING = re.compile(r"^# (?P<title>\S.*)$")


@dataclass(frozen=True)
class Beat:
    """One beat of a scene: `seconds` of picture under `text` of narration."""
    id: str
    seconds: float
    text: str


@dataclass(frozen=True)
class SceneScript:
    """One scene's beats, in order."""
    name: str
    beats: tuple[Beat, ...]

    @property
    def seconds(self) -> float:
        return sum(beat.seconds for beat in self.beats)


@dataclass(frozen=True)
class Script:
    """A lesson's narration: its title and its scenes, in the order the segment plays them."""
    lesson: str
    title: str
    scenes: tuple[SceneScript, ...]

    @property
    def seconds(self) -> float:
        return sum(scene.seconds for scene in self.scenes)

    def scene(self, name: str) -> SceneScript:
        for scene in self.scenes:
            if scene.name == name:
                return scene
        raise KeyError(f"animations/scripts/{self.lesson}.md has no scene {name!r}; "
                       f"it has {[s.name for s in self.scenes]}")


def lesson_key(lesson: str | int) -> str:
    """'1', 1 or '01' -> '01'."""
    text = str(lesson)
    if not text.isdigit():
        raise ValueError(f"`lesson` must be a lesson number such as 1 or '01', got {lesson!r}")
    return f"{int(text):02d}"


def script_path(lesson: str | int) -> Path:
    return SCRIPTS / f"{lesson_key(lesson)}.md"


def parse_script(text: str, lesson: str = "??") -> Script:
    """Parse a script's markdown (see the module docstring); errors name the line."""
    title, scenes = None, []
    scene_name, beats, beat, lines = None, [], None, []

    def close_beat():
        nonlocal beat, lines
        if beat is not None:
            words = " ".join(" ".join(lines).split())
            if not words:
                raise ValueError(f"scripts/{lesson}.md: beat {beat[0]!r} of {scene_name} has no narration")
            beats.append(Beat(beat[0], beat[1], words))
        beat, lines = None, []

    def close_scene():
        nonlocal scene_name, beats
        close_beat()
        if scene_name is not None:
            if not beats:
                raise ValueError(f"scripts/{lesson}.md: scene {scene_name} has no beats")
            ids = [b.id for b in beats]
            if len(set(ids)) != len(ids):
                raise ValueError(f"scripts/{lesson}.md: scene {scene_name} repeats a beat id: {ids}")
            scenes.append(SceneScript(scene_name, tuple(beats)))
        scene_name, beats = None, []

    for number, line in enumerate(text.splitlines(), start=1):
        if match := TITLE_HEADING.match(line):
            title = match["title"].strip()
        elif match := SCENE_HEADING.match(line):
            close_scene()
            scene_name = match["scene"]
        elif match := BEAT_HEADING.match(line):
            if scene_name is None:
                raise ValueError(f"scripts/{lesson}.md line {number}: a beat before any '## Scene' heading")
            close_beat()
            seconds = float(match["seconds"])
            if seconds <= 0:
                raise ValueError(f"scripts/{lesson}.md line {number}: a beat lasts more than 0 s")
            beat = (match["beat"], seconds)
        elif line.startswith("#"):
            raise ValueError(f"scripts/{lesson}.md line {number}: expected '## SceneName' or "
                             f"'### beat-id · 4.5 s', got {line!r}")
        elif beat is not None:
            lines.append(line)
        elif line.strip() and scene_name is not None:
            raise ValueError(f"scripts/{lesson}.md line {number}: text outside a beat: {line!r}")
    close_scene()
    if title is None:
        raise ValueError(f"scripts/{lesson}.md: no '# Title' line")
    if len({s.name for s in scenes}) != len(scenes):
        raise ValueError(f"scripts/{lesson}.md: a scene appears twice")
    return Script(lesson, title, tuple(scenes))


@cache
def load_script(lesson: str | int) -> Script:
    """The parsed script of one lesson."""
    key = lesson_key(lesson)
    path = script_path(key)
    if not path.exists():
        raise FileNotFoundError(f"no narration script {path}; every lesson's segment has one")
    return parse_script(path.read_text(encoding="utf-8"), key)


def lessons_with_scripts() -> list[str]:
    """['01', '02', ...]: the lessons that have a script."""
    return sorted(path.stem for path in SCRIPTS.glob("[0-9][0-9].md"))
