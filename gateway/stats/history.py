"""Import of the pre-gateway manual history (DESIGN 5.7): one inquiry a CSV row, by reference.

The machinery serves every kind of history file (a `HistoryFormat`: its columns, its row rules, its
table); the SIP history (gateway.stats.sip_history) is the other kind, and a file's header says
which it is. The file is checked row by row first; any bad row (each named with its line and
reason) stops the import before anything is written. Rows are then merged by `reference`: new ones
are added, changed ones updated, identical ones left alone, so importing the same file again
changes nothing. Commas separate the fields; a semicolon-separated file (Excel's habit in a Swedish
locale) is read too when its header says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from gateway import codes
from gateway.audit.service import record
from gateway.db import Base
from gateway.directory.identifiers import check_hsa_id
from gateway.errors import Issue
from gateway.inquiries.models import CloseReason
from gateway.params import ISO_DATE
from gateway.stats import historycounts
from gateway.stats.models import HistoryInquiry
from gateway.stats.period import FIRST_YEAR, StatsError

COLUMNS = (
    "reference", "care_unit", "sender_unit", "sent_on",
    "answer_registered_on", "closed_on", "close_reason",
)
HEADER = ",".join(COLUMNS)
# 1.5 million rows of about 80 bytes; a file larger than this is not a history of this project.
MAX_FILE_BYTES = 128 * 1024 * 1024
BATCH = 500
REFERENCE_MAX = 100
NAME_MAX = 200
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class HistoryRow:
    """One valid row of the history file."""

    reference: str
    care_unit: str
    sender_unit: str
    sent_on: dt.date
    answer_registered_on: dt.date | None
    closed_on: dt.date | None
    close_reason: CloseReason | None


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    # What the file held ("inquiries", "SIPs"): said to the user, not audited.
    kind: str = field(default="inquiries", compare=False)

    def describe(self) -> str:
        return f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True)
class KeptCounts:
    """Counts derived from a history table and kept as rows are merged: `add(session,
    references, sign)` adds (1) or takes away (-1) those rows' part as they are in the
    transaction; `prune(session)` drops counts left at nothing."""

    add: Callable[[Session, Sequence[str], int], None]
    prune: Callable[[Session], None]


@dataclass(frozen=True)
class HistoryFormat:
    """One kind of history file: its header, how a row is read, and the table rows go to.

    `row_type` is a frozen dataclass whose fields (the first is `reference`) are columns of
    `model`; `parse_row(values, today)` returns one or raises ValueError with the reason.
    """

    kind: str
    columns: tuple[str, ...]
    row_type: type[Any]
    parse_row: Callable[[dict[str, str], dt.date], Any]
    model: type[Base]
    audit_action: str
    counts: KeptCounts | None = None

    @property
    def header(self) -> str:
        return ",".join(self.columns)


def _bad_row(line: int, reason: str) -> Issue:
    return Issue("BAD_ROW", reason, location=f"line {line}")


def _refuse(source: str, issues: list[Issue]) -> StatsError:
    count = len(issues)
    noun = "problem" if count == 1 else "problems"
    return StatsError.at(
        codes.INVALID_HISTORY, f"{source}: {count} {noun}; nothing imported", status=422,
        issues=issues,
    )


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise _refuse(source, [Issue("TOO_LARGE", f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        # utf-8-sig: a byte-order mark, as Excel writes it, is not part of the header.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _refuse(source, [_bad_row(line, "not UTF-8 text")]) from None


def _delimiter(first_line: str) -> str:
    return ";" if ";" in first_line and "," not in first_line else ","


def _expected(formats: Sequence[HistoryFormat]) -> str:
    return "expected the header " + " or ".join(fmt.header for fmt in formats)


def _choose(names: Sequence[str], formats: Sequence[HistoryFormat]) -> HistoryFormat:
    """The format whose columns the header names most (the first on a tie)."""
    return max(formats, key=lambda fmt: sum(name in fmt.columns for name in names))


def _check_header(names: list[str], fmt: HistoryFormat, source: str) -> None:
    missing = [c for c in fmt.columns if c not in names]
    unknown = [n for n in names if n not in fmt.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(u[:40]) for u in unknown)}")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if problems:
        detail = "; ".join(problems) + f"; {_expected([fmt])}"
        raise _refuse(source, [_bad_row(1, detail)])


def _records(
    text: str, source: str, formats: Sequence[HistoryFormat]
) -> tuple[HistoryFormat, Iterator[tuple[int, dict[str, str]]]]:
    """Return the file's format (by its header) and its data rows as (line, {column: value});
    raise for an empty file or a bad header."""
    if not text.strip():
        raise _refuse(source, [_bad_row(1, f"empty file; {_expected(formats)}")])
    delimiter = _delimiter(text.split("\n")[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        names = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise _refuse(source, [_bad_row(1, f"not valid CSV: {exc}")]) from None
    fmt = _choose(names, formats)
    _check_header(names, fmt, source)
    return fmt, _rows(reader, names, source)


def _rows(reader: Any, names: list[str], source: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, {column: value}) per data row of a csv.reader; raise for CSV syntax."""
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                yield reader.line_num, {"": f"expected {len(names)} fields, got {len(cells)}"}
                continue
            yield reader.line_num, dict(zip(names, (c.strip() for c in cells), strict=True))
    except csv.Error as exc:
        raise _refuse(source, [_bad_row(reader.line_num, f"not valid CSV: {exc}")]) from None


def text_field(values: dict[str, str], name: str, limit: int) -> str:
    value = values[name]
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if CONTROL.search(value):
        raise ValueError(f"{name} contains control characters")
    return value


def date_field(values: dict[str, str], name: str, today: dt.date) -> dt.date | None:
    raw = values[name]
    if not raw:
        return None
    try:
        if not ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} is not a date as YYYY-MM-DD ({raw[:40]!r})") from None
    if day.year < FIRST_YEAR:
        raise ValueError(f"{name} {raw} is before {FIRST_YEAR}")
    if day > today:
        raise ValueError(f"{name} {raw} is in the future")
    return day


def _reason(values: dict[str, str]) -> CloseReason | None:
    raw = values["close_reason"]
    if not raw:
        return None
    try:
        return CloseReason(raw)
    except ValueError:
        known = ", ".join(r.value for r in CloseReason)
        raise ValueError(f"close_reason {raw[:40]!r} is not one of {known}") from None


def unit_fields(values: dict[str, str]) -> tuple[str, str, str]:
    """Return (reference, care_unit, sender_unit), the fields every history row starts with;
    raise ValueError for a short row or a bad field."""
    if "" in values:
        raise ValueError(values[""])
    reference = text_field(values, "reference", REFERENCE_MAX)
    care_unit = text_field(values, "care_unit", 31)
    hsa_problem = check_hsa_id(care_unit)
    if hsa_problem:
        raise ValueError(f"care_unit is {hsa_problem}")
    return reference, care_unit, text_field(values, "sender_unit", NAME_MAX)


def first_date(values: dict[str, str], name: str, today: dt.date) -> dt.date:
    """The row's required start date; raise ValueError when it is empty or bad."""
    day = date_field(values, name, today)
    if day is None:
        raise ValueError(f"{name} is empty")
    return day


def not_before(day: dt.date | None, name: str, start: dt.date, start_name: str) -> None:
    if day is not None and day < start:
        raise ValueError(f"{name} is before {start_name}")


def parse_row(values: dict[str, str], today: dt.date) -> HistoryRow:
    """Return the row; raise ValueError with the reason when it is not acceptable."""
    reference, care_unit, sender_unit = unit_fields(values)
    sent_on = first_date(values, "sent_on", today)
    answered = date_field(values, "answer_registered_on", today)
    closed = date_field(values, "closed_on", today)
    reason = _reason(values)
    _check_outcome(sent_on, answered, closed, reason)
    return HistoryRow(reference, care_unit, sender_unit, sent_on, answered, closed, reason)


def _check_outcome(
    sent_on: dt.date, answered: dt.date | None, closed: dt.date | None, reason: CloseReason | None
) -> None:
    not_before(answered, "answer_registered_on", sent_on, "sent_on")
    not_before(closed, "closed_on", sent_on, "sent_on")
    if answered is not None and closed is not None:
        raise ValueError("both answer_registered_on and closed_on: an inquiry is one or the other")
    if closed is not None and reason is None:
        raise ValueError("closed_on without close_reason")
    if reason is not None and closed is None:
        raise ValueError("close_reason without closed_on")


INQUIRIES = HistoryFormat(
    kind="inquiries",
    columns=COLUMNS,
    row_type=HistoryRow,
    parse_row=parse_row,
    model=HistoryInquiry,
    audit_action="stats.history_import",
    counts=KeptCounts(historycounts.add, historycounts.prune),
)


def parse_file(
    data: bytes, source: str, formats: Sequence[HistoryFormat], today: dt.date | None = None
) -> tuple[HistoryFormat, list[Any]]:
    """Return the file's format (chosen by its header among `formats`) and every row; raise
    StatsError naming every bad row (line and reason)."""
    today = today or stockholm_today()
    fmt, records = _records(_decode(data, source), source, formats)
    rows: list[Any] = []
    issues: list[Issue] = []
    first_line: dict[str, int] = {}
    for line, values in records:
        try:
            row = fmt.parse_row(values, today)
        except ValueError as exc:
            issues.append(_bad_row(line, str(exc)))
            continue
        if row.reference in first_line:
            issues.append(_bad_row(
                line, f"reference {row.reference!r} repeats line {first_line[row.reference]}"
            ))
            continue
        first_line[row.reference] = line
        rows.append(row)
    if issues:
        raise _refuse(source, issues)
    return fmt, rows


def parse_history(data: bytes, source: str, today: dt.date | None = None) -> list[HistoryRow]:
    """Return every row of an inquiry history file; raise StatsError naming every bad row."""
    return parse_file(data, source, (INQUIRIES,), today)[1]


def _stored(session: Session, fmt: HistoryFormat, references: Sequence[str]) -> dict[str, Any]:
    columns = [getattr(fmt.model, f.name) for f in fields(fmt.row_type)]
    query = select(*columns).where(columns[0].in_(references))
    if fmt.counts is not None:
        # Locked: a concurrent import changing one of them waits, then reads what this one
        # wrote, so each takes away from the counts what the row really counted.
        query = query.order_by(columns[0]).with_for_update()
    return {row[0]: fmt.row_type(*row) for row in session.execute(query)}


def _merge_batch(session: Session, fmt: HistoryFormat, batch: Sequence[Any]) -> tuple[int, int]:
    stored = _stored(session, fmt, [row.reference for row in batch])
    new = [asdict(row) for row in batch if row.reference not in stored]
    changed = [row for row in batch if row.reference in stored and stored[row.reference] != row]
    if fmt.counts is not None:
        fmt.counts.add(session, [row.reference for row in changed], -1)
    if new:
        session.execute(insert(fmt.model), new)
    for row in changed:
        values = asdict(row)
        reference = getattr(fmt.model, "reference")  # noqa: B009 - every history model has it
        session.execute(
            update(fmt.model).where(reference == values.pop("reference")).values(**values)
        )
    if fmt.counts is not None:
        fmt.counts.add(
            session, [row["reference"] for row in new] + [row.reference for row in changed], 1
        )
    return len(new), len(changed)


def import_history(
    session: Session, rows: Sequence[Any], *, actor: str, source: str,
    fmt: HistoryFormat = INQUIRIES,
) -> ImportSummary:
    """Merge rows of `fmt` by reference in session's transaction and audit it; the caller
    commits.

    Raises StatsError (409) when another import added one of the references meanwhile.
    """
    created = updated = 0
    try:
        for start in range(0, len(rows), BATCH):
            added, changed = _merge_batch(session, fmt, rows[start : start + BATCH])
            created, updated = created + added, updated + changed
        if updated and fmt.counts is not None:
            fmt.counts.prune(session)
    except IntegrityError:
        session.rollback()
        raise StatsError.at(
            codes.CONCURRENT_IMPORT, "Nothing was imported; run the import again.", status=409,
        ) from None
    summary = ImportSummary(created, updated, len(rows) - created - updated, fmt.kind)
    record(
        session, actor=actor, action=fmt.audit_action, object_type="history",
        object_id=source[:200], detail=summary.counts(),
    )
    return summary


def import_history_csv(
    session: Session, data: bytes, *, actor: str, source: str, today: dt.date | None = None,
    formats: Sequence[HistoryFormat] = (INQUIRIES,),
) -> ImportSummary:
    """Parse the CSV (of the format its header names) and merge it; raise StatsError (nothing
    written) for any bad row."""
    fmt, rows = parse_file(data, source, formats, today)
    return import_history(session, rows, actor=actor, source=source, fmt=fmt)
