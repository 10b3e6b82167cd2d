"""The demo's years of use: every year up to today has inquiries, spread over the 18 VCs as
Malmö's would be (quiet Julys, slower and quicker VCs, refused sends to the private VC); open
cases are real (a REKO can read them), finished ones are as retention leaves them; a second run
adds nothing, and the project's 2023 table is still reproduced beside them."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from gateway.db import get_session
from gateway.demo_years import (
    GATEWAY_START,
    MEDIAN_DAYS,
    TYPICAL_DAYS,
    Case,
    load_demo_years,
    plan_cases,
)
from gateway.directory.demo import load_demo_directory
from gateway.inquiries.models import Inquiry, IntakeRejection, LegKind
from gateway.inquiries.personal import person_of
from gateway.stats.demo import CARE_UNITS, load_demo_history
from gateway.stats.engine import data_years, response_times
from gateway.stats.period import Period
from tests.support.pdfs import TestPki

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def _answer_days(cases: list[Case], care_unit: str) -> float:
    days = [(s.at - c.received).total_seconds() / 86400
            for c in cases if c.care_unit == care_unit
            for s in c.steps if s.kind is LegKind.ANSWERED]
    return statistics.median(days)


def test_every_year_and_every_connected_vc_has_inquiries() -> None:
    cases, refused = plan_cases(NOW)
    years = Counter(c.received.year for c in cases)
    assert sorted(years) == list(range(GATEWAY_START.year, TODAY.year + 1))
    assert all(count > 200 for count in years.values()), years
    assert set(c.care_unit for c in cases) == set(CARE_UNITS)
    assert refused and all(at <= NOW for at in refused)
    assert all(s.at <= NOW for c in cases for s in c.steps)


def test_july_is_quiet() -> None:
    cases, _refused = plan_cases(NOW)
    for year in (2025, 2026):
        months = Counter(c.received.month for c in cases if c.received.year == year)
        others = [n for month, n in months.items() if month != 7]
        assert months[7] < 0.6 * statistics.mean(others), (year, months)


def test_slow_vcs_answer_later_than_quick_ones() -> None:
    cases, _refused = plan_cases(NOW)
    slow = max(MEDIAN_DAYS, key=MEDIAN_DAYS.__getitem__)
    quick = min(MEDIAN_DAYS, key=MEDIAN_DAYS.__getitem__)
    assert _answer_days(cases, slow) > TYPICAL_DAYS > _answer_days(cases, quick)


def test_the_plan_is_the_same_every_time() -> None:
    assert plan_cases(NOW) == plan_cases(NOW)


@pytest.fixture
def loaded(app: Flask, installed_pki: TestPki) -> int:
    session = get_session()
    load_demo_directory(session, "test", today=TODAY)
    load_demo_history(session, "test")
    session.commit()
    return load_demo_years(app, NOW)


def test_open_cases_are_real_and_finished_ones_purged(loaded: int) -> None:
    cases, refused = plan_cases(NOW)
    assert loaded == len(cases)
    session = get_session()
    for case in cases:
        inquiry = session.get(Inquiry, case.id)
        assert inquiry is not None
        if case.finished:
            assert inquiry.purged_at is not None and person_of(inquiry) is None
        else:
            assert person_of(inquiry) is not None, "a REKO must be able to read an open case"
    assert any(not c.finished for c in cases)
    rejections = session.scalars(select(IntakeRejection.codes)).all()
    assert rejections == [["CARE_UNIT_NOT_CONNECTED"]] * len(refused)


def test_a_second_run_adds_nothing(app: Flask, loaded: int) -> None:
    count = get_session().scalar(select(func.count()).select_from(Inquiry))
    assert load_demo_years(app, NOW) == 0
    assert get_session().scalar(select(func.count()).select_from(Inquiry)) == count


def test_the_statistics_cover_every_year_and_keep_the_seed_table(loaded: int) -> None:
    session = get_session()
    assert data_years(session, TODAY) == [2022, 2023, 2024, 2025, 2026]
    cases, _refused = plan_cases(NOW)
    for year in (2025, 2026):
        report = response_times(session, Period(year, TODAY)).to_json()
        assert report["total"] == sum(1 for c in cases if c.received.year == year)
        assert len(report["care_units"]) == len(CARE_UNITS)
        assert report["buckets"]["1-39"]["percent"] > 50, report["buckets"]
    seed = response_times(session, Period(2023, dt.date(2024, 4, 30))).to_json()
    assert [b["percent"] for b in seed["buckets"].values()] == [38, 15, 26, 14, 7]
