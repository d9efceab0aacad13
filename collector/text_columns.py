"""Columns of text for a terminal: display widths, visible cuts, and fitting a table to a width.

Device strings are clean when they get here (collector.device_strings: no control
characters, NFC, at most 256 characters), but "clean" is not "one column per character":
a CJK ifAlias takes two columns per character, a Vietnamese letter that NFC could not
compose carries a zero-width mark. Padding with `str.ljust` would misalign every row after
such a name, and cutting by `len` could split a letter from its mark. So widths here are
display widths, and a cut always ends in "…" so a reader sees that something is missing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

ELLIPSIS = "…"
GAP = "  "


def char_width(char: str) -> int:
    """Columns a character takes in a terminal: 0 for marks and format characters, 2 for
    East Asian wide/fullwidth, else 1 (ambiguous ones count 1, as most terminals draw them)."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns `text` takes in a terminal (see char_width)."""
    if text.isascii():
        return len(text)
    return sum(char_width(c) for c in text)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` columns: as is if it fits, else its start and "…".

    Never between a letter and its marks (they are kept or dropped together), and a wide
    character that would straddle the edge is left out rather than half drawn.
    """
    if text_width(text) <= width:
        return text
    room = width - 1  # the ellipsis takes one column
    used, end = 0, 0
    for i, char in enumerate(text):
        w = char_width(char)
        if w and used + w > room:
            break
        used += w
        end = i + 1
    return text[:end] + ELLIPSIS


@dataclass(frozen=True)
class Column:
    """One column: its header, alignment, and what a table fitted to a width may do to it.

    `shrink` orders the columns that may be cut (1 first, then 2...), each down to
    `min_width`; None means never cut (numbers, metric names: a cut number is a wrong
    number). `drop` orders the columns that may be left out when cutting is not enough.
    """

    header: str
    right: bool = False
    shrink: int | None = None
    min_width: int = 8
    drop: int | None = None


@dataclass(frozen=True)
class Table:
    """The table's lines, whether any cell was cut to fit, and the columns left out."""

    lines: list[str]
    cut: bool
    left_out: list[str]


def _floor(column: Column, natural: int) -> int:
    if column.shrink is None:
        return natural
    return min(natural, max(column.min_width, text_width(column.header)))


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> Table:
    """Lay `rows` out under `columns`: one line per row, cells separated by two spaces.

    With `width` None every column is shown and every cell in full. Otherwise, while even
    the cuttable columns at their `min_width` would not fit, the droppable columns are
    left out in their `drop` order; then the cuttable columns narrow in their `shrink`
    order and their cells that no longer fit end in "…". One rule for every row, so a
    column has one width throughout. If what may be neither cut nor left out exceeds
    `width`, the lines stay longer than it rather than lose digits.
    """
    natural = [max(text_width(c.header), *(text_width(r[i]) for r in rows))
               for i, c in enumerate(columns)]
    keep = list(range(len(columns)))
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop is not None)

    def least(kept: list[int]) -> int:
        return sum(_floor(columns[i], natural[i]) for i in kept) + len(GAP) * (len(kept) - 1)

    while width is not None and droppable and least(keep) > width:
        keep.remove(droppable.pop(0)[1])
    widths = {i: natural[i] for i in keep}
    if width is not None:
        excess = sum(widths.values()) + len(GAP) * (len(keep) - 1) - width
        for _, i in sorted((columns[i].shrink, i) for i in keep
                           if columns[i].shrink is not None):
            give = min(max(excess, 0), widths[i] - _floor(columns[i], natural[i]))
            widths[i] -= give
            excess -= give
    was_cut = False
    lines = []
    for row in [[c.header for c in columns], *rows]:
        cells = []
        for i in keep:
            shown = cut(row[i], widths[i])
            was_cut = was_cut or shown != row[i]
            pad = " " * (widths[i] - text_width(shown))
            cells.append(pad + shown if columns[i].right else shown + pad)
        lines.append(GAP.join(cells).rstrip())
    left_out = [c.header for i, c in enumerate(columns) if i not in keep]
    return Table(lines, was_cut, left_out)
