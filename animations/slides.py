"""Each lesson's scenes as a reveal.js deck a teacher can project, one step per narration beat, offline.

    python -m animations.slides                   # every lesson with a script, 720p30 (renders what is missing)
    python -m animations.slides --lesson 1 -q h   # lesson 01 at 1080p60

Writes site/slides/NN_<stem>.html and its folder site/slides/NN_<stem>_assets/ (the clips, the title card and the
few reveal.js files the deck loads, copied from node_modules/reveal.js): open the HTML file, press → to advance,
S for the speaker view with the narration of each beat.

How: the scenes stay plain `Segment`s (manim-slides' own `Slide` base class sets config keys that manim 0.22
removed). Each rendered scene video is cut at its beat boundaries, which the narration script fixes (Segment
holds each beat to the script's cumulative time, so the cut lands on the frame where the beat ends), into one clip
per beat. manim-slides then converts these clips, as a PresentationConfig with one SlideConfig per clip, to
its reveal.js deck, with `cdn_url` pointing at the copied reveal.js so that no request leaves the machine.
"""
from __future__ import annotations

import argparse
import itertools
import re
import shutil
from pathlib import Path

from manim_slides.config import PresentationConfig, SlideConfig
from manim_slides.convert import RevealJS
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

from animations.narration import SceneScript, Script, lessons_with_scripts
from animations.render import (QUALITY_FOLDERS, RENDERS, ROOT, deck_stem, lesson_number, module_of_lesson,
                               output_path, render_lessons, script_of)
from animations.style import ACCENT, BACKGROUND, FOREGROUND, MUTED
from animations.video import probe, split_at

SLIDES = ROOT / "site" / "slides"
CLIPS = RENDERS / "slides"
REVEAL = ROOT / "node_modules" / "reveal.js"
REVEAL_FOLDER = "reveal.js"   # inside the deck's assets folder
TITLE_CARD_SIZE = (1920, 1080)   # 16:9 like every render, and sharp whatever the clips' quality


def beat_cuts(scene: SceneScript) -> list[float]:
    """Where a scene's beats end, in seconds from its start, but the last (the video's end): the cut points."""
    return list(itertools.accumulate(beat.seconds for beat in scene.beats))[:-1]


def clip_name(scene: SceneScript, index: int) -> str:
    """A beat's clip name, unique in the deck: '<Scene>_<NN>_<beat id>'."""
    return f"{scene.name}_{index + 1:02d}_{scene.beats[index].id}"


def beat_clips(module_name: str, scene: SceneScript, quality: str, clips: Path = CLIPS,
               media_dir: Path = RENDERS) -> list[Path]:
    """Cut a rendered scene into one clip per beat (renders/slides/<quality>/<module>/); return them in order."""
    video = output_path(module_name, scene.name, quality, media_dir=media_dir)
    if not video.exists():
        raise FileNotFoundError(f"no {QUALITY_FOLDERS[quality]} render of {module_name}.{scene.name} at {video}")
    names = [clip_name(scene, index) for index in range(len(scene.beats))]
    return split_at(video, beat_cuts(scene), clips / QUALITY_FOLDERS[quality] / module_name, names)


def font(size: int) -> ImageFont.FreeTypeFont:
    """The scenes' font (DejaVu Sans, which matplotlib ships, so it is always there) at `size` pixels."""
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def title_card(script: Script, size: tuple[int, int], out: Path) -> Path:
    """The deck's first slide: 'Lesson NN', the script's title and how to drive the deck, in the scenes' colours."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    lines = [(f"Lesson {script.lesson}", height // 20, MUTED),
             (script.title.split(": ", 1)[-1], height // 14, FOREGROUND),
             ("→ next step   ← back   S speaker notes (the narration)   F full screen", height // 30, ACCENT)]
    for (text, pixels, colour), y in zip(lines, (0.36, 0.48, 0.66), strict=True):
        draw.text((width / 2, y * height), text, fill=colour, font=font(pixels), anchor="mm")
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out


def slide(file: Path, notes: str = "") -> SlideConfig:
    """One step of the deck: a clip (or image) that plays once and waits for the key press."""
    return SlideConfig(file=file, rev_file=file, src=file if file.suffix == ".png" else None, notes=notes)


def presentation(module_name: str, quality: str, clips: Path = CLIPS, media_dir: Path = RENDERS) -> PresentationConfig:
    """The deck as manim-slides' config: the title card, then one slide per beat with its narration as notes."""
    script = script_of(module_name)
    steps = []
    for scene in script.scenes:
        for clip, beat in zip(beat_clips(module_name, scene, quality, clips, media_dir), scene.beats, strict=True):
            steps.append(slide(clip, beat.text))
    video = next(stream for stream in probe(steps[0].file)["streams"] if stream["codec_type"] == "video")
    card = title_card(script, TITLE_CARD_SIZE, clips / QUALITY_FOLDERS[quality] / module_name / "title.png")
    return PresentationConfig(slides=[slide(card, f"{script.title}. Press → to start."), *steps],
                              resolution=(video["width"], video["height"]), background_color=BACKGROUND)


def reveal_files(html: str, prefix: str) -> list[str]:
    """The reveal.js files a deck's HTML loads from `prefix`/, as paths inside the reveal.js package."""
    return sorted(set(re.findall(rf'(?:href|src)="{re.escape(prefix)}/([^"]+)"', html)))


def copy_reveal(html: str, prefix: str, assets: Path, reveal: Path = REVEAL) -> None:
    """Copy exactly the reveal.js files the deck loads next to it, so no request leaves the machine."""
    if not (reveal / "dist" / "reveal.js").exists():
        raise FileNotFoundError(f"no reveal.js at {reveal}: run ./course setup (it installs the npm packages)")
    for relative in reveal_files(html, prefix):
        target = assets / REVEAL_FOLDER / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(reveal / relative, target)


def build_deck(module_name: str, quality: str = "m", out_dir: Path = SLIDES, clips: Path = CLIPS,
               media_dir: Path = RENDERS) -> Path:
    """Write out_dir/NN_<stem>.html and its assets folder from the lesson's rendered scenes."""
    deck = out_dir / f"{deck_stem(module_name)}.html"
    assets = out_dir / f"{deck.stem}_assets"
    shutil.rmtree(assets, ignore_errors=True)   # clips of an older build must not linger
    prefix = f"{assets.name}/{REVEAL_FOLDER}"
    converter = RevealJS(presentation_configs=[presentation(module_name, quality, clips, media_dir)],
                         title=script_of(module_name).title, cdn_url=prefix, background_color=BACKGROUND,
                         controls="true", progress="true", slide_number="c/t")
    converter.convert_to(deck)
    html = deck.read_text(encoding="utf-8")
    copy_reveal(html, prefix, assets)
    # The template has no icon, and a browser then asks the server for /favicon.ico: one 404 in the console.
    deck.write_text(html.replace("<head>", '<head>\n    <link rel="icon" href="data:,">', 1), encoding="utf-8")
    return deck


def missing_renders(modules: list[str], quality: str, media_dir: Path = RENDERS) -> dict[str, list[str]]:
    """{module: [Scene, ...]} whose video at `quality` does not exist yet."""
    missing = {module: [scene.name for scene in script_of(module).scenes
                        if not output_path(module, scene.name, quality, media_dir=media_dir).exists()]
               for module in modules}
    return {module: names for module, names in missing.items() if names}


def build_parser() -> argparse.ArgumentParser:
    """The `./course slides` arguments."""
    parser = argparse.ArgumentParser(prog="./course slides", description="Build each lesson's reveal.js deck.")
    parser.add_argument("--lesson", type=lesson_number, help="lesson number, e.g. 1 or 01 (default: every lesson)")
    parser.add_argument("-q", "--quality", default="m", choices=list(QUALITY_FOLDERS),
                        help="render quality of the clips (default: m, 720p30)")
    parser.add_argument("--out", type=Path, default=SLIDES, help=f"output folder (default: {SLIDES.relative_to(ROOT)})")
    return parser


def main(argv: list[str] | None = None) -> None:
    """The `./course slides` command: render what is missing, then write the decks."""
    parser = build_parser()
    args = parser.parse_args(argv)
    lessons = [args.lesson] if args.lesson else lessons_with_scripts()
    if not lessons:
        parser.error("no lesson has a narration script (animations/scripts/NN.md) yet: nothing to put on slides")
    try:
        modules = [module_of_lesson(lesson) for lesson in lessons]
        render_lessons(missing_renders(modules, args.quality), args.quality)
        for module in modules:
            print(f"{module}: {build_deck(module, args.quality, args.out)}")
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
