"""The yearly report from history and live legs: the project's figures, edges, time zones, as-of."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import JSON, column, insert, literal, select, table
from sqlalchemy.orm import Session

from gateway.db import UTCDateTime, get_session
from gateway.stats import extras
from gateway.stats.demo import load_demo_history
from gateway.stats.engine import BUCKETS, response_times, sql_time
from gateway.stats.history import HEADER, import_history_csv
from gateway.stats.period import Period, StatsError, make_period
from gateway.stats.sqltime import STOCKHOLM, offset_changes
from tests.support.stats import KRYDDGARDEN, LINDANGEN, ROSENGARD, live, live_sip, local, utc

DATA = Path(__file__).parent / "data"
APRIL_2024 = dt.date(2024, 4, 30)


def report(year: int, as_of: dt.date) -> dict[str, Any]:
    return response_times(get_session(), Period(year, as_of)).to_json()


def percents(body: dict[str, Any]) -> list[int]:
    return [body["buckets"][b]["percent"] for b in BUCKETS]


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {b: body["buckets"][b]["count"] for b in BUCKETS if body["buckets"][b]["count"]}


def import_rows(*rows: str) -> None:
    session = get_session()
    data = ("\n".join([HEADER, *rows]) + "\n").encode()
    import_history_csv(session, data, actor="cli:test", source="test.csv")
    session.commit()


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "as_of", "code"),
    [
        (2025, dt.date(2024, 4, 30), "YEAR_OUT_OF_RANGE"),
        (1999, dt.date(2024, 4, 30), "YEAR_OUT_OF_RANGE"),
        (2024, dt.date(2031, 1, 1), "FUTURE_DATE"),
    ],
    ids=["year-after-measurement", "too-early", "future-measurement"],
)
def test_a_period_that_cannot_be_measured_is_refused(
    year: int, as_of: dt.date, code: str
) -> None:
    with pytest.raises(StatsError) as caught:
        make_period(year, as_of, today=dt.date(2026, 1, 1))
    assert caught.value.code == code and caught.value.status == 400


# --- the project's own figures ----------------------------------------------------------------


def test_the_imported_history_reproduces_the_projects_figures(app: Flask) -> None:
    session = get_session()
    data = (DATA / "history-project.csv").read_bytes()
    import_history_csv(session, data, actor="cli:test", source="history-project.csv")
    session.commit()

    y2022, y2023 = report(2022, APRIL_2024), report(2023, APRIL_2024)

    assert (y2022["year"], y2022["as_of"], y2022["total"], y2022["per_month"]) == (
        2022, "2024-04-30", 132, 11.0
    )
    assert percents(y2022) == [43, 6, 30, 21, 0]
    assert (y2023["total"], y2023["per_month"]) == (276, 23.0)
    assert percents(y2023) == [38, 15, 26, 14, 7]
    assert list(y2023)[:5] == ["year", "as_of", "total", "per_month", "buckets"]
    assert list(y2023["buckets"]) == ["1-39", "40-59", "60+", "closed_ok", "ongoing"]
    assert sum(b["count"] for b in y2023["buckets"].values()) == 276


def test_measured_later_the_open_inquiries_of_2023_have_moved_on(app: Flask) -> None:
    session = get_session()
    data = (DATA / "history-project.csv").read_bytes()
    import_history_csv(session, data, actor="cli:test", source="history-project.csv")
    session.commit()
    later = report(2023, dt.date(2024, 12, 31))
    assert later["total"] == 276
    assert later["buckets"]["ongoing"]["count"] < 19
    assert later["buckets"]["1-39"]["count"] == 105


def test_the_demo_history_has_the_projects_volumes_and_shares(app: Flask) -> None:
    session = get_session()
    first = load_demo_history(session, actor="cli:demo")
    again = load_demo_history(session, actor="cli:demo")
    session.commit()
    assert (first.created, again.created, again.updated) == (660, 0, 0)
    assert percents(report(2022, APRIL_2024)) == [43, 6, 30, 21, 0]
    assert percents(report(2023, APRIL_2024)) == [38, 15, 26, 14, 7]
    y2024 = report(2024, APRIL_2024)
    assert y2024["per_month"] == 21.0
    assert y2024["volume"]["label"] == "jan–april"


@pytest.mark.parametrize(
    ("as_of", "label"),
    [
        (dt.date(2024, 3, 31), "jan–mars"),
        (dt.date(2024, 4, 15), "jan–mars"),
        (dt.date(2024, 4, 30), "jan–april"),
        (dt.date(2024, 2, 29), "jan–feb"),
        (dt.date(2024, 12, 31), "jan–dec"),
    ],
    ids=["march-ends", "mid-april", "april-ends", "leap-february-ends", "year-ends"],
)
def test_the_seeds_volume_on_a_months_last_day_and_on_any_other_day(
    app: Flask, as_of: dt.date, label: str
) -> None:
    load_demo_history(get_session(), actor="cli:demo")
    get_session().commit()
    y2024 = report(2024, as_of)
    assert (y2024["per_month"], y2024["volume"]["label"]) == (21.0, label)


# --- edges --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "1-39"), (1, "1-39"), (39, "1-39"), (40, "40-59"), (59, "40-59"), (60, "60+")],
)
def test_day_edges_in_the_history(app: Flask, days: int, bucket: str) -> None:
    sent = dt.date(2023, 3, 1)
    answered = sent + dt.timedelta(days=days)
    import_rows(f"R1,{KRYDDGARDEN},EBB Öster,{sent},{answered},,")
    assert counts(report(2023, APRIL_2024)) == {bucket: 1}


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "1-39"), (39, "1-39"), (40, "40-59"), (59, "40-59"), (60, "60+")],
)
def test_day_edges_from_live_legs(directory: Session, days: int, bucket: str) -> None:
    # Sent late in the evening, answered early in the morning: calendar days, not 24-hour days.
    sent = local("2023-03-01T23:50:00")
    registered = local("2023-03-01T00:10:00") + dt.timedelta(days=days)
    if days == 0:
        registered = local("2023-03-01T23:55:00")
    live({"submitted": sent, "received": sent, "registered": registered})
    assert counts(report(2023, APRIL_2024)) == {bucket: 1}


def test_sent_on_31_december_late_evening_belongs_to_that_year(directory: Session) -> None:
    # 23:30 in Stockholm is 22:30 UTC; half past midnight on New Year's Day is 23:30 UTC.
    live({"submitted": utc("2023-12-31T22:30:00+00:00")})
    live({"submitted": utc("2023-12-31T23:30:00+00:00")})
    import_rows(f"R1,{KRYDDGARDEN},EBB Öster,2023-12-31,,,")
    y2023, y2024 = report(2023, APRIL_2024), report(2024, APRIL_2024)
    assert (y2023["total"], y2024["total"]) == (2, 1)
    assert y2023["months"][11]["total"] == 2
    assert y2024["months"][0]["total"] == 1


def test_days_follow_swedish_dates_across_summer_time(directory: Session) -> None:
    # Sent 1 April 00:30 (CEST; still 31 March in UTC), answered 10 May 23:30 (10 May in UTC):
    # 39 days in Sweden, 40 in UTC.
    live({
        "submitted": utc("2024-03-31T22:30:00+00:00"),
        "registered": utc("2024-05-10T21:30:00+00:00"),
    })
    # Sent 28 October 23:30 (CEST), answered 7 December 00:30 (CET): 40 days.
    live({
        "submitted": utc("2023-10-28T21:30:00+00:00"),
        "registered": utc("2023-12-06T23:30:00+00:00"),
    })
    assert counts(report(2024, dt.date(2024, 6, 30))) == {"1-39": 1}
    assert counts(report(2023, APRIL_2024)) == {"40-59": 1}


def test_an_answer_after_the_measurement_date_leaves_the_inquiry_ongoing(
    directory: Session,
) -> None:
    live({
        "submitted": local("2024-03-01T10:00:00"),
        "answered": local("2024-04-20T10:00:00"),
        "registered": local("2024-05-01T00:05:00"),
    })
    import_rows(
        f"R1,{KRYDDGARDEN},EBB Öster,2024-03-01,2024-05-01,,",
        f"R2,{KRYDDGARDEN},EBB Öster,2024-03-01,,2024-05-01,RELISTED",
    )
    assert counts(report(2024, APRIL_2024)) == {"ongoing": 3}
    assert counts(report(2024, dt.date(2024, 5, 1))) == {"60+": 2, "closed_ok": 1}


def test_inquiries_sent_after_the_measurement_date_do_not_exist_yet(directory: Session) -> None:
    live({"submitted": local("2024-05-01T00:01:00")})
    import_rows(f"R1,{KRYDDGARDEN},EBB Öster,2024-05-01,,,")
    assert report(2024, APRIL_2024)["total"] == 0
    assert report(2024, dt.date(2024, 5, 1))["total"] == 2


def test_registered_counts_before_delivered_and_delivered_alone_counts_too(
    directory: Session,
) -> None:
    sent = local("2023-02-01T09:00:00")
    live({
        "submitted": sent,
        "answer_delivered": sent + dt.timedelta(days=30),
        "registered": sent + dt.timedelta(days=45),
    })
    live({"submitted": sent, "answer_delivered": sent + dt.timedelta(days=30)})
    live({"submitted": sent, "answered": sent + dt.timedelta(days=3)})
    live({"submitted": sent, "closed": sent + dt.timedelta(days=3)})
    assert counts(report(2023, APRIL_2024)) == {
        "1-39": 1, "40-59": 1, "closed_ok": 1, "ongoing": 1,
    }


def test_received_stands_in_for_a_missing_submitted_leg(directory: Session) -> None:
    live({"received": local("2023-06-01T12:00:00")})
    assert report(2023, APRIL_2024)["total"] == 1


def test_received_stands_in_for_a_submitted_leg_after_the_measurement_date(
    directory: Session,
) -> None:
    # A sender's clock ahead: its `submitted` time is after the measurement, `received` is not.
    live({"submitted": local("2024-05-01T08:00:00"), "received": local("2024-04-30T20:00:00")})
    live({"submitted": local("2024-05-01T08:00:00"), "received": local("2024-05-01T07:00:00")})
    assert report(2024, APRIL_2024)["total"] == 1
    assert report(2024, dt.date(2024, 5, 1))["total"] == 2


def test_old_and_new_sit_in_one_report(directory: Session) -> None:
    live({"submitted": local("2023-01-10T10:00:00"),
          "registered": local("2023-01-20T10:00:00")})
    import_rows(f"R1,{ROSENGARD},AMA,2023-01-11,2023-04-11,,")
    body = report(2023, APRIL_2024)
    assert body["sources"] == {"history": 1, "live": 1}
    assert counts(body) == {"1-39": 1, "60+": 1}


def test_a_sip_invitation_does_not_change_the_inquiry_report(directory: Session) -> None:
    live({"submitted": local("2023-01-10T10:00:00"),
          "registered": local("2023-01-20T10:00:00")})
    before = report(2023, APRIL_2024)
    live_sip(local("2023-01-12T10:00:00"), held_on=dt.date(2023, 2, 1), reko_attended=True)
    live_sip(local("2023-03-12T10:00:00"))
    live_sip(local("2023-03-13T10:00:00"), cancelled_on=dt.date(2023, 3, 20),
             cancel_reason="OTHER")
    after = report(2023, APRIL_2024)
    assert after == before
    assert (after["total"], after["sources"]["live"], after["legs"][0]["count"]) == (1, 1, 0)


# --- volume -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "months", "label", "per_month"),
    [
        (dt.date(2024, 4, 30), 4, "jan–april", 2.0),
        (dt.date(2024, 4, 29), 3, "jan–mars", 2.0),
        (dt.date(2024, 4, 1), 3, "jan–mars", 2.0),
        (dt.date(2024, 3, 31), 3, "jan–mars", 2.0),
        (dt.date(2024, 1, 31), 1, "jan", 2.0),
        (dt.date(2024, 1, 20), 1, "jan", 2.0),
        (dt.date(2024, 12, 31), 12, "jan–dec", 0.7),
        (dt.date(2025, 2, 1), 12, "jan–dec", 0.7),
    ],
)
def test_volume_averages_over_the_whole_months_as_of_the_measurement(
    app: Flask, as_of: dt.date, months: int, label: str, per_month: float
) -> None:
    rows = [f"R{m}{n},{KRYDDGARDEN},AMA,2024-{m:02d}-0{n + 1},,," for m in (1, 2, 3, 4)
            for n in range(2)]
    import_rows(*rows)
    body = report(2024, as_of)
    assert (body["volume"]["months"], body["volume"]["label"]) == (months, label)
    assert body["per_month"] == per_month


# --- breakdowns and further measures ---------------------------------------------------------


def test_breakdowns_name_units_and_suppress_small_groups(directory: Session) -> None:
    rows = [f"K{n},{KRYDDGARDEN},EBB Öster,2023-02-{n + 1:02d},2023-02-{n + 2:02d},,"
            for n in range(12)]
    rows += [f"L{n},{LINDANGEN},EBB Öster,2023-02-{n + 1:02d},2023-02-{n + 2:02d},,"
             for n in range(10)]
    rows += [f"R{n},{ROSENGARD},AMA,2023-03-{n + 1:02d},,," for n in range(3)]
    import_rows(*rows)
    body = report(2023, APRIL_2024)
    units = {row["name"]: row for row in body["care_units"]}
    kryddgarden = units["Vårdcentralen Kryddgården"]
    assert kryddgarden["hsa_id"] == KRYDDGARDEN
    assert kryddgarden["total"] == 12
    assert kryddgarden["buckets"]["1-39"] == {"count": 12, "percent": 100}
    assert kryddgarden["buckets"]["ongoing"] == {"count": "<5", "percent": None}
    rosengard = units["Vårdcentralen Rosengård"]
    assert rosengard["total"] == "<5"
    assert all(cell == {"count": "<5", "percent": None}
               for cell in rosengard["buckets"].values())
    # Rosengård's 3 would be the year's 25 minus 12 minus 10: Lindängen's figures hide too.
    lindangen = units["Vårdcentralen Lindängen"]
    assert lindangen["total"] == ".."
    assert lindangen["buckets"]["1-39"] == {"count": "..", "percent": None}
    senders = {row["name"]: row["total"] for row in body["sender_units"]}
    assert senders == {"AMA": "<5", "EBB Öster": ".."}
    # The whole year's figures are the published ones: not suppressed.
    assert body["buckets"]["ongoing"]["count"] == 3
    assert body["total"] == 25


def test_a_care_unit_the_directory_no_longer_has_shows_its_hsa_id(app: Flask) -> None:
    import_rows(*[f"X{n},SE2321000255-K999,AMA,2023-01-0{n + 1},,," for n in range(5)])
    units = report(2023, APRIL_2024)["care_units"]
    assert [(u["hsa_id"], u["name"], u["total"]) for u in units] == [
        ("SE2321000255-K999", "SE2321000255-K999", 5)
    ]


def test_answered_within_30_days_of_received(directory: Session) -> None:
    received = local("2024-02-01T09:00:00")

    def legs(answered_after: int | None) -> dict[str, dt.datetime]:
        found = {"submitted": received, "received": received}
        if answered_after is not None:
            found["answered"] = received + dt.timedelta(days=answered_after)
        return found

    live(legs(30))  # within: day 30
    live(legs(31))  # late
    live(legs(None))  # 30 days have passed: counts, not within
    live({"submitted": local("2024-04-20T09:00:00"), "received": local("2024-04-20T09:00:00")})
    target = report(2024, APRIL_2024)["answered_within_30_days"]
    assert target == {"percent": 33, "count": 1, "of": 3}


def test_leg_medians_and_90th_percentiles(directory: Session) -> None:
    start = local("2024-02-01T08:00:00")
    for hours in (1, 2, 3, 4, 10):
        live({
            "submitted": start,
            "received": start,
            "opened": start + dt.timedelta(hours=hours),
        })
    legs = {(leg["from"], leg["to"]): leg for leg in report(2024, APRIL_2024)["legs"]}
    opened = legs[("received", "opened")]
    assert (opened["count"], opened["median_hours"], opened["p90_hours"]) == (5, 3.0, 10.0)
    assert legs[("opened", "answered")] == {
        "from": "opened", "to": "answered", "count": 0, "median_hours": None, "p90_hours": None,
    }


def test_open_inquiries_past_their_deadline(directory: Session) -> None:
    sent = local("2024-02-01T08:00:00")
    live({"submitted": sent, "received": sent}, deadline=dt.date(2024, 3, 2))
    live({"submitted": sent, "received": sent}, deadline=dt.date(2024, 4, 30))
    live({"submitted": sent, "answered": sent + dt.timedelta(days=40)},
         deadline=dt.date(2024, 3, 2))
    live({"submitted": sent, "answered": local("2024-05-02T08:00:00")},
         deadline=dt.date(2024, 3, 2))
    assert report(2024, APRIL_2024)["open_past_deadline"] == 2


def test_rejections_by_rule_code(app: Flask) -> None:
    session = get_session()
    rejections = table(
        "intake_rejections", column("at", UTCDateTime()), column("channel"),
        column("organisation"), column("codes", JSON()),
    )
    session.execute(insert(rejections), [
        {"at": local("2024-01-01T00:10:00"), "channel": "api", "organisation": "0203:malmo.se",
         "codes": ["C1", "C2"]},
        {"at": local("2024-03-01T10:00:00"), "channel": "smtp", "organisation": "0203:malmo.se",
         "codes": ["C2"]},
        {"at": local("2023-12-31T23:50:00"), "channel": "api", "organisation": "0203:malmo.se",
         "codes": ["C3"]},
    ])
    session.commit()
    assert report(2024, APRIL_2024)["rejections"] == {
        "available": True, "total": 2, "by_code": {"C1": 1, "C2": 2},
    }


def test_rejections_are_unavailable_without_the_table(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extras, "REJECTIONS_TABLE", "no_such_rejections")
    assert report(2024, APRIL_2024)["rejections"] == {"available": False}


def test_no_personal_data_or_inquiry_ids_in_the_report(directory: Session) -> None:
    ids = [live({"submitted": local("2024-01-10T10:00:00")}) for _ in range(6)]
    text = json.dumps(report(2024, APRIL_2024), ensure_ascii=False)
    assert not any(inquiry_id in text for inquiry_id in ids)
    assert "1" * 64 not in text and "client:test" not in text


# --- Stockholm dates in SQL -------------------------------------------------------------------


def _instants() -> list[dt.datetime]:
    start, end = utc("2022-01-01T00:00:00+00:00"), utc("2025-01-01T00:00:00+00:00")
    found = []
    for change, _ in offset_changes(start, end)[1:]:
        found += [change + dt.timedelta(seconds=s) for s in (-3601, -1, 0, 1, 3599, 3600)]
    for day in ("2023-12-31", "2024-06-30", "2024-02-29", "2023-03-25", "2023-10-28"):
        for clock in ("21:59:59", "22:00:00", "22:30:00", "23:00:00", "23:30:00", "23:59:59"):
            found.append(utc(f"{day}T{clock}+00:00"))
    return found


def test_stockholm_dates_in_sql_match_python(app: Flask) -> None:
    session = get_session()
    time = sql_time(session, Period(2022, dt.date(2024, 12, 31)))
    instants = _instants()
    query = select(*[time.local_date(literal(at, UTCDateTime())) for at in instants])
    got = [str(value) for value in session.execute(query).one()]
    expected = [at.astimezone(STOCKHOLM).date().isoformat() for at in instants]
    assert got == expected
