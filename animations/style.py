"""The scenes' one visual style: colours (from the course palette), sizes and small helpers every scene shares."""
from __future__ import annotations

import math

from manim import DOWN, RIGHT, UP, Arrow, MathTex, Square, Text, VGroup, config

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
EQUATION_SIZE = 44
CARD_TITLE_SIZE = 48

# The layout grid (Manim units; the frame is 14.2 × 8): content lives between the title band and the caption
# band, in up to two columns.
TITLE_BAND_TOP = 3.6
CONTENT_TOP = 2.7
CONTENT_BOTTOM = -3.0
LEFT_COLUMN_X = -3.4
RIGHT_COLUMN_X = 3.4
TEXT_WIDTH = 13.0   # the widest a line of text may be (the frame is 14.2 wide)

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


def equation(*tex: str, size: int = EQUATION_SIZE, color=FOREGROUND) -> MathTex:
    """A typeset equation (MathTex); pass several strings to colour or transform the parts separately."""
    return MathTex(*tex, font_size=size, color=color)


def fit_width(mobject, width: float = TEXT_WIDTH):
    """Shrink `mobject` to `width` if it is wider (a long measured line on a card); never enlarge it."""
    if mobject.width > width:
        mobject.scale_to_fit_width(width)
    return mobject


def title_card(lesson: str, heading: str, question: str) -> VGroup:
    """A segment's opening card: 'Lesson NN', its title, and the question the lesson answers (Segment's
    play_title_card plays it)."""
    return stacked(label(f"Lesson {lesson}", LABEL_SIZE, MUTED),
                   fit_width(label(heading, CARD_TITLE_SIZE, FOREGROUND)),
                   fit_width(label(question, LABEL_SIZE + 4, ACCENT)), buff=0.5)


def closing_card(result: str, bridge: str) -> VGroup:
    """A segment's closing card: the measured result (a line or two), and the bridge to the next lesson (Segment's
    play_closing_card plays it)."""
    return stacked(fit_width(label(result, LABEL_SIZE + 4, FOREGROUND)), fit_width(label(bridge, LABEL_SIZE, ACCENT)),
                   buff=0.6)


def cell_row(count: int, color=FOREGROUND, size: float = 0.8, buff: float = 0.3) -> VGroup:
    """A row of `count` square cells left to right: a sequence laid out in time."""
    return VGroup(*[Square(size, color=color, stroke_width=3) for _ in range(count)]).arrange(RIGHT, buff=buff)


def arrow_between(start, end, color=MUTED, width: float = 2.5) -> Arrow:
    """A thin arrow from one mobject's edge to another's (between cells, or between levels of a scan)."""
    direction = end.get_center() - start.get_center()
    if abs(direction[0]) >= abs(direction[1]):
        a, b = (start.get_right(), end.get_left()) if direction[0] > 0 else (start.get_left(), end.get_right())
    else:
        a, b = (start.get_bottom(), end.get_top()) if direction[1] < 0 else (start.get_top(), end.get_bottom())
    return Arrow(a, b, buff=0.05, stroke_width=width, color=color, max_tip_length_to_length_ratio=0.15)


def left_column(mobject, top: float = CONTENT_TOP):
    """Place a mobject in the left column of the grid, its top at `top`."""
    return mobject.move_to([LEFT_COLUMN_X, 0, 0]).align_to([0, top, 0], UP)


def right_column(mobject, top: float = CONTENT_TOP):
    """Place a mobject in the right column of the grid, its top at `top`."""
    return mobject.move_to([RIGHT_COLUMN_X, 0, 0]).align_to([0, top, 0], UP)


# Colours the scenes set text in, by role: each must read against BACKGROUND (tests/test_palette.py).
TEXT_COLOURS = {"foreground": FOREGROUND, "muted": MUTED, "vanishing": VANISHING, "exploding": EXPLODING,
                "stable": STABLE, "accent": ACCENT}
WCAG_AA_CONTRAST = 4.5   # WCAG 2 level AA for normal text


def linear_rgb(colour: str) -> tuple[float, float, float]:
    """A '#RRGGBB' colour's sRGB channels, linearised (the sRGB transfer function undone), each in [0, 1]."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a '#RRGGBB' colour: 0 for black, 1 for white."""
    red, green, blue = linear_rgb(colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
