"""Whole percentages by largest remainder, and suppression of small groups in breakdowns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.stats.shares import FEW, HIDDEN, largest_remainder, published_row, suppress


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([57, 8, 40, 27, 0], [43, 6, 30, 21, 0]),
        ([105, 41, 72, 39, 19], [38, 15, 26, 14, 7]),
        ([1, 1, 1], [34, 33, 33]),
        ([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
        ([0, 7, 0], [0, 100, 0]),
        ([2, 1], [67, 33]),
    ],
    ids=["2022", "2023", "three-way-tie", "empty", "one-bucket", "thirds"],
)
def test_largest_remainder_examples(counts: list[int], expected: list[int]) -> None:
    assert largest_remainder(counts) == expected


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8))
def test_percentages_sum_to_100_and_stay_within_one_point(counts: list[int]) -> None:
    shares = largest_remainder(counts)
    total = sum(counts)
    if total == 0:
        assert shares == [0] * len(counts)
        return
    assert sum(shares) == 100
    for count, share in zip(counts, shares, strict=True):
        assert abs(share - 100 * count / total) < 1


def test_a_small_count_is_shown_as_fewer_than_five() -> None:
    marks = suppress([[3, 1, 0, 0, 0, 4], [20, 10, 6, 8, 5, 49]])
    assert marks[0] == [FEW] * 6


def test_a_lone_small_cell_gets_company_so_it_cannot_be_subtracted_out() -> None:
    # Row: 24 = 5 + 5 + 5 + 5 + 4; with only the 4 hidden it is 24 minus the rest.
    table = [[5, 5, 5, 5, 4, 24], [9, 9, 9, 9, 9, 45], [8, 8, 8, 8, 8, 40]]
    marks = suppress(table)
    for line in [*marks, *zip(*marks, strict=True)]:
        assert sum(mark is not None for mark in line) != 1
    assert marks[0][4] == FEW
    assert HIDDEN in marks[0]


def test_published_row_drops_percentages_of_hidden_cells() -> None:
    cells = published_row([20, 3, 0, 0, 0], 23, [None, FEW, FEW, FEW, FEW, None])
    assert cells[0].count == 20 and cells[0].percent == 87
    assert all(cell.count == FEW and cell.percent is None for cell in cells[1:5])
    assert cells[-1].count == 23


def test_a_hidden_total_hides_every_percentage_of_its_row() -> None:
    cells = published_row([6, 6, 0, 0, 0], 12, [None, HIDDEN, FEW, FEW, FEW, HIDDEN])
    assert cells[0].count == 6 and cells[0].percent is None
    assert cells[-1].count == HIDDEN


@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=40), min_size=5, max_size=5),
        min_size=1, max_size=6,
    )
)
def test_no_row_or_column_is_left_with_exactly_one_hidden_cell(rows: list[list[int]]) -> None:
    table = [[*row, sum(row)] for row in rows]
    marks = suppress(table)
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            if value < 5:
                assert marks[r][c] == FEW
    lines = [*marks, *zip(*marks, strict=True)] if len(table) > 1 else list(marks)
    for line in lines:
        hidden = sum(mark is not None for mark in line)
        assert hidden != 1 or len(line) == 1
