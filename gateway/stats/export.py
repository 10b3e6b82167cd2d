"""The report as text (the seed's table), CSV (one tidy table) and XLSX (a sheet per view).

The CSV has one row per figure: `section,year,as_of,key,name,bucket,count,percent`, sections
`overview`, `volume`, `month`, `care_unit` and `sender_unit`; suppressed counts read "<5" or
"..", with no percentage. That is the machine form (`gateway stats response-times --format
csv`: commas, codes, decimal points). The web download has the same rows in Swedish form for
Excel users (gateway.csvexport: semicolons, BOM, Swedish headings, section and bucket names in
words). Text that a spreadsheet would run as a formula (a unit name starting with "=", say) is
written so that it stays text in both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from gateway.csvexport import spreadsheet_safe
from gateway.stats.engine import BUCKET_LABELS, BUCKETS, Report
from gateway.stats.shares import LEGEND_TEXT

CSV_COLUMNS = ("section", "year", "as_of", "key", "name", "bucket", "count", "percent")
# The same columns, sections and measures as Swedish Excel users read them.
SWEDISH_COLUMNS = ("Avsnitt", "År", "Mätdatum", "Nyckel", "Namn", "Mått", "Antal", "Procent")
SWEDISH_SECTIONS = {
    "overview": "Översikt", "volume": "Volym", "month": "Månad", "care_unit": "Vårdcentral",
    "sender_unit": "Avsändande enhet",
}
SWEDISH_MEASURES = {
    **BUCKET_LABELS, "total": "Totalt", "inquiries": "Antal förfrågningar",
    "months": "Månader i snittet", "per_month": "Antal per månad",
}


def swedish_number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{swedish_number(value)} h"


def text_table(report: Report) -> str:
    """The report as the project group's table, with the further measures below it."""
    data = report.to_json()
    lines = [
        f"Svarstider {report.period.year} – mätning gjord {report.period.as_of.isoformat()}",
        f"{'Svarstid':<24}{'Andel':>7}{'Antal':>8}",
    ]
    for bucket in BUCKETS:
        cell = data["buckets"][bucket]
        lines.append(f"{BUCKET_LABELS[bucket]:<24}{cell['percent']:>5} %{cell['count']:>8}")
    lines.append(f"{'Totalt':<24}{'':>7}{report.total:>8}")
    lines.append(
        f"{report.period.year}: {swedish_number(report.per_month)} st/månad "
        f"({report.period.volume_label})"
    )
    lines += _extras_lines(data)
    return "\n".join(lines)


def _extras_lines(data: dict[str, Any]) -> list[str]:
    if "legs" not in data:
        return []
    target = data["answered_within_30_days"]
    share = "–" if target["percent"] is None else f"{target['percent']} %"
    lines = [
        "",
        f"Besvarade inom 30 dagar från mottagandet: {share} "
        f"({target['count']} av {target['of']}, förfrågningar via gatewayen)",
        f"Öppna efter svarsdatum: {data['open_past_deadline']}",
        "Tid per steg (median / 90:e percentil):",
    ]
    for leg in data["legs"]:
        lines.append(
            f"  {leg['from']} → {leg['to']}: {_hours(leg['median_hours'])} / "
            f"{_hours(leg['p90_hours'])} ({leg['count']} st)"
        )
    rejected = data["rejections"]
    if rejected["available"]:
        codes = ", ".join(f"{code} {n}" for code, n in rejected["by_code"].items()) or "inga"
        lines.append(f"Avvisade vid mottagandet: {rejected['total']} ({codes})")
    else:
        lines.append("Avvisade vid mottagandet: uppgift saknas")
    return lines


def _bucket_rows(
    section: str, report: Report, key: str, name: str, row: dict[str, Any]
) -> Iterator[list[object]]:
    base = [section, report.period.year, report.period.as_of.isoformat(), key, name]
    for bucket in BUCKETS:
        cell = row["buckets"][bucket]
        yield [*base, bucket, cell["count"], "" if cell["percent"] is None else cell["percent"]]
    yield [*base, "total", row["total"], ""]


def csv_rows(report: Report, *, breakdowns: bool = True) -> Iterator[list[object]]:
    data = report.to_json()
    yield from _bucket_rows("overview", report, "", "", data)
    volume = data["volume"]
    base = ["volume", report.period.year, data["as_of"], volume["first_month"], volume["label"]]
    yield [*base, "inquiries", volume["inquiries"], ""]
    yield [*base, "months", volume["months"], ""]
    yield [*base, "per_month", data["per_month"], ""]
    if not breakdowns:
        return
    for month in data["months"]:
        yield from _bucket_rows("month", report, month["month"], month["name"], month)
    for unit in data["care_units"]:
        yield from _bucket_rows("care_unit", report, unit["hsa_id"], unit["name"], unit)
    for unit in data["sender_units"]:
        yield from _bucket_rows("sender_unit", report, unit["name"], unit["name"], unit)


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """The machine CSV (commas, codes, decimal points): the CSV_COLUMNS header and rows, each
    value kept as text by a spreadsheet (CRLF lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([spreadsheet_safe(v) for v in row] for row in rows)
    return out.getvalue()


def report_rows(detail: Report, others: Sequence[Report] = ()) -> Iterator[list[object]]:
    """The rows of `detail` with its breakdowns, after the overview of `others` (other years)."""
    for report in others:
        if report.period != detail.period:
            yield from csv_rows(report, breakdowns=False)
    yield from csv_rows(detail)


def to_csv(detail: Report, others: Sequence[Report] = ()) -> str:
    """The machine CSV of report_rows(detail, others)."""
    return csv_text(report_rows(detail, others))


def swedish_rows(detail: Report, others: Sequence[Report] = ()) -> Iterator[list[object]]:
    """report_rows(detail, others) with the section and the measure in Swedish words, for
    gateway.csvexport (SWEDISH_COLUMNS)."""
    for section, year, as_of, key, name, measure, count, percent in report_rows(detail, others):
        yield [SWEDISH_SECTIONS[str(section)], year, as_of, key, name,
               SWEDISH_MEASURES[str(measure)], count, percent]


def _put(sheet: Worksheet, row: int, column: int, value: object, bold: bool = False) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        # openpyxl takes a leading "=" as a formula; a name is text.
        cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)


def _append(sheet: Worksheet, values: Sequence[object], bold: bool = False) -> None:
    row = sheet.max_row + 1 if sheet.max_row > 1 or sheet.cell(1, 1).value is not None else 1
    for column, value in enumerate(values, 1):
        _put(sheet, row, column, value, bold)


def _overview_sheet(sheet: Worksheet, reports: Sequence[Report]) -> None:
    as_of = reports[-1].period.as_of.isoformat()
    _append(sheet, [f"Svarstider för hälsoförfrågningar – mätning gjord {as_of}"], bold=True)
    _append(sheet, ["Svarstid", *[r.period.year for r in reports]], bold=True)
    percents = [r.percents() for r in reports]
    for bucket in BUCKETS:
        _append(sheet, [f"{BUCKET_LABELS[bucket]} (%)", *[p[bucket] for p in percents]])
    _append(sheet, ["Antal förfrågningar", *[r.total for r in reports]])
    _append(sheet, ["Antal per månad", *[r.per_month for r in reports]])
    _append(sheet, ["Månader i snittet", *[r.period.volume_label for r in reports]])


def _breakdown_sheet(
    sheet: Worksheet, first: str, rows: Sequence[dict[str, Any]], key: str | None
) -> None:
    heads = [first] + (["HSA-id"] if key else []) + ["Antal"]
    for bucket in BUCKETS:
        heads += [f"{BUCKET_LABELS[bucket]} antal", f"{BUCKET_LABELS[bucket]} %"]
    _append(sheet, heads, bold=True)
    for row in rows:
        values: list[object] = [row["name"]] + ([row[key]] if key else []) + [row["total"]]
        for bucket in BUCKETS:
            cell = row["buckets"][bucket]
            values += [cell["count"], cell["percent"]]
        _append(sheet, values)


def to_xlsx(detail: Report, overview: Sequence[Report]) -> bytes:
    """A workbook: the years side by side, then the detail year per month, care and sending unit."""
    data = detail.to_json()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Översikt"
    _overview_sheet(sheet, list(overview) or [detail])
    _breakdown_sheet(book.create_sheet(f"Månader {detail.period.year}"), "Månad",
                     data["months"], None)
    _breakdown_sheet(book.create_sheet(f"Vårdcentraler {detail.period.year}"), "Vårdcentral",
                     data["care_units"], "hsa_id")
    _breakdown_sheet(book.create_sheet(f"Enheter {detail.period.year}"), "Enhet",
                     data["sender_units"], None)
    notes = book.create_sheet("Om statistiken")
    for line in (
        f"Mätning gjord {detail.period.as_of.isoformat()}.",
        "Dagar räknas från dagen förfrågan skickades till dagen svaret nådde socialtjänsten.",
        "Procent är heltal som summerar till 100 (största-rest-metoden).",
        LEGEND_TEXT,
    ):
        _append(notes, [line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
