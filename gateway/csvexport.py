"""CSV downloads that open as they should in Swedish Excel: one writer for every CSV a user
downloads (the statistics, the auditor's log extract).

Swedish Excel splits on semicolons (the comma is its decimal sign), reads UTF-8 only after a
byte-order mark, and runs a cell that starts with "=", "+", "-" or "@" as a formula; so the
bytes are UTF-8 with a BOM, `;` between cells, CRLF between rows, decimals with a comma, and
text that would start a formula is prefixed with an apostrophe so that it stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
MIMETYPE = "text/csv; charset=utf-8"


def spreadsheet_safe(value: object) -> object:
    """Return value so that a spreadsheet keeps it as text (a leading ' before a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def swedish_cell(value: object) -> object:
    """Return value as Swedish Excel reads it: a decimal comma, nothing for None, no formula."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value).replace(".", ",")
    return spreadsheet_safe(value)


def excel_csv(headings: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """Return the table as CSV bytes for Swedish Excel (BOM, `;`, CRLF, Swedish decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(headings)
    writer.writerows([swedish_cell(value) for value in row] for row in rows)
    return (BOM + out.getvalue()).encode("utf-8")


def csv_download(filename: str, headings: Sequence[str],
                 rows: Iterable[Sequence[object]]) -> Response:
    """Return the table as an attachment named `filename`, for Swedish Excel."""
    response = Response(excel_csv(headings, rows), mimetype=MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
