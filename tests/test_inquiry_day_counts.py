"""The yearly report's day counts (inquiry_day_counts), kept as legs are written, equal those
rebuilt from the legs, and the report they give as of any date is what the legs give (read here
straight from the legs), on SQLite and PostgreSQL: re-routes, closes, answers after the
measurement date, an answer whose registration moves its bucket, a SIP that never counts."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from forms.dates import local_date
from gateway.db import get_session
from gateway.directory.models import CareUnit
from gateway.inquiries import daycounts, intake
from gateway.inquiries.models import (
    FormType,
    Inquiry,
    InquiryDayCount,
    InquiryLegTimeCount,
    InquirySummary,
    LegKind,
)
from gateway.inquiries.workflow import NewLeg, add_leg, first_legs, legs_of, rebuild_summaries
from gateway.stats import extras
from gateway.stats.engine import BUCKETS, live_firsts, response_times, sql_time
from gateway.stats.period import Period
from tests.support.forms import halsoforfragan, nth_personnummer
from tests.support.pki import install_pki
from tests.support.reko import HUSIE, SUBMITTER, parties

UTC = dt.UTC
K = LegKind
YEAR = 2025
START = dt.datetime(YEAR, 1, 20, 9, 0, tzinfo=UTC)
REROUTE = "reroute to Husie"
SIP = "becomes a SIP"


@dataclass(frozen=True)
class Journey:
    """An inquiry taken in `start_days` after START, then legs at (kind, days after its
    intake), each written in a transaction of its own."""

    start_days: float
    legs: tuple[tuple[LegKind | str, float], ...] = ()


JOURNEYS = (
    Journey(0),  # never answered: ongoing, then past its deadline
    Journey(0, ((K.OPENED, 1), (K.ANSWERED, 10), (K.ANSWER_DELIVERED, 11),
                (K.REGISTERED, 45))),  # 1-39 until registered, then 40-59
    Journey(3, ((K.OPENED, 2), (K.CLOSED, 5), (K.ANSWERED, 70), (K.ANSWER_DELIVERED, 70.5))),
    Journey(5, ((K.OPENED, 1), (REROUTE, 3), (K.OPENED, 4), (K.ANSWERED, 50),
                (K.ANSWERED, 20), (K.REGISTERED, 52))),  # the earlier answer written later
    Journey(40, ((K.OPENED, 0.2), (K.CLOSED, 31.5))),
    Journey(60, ((SIP, 1), (K.ANSWERED, 2))),
    Journey(342.5, ((K.ANSWERED, 12), (K.REGISTERED, 30))),  # answered in the next year
    Journey(150, ((K.ANSWERED, 29.9), (K.ANSWER_DELIVERED, 30))),
    # The buckets' edges: 39 and 40, 59 and 60 days.
    Journey(200, ((K.ANSWERED, 39), (K.REGISTERED, 39.01))),
    Journey(201, ((K.ANSWERED, 40), (K.REGISTERED, 40.01))),
    Journey(202, ((K.ANSWERED, 59), (K.REGISTERED, 59.01))),
    Journey(203, ((K.ANSWERED, 60), (K.REGISTERED, 60.01))),
)


def _take_in(n: int, journey: Journey) -> str:
    moment = START + dt.timedelta(days=journey.start_days)
    session = get_session()
    result = intake.submit(session, halsoforfragan(moment, personnummer=nth_personnummer(n)),
                           submitter=SUBMITTER, channel="api", now=moment)
    session.commit()
    return result.inquiry.id


def _write(inquiry_id: str, kind: LegKind | str, at: dt.datetime, husie: int) -> None:
    session = get_session()
    inquiry = session.get(Inquiry, inquiry_id)
    assert inquiry is not None
    if kind == REROUTE:  # as closing.reroute does: the unit changes, then the leg
        inquiry.care_unit_id = husie
        add_leg(session, inquiry_id, K.REROUTED, at=at, actor="test")
    elif kind == SIP:
        inquiry.form_type = FormType.SIP
        add_leg(session, inquiry_id, K.OPENED, at=at, actor="test")
    else:
        add_leg(session, inquiry_id, LegKind(kind), at=at, actor="test")
    session.commit()


def _day_counts() -> dict[tuple[object, ...], tuple[int, ...]]:
    session = get_session()
    session.expire_all()
    found = {}
    for row in session.scalars(select(InquiryDayCount)):
        vector = tuple(getattr(row, name) for name in daycounts.MEASURES)
        if any(vector):
            found[(row.month, row.care_unit_id, row.sender_unit_id, row.day)] = vector
    return found


def _leg_time_counts() -> dict[tuple[object, ...], int]:
    rows = get_session().scalars(select(InquiryLegTimeCount))
    return {(row.month, row.leg, row.bin): row.n for row in rows if row.n}


def _seconds() -> dict[str, tuple[int | None, ...]]:
    return {
        s.inquiry_id: tuple(getattr(s, column) for _, _, column in daycounts.PAIRS)
        for s in get_session().scalars(select(InquirySummary))
    }


@dataclass
class Expected:
    overall: Counter[str]
    care_units: dict[str, Counter[str]]
    months: dict[int, Counter[str]]
    within: int = 0
    due: int = 0
    past: int = 0


def _from_legs(inquiry_ids: list[str], as_of: dt.date) -> Expected:
    """DESIGN 5.7 read straight from the legs: those after `as_of` do not exist yet."""
    session = get_session()
    found = Expected(Counter(), {}, {})
    for inquiry_id in inquiry_ids:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        first: dict[LegKind, dt.datetime] = {}
        for leg in legs_of(session, inquiry_id):
            if local_date(leg.at) <= as_of and (leg.kind not in first or leg.at < first[leg.kind]):
                first[leg.kind] = leg.at
        day = {kind: local_date(at) for kind, at in first.items()}
        start = day.get(K.SUBMITTED) or day.get(K.RECEIVED)
        if inquiry.form_type != FormType.HALSOFORFRAGAN or start is None or start.year != YEAR:
            continue
        answer = day.get(K.REGISTERED) or day.get(K.ANSWER_DELIVERED)
        if answer is not None:
            days = (answer - start).days
            bucket = "1-39" if days <= 39 else "40-59" if days <= 59 else "60+"
        else:
            bucket = "closed_ok" if K.CLOSED in day else "ongoing"
        found.overall[bucket] += 1
        found.care_units.setdefault(inquiry.care_unit.hsa_id, Counter())[bucket] += 1
        found.months.setdefault(start.month, Counter())[bucket] += 1
        received, answered = day.get(K.RECEIVED), day.get(K.ANSWERED)
        within = bool(received and answered and (answered - received).days <= 30)
        found.within += within
        found.due += within or bool(received and (as_of - received).days > 30)
        done = {K.ANSWERED, K.ANSWER_DELIVERED, K.REGISTERED, K.CLOSED} & day.keys()
        found.past += not done and inquiry.deadline < as_of
    return found


def _nonzero(counts: dict[str, int]) -> Counter[str]:
    return Counter({bucket: n for bucket, n in counts.items() if n})


def test_day_counts_kept_with_the_legs_equal_those_rebuilt_and_what_the_legs_give(
    app: Flask, instance: Path, pki_template: Path
) -> None:
    install_pki(instance, pki_template)
    parties()
    session = get_session()
    husie = session.scalars(select(CareUnit.id).where(CareUnit.hsa_id == HUSIE)).one()
    ids = []
    for n, journey in enumerate(JOURNEYS):
        inquiry_id = _take_in(n, journey)
        ids.append(inquiry_id)
        intake_at = START + dt.timedelta(days=journey.start_days)
        for kind, days in journey.legs:
            _write(inquiry_id, kind, intake_at + dt.timedelta(days=days), husie)

    kept, kept_times, kept_seconds = _day_counts(), _leg_time_counts(), _seconds()
    assert {key[1] for key in kept} >= {husie}  # the re-routed inquiry counts at Husie
    assert kept_seconds[ids[1]] == (86400, 9 * 86400, 86400, 34 * 86400)
    assert rebuild_summaries(get_session()) == len(ids)
    get_session().commit()
    assert (_day_counts(), _leg_time_counts(), _seconds()) == (kept, kept_times, kept_seconds)

    # Every day an inquiry's counts can change on, and the days either side of it.
    days = {START.date() - dt.timedelta(days=1), dt.date(YEAR, 12, 31), dt.date(YEAR + 1, 3, 1)}
    for key in kept:
        days |= {key[3] - dt.timedelta(days=1), key[3], key[3] + dt.timedelta(days=1)}
    for as_of in sorted(day for day in days if day.year >= YEAR):
        report = response_times(get_session(), Period(YEAR, as_of))
        legs = _from_legs(ids, as_of)
        assert _nonzero(report.tally.overall) == legs.overall, as_of
        assert {unit: _nonzero(c) for unit, c in report.tally.care_units.items()} == \
            legs.care_units, as_of
        assert {m: _nonzero(c) for m, c in report.tally.months.items() if any(c.values())} == \
            legs.months, as_of
        assert report.extras is not None
        assert (report.extras.within_target, report.extras.target_due,
                report.extras.open_past_deadline) == (legs.within, legs.due, legs.past), as_of
    # After the last leg the leg times come from the bins; the same as from every summary.
    session, period = get_session(), Period(YEAR, dt.date(YEAR + 1, 3, 1))
    time = sql_time(session, period)
    from_bins = extras._leg_timings_from_bins(session, period)
    assert [leg.count for leg in from_bins] == [4, 3, 3, 1]
    assert from_bins == extras._leg_timings_per_row(session, time, live_firsts(period))


def test_a_new_summary_never_written_leaves_no_trace_in_the_day_counts(
    app: Flask, instance: Path, pki_template: Path
) -> None:
    # An intake that lost its id to a concurrent send built its summary's and legs' rows
    # (first_legs) but wrote none of them; a leg for the stored inquiry in the same
    # transaction must count from the stored summary, not from the one never written.
    install_pki(instance, pki_template)
    parties()
    inquiry_id = _take_in(0, Journey(0, ()))
    session = get_session()
    stored = session.get(Inquiry, inquiry_id)
    assert stored is not None
    first_legs(session, stored, [NewLeg(K.RECEIVED, START, "test")])  # rows never written
    add_leg(session, inquiry_id, K.ANSWERED, at=START + dt.timedelta(days=3), actor="test")
    session.commit()
    kept = _day_counts()
    assert rebuild_summaries(get_session()) == 1
    get_session().commit()
    assert _day_counts() == kept


def _random_facts(rng: random.Random) -> daycounts.Facts:
    base = dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))

    def maybe() -> dt.date | None:
        return None if rng.random() < 0.4 else base + dt.timedelta(days=rng.randrange(-3, 90))

    return daycounts.Facts(
        rng.choice([daycounts.COUNTED_FORM_TYPE, "sip"]), rng.randrange(3), rng.randrange(2),
        base + dt.timedelta(days=rng.randrange(60)), maybe(), maybe(), maybe(), maybe(),
        maybe(), maybe(),
    )


def test_the_changes_up_to_any_day_add_up_to_the_counts_as_of_that_day() -> None:
    rng = random.Random(17)  # noqa: S311 - test data
    for _ in range(300):
        facts = _random_facts(rng)
        changes = daycounts.changes(facts)
        first = dt.date(YEAR, 1, 1) - dt.timedelta(days=5)
        for offset in range(0, 480, 3):
            day = first + dt.timedelta(days=offset)
            summed: Counter[tuple[object, ...]] = Counter()
            for (month, care, sender, since), vector in changes.items():
                if since <= day:
                    for name, value in zip(daycounts.MEASURES, vector, strict=True):
                        summed[(month, care, sender, name)] += value
            state = daycounts.as_of(facts, day)
            expected = Counter() if state is None else Counter({
                (*state[0], name): value
                for name, value in zip(daycounts.MEASURES, state[1], strict=True) if value
            })
            assert +summed == expected, (facts, day)
            assert all(value >= 0 for value in summed.values())


def test_buckets_and_measures_line_up() -> None:
    assert daycounts.MEASURES[:len(BUCKETS)] == (
        "n_1_39", "n_40_59", "n_60", "n_closed_ok", "n_ongoing")
    assert BUCKETS == ("1-39", "40-59", "60+", "closed_ok", "ongoing")
