"""Whole-number percentages that sum to 100 (largest remainder), and small-group suppression.

Largest remainder (Hamilton's method): each share gets the whole part of its exact percentage;
the points still missing to reach 100 go, one each, to the shares with the largest fractional
parts. Ties go to the larger count, then to the earlier bucket in the report's order, so the
result is the same every time. An empty group has every share 0.

Suppression: in breakdowns per care unit or sending unit, a count below SMALL (0 to 4) could
point at a person, so it shows as "<5". Because a row's cells add up to its total and a
column's cells add up to the (published) yearly figure, a single hidden cell in a row or a
column could be worked out by subtraction; such a cell gets company: the smallest other cell
of that row or column is hidden too (shown as ".."), repeated until no row or column has
exactly one hidden cell. Percentages of a hidden cell, and every percentage of a row whose
total is hidden, are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SMALL = 5
FEW = "<5"
HIDDEN = ".."
LEGEND_TEXT = (
    f'"{FEW}": färre än 5 förfrågningar. "{HIDDEN}": dolt, så att en liten grupp inte kan '
    "räknas fram ur summorna."
)


def largest_remainder(counts: Sequence[int]) -> list[int]:
    """Return whole percentages of counts summing to 100 (all 0 when the counts sum to 0)."""
    total = sum(counts)
    if total == 0:
        return [0 for _ in counts]
    # Exact arithmetic in integers: count * 100 = whole * total + remainder.
    wholes = [count * 100 // total for count in counts]
    remainders = [count * 100 % total for count in counts]
    missing = 100 - sum(wholes)
    order = sorted(range(len(counts)), key=lambda i: (-remainders[i], -counts[i], i))
    for index in order[:missing]:
        wholes[index] += 1
    return wholes


def percent_of(part: int, whole: int) -> int | None:
    """Return part as a whole percentage of whole, half up (12.5 % is 13 %); None for 0 of 0."""
    if not whole:
        return None
    # In integers, so the same on every machine.
    return (200 * part + whole) // (2 * whole)


@dataclass(frozen=True)
class Cell:
    """One published count: its value or a suppression mark, and its percentage if shown."""

    count: int | str
    percent: int | None


def suppress(table: Sequence[Sequence[int]]) -> list[list[str | None]]:
    """Return for each cell None (show it), FEW (a small count) or HIDDEN (hides another).

    `table` rows are groups (a care unit, say); columns are the cells that add up across rows
    (the buckets, then the row total as the last column).
    """
    marks: list[list[str | None]] = [
        [FEW if value < SMALL else None for value in row] for row in table
    ]
    changed = True
    while changed:
        changed = False
        for line in _lines(len(table), len(table[0]) if table else 0):
            hidden = [cell for cell in line if marks[cell[0]][cell[1]] is not None]
            shown = [cell for cell in line if marks[cell[0]][cell[1]] is None]
            if len(hidden) == 1 and shown:
                row, col = min(shown, key=lambda c: (table[c[0]][c[1]], c))
                marks[row][col] = HIDDEN
                changed = True
    return marks


def _lines(rows: int, cols: int) -> list[list[tuple[int, int]]]:
    """Every row and every column of a rows x cols table, as lists of (row, col)."""
    by_row = [[(r, c) for c in range(cols)] for r in range(rows)]
    # One group alone in a column is the published yearly figure itself: nothing to protect.
    by_col = [[(r, c) for r in range(rows)] for c in range(cols)] if rows > 1 else []
    return by_row + by_col


def published_row(counts: Sequence[int], total: int, marks: Sequence[str | None]) -> list[Cell]:
    """Return the cells of one row (buckets, then the total) with suppression applied."""
    percents = largest_remainder(counts)
    total_hidden = marks[-1] is not None
    cells = [
        Cell(mark or count, None if mark is not None or total_hidden else percent)
        for count, percent, mark in zip(counts, percents, marks[:-1], strict=True)
    ]
    cells.append(Cell(marks[-1] or total, None if total_hidden else 100))
    return cells
