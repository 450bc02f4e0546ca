"""The scenes' one visual style: colours (from the course palette), sizes and small helpers every scene shares."""
from __future__ import annotations

import math

from manim import DOWN, UP, Text, VGroup, config

from lessons.palette import DARK

# The scenes' shades of the course palette (lessons/palette.py), which the explorers share.
BACKGROUND = DARK.background
FOREGROUND = DARK.foreground
MUTED = DARK.muted
VANISHING = DARK.vanishing   # sky blue: memory fading away
EXPLODING = DARK.exploding   # vermillion: blowing up
STABLE = DARK.stable         # bluish green: on the edge / well behaved
ACCENT = DARK.accent         # yellow: the thing to look at

FONT = "DejaVu Sans"
TITLE_SIZE = 34
LABEL_SIZE = 22
SMALL_SIZE = 16

config.background_color = BACKGROUND


def title(text: str) -> Text:
    """A scene title at the top edge."""
    return Text(text, font=FONT, font_size=TITLE_SIZE, color=FOREGROUND).to_edge(UP, buff=0.35)


def label(text: str, size: int = LABEL_SIZE, color=FOREGROUND) -> Text:
    """Plain text in the course font."""
    return Text(text, font=FONT, font_size=size, color=color)


def caption(text: str) -> Text:
    """A one-line explanation at the bottom edge."""
    return label(text, SMALL_SIZE, MUTED).to_edge(DOWN, buff=0.3)


def scientific(value: float) -> str:
    """Compact scientific notation for labels: 3.2e-05 -> '3.2e-5'."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    exponent = math.floor(math.log10(abs(value)))
    if -2 <= exponent <= 2:
        return f"{value:.2f}"
    return f"{value / 10**exponent:.1f}e{exponent}"


def stacked(*mobjects, buff: float = 0.4) -> VGroup:
    """Mobjects arranged top to bottom."""
    return VGroup(*mobjects).arrange(DOWN, buff=buff)
