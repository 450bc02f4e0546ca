"""Render the course's Manim scenes into one known folder, and show them in notebooks.

    python -m animations.render                       # every scene of every lesson, low quality
    python -m animations.render --lesson 1 -q h       # lesson 01 at 1080p
    python -m animations.render --scene FactorN -s    # one scene, last frame only (PNG)

Videos land in renders/videos/<module>/<quality>/<Scene>.mp4 (Manim's layout under renders/), where
`show_scene` finds them. Qualities: l 480p15, m 720p30, h 1080p60, k 2160p60.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RENDERS = ROOT / "renders"
QUALITY_FOLDERS = {"l": "480p15", "m": "720p30", "h": "1080p60", "k": "2160p60"}


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
    command = [sys.executable, "-m", "manim", "render", f"-q{quality}", "--media_dir", str(media_dir),
               "--disable_caching", "--progress_bar", "none", "-v", "WARNING"]
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


def find_rendered(module_name: str, scene: str) -> Path | None:
    """The best-quality rendered video of a scene under renders/, or None if it was never rendered."""
    for quality in "khml":
        path = output_path(module_name, scene, quality)
        if path.exists():
            return path
    return None


def show_scene(module_name: str, scene: str, width: int = 720):
    """Embed a scene's rendered video in a notebook; render it at low quality first if none exists."""
    from IPython.display import Video

    path = find_rendered(module_name, scene)
    if path is None:
        print(f"No render of {scene} yet: rendering it at low quality (./course render makes them all).")
        (path,) = render(module_name, [scene], quality="l")
    return Video(str(path), embed=True, width=width, html_attributes="controls loop autoplay muted")


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
    parser.add_argument("-q", "--quality", default="l", choices=sorted(QUALITY_FOLDERS))
    parser.add_argument("-s", "--last-frame", action="store_true", help="write only each scene's last frame")
    parser.add_argument("--list", action="store_true", help="list the scenes and exit")
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


def main(argv: list[str] | None = None) -> None:
    """The `./course render` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for module_name, names in selected_scenes(parser, args).items():
        if args.list:
            print(module_name, *names)
        elif names:
            for scene, path in zip(names, render(module_name, names, args.quality, args.last_frame), strict=True):
                print(f"{module_name}.{scene}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
