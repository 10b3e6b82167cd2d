"""The statistics benchmark's bulk fill gives what the gateway would keep: the summaries' leg
seconds and the day counts equal what the workflow rebuilds from them row by row, and the
history's day counts give the rows' own counts. No timing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench._harness import gateway_app
from bench.stats import AS_OF, YEAR, fill_history, fill_live
from gateway.db import database, make_engine
from gateway.inquiries import daycounts
from gateway.inquiries.models import InquiryDayCount, InquiryLegTimeCount, InquirySummary
from gateway.inquiries.workflow import rebuild_day_counts
from gateway.stats.engine import history_groups
from gateway.stats.models import HistoryInquiry
from gateway.stats.period import Period
from tests.conftest import BACKENDS, drop_pg_database, fresh_database_url

ROWS = 700


def table_rows(session: Session, model: Any) -> list[tuple[Any, ...]]:
    columns = list(model.__table__.columns)
    return [tuple(row) for row in session.execute(select(*columns).order_by(*columns))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bench_fill_keeps_what_the_gateway_would(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    try:
        database(gateway_app(tmp_path, url)).engine.dispose()
        fill_live(url, ROWS)
        fill_history(url, ROWS)
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            summaries = table_rows(session, InquirySummary)
            counts = table_rows(session, InquiryDayCount)
            times = table_rows(session, InquiryLegTimeCount)
            columns = [getattr(InquirySummary, name) for name in daycounts.FACT_COLUMNS]
            facts = session.execute(select(*columns)).all()
            # Row by row, as the migration and add_leg count: the same as the grouped fill.
            assert daycounts.as_rows(daycounts.totals(facts)) == [
                dict(zip(InquiryDayCount.__table__.columns.keys(), row, strict=True))
                for row in counts
            ]
            assert sorted(daycounts.totals(facts)) and times
            rebuild_day_counts(session)
            assert table_rows(session, InquirySummary) == summaries
            assert table_rows(session, InquiryDayCount) == counts
            assert table_rows(session, InquiryLegTimeCount) == times
            sent = session.scalar(select(func.count()).select_from(HistoryInquiry).where(
                HistoryInquiry.sent_on <= dt.date(YEAR, 12, 31)))
            groups = history_groups(session, Period(YEAR, AS_OF))
            assert sum(sum(group.counts) for group in groups) == sent == ROWS
        engine.dispose()
    finally:
        if backend == "postgresql":
            drop_pg_database(url)
