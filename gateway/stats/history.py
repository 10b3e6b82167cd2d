"""Import of the pre-gateway manual history (DESIGN 5.7): one inquiry a CSV row, by reference.

The file is checked row by row first; any bad row (each named with its line and reason) stops
the import before anything is written. Rows are then merged by `reference`: new ones are added,
changed ones updated, identical ones left alone, so importing the same file again changes
nothing. Commas separate the fields; a semicolon-separated file (Excel's habit in a Swedish
locale) is read too when its header says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from gateway import codes
from gateway.audit.service import record
from gateway.directory.identifiers import check_hsa_id
from gateway.errors import Issue
from gateway.inquiries.models import CloseReason
from gateway.params import ISO_DATE
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

    def describe(self) -> str:
        return f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"


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


def _check_header(header: Sequence[str], source: str) -> list[str]:
    names = [name.strip() for name in header]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(u[:40]) for u in unknown)}")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if problems:
        detail = "; ".join(problems) + f"; expected the header {HEADER}"
        raise _refuse(source, [_bad_row(1, detail)])
    return names


def _records(text: str, source: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, {column: value}) per data row; raise for a bad header or CSV syntax."""
    if not text.strip():
        raise _refuse(source, [_bad_row(1, f"empty file; expected the header {HEADER}")])
    delimiter = _delimiter(text.split("\n")[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        names = _check_header(next(reader), source)
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(names):
                yield reader.line_num, {"": f"expected {len(names)} fields, got {len(fields)}"}
                continue
            yield reader.line_num, dict(zip(names, (f.strip() for f in fields), strict=True))
    except csv.Error as exc:
        raise _refuse(source, [_bad_row(reader.line_num, f"not valid CSV: {exc}")]) from None


def _text(values: dict[str, str], name: str, limit: int) -> str:
    value = values[name]
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if CONTROL.search(value):
        raise ValueError(f"{name} contains control characters")
    return value


def _date(values: dict[str, str], name: str, today: dt.date) -> dt.date | None:
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


def parse_row(values: dict[str, str], today: dt.date) -> HistoryRow:
    """Return the row; raise ValueError with the reason when it is not acceptable."""
    if "" in values:
        raise ValueError(values[""])
    reference = _text(values, "reference", REFERENCE_MAX)
    care_unit = _text(values, "care_unit", 31)
    hsa_problem = check_hsa_id(care_unit)
    if hsa_problem:
        raise ValueError(f"care_unit is {hsa_problem}")
    sender_unit = _text(values, "sender_unit", NAME_MAX)
    sent_on = _date(values, "sent_on", today)
    if sent_on is None:
        raise ValueError("sent_on is empty")
    answered = _date(values, "answer_registered_on", today)
    closed = _date(values, "closed_on", today)
    reason = _reason(values)
    _check_outcome(sent_on, answered, closed, reason)
    return HistoryRow(reference, care_unit, sender_unit, sent_on, answered, closed, reason)


def _check_outcome(
    sent_on: dt.date, answered: dt.date | None, closed: dt.date | None, reason: CloseReason | None
) -> None:
    if answered is not None and answered < sent_on:
        raise ValueError("answer_registered_on is before sent_on")
    if closed is not None and closed < sent_on:
        raise ValueError("closed_on is before sent_on")
    if answered is not None and closed is not None:
        raise ValueError("both answer_registered_on and closed_on: an inquiry is one or the other")
    if closed is not None and reason is None:
        raise ValueError("closed_on without close_reason")
    if reason is not None and closed is None:
        raise ValueError("close_reason without closed_on")


def parse_history(data: bytes, source: str, today: dt.date | None = None) -> list[HistoryRow]:
    """Return every row of the file; raise StatsError naming every bad row (line and reason)."""
    today = today or stockholm_today()
    rows: list[HistoryRow] = []
    issues: list[Issue] = []
    first_line: dict[str, int] = {}
    for line, values in _records(_decode(data, source), source):
        try:
            row = parse_row(values, today)
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
    return rows


def _stored(session: Session, references: Sequence[str]) -> dict[str, HistoryRow]:
    h = HistoryInquiry
    query = select(
        h.reference, h.care_unit, h.sender_unit, h.sent_on, h.answer_registered_on, h.closed_on,
        h.close_reason,
    ).where(h.reference.in_(references))
    return {row[0]: HistoryRow(*row) for row in session.execute(query)}


def _merge_batch(session: Session, batch: Sequence[HistoryRow]) -> tuple[int, int]:
    stored = _stored(session, [row.reference for row in batch])
    new = [asdict(row) for row in batch if row.reference not in stored]
    changed = [row for row in batch if row.reference in stored and stored[row.reference] != row]
    if new:
        session.execute(insert(HistoryInquiry), new)
    for row in changed:
        values = asdict(row)
        session.execute(
            update(HistoryInquiry)
            .where(HistoryInquiry.reference == values.pop("reference"))
            .values(**values)
        )
    return len(new), len(changed)


def import_history(
    session: Session, rows: Sequence[HistoryRow], *, actor: str, source: str
) -> ImportSummary:
    """Merge rows by reference in session's transaction and audit it; the caller commits.

    Raises StatsError (409) when another import added one of the references meanwhile.
    """
    created = updated = 0
    try:
        for start in range(0, len(rows), BATCH):
            added, changed = _merge_batch(session, rows[start : start + BATCH])
            created, updated = created + added, updated + changed
    except IntegrityError:
        session.rollback()
        raise StatsError.at(
            codes.CONCURRENT_IMPORT, "Nothing was imported; run the import again.", status=409,
        ) from None
    summary = ImportSummary(created, updated, len(rows) - created - updated)
    record(
        session, actor=actor, action="stats.history_import", object_type="history",
        object_id=source[:200], detail=asdict(summary),
    )
    return summary


def import_history_csv(
    session: Session, data: bytes, *, actor: str, source: str, today: dt.date | None = None
) -> ImportSummary:
    """Parse the CSV and merge it; raise StatsError (nothing written) for any bad row."""
    return import_history(session, parse_history(data, source, today), actor=actor, source=source)
