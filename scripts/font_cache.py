"""Rebuild matplotlib's font cache when it lacks matplotlib's own fonts.

matplotlib keeps one font list per user (~/.cache/matplotlib/fontlist-v*.json), named by its format version, not
by the install that wrote it. A Linux distribution's matplotlib, which leaves out the bundled fonts, can write it;
then the course's plots fall back from STIXGeneral (mathtext's symbols) with a screenful of "findfont" warnings in
every notebook. scripts/setup.sh runs this on every `./course` command: a check of about a second when all is well.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib import font_manager

BUNDLED = "STIXGeneral"   # shipped in matplotlib's mpl-data/fonts/ttf; mathtext's fallback for symbols


def cache_file() -> Path:
    """The font list this matplotlib reads (MPLCONFIGDIR moves it)."""
    return Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"


def has_bundled_fonts(manager: font_manager.FontManager) -> bool:
    """True if the font list knows matplotlib's own fonts."""
    return any(font.name == BUNDLED for font in manager.ttflist)


def main() -> None:
    if has_bundled_fonts(font_manager.fontManager):
        return
    fresh = font_manager.FontManager()      # scans matplotlib's fonts and the system's
    font_manager.json_dump(fresh, cache_file())
    print(f"Rebuilt matplotlib's font cache ({cache_file()}): it lacked matplotlib's own fonts.")


if __name__ == "__main__":
    main()
