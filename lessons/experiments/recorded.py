"""Read numbers back from the recorded results files (results/*.md), so that notebooks quote them, never copy them.

A results file marks each part a notebook reads with a pair of `<!-- marker -->` lines around it.
"""
from __future__ import annotations

from lessons.utils import results_path


def recorded_section(name: str, marker: str) -> str:
    """The text between the two `<!-- marker -->` lines of results/<name>, stripped."""
    text = results_path(name).read_text()
    tag = f"<!-- {marker} -->"
    parts = text.split(tag)
    if len(parts) != 3:
        raise ValueError(f"results/{name} should hold exactly two '{tag}' lines, found {len(parts) - 1}.")
    return parts[1].strip()


def recorded_table(name: str, marker: str) -> list[dict[str, str]]:
    """The first Markdown table inside the `marker` section of results/<name>: one dict per row, keyed by column."""
    lines = [line.strip() for line in recorded_section(name, marker).splitlines() if line.strip().startswith("|")]
    if len(lines) < 3:
        raise ValueError(f"the '{marker}' section of results/{name} holds no Markdown table.")

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip("|").split("|")]

    columns = cells(lines[0])
    return [dict(zip(columns, cells(line), strict=True)) for line in lines[2:]]
