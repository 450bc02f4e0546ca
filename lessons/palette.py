"""The course's one colour palette, shared by the notebook explorers (lessons/widgets) and the Manim scenes
(animations/style.py).

The colours are Okabe and Ito's "Color Universal Design" set: they stay distinguishable under the common
colour-vision deficiencies, where the usual red/green pair does not. Each role keeps its hue everywhere (blue:
memory fading away, and the main data series; vermillion: blowing up, and the series compared against it; bluish
green: on the edge, well behaved; orange/yellow: the thing to look at), in a shade that reads on the background it
sits on: white in the explorers, near-black in the scenes.
"""
from __future__ import annotations

from dataclasses import dataclass

# Okabe & Ito (2008), https://jfly.uni-koeln.de/color/
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
WHITE = "#FFFFFF"


@dataclass(frozen=True)
class Palette:
    """Colours by role, for one background."""

    background: str
    foreground: str   # text, axes, zero lines
    muted: str        # guides: unit circles, reference curves, captions
    faint: str        # fills of idle cells
    vanishing: str    # memory fading away; also the main data series
    exploding: str    # blowing up; also the series compared against the main one
    stable: str       # on the edge, well behaved
    accent: str       # the thing to look at now


LIGHT = Palette(background=WHITE, foreground=BLACK, muted="#999999", faint="#EEEEEE",
                vanishing=BLUE, exploding=VERMILLION, stable=BLUISH_GREEN, accent=ORANGE)
DARK = Palette(background="#111418", foreground=WHITE, muted="#8A93A0", faint="#2A2F36",
               vanishing=SKY_BLUE, exploding=VERMILLION, stable=BLUISH_GREEN, accent=YELLOW)
