"""The ffmpeg steps the cut, the slides and the visual regression test share: probe, join, split, grab a frame.

Every function calls the `ffmpeg`/`ffprobe` programs (installed with the course, see scripts/setup.sh) and raises
a RuntimeError that quotes ffmpeg's own message when they fail.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
# ffmpeg's metadata file escapes these characters with a backslash (https://ffmpeg.org/ffmpeg-formats.html#Metadata-1)
METADATA_SPECIAL = "\\=;#\n"


def run_ffmpeg(command: list[str]) -> str:
    """Run ffmpeg or ffprobe; return its stdout, or raise quoting its error."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({' '.join(command[-3:])}):\n{done.stderr[-2000:]}")
    return done.stdout


def probe(path: Path) -> dict:
    """ffprobe's view of a media file: its format (duration, ...), streams and chapters."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no video at {path}")
    out = run_ffmpeg(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                      "-show_chapters", str(path)])
    return json.loads(out)


def duration(path: Path) -> float:
    """A video's length in seconds."""
    return float(probe(path)["format"]["duration"])


def escape_metadata(text: str) -> str:
    """`text` safe inside an ffmpeg metadata file."""
    return "".join("\\" + char if char in METADATA_SPECIAL else char for char in text)


def chapters_metadata(titles: list[str], seconds: list[float], title: str = "") -> str:
    """An FFMETADATA1 file with one chapter per (title, length), back to back from 0, in milliseconds."""
    if len(titles) != len(seconds):
        raise ValueError(f"`titles` and `seconds` differ in length: {len(titles)} and {len(seconds)}")
    lines = [";FFMETADATA1", f"title={escape_metadata(title)}"] if title else [";FFMETADATA1"]
    start = 0
    for name, length in zip(titles, seconds, strict=True):
        end = start + round(length * 1000)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}", f"title={escape_metadata(name)}"]
        start = end
    return "\n".join(lines) + "\n"


def concat_list(paths: list[Path]) -> str:
    """The concat demuxer's input list: one `file '<absolute path>'` line per video."""
    quoted = [str(Path(p).resolve()).replace("'", r"'\''") for p in paths]
    return "".join(f"file '{path}'\n" for path in quoted)


def join_with_chapters(videos: list[Path], titles: list[str], out: Path, title: str = "") -> Path:
    """Join `videos` (same codec and size) end to end without re-encoding, with one chapter per video."""
    if not videos:
        raise ValueError("`videos` is empty: nothing to join")
    lengths = [duration(video) for video in videos]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        listing, metadata = Path(scratch) / "videos.txt", Path(scratch) / "chapters.txt"
        listing.write_text(concat_list(videos))
        metadata.write_text(chapters_metadata(titles, lengths, title), encoding="utf-8")
        run_ffmpeg([*FFMPEG, "-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(metadata),
                    "-map", "0", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
                    "-movflags", "+faststart", str(out)])
    return out


def split_at(video: Path, cuts: list[float], out_dir: Path, names: list[str]) -> list[Path]:
    """Cut `video` at the times `cuts` (seconds) into len(cuts) + 1 clips named `names` (.mp4) in `out_dir`.

    The clips are re-encoded with a keyframe forced at every cut, so each one starts exactly on its frame.
    """
    if len(names) != len(cuts) + 1:
        raise ValueError(f"`names` needs one name per clip: {len(cuts) + 1} for {len(cuts)} cuts, got {len(names)}")
    if list(cuts) != sorted(cuts) or any(t <= 0 for t in cuts):
        raise ValueError(f"`cuts` must be increasing times after 0 s, got {cuts}")
    out_dir.mkdir(parents=True, exist_ok=True)
    # No B-frames: with them, the first clip would start a frame or two late (an encoder delay edit).
    encode = ["-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-bf", "0"]
    if cuts:
        times = ",".join(f"{t:.4f}" for t in cuts)
        output = ["-force_key_frames", times, "-f", "segment", "-segment_times", times, "-reset_timestamps", "1",
                  "-segment_format_options", "movflags=+faststart", str(out_dir / "clip_%03d.mp4")]
    else:
        output = ["-movflags", "+faststart", str(out_dir / "clip_000.mp4")]
    run_ffmpeg([*FFMPEG, "-i", str(video), *encode, *output])
    clips = []
    for index, name in enumerate(names):
        clip = out_dir / f"{name}.mp4"
        (out_dir / f"clip_{index:03d}.mp4").replace(clip)
        clips.append(clip)
    return clips


def grab_frame(video: Path, out: Path, at: str = "last", width: int = 320) -> Path:
    """Write one frame of `video` as a PNG `width` pixels wide: its last frame, or the one in the middle."""
    if at not in ("last", "middle"):
        raise ValueError(f"`at` must be 'last' or 'middle', got {at!r}")
    seek = ["-sseof", "-0.5"] if at == "last" else ["-ss", f"{duration(video) / 2:.4f}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    frames = ["-update", "1"] if at == "last" else ["-frames:v", "1"]   # -update 1 keeps overwriting: the last wins
    run_ffmpeg([*FFMPEG, *seek, "-i", str(video), "-vf", f"scale={width}:-2:flags=area", *frames, str(out)])
    return out
