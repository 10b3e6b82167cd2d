"""Importing the manual history: every bad row named, nothing half-imported, merge by reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.db import get_session
from gateway.stats.history import HEADER, import_history_csv, parse_history
from gateway.stats.models import CloseReason, HistoryInquiry
from gateway.stats.period import StatsError

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2026, 1, 15)
GOOD = "MAL-1,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-01,,"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def refusal(data: bytes) -> StatsError:
    with pytest.raises(StatsError) as caught:
        parse_history(data, "historik.csv", today=TODAY)
    return caught.value


def stored_count() -> int:
    return int(get_session().scalar(select(func.count()).select_from(HistoryInquiry)) or 0)


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",SE2321000255-K001,EBB Öster,2023-01-04,,,", "reference is empty"),
        ("R" * 101 + ",SE2321000255-K001,EBB,2023-01-04,,,", "longer than 100"),
        ("MAL-2,SE123,EBB Öster,2023-01-04,,,", "care_unit is not an HSA-id"),
        ("MAL-2,SE2321000255-K001,,2023-01-04,,,", "sender_unit is empty"),
        ("MAL-2,SE2321000255-K001,EBB\x01,2023-01-04,,,", "control characters"),
        ("MAL-2,SE2321000255-K001,EBB Öster,,,,", "sent_on is empty"),
        ("MAL-2,SE2321000255-K001,EBB Öster,4/1/2023,,,", "sent_on is not a date"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-02-30,,,", "sent_on is not a date"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2027-01-01,,,", "in the future"),
        ("MAL-2,SE2321000255-K001,EBB Öster,1999-12-31,,,", "before 2000"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,2023-02-28,,", "before sent_on"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,,2023-02-28,DUPLICATE", "before sent_on"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,2023-03-02,2023-03-03,DUPLICATE",
         "one or the other"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,,2023-03-03,", "without close_reason"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,,,DUPLICATE", "without closed_on"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,,2023-03-03,GLÖMD", "not one of RELISTED"),
        ("MAL-2,SE2321000255-K001,EBB Öster,2023-03-01,,", "expected 7 fields, got 6"),
        ("MAL-1,SE2321000255-K002,AMA,2023-03-01,,,", "repeats line 2"),
    ],
    ids=[
        "no-reference", "long-reference", "bad-hsa", "no-sender", "control", "no-sent",
        "us-date", "impossible-date", "future", "too-old", "answer-before", "closed-before",
        "both", "closed-no-reason", "reason-no-closed", "unknown-reason", "short-row",
        "repeated-reference",
    ],
)
def test_a_bad_row_is_named_with_its_line_and_reason(row: str, reason: str) -> None:
    error = refusal(csv_bytes(GOOD, row))
    assert error.status == 422
    assert [issue.location for issue in error.issues] == ["line 3"]
    assert reason in error.issues[0].title


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"reference,care_unit,sent_on\n", "missing column(s): sender_unit"),
        (csv_bytes(header=HEADER + ",namn"), "unknown column(s): 'namn'"),
        (csv_bytes(header=HEADER + ",reference"), "repeated column(s): reference"),
        (csv_bytes(GOOD).replace(b"\xc3\x96", b"\xd6"), "not UTF-8"),
        (csv_bytes('"MAL-2,SE2321000255-K001'), "not valid CSV"),
    ],
    ids=["empty", "missing-columns", "unknown-column", "repeated-column", "latin1", "quote"],
)
def test_a_bad_file_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    error = refusal(data)
    assert reason in error.issues[0].title


def test_every_bad_row_is_listed_and_nothing_is_imported(app: Flask) -> None:
    session = get_session()
    data = (DATA / "history-invalid.csv").read_bytes()
    with pytest.raises(StatsError) as caught:
        import_history_csv(session, data, actor="cli:test", source="history-invalid.csv")
    lines = [issue.location for issue in caught.value.issues]
    assert lines == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9, 10, 11)]
    assert "9 problems; nothing imported" in caught.value.detail
    assert stored_count() == 0


def test_import_is_idempotent_on_reference_and_updates_changed_rows(app: Flask) -> None:
    session = get_session()
    first = import_history_csv(session, csv_bytes(GOOD), actor="cli:test", source="a.csv")
    again = import_history_csv(session, csv_bytes(GOOD), actor="cli:test", source="a.csv")
    changed = GOOD.replace("2023-02-01,,", ",2023-02-03,INFO_VIA_SIP")
    update = import_history_csv(
        session, csv_bytes(changed, "MAL-9,SE2321000255-K002,AMA,2023-05-01,,,"),
        actor="cli:test", source="b.csv",
    )
    session.commit()
    assert (first.created, again.created, again.unchanged) == (1, 0, 1)
    assert (update.created, update.updated, update.unchanged) == (1, 1, 0)
    row = session.scalars(select(HistoryInquiry).where(HistoryInquiry.reference == "MAL-1")).one()
    assert row.answer_registered_on is None
    assert (row.closed_on, row.close_reason) == (dt.date(2023, 2, 3), CloseReason.INFO_VIA_SIP)
    assert stored_count() == 2
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stats.history_import")
    ).all()
    assert [entry.detail for entry in audited][-1] == {"created": 1, "updated": 1, "unchanged": 0}


def test_excel_style_files_are_read() -> None:
    header = HEADER.replace(",", ";")
    data = "\ufeff".encode() + csv_bytes(GOOD.replace(",", ";"), "", header=header)
    rows = parse_history(data, "excel.csv", today=TODAY)
    assert [(r.reference, r.sender_unit, r.answer_registered_on) for r in rows] == [
        ("MAL-1", "EBB Öster", dt.date(2023, 2, 1))
    ]


def test_the_project_history_imports(app: Flask) -> None:
    session = get_session()
    data = (DATA / "history-project.csv").read_bytes()
    summary = import_history_csv(session, data, actor="cli:test", source="history-project.csv")
    assert (summary.created, summary.updated, summary.unchanged) == (408, 0, 0)
