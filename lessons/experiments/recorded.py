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
    tables = markdown_tables(recorded_section(name, marker))
    if not tables:
        raise ValueError(f"the '{marker}' section of results/{name} holds no Markdown table.")
    return next(iter(tables.values()))


def markdown_tables(text: str) -> dict[str | None, list[dict[str, str]]]:
    """Every Markdown table in `text`, by the heading above it (None before the first heading): one dict per row,
    keyed by the table's columns; the tables under one heading are joined."""
    tables, heading, columns = {}, None, None
    for line in map(str.strip, text.splitlines()):
        if line.startswith("#"):
            heading, columns = line.lstrip("#").strip(), None
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if columns is None:
                columns = cells
            elif not set(line) <= set("|-: "):                                    # not the |---| rule
                tables.setdefault(heading, []).append(dict(zip(columns, cells, strict=True)))
        elif not line:
            columns = None
    return tables
