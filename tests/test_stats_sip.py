"""The SIP report (DESIGN 5.8) from the SIP history and live SIPs: the project's monthly
averages, as-of, the REKO's attendance, days to the meeting, cancellations, suppression."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit.models import AuditEntry
from gateway.db import get_session
from gateway.stats.demo import load_demo_sip_history
from gateway.stats.history import HEADER as INQUIRY_HEADER
from gateway.stats.history import INQUIRIES, import_history_csv, parse_file
from gateway.stats.models import HistoryInquiry, HistorySip
from gateway.stats.period import Period, StatsError
from gateway.stats.sip import nearest_rank, sip_report
from gateway.stats.sip_history import HEADER, SIPS
from tests.support.stats import KRYDDGARDEN, LINDANGEN, ROSENGARD, live_sip, local

TODAY = dt.date(2026, 1, 15)
FORMATS = (INQUIRIES, SIPS)
GOOD = "SIP-1,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-01,,ja"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def refusal(data: bytes) -> StatsError:
    with pytest.raises(StatsError) as caught:
        parse_file(data, "sip.csv", FORMATS, today=TODAY)
    return caught.value


def import_sips(*rows: str) -> None:
    session = get_session()
    import_history_csv(session, csv_bytes(*rows), actor="cli:test", source="sip.csv",
                       formats=FORMATS)
    session.commit()


def report(year: int, as_of: dt.date) -> dict[str, Any]:
    return sip_report(get_session(), Period(year, as_of)).to_json()


def stored(model: type[HistorySip] | type[HistoryInquiry]) -> int:
    return int(get_session().scalar(select(func.count()).select_from(model)) or 0)


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",SE2321000255-K001,EBB Öster,2023-01-04,,,", "reference is empty"),
        ("SIP-2,SE123,EBB Öster,2023-01-04,,,", "care_unit is not an HSA-id"),
        ("SIP-2,SE2321000255-K001,,2023-01-04,,,", "sender_unit is empty"),
        ("SIP-2,SE2321000255-K001,EBB Öster,,2023-02-01,,", "invited_on is empty"),
        ("SIP-2,SE2321000255-K001,EBB Öster,4/1/2023,,,", "invited_on is not a date"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-30,,", "held_on is not a date"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2027-01-01,,", "in the future"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2023-01-03,,", "held_on is before"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,,2023-01-03,", "cancelled_on is before"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-01,2023-01-20,",
         "one or the other"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-01,,kanske", "not ja or nej"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,2023-02-01,,true", "not ja or nej"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,,2023-01-20,nej", "without held_on"),
        ("SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,,", "expected 7 fields, got 6"),
        ("SIP-1,SE2321000255-K002,AMA,2023-03-01,,,", "repeats line 2"),
    ],
    ids=[
        "no-reference", "bad-hsa", "no-sender", "no-invited", "us-date", "impossible-date",
        "future", "held-before", "cancelled-before", "both", "unknown-attendance",
        "english-attendance", "attendance-not-held", "short-row", "repeated-reference",
    ],
)
def test_a_bad_sip_row_is_named_with_its_line_and_reason(row: str, reason: str) -> None:
    error = refusal(csv_bytes(GOOD, row))
    assert error.status == 422
    assert [issue.location for issue in error.issues] == ["line 3"]
    assert reason in error.issues[0].title


def test_a_header_of_neither_kind_names_what_is_closest_and_both_headers() -> None:
    near_sip = refusal(csv_bytes(header=HEADER.replace("reko_attended", "reko")))
    assert "missing column(s): reko_attended" in near_sip.issues[0].title
    assert f"expected the header {HEADER}" in near_sip.issues[0].title
    empty = refusal(b"")
    assert f"expected the header {INQUIRY_HEADER} or {HEADER}" in empty.issues[0].title


def test_a_sip_file_with_a_bad_row_imports_nothing(app: Flask) -> None:
    session = get_session()
    data = csv_bytes(GOOD, "SIP-2,SE2321000255-K001,EBB Öster,2023-01-04,,,ja")
    with pytest.raises(StatsError) as caught:
        import_history_csv(session, data, actor="cli:test", source="sip.csv", formats=FORMATS)
    assert "1 problem; nothing imported" in caught.value.detail
    assert stored(HistorySip) == 0


# --- import -----------------------------------------------------------------------------------


def test_the_header_chooses_the_kind_and_the_import_merges_by_reference(app: Flask) -> None:
    session = get_session()
    first = import_history_csv(session, csv_bytes(GOOD, "SIP-2,SE2321000255-K002,AMA,"
                                                  "2023-03-01,,2023-03-05,"),
                               actor="cli:test", source="a.csv", formats=FORMATS)
    changed = import_history_csv(session, csv_bytes(GOOD.replace(",ja", ",NEJ")),
                                 actor="cli:test", source="b.csv", formats=FORMATS)
    session.commit()
    assert (first.kind, first.created, changed.updated, changed.unchanged) == ("SIPs", 2, 1, 0)
    assert (stored(HistorySip), stored(HistoryInquiry)) == (2, 0)
    row = session.scalars(select(HistorySip).where(HistorySip.reference == "SIP-1")).one()
    assert (row.held_on, row.reko_attended) == (dt.date(2023, 2, 1), False)
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stats.sip_history_import")
    ).all()
    assert [entry.detail for entry in audited] == [
        {"created": 2, "updated": 0, "unchanged": 0}, {"created": 0, "updated": 1, "unchanged": 0}
    ]


# --- the project's monthly averages -----------------------------------------------------------


def test_the_imported_demo_history_gives_the_seeds_monthly_averages(app: Flask) -> None:
    session = get_session()
    first = load_demo_sip_history(session, actor="cli:demo")
    again = load_demo_sip_history(session, actor="cli:demo")
    session.commit()
    assert (first.created, again.created, again.updated) == (12 * (60 + 68 + 67 + 15), 0, 0)
    measured = dt.date(2024, 3, 31)
    y2022, y2023, y2024 = (report(year, measured) for year in (2022, 2023, 2024))
    assert (y2022["per_month"], y2022["held"], y2022["volume"]["label"]) == (60.0, 720, "jan–dec")
    assert (y2023["per_month"], y2023["held"]) == (68.0, 816)
    assert (y2024["per_month"], y2024["held"], y2024["volume"]["label"]) == (67.0, 201, "jan–mars")
    assert list(y2024)[:6] == ["year", "as_of", "held", "per_month", "reko_attended", "cancelled"]
    assert y2024["cancellations"] == {"NOT_RECORDED": y2024["cancelled"]}
    assert 0 < y2024["reko_attended"]["percent"] < 100
    # Measured mid-April, April is not whole yet: the average is still over January-March.
    assert report(2024, dt.date(2024, 4, 15))["per_month"] == 67.0


# --- as of the measurement date ---------------------------------------------------------------


def test_what_happened_after_the_measurement_date_has_not_happened(directory: Session) -> None:
    live_sip(local("2024-02-01T10:00:00"), held_on=dt.date(2024, 3, 10), reko_attended=True)
    live_sip(local("2024-02-02T10:00:00"), cancelled_on=dt.date(2024, 3, 12),
             cancel_reason="SJUKDOM")
    live_sip(local("2024-03-06T00:30:00"))  # 5 March 23:30 UTC: invited on 6 March in Sweden
    import_sips("SIP-1,SE2321000255-K002,AMA,2024-02-20,2024-03-08,,nej")

    before = report(2024, dt.date(2024, 3, 5))
    assert (before["held"], before["cancelled"], before["planned"]) == (0, 0, 3)
    assert before["reko_attended"] == {"count": 0, "percent": None, "of": 0, "not_recorded": 0}
    after = report(2024, dt.date(2024, 3, 31))
    assert (after["held"], after["cancelled"], after["planned"]) == (2, 1, 1)
    assert after["sources"] == {"history": 1, "live": 3}
    assert after["cancellations"] == {"SJUKDOM": 1}
    assert [m["held"] for m in after["months"]] == [0, 0, 2]


def test_the_years_with_data_are_each_form_types_own(directory: Session) -> None:
    from gateway.inquiries.models import FormType
    from gateway.stats.engine import data_years

    import_sips(GOOD)  # invited 2023-01-04
    live_sip(local("2024-02-01T10:00:00"))
    assert data_years(get_session(), TODAY, form_type=FormType.SIP) == [2023, 2024, 2025, 2026]
    assert data_years(get_session(), TODAY) == [2026]


def test_a_sip_belongs_to_the_year_of_its_meeting(directory: Session) -> None:
    live_sip(local("2023-12-10T10:00:00"), held_on=dt.date(2024, 1, 9), reko_attended=True)
    live_sip(local("2023-12-11T10:00:00"))
    y2023, y2024 = report(2023, dt.date(2024, 3, 31)), report(2024, dt.date(2024, 3, 31))
    assert (y2023["held"], y2023["planned"]) == (0, 1)
    assert (y2024["held"], y2024["planned"], y2024["days_to_meeting"]["median"]) == (1, 0, 30)


# --- the REKO, the days, the cancellations, the breakdowns ------------------------------------


def test_the_share_where_the_reko_came(directory: Session) -> None:
    for attended in (True, True, False):
        live_sip(local("2024-01-03T10:00:00"), held_on=dt.date(2024, 1, 20),
                 reko_attended=attended)
    import_sips(
        "SIP-1,SE2321000255-K001,AMA,2024-01-02,2024-01-22,,ja",
        "SIP-2,SE2321000255-K001,AMA,2024-01-02,2024-01-22,,nej",
        "SIP-3,SE2321000255-K001,AMA,2024-01-02,2024-01-22,,",
        "SIP-4,SE2321000255-K001,AMA,2024-01-02,2024-01-22,,ja",
    )
    body = report(2024, dt.date(2024, 2, 29))
    # 4 of the 6 with attendance recorded; the one not recorded is not counted either way.
    assert body["reko_attended"] == {"count": 4, "percent": 67, "of": 6, "not_recorded": 1}
    assert body["months"][0] == {
        "month": "2024-01", "name": "januari", "held": 7, "reko_attended": 4, "cancelled": 0,
    }


def test_days_from_invitation_to_meeting_median_and_90th_percentile(app: Flask) -> None:
    rows = [
        f"SIP-{n},SE2321000255-K001,AMA,2024-01-01,"
        f"{dt.date(2024, 1, 1) + dt.timedelta(days=days)},,"
        for n, days in enumerate((3, 10, 14, 14, 20, 21, 25, 28, 35, 60), 1)
    ]
    import_sips(*rows)
    days = report(2024, dt.date(2024, 6, 30))["days_to_meeting"]
    assert days == {"count": 10, "median": 20, "p90": 35}
    assert (nearest_rank([], 50), nearest_rank([7], 90)) == (None, 7)


def test_cancellations_by_reason(directory: Session) -> None:
    for reason in ("PERSON_SJUK", "PERSON_SJUK", "OTHER"):
        live_sip(local("2024-01-03T10:00:00"), cancelled_on=dt.date(2024, 1, 8),
                 cancel_reason=reason)
    import_sips("SIP-1,SE2321000255-K001,AMA,2024-01-02,,2024-01-05,")
    body = report(2024, dt.date(2024, 1, 31))
    assert body["cancelled"] == 4
    assert body["cancellations"] == {"PERSON_SJUK": 2, "NOT_RECORDED": 1, "OTHER": 1}
    assert body["months"][0]["cancelled"] == 4


def test_breakdowns_name_units_and_suppress_small_groups(directory: Session) -> None:
    rows = [f"K-{n},{KRYDDGARDEN},EBB Öster,2024-01-02,2024-01-20,,ja" for n in range(12)]
    rows += [f"R-{n},{ROSENGARD},EBB Söder,2024-01-02,2024-01-20,,nej" for n in range(9)]
    rows += [f"L-{n},{LINDANGEN},EBB Söder,2024-01-02,,2024-01-10," for n in range(2)]
    import_sips(*rows)
    body = report(2024, dt.date(2024, 3, 31))
    units = {row["hsa_id"]: row for row in body["care_units"]}
    assert units[KRYDDGARDEN]["name"] == "Vårdcentralen Kryddgården"
    assert units[KRYDDGARDEN]["outcomes"]["reko_came"] == {"count": 12, "percent": 100}
    # Lindängen's two cancellations are a small cell, its total too, without percentages.
    assert units[LINDANGEN]["outcomes"]["cancelled"] == {"count": "<5", "percent": None}
    assert units[LINDANGEN]["total"] == "<5"
    # Rosengård's total would give Lindängen's away (the year's total less the others): hidden.
    assert units[ROSENGARD]["total"] == ".."
    assert units[ROSENGARD]["outcomes"]["reko_absent"] == {"count": 9, "percent": None}
    senders = {row["name"]: row["total"] for row in body["sender_units"]}
    assert senders == {"EBB Öster": 12, "EBB Söder": 11}
