"""Lecture mode: a notebook's headings decide its slides.

The rule, applied by :func:`stamp` to every notebook (nbconvert's and RISE's
``metadata.slideshow.slide_type``):

- a Markdown cell that opens with a ``#`` or ``##`` heading starts a new slide (a section);
- one that opens with a ``###`` heading starts a subslide (reveal.js: one step down);
- the setup cell (the first code cell: imports, fonts, seeds) is ``skip``: it runs, but is not shown;
- every other cell continues the current slide (``-``).

So that every section really starts a slide, a heading must open its cell
(:func:`misplaced_headings` lists those that do not). A long slide scrolls (see :mod:`.deck`).
"""
from __future__ import annotations

import re

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _headings(cell: dict) -> list[tuple[int, str]]:
    """(level, title) of every heading line in a Markdown cell, outside fenced code."""
    if cell.get("cell_type") != "markdown":
        return []
    found, fenced = [], False
    for line in _text(cell).splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.append((len(m.group(1)), m.group(2)))
    return found


def _opening_heading_level(cell: dict) -> int | None:
    """The level of the heading a Markdown cell opens with, or None."""
    if cell.get("cell_type") != "markdown":
        return None
    first = next((line for line in _text(cell).splitlines() if line.strip()), "")
    m = HEADING.match(first)
    return len(m.group(1)) if m else None


def slide_types(nb: dict) -> list[str]:
    """What the rule gives for each cell of ``nb``, in order."""
    cells = nb["cells"]
    setup = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    types = []
    for i, cell in enumerate(cells):
        level = _opening_heading_level(cell)
        if i == setup:
            types.append("skip")
        elif level is not None and level <= 2:
            types.append("slide")
        elif level is not None:
            types.append("subslide")
        else:
            types.append("-")
    return types


def stamp(nb: dict) -> dict:
    """Set every cell's ``metadata.slideshow.slide_type`` by the rule (in place); return ``nb``.
    Nothing else in the metadata changes."""
    for cell, kind in zip(nb["cells"], slide_types(nb)):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    return nb


def drift(nb: dict) -> list[str]:
    """Cells whose stored slide metadata differs from the rule: ``'cell N: stored X, rule Y'``."""
    out = []
    for i, (cell, kind) in enumerate(zip(nb["cells"], slide_types(nb))):
        stored = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if stored != kind:
            out.append(f"cell {i}: stored {stored!r}, rule {kind!r}")
    return out


def sections(nb: dict) -> list[str]:
    """The deck's sections: the titles of its ``##`` headings, in order."""
    return [title for cell in nb["cells"] for level, title in _headings(cell) if level == 2]


def misplaced_headings(nb: dict) -> list[str]:
    """Headings (levels 1–3) that do not open their Markdown cell, so they would start no slide."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        heads = [(lv, t) for lv, t in _headings(cell) if lv <= 3]
        opening = _opening_heading_level(cell)
        for j, (level, title) in enumerate(heads):
            if j > 0 or opening is None or opening > 3:
                out.append(f"cell {i}: {'#' * level} {title}")
    return out
