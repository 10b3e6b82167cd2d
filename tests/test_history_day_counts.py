"""history_day_counts: what imports keep equals what a rebuild from the rows gives, and the
report's history counts from it equal DESIGN 5.7 read straight from the rows, as of every day."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.db import database, get_session
from gateway.migrate import downgrade, upgrade
from gateway.stats import historycounts
from gateway.stats.engine import history_groups
from gateway.stats.history import HistoryRow, import_history
from gateway.stats.models import CloseReason, HistoryDayCount, HistoryInquiry
from gateway.stats.period import Period

UNITS = (("SE2321000255-K001", "EBB Öster"), ("SE2321000255-K002", "AMA"))
DAY = dt.timedelta(days=1)


def row(reference: str, sent: str, answered: str | None = None, closed: str | None = None,
        units: int = 0) -> HistoryRow:
    def day(text: str | None) -> dt.date | None:
        return None if text is None else dt.date.fromisoformat(text)

    care, sender = UNITS[units]
    return HistoryRow(reference, care, sender, dt.date.fromisoformat(sent), day(answered),
                      day(closed), CloseReason.DUPLICATE if closed else None)


# Every case of DESIGN 5.7's buckets, the month and year edges, an answer in the next year.
ROWS = [
    row("H-1", "2023-01-01", answered="2023-01-01"),
    row("H-2", "2023-01-31", answered="2023-03-11"),  # 39 days
    row("H-3", "2023-02-01", answered="2023-03-13"),  # 40 days
    row("H-4", "2023-02-28", answered="2023-04-28"),  # 59 days
    row("H-5", "2023-03-01", answered="2023-04-30"),  # 60 days
    row("H-6", "2023-12-31", answered="2024-02-15", units=1),
    row("H-7", "2023-06-15", closed="2023-06-15"),
    row("H-8", "2023-06-15", closed="2023-07-01", units=1),
    row("H-9", "2023-07-01"),
    row("H-10", "2022-12-31", answered="2023-01-02"),
    row("H-11", "2024-01-01", closed="2024-01-02"),
]


def stored(session: Session) -> list[tuple[Any, ...]]:
    counts = HistoryDayCount
    columns = [getattr(counts, name)
               for name in (*historycounts.KEY_COLUMNS, *historycounts.BUCKET_COLUMNS)]
    return [tuple(r) for r in session.execute(select(*columns).order_by(*columns[:4]))]


def kept_equals_rebuilt(session: Session) -> list[tuple[Any, ...]]:
    kept = stored(session)
    historycounts.rebuild(session)
    assert stored(session) == kept
    assert all(any(values[4:]) for values in kept), "a row of nothing was left"
    return kept


def reference_groups(session: Session, period: Period) -> Counter[tuple[Any, ...]]:
    """DESIGN 5.7 over the rows themselves: per units, month and bucket, as of the period."""
    found: Counter[tuple[Any, ...]] = Counter()
    h = HistoryInquiry
    for care, sender, sent, answered, closed in session.execute(
        select(h.care_unit, h.sender_unit, h.sent_on, h.answer_registered_on, h.closed_on)
    ):
        if not period.first_day <= sent <= period.last_day:
            continue
        if answered is not None and answered <= period.as_of:
            days = (answered - sent).days
            bucket = 0 if days <= 39 else 1 if days <= 59 else 2
        elif closed is not None and closed <= period.as_of:
            bucket = 3
        else:
            bucket = 4
        found[(care, sender, sent.month, bucket)] += 1
    return found


def report_groups(session: Session, period: Period) -> Counter[tuple[Any, ...]]:
    found: Counter[tuple[Any, ...]] = Counter()
    for group in history_groups(session, period):
        assert group.source == "history"
        for bucket, count in enumerate(group.counts):
            if count:
                found[(group.care_unit, group.sender_unit, group.month, bucket)] += count
    return found


def every_day(first: str, last: str) -> list[dt.date]:
    day, end, days = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        days.append(day)
        day += DAY
    return days


def test_imports_keep_what_a_rebuild_gives(app: Flask) -> None:
    session = get_session()
    import_history(session, ROWS, actor="cli:test", source="a.csv")
    assert kept_equals_rebuilt(session)
    # Changed rows move their counts: answered later, closed then answered, another unit.
    changed = [
        row("H-2", "2023-01-31", answered="2023-03-12"),
        row("H-7", "2023-06-15"),
        row("H-8", "2023-06-15", answered="2023-09-01", units=0),
        row("H-9", "2023-07-01", closed="2023-07-02"),
        row("H-12", "2023-05-05", answered="2023-05-06"),
    ]
    summary = import_history(session, changed, actor="cli:test", source="b.csv")
    assert (summary.created, summary.updated) == (1, 4)
    kept_equals_rebuilt(session)
    # Importing the same again changes nothing.
    before = stored(session)
    import_history(session, changed, actor="cli:test", source="b.csv")
    assert stored(session) == before


def test_the_report_equals_the_rows_as_of_every_day(app: Flask) -> None:
    session = get_session()
    import_history(session, ROWS, actor="cli:test", source="a.csv")
    # Rows an import refuses but a table may hold: an answer before sending, an answer and a
    # closing (the answer counts), closed before and after the answer.
    care, sender = UNITS[0]
    session.execute(insert(HistoryInquiry), [
        {"reference": reference, "care_unit": care, "sender_unit": sender,
         "sent_on": dt.date.fromisoformat(sent),
         "answer_registered_on": dt.date.fromisoformat(answered) if answered else None,
         "closed_on": dt.date.fromisoformat(closed) if closed else None,
         "close_reason": CloseReason.DUPLICATE if closed else None}
        for reference, sent, answered, closed in [
            ("X-1", "2023-03-10", "2023-03-01", None),
            ("X-2", "2023-03-10", "2023-05-01", "2023-04-01"),
            ("X-3", "2023-03-10", "2023-04-01", "2023-05-01"),
            ("X-4", "2023-03-10", "2023-04-01", "2023-04-01"),
            ("X-5", "2023-03-10", "2023-04-01", "2023-03-05"),
        ]
    ])
    historycounts.rebuild(session)
    for as_of in every_day("2022-12-30", "2024-03-01"):
        for year in {2022, 2023, as_of.year}:
            period = Period(year, as_of)
            assert report_groups(session, period) == reference_groups(session, period), as_of


def test_random_rows_add_up_to_their_counts(app: Flask) -> None:
    rng = random.Random(17)  # noqa: S311 - test data
    rows = []
    for number in range(300):
        sent = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(365))
        fate, later = rng.random(), dt.timedelta(days=int(rng.expovariate(1 / 40)))
        rows.append(HistoryRow(
            f"R-{number}", *UNITS[rng.randrange(2)], sent,
            sent + later if fate < 0.7 else None, sent + later if 0.7 <= fate < 0.9 else None,
            CloseReason.DUPLICATE if 0.7 <= fate < 0.9 else None,
        ))
    session = get_session()
    import_history(session, rows[:200], actor="cli:test", source="a.csv")
    import_history(session, rows[100:], actor="cli:test", source="b.csv")
    kept_equals_rebuilt(session)
    for as_of in every_day("2023-01-01", "2024-06-30")[::3]:
        period = Period(2023, as_of)
        assert report_groups(session, period) == reference_groups(session, period), as_of


def test_the_migration_fills_what_imports_keep(committing_app: Flask) -> None:
    session = get_session()
    import_history(session, ROWS, actor="cli:test", source="a.csv")
    session.commit()
    kept = stored(session)
    session.close()
    engine = database(committing_app).engine
    downgrade(engine, "a9c3e5d7f102")
    upgrade(engine)
    assert kept and stored(get_session()) == kept
