"""Render the course's Manim scenes into one known folder, and show them in notebooks.

    python -m animations.render                       # every scene of every lesson, low quality
    python -m animations.render --lesson 1 -q h       # lesson 01 at 1080p
    python -m animations.render --scene FactorN -s    # one scene, last frame only (PNG)
    python -m animations.render --lesson 1 --cut      # lesson 01's scenes joined into one video with chapters
    python -m animations.render -q h --cut --missing  # cut every lesson, rendering only scenes not yet at 1080p
    python -m animations.render --refresh-references  # rewrite the visual regression test's reference frames

Videos land in renders/videos/<module>/<quality>/<Scene>.mp4 (Manim's layout under renders/), where
`show_scene` finds them; cuts in renders/cuts/<quality>/NN_<stem>.mp4. Qualities: p 216p15 (a fast preview
for the tests), l 480p15, m 720p30, h 1080p60, k 2160p60.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from animations.narration import Script, lesson_key, lessons_with_scripts, load_script, script_path
from animations.reference_frames import write_references
from animations.segment import lesson_of
from animations.video import join_with_chapters

ROOT = Path(__file__).resolve().parent.parent
RENDERS = ROOT / "renders"
CUTS = RENDERS / "cuts"
ACRONYMS = {"rnn", "rnns", "lstm", "ssm", "ssms", "lru", "ssd", "gpu", "hbm", "sram", "bptt", "fft"}
QUALITY_FOLDERS = {"p": "216p15", "l": "480p15", "m": "720p30", "h": "1080p60", "k": "2160p60"}
BEST_FIRST = "khmlp"
# Manim has no preview preset: 384×216 is 16:9 exactly (Manim keeps the frame 8 units high, so the aspect
# ratio decides its width) and small enough that the test suite renders every scene as video.
PREVIEW_FLAGS = ["-ql", "--resolution", "384,216", "--frame_rate", "15"]


def lesson_modules() -> list[str]:
    """Names of the scene modules, in lesson order: ['lesson01_rnn', ...]."""
    return sorted(path.stem for path in (ROOT / "animations").glob("lesson[0-9][0-9]_*.py"))


def scenes_in(module_name: str) -> list[str]:
    """The Scene classes a lesson module defines (not the ones it imports), in source order."""
    from manim import Scene

    module = importlib.import_module(f"animations.{module_name}")
    found = [(cls.__qualname__, inspect.getsourcelines(cls)[1]) for cls in vars(module).values()
             if inspect.isclass(cls) and issubclass(cls, Scene) and cls.__module__ == module.__name__]
    return [name for name, _line in sorted(found, key=lambda item: item[1])]


def render(module_name: str, scenes: list[str], quality: str = "l", last_frame: bool = False,
           media_dir: Path = RENDERS) -> list[Path]:
    """Render `scenes` of one lesson module with the Manim CLI; return the written files."""
    if quality not in QUALITY_FOLDERS:
        raise ValueError(f"`quality` must be one of {sorted(QUALITY_FOLDERS)}, got {quality!r}.")
    quality_flags = PREVIEW_FLAGS if quality == "p" else [f"-q{quality}"]
    # --no_latex_cleanup: Manim's cleanup deletes every .dvi in the shared renders/Tex, including the one another
    # Manim process (render_lessons runs two) is converting right then; that process then fails on MathTex.
    command = [sys.executable, "-m", "manim", "render", *quality_flags, "--media_dir", str(media_dir),
               "--disable_caching", "--no_latex_cleanup", "--progress_bar", "none", "-v", "WARNING"]
    command += ["-s"] if last_frame else []
    command += [str(ROOT / "animations" / f"{module_name}.py"), *scenes]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"Manim failed on {module_name} {scenes}:\n{done.stderr[-3000:]}")
    return [output_path(module_name, scene, quality, last_frame, media_dir) for scene in scenes]


def output_path(module_name: str, scene: str, quality: str = "l", last_frame: bool = False,
                media_dir: Path = RENDERS) -> Path:
    """Where Manim writes a scene's video (or, with last_frame, its PNG)."""
    if last_frame:
        folder = media_dir / "images" / module_name
        return next(folder.glob(f"{scene}_*.png"), folder / f"{scene}.png")  # Manim adds _ManimCE_v<version>
    return media_dir / "videos" / module_name / QUALITY_FOLDERS[quality] / f"{scene}.mp4"


def find_rendered(module_name: str, scene: str, media_dir: Path = RENDERS) -> Path | None:
    """The best-quality rendered video of a scene under renders/ (any quality, the preview too), or None."""
    for quality in BEST_FIRST:
        path = output_path(module_name, scene, quality, media_dir=media_dir)
        if path.exists():
            return path
    return None


def missing_scenes(scenes: dict[str, list[str]], quality: str, media_dir: Path = RENDERS) -> dict[str, list[str]]:
    """{module: [Scene, ...]} cut down to the scenes with no video at `quality` yet (`--missing`)."""
    return {module: [name for name in names if not output_path(module, name, quality, media_dir=media_dir).exists()]
            for module, names in scenes.items()}


def render_lessons(scenes: dict[str, list[str]], quality: str = "l", jobs: int = 2,
                   media_dir: Path = RENDERS) -> dict[str, list[Path]]:
    """Render {module: [Scene, ...]} with `jobs` Manim processes side by side (one per module at a time)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {module: pool.submit(render, module, names, quality, False, media_dir)
                   for module, names in scenes.items() if names}
        return {module: future.result() for module, future in futures.items()}


def module_of_lesson(lesson: str) -> str:
    """'01' -> 'lesson01_rnn': the lesson's scene module."""
    found = [module for module in lesson_modules() if module.startswith(f"lesson{lesson_key(lesson)}_")]
    if not found:
        raise ValueError(f"no scene module animations/lesson{lesson_key(lesson)}_*.py; there are {lesson_modules()}")
    return found[0]


def deck_stem(module_name: str) -> str:
    """'lesson01_rnn' -> '01_rnn': the lesson's stem, as the notebooks and the site name it."""
    return module_name.removeprefix("lesson")


def script_of(module_name: str) -> Script:
    """The module's narration script, or an error saying the cut and the slides follow it."""
    lesson = lesson_of(module_name)
    if not script_path(lesson).exists():
        raise FileNotFoundError(f"lesson {lesson} has no narration script {script_path(lesson).relative_to(ROOT)}: "
                                "its cut and its slides follow the script's scenes and beats")
    return load_script(lesson)


def scene_title(name: str) -> str:
    """A chapter title from a scene's class name: 'LstmGatesVanish' -> 'LSTM gates vanish'."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name) or [name]
    words = [word.upper() if word.lower() in ACRONYMS else word if word.isupper() else word.lower() for word in words]
    return words[0][0].upper() + " ".join(words)[1:]


def cut_path(module_name: str, quality: str = "l", cuts_dir: Path = CUTS) -> Path:
    """Where a lesson's cut goes: renders/cuts/<quality>/NN_<stem>.mp4."""
    return cuts_dir / QUALITY_FOLDERS[quality] / f"{deck_stem(module_name)}.mp4"


def cut_lesson(module_name: str, quality: str = "l", media_dir: Path = RENDERS, cuts_dir: Path = CUTS) -> Path:
    """Join a lesson's rendered scenes, in its script's order, into one video with a chapter per scene."""
    script = script_of(module_name)
    names = [scene.name for scene in script.scenes]
    videos = [output_path(module_name, name, quality, media_dir=media_dir) for name in names]
    missing = [name for name, video in zip(names, videos, strict=True) if not video.exists()]
    if missing:
        raise FileNotFoundError(f"{module_name}: no {QUALITY_FOLDERS[quality]} render of {missing}; "
                                f"render them first (./course render --lesson {script.lesson} -q {quality})")
    return join_with_chapters(videos, [scene_title(name) for name in names], cut_path(module_name, quality, cuts_dir),
                              title=script.title)


def show_scene(module_name: str, scene: str, width: int = 720):
    """Embed a scene's rendered video in a notebook; render it at low quality first if none exists."""
    from IPython.display import Video

    path = find_rendered(module_name, scene)
    if path is None:
        print(f"No render of {scene} yet: rendering it at low quality (./course render makes them all).")
        (path,) = render(module_name, [scene], quality="l")
    return Video(str(path), embed=True, width=width, html_attributes="controls loop autoplay muted")


@dataclass(frozen=True)
class LessonRender:
    """One lesson's render: its videos in script order, or the error that stopped it, and the seconds it took."""
    module: str
    videos: list[Path]
    error: Exception | None
    seconds: float

    def checked(self) -> list[Path]:
        """The videos, or the error that stopped the render, raised again."""
        if self.error is not None:
            raise RuntimeError(f"{self.module} did not render") from self.error
        return self.videos


def scripted_modules() -> list[str]:
    """The scene modules whose lesson has a narration script, in lesson order."""
    scripted = set(lessons_with_scripts())
    return [module for module in lesson_modules() if lesson_of(module) in scripted]


def render_script(module_name: str, quality: str, media_dir: Path = RENDERS, reuse: bool = False) -> LessonRender:
    """Render a lesson's scenes in its script's order (with `reuse`, only if one is missing); keep any error."""
    start = time.perf_counter()
    try:
        names = [scene.name for scene in script_of(module_name).scenes]
        videos = [output_path(module_name, name, quality, media_dir=media_dir) for name in names]
        if not (reuse and all(video.exists() for video in videos)):
            videos = render(module_name, names, quality, media_dir=media_dir)
        error = None
    except (RuntimeError, FileNotFoundError, ValueError, KeyError) as caught:
        videos, error = [], caught
    return LessonRender(module_name, videos, error, time.perf_counter() - start)


def render_scripted_lessons(quality: str = "p", jobs: int = 2, media_dir: Path = RENDERS,
                            reuse: bool = False) -> dict[str, LessonRender]:
    """Every lesson with a script, rendered `jobs` modules at a time: {module: LessonRender}."""
    modules = scripted_modules()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        renders = pool.map(lambda module: render_script(module, quality, media_dir, reuse), modules)
        return dict(zip(modules, renders, strict=True))


def lesson_number(text: str) -> str:
    """The --lesson argument: '1' or '01' -> '01'."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a lesson number such as 1 or 01, got {text!r}")
    return f"{int(text):02d}"


def closest_scene(name: str, known: list[str]) -> str:
    """The scene in `known` whose name is nearest to `name`, ignoring case."""
    by_lower = {scene.lower(): scene for scene in known}
    return by_lower[difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.0)[0]]


def unknown_scene_message(unknown: list[str], scenes: dict[str, list[str]]) -> str:
    """Name each unknown scene with its closest match, then list every scene by module."""
    known = [scene for names in scenes.values() for scene in names]
    lines = [f"no scene {name!r} (closest: {closest_scene(name, known)!r})" for name in unknown]
    lines += ["the scenes are:"] + [f"  {module}: {' '.join(names)}" for module, names in scenes.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The `./course render` arguments."""
    parser = argparse.ArgumentParser(prog="./course render", description="Render the course's scenes into renders/.")
    parser.add_argument("--lesson", type=lesson_number, help="lesson number, e.g. 1 or 01 (default: every lesson)")
    parser.add_argument("--scene", action="append", help="only this scene (repeatable)")
    parser.add_argument("-q", "--quality", default="l", choices=list(QUALITY_FOLDERS),
                        help="p 216p15 (preview), l 480p15, m 720p30, h 1080p60, k 2160p60 (default: l)")
    parser.add_argument("-s", "--last-frame", action="store_true", help="write only each scene's last frame")
    parser.add_argument("--list", action="store_true", help="list the scenes and exit")
    parser.add_argument("--cut", action="store_true",
                        help="render each lesson's scenes, then join them into renders/cuts/<quality>/NN_<stem>.mp4")
    parser.add_argument("--refresh-references", action="store_true",
                        help="render at preview quality and rewrite tests/reference_frames/ (after an intended change)")
    parser.add_argument("--missing", action="store_true",
                        help="render only the scenes with no video at this quality yet; keep the others as they are "
                             "(stale if their code changed since): e.g. cut what ./course render -q h made")
    parser.add_argument("--jobs", type=int, default=2, help="Manim processes side by side (default: 2)")
    return parser


def selected_scenes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, list[str]]:
    """{module: [Scene, ...]} chosen by --lesson and --scene, in lesson order; exits naming what does not exist."""
    modules = [m for m in lesson_modules() if args.lesson is None or m.startswith(f"lesson{args.lesson}_")]
    if not modules:
        parser.error(f"no scene module for lesson {args.lesson!r}; there are {lesson_modules()}.")
    scenes = {module: scenes_in(module) for module in modules}
    if not args.scene:
        return scenes
    unknown = [name for name in args.scene if not any(name in names for names in scenes.values())]
    if unknown:
        parser.error(unknown_scene_message(unknown, scenes))
    return {module: [s for s in names if s in args.scene] for module, names in scenes.items()}


def scripted_only(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  scenes: dict[str, list[str]]) -> dict[str, list[str]]:
    """For --cut and --refresh-references: the lessons with a narration script; a named lesson without one exits."""
    scripted = set(lessons_with_scripts())
    if args.lesson is not None and args.lesson not in scripted:
        parser.error(f"lesson {args.lesson} has no narration script {script_path(args.lesson).relative_to(ROOT)}; "
                     "--cut and --refresh-references follow the script")
    for module in scenes:
        if lesson_of(module) not in scripted:
            print(f"{module}: skipped, no narration script {script_path(lesson_of(module)).relative_to(ROOT)}")
    return {module: names for module, names in scenes.items() if lesson_of(module) in scripted}


def shown(path: Path) -> Path:
    """A path relative to the repository when it lies inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> None:
    """The `./course render` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.cut or args.refresh_references) and (args.scene or args.last_frame):
        parser.error("--cut and --refresh-references work on whole lessons: drop --scene and -s")
    if args.missing and args.last_frame:
        parser.error("--missing keeps existing videos; -s writes still frames: use one or the other")
    scenes = selected_scenes(parser, args)
    if args.list:
        for module_name, names in scenes.items():
            print(module_name, *names)
        return
    if args.cut or args.refresh_references:
        scenes = scripted_only(parser, args, scenes)
    if args.refresh_references:
        args.quality = "p"   # the visual regression test compares preview renders
    scenes = {module_name: names for module_name, names in scenes.items() if names}
    if args.last_frame:
        for module_name, names in scenes.items():
            for scene, path in zip(names, render(module_name, names, args.quality, True), strict=True):
                print(f"{module_name}.{scene}: {shown(path)}")
        return
    to_render = missing_scenes(scenes, args.quality) if args.missing else scenes
    rendered = render_lessons({module: names for module, names in to_render.items() if names}, args.quality, args.jobs)
    for module_name, names in scenes.items():
        for path in rendered.get(module_name, []):
            print(f"{module_name}.{path.stem}: {shown(path)}")
        kept = len(names) - len(to_render[module_name])
        if kept:
            print(f"{module_name}: kept {kept} scene{'s' * (kept > 1)} already rendered at "
                  f"{QUALITY_FOLDERS[args.quality]} (--missing)")
        if args.cut:
            print(f"{module_name} cut: {shown(cut_lesson(module_name, args.quality))}")
        if args.refresh_references:
            paths = [output_path(module_name, name, args.quality) for name in names]
            for path in write_references(module_name, paths):
                print(f"reference: {shown(path)}")


if __name__ == "__main__":
    main()
