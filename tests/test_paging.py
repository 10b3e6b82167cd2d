"""Pages of long lists: which page `?sida=` asks for and which rows it shows."""

from __future__ import annotations

import pytest

from gateway.inquiries.paging import Page, page_number


@pytest.mark.parametrize(("text", "number"), [(None, 1), ("", 1), ("3", 3), ("0", 1),
                                              ("-2", 1), ("x", 1), ("9" * 12, 1)])
def test_page_number_is_a_positive_number_or_the_first(text: str | None, number: int) -> None:
    assert page_number(text) == number


def test_pages_cover_the_rows_and_a_page_beyond_the_end_is_the_last() -> None:
    assert Page.of(1, 0) == Page(1, 1)
    middle = Page.of(2, 120, size=50)
    assert (middle.pages, middle.offset, middle.previous, middle.next) == (3, 50, 1, 3)
    last = Page.of(9, 120, size=50)
    assert (last.number, last.offset, last.next) == (3, 100, None)
