"""Test helper: read a CSV download as Swedish Excel would, failing where Excel would go wrong.

Swedish Excel needs the UTF-8 byte-order mark (else "Ä" reads as "Ã„"), splits cells on `;`
(the comma is its decimal sign), and runs a cell starting with "=", "+", "-" or "@" as a
formula. `swedish_excel_rows(body)` asserts all of that on the raw bytes and returns the rows as
dictionaries keyed by the (Swedish) headings.
"""

from __future__ import annotations

import csv
import io

FORMULA_START = ("=", "+", "-", "@")


def swedish_excel_rows(body: bytes) -> list[dict[str, str]]:
    """Return the data rows keyed by heading; assert BOM, CRLF, `;` and no formula cell."""
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte-order mark: Excel misreads å, ä, ö"
    text = body[3:].decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "rows end in CRLF"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    headings, data = rows[0], rows[1:]
    assert len(headings) > 1, "one column only: the separator is not `;`"
    assert all(len(row) == len(headings) for row in data), "a row with another number of cells"
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START), f"Excel would run {cell!r} as a formula"
    return [dict(zip(headings, row, strict=True)) for row in data]
