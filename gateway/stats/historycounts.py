"""The history's counts in the yearly report (DESIGN 5.7) as changes per day, kept as history rows
are imported (the imported history's counterpart of gateway.inquiries.daycounts).

As of a measurement date A a history row counts from its sending day on (`sent_on` <= A): in the
bucket of its answer where `answer_registered_on` <= A (by the days from `sent_on`), else
"closed_ok" where `closed_on` <= A, else "ongoing". That changes only on the row's sending, answer
and closing days, so a row gives at most three changes (each +1 to one bucket, -1 to another):

- on `sent_on`: +1 to what it counts that day (an answer or a closing on or before it counts);
- on the answer day, when after `sent_on`: from "closed_ok" (closed before the answer) or
  "ongoing" to the answer's bucket;
- on the closing day, when after `sent_on` and before any answer: from "ongoing" to "closed_ok".

`history_day_counts` holds their sums per (cohort month, care unit, sending unit, day); the counts
as of A are the sums over the days up to A: exactly what the grouped query over the rows gave,
from a few rows per day and units instead of every row. Computed in SQL (one statement), the same
on SQLite and PostgreSQL: `rebuild` from every row, `add` for the rows an import touches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Date,
    String,
    Table,
    TableClause,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.stats.models import HistoryDayCount, HistoryInquiry
from gateway.stats.sqltime import Expr, SqlTime

# The buckets in engine.BUCKETS order: three by the answer's days, then closed and ongoing.
BUCKET_COLUMNS = ("n_1_39", "n_40_59", "n_60", "n_closed_ok", "n_ongoing")
KEY_COLUMNS = ("month", "care_unit", "sender_unit", "day")
_CLOSED, _ONGOING = 3, 4
# Days from sending to answer: up to 39 (same day included) "1-39", up to 59 "40-59", else "60+".
_LIMITS = (39, 59)
_ANY_DAY = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # SqlTime's span: only dates are used here

ROWS: Table = HistoryInquiry.__table__  # type: ignore[assignment]
COUNTS: Table = HistoryDayCount.__table__  # type: ignore[assignment]


def month_start(dialect: str, day: Any) -> Expr:
    """The first day of the month of a date column."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    # Dates are ISO text on SQLite.
    return func.substr(day, 1, 8, type_=String) + literal("01", String)


def changes(dialect: str, where: Any = None, rows: TableClause = ROWS) -> Any:
    """A SELECT of the changes of the rows matching `where` (all rows without it), summed per
    KEY_COLUMNS: the columns of history_day_counts, in its order."""
    sent, answered, closed = rows.c.sent_on, rows.c.answer_registered_on, rows.c.closed_on
    days = SqlTime(dialect, _ANY_DAY, _ANY_DAY).days_between(answered, sent)
    answer_bucket = case((days <= _LIMITS[0], 0), (days <= _LIMITS[1], 1), else_=2)
    answered_by_sending = and_(answered.is_not(None), answered <= sent)
    closed_by_sending = and_(closed.is_not(None), closed <= sent)
    # (day, bucket gaining one, bucket losing one or NULL, condition)
    events = [
        (sent, case((answered_by_sending, answer_bucket), (closed_by_sending, _CLOSED),
                    else_=_ONGOING), null(), true()),
        (answered, answer_bucket,
         case((and_(closed.is_not(None), closed < answered), _CLOSED), else_=_ONGOING),
         answered > sent),
        (closed, literal(_CLOSED), literal(_ONGOING),
         and_(closed > sent, or_(answered.is_(None), answered > closed))),
    ]
    month = month_start(dialect, sent)
    parts = [
        select(month.label("month"), rows.c.care_unit.label("care_unit"),
               rows.c.sender_unit.label("sender_unit"), day.label("day"),
               gain.label("gain"), loss.label("loss"))
        .where(condition, *([] if where is None else [where]))
        for day, gain, loss, condition in events
    ]
    found = union_all(*parts).subquery("changes")
    sums = [
        (func.sum(case((found.c.gain == index, 1), else_=0))
         - func.sum(case((found.c.loss == index, 1), else_=0))).label(name)
        for index, name in enumerate(BUCKET_COLUMNS)
    ]
    keys = [found.c[name] for name in KEY_COLUMNS]
    # WHERE true: SQLite reads an ON after the SELECT as the upsert's only then.
    return select(*keys, *sums).where(true()).group_by(*keys)


def rebuild(session: Session, rows: TableClause = ROWS, counts: TableClause = COUNTS) -> None:
    """Replace history_day_counts with the changes of every history row."""
    dialect = session.get_bind().dialect.name
    session.execute(delete(counts))
    columns = [*KEY_COLUMNS, *BUCKET_COLUMNS]
    session.execute(insert(counts).from_select(columns, changes(dialect, rows=rows)))


def add(session: Session, references: Sequence[str], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the changes of the history rows with these
    references, as they are now in the transaction."""
    if not references:
        return
    dialect = session.get_bind().dialect.name
    found = changes(dialect, ROWS.c.reference.in_(sorted(references))).subquery("found")
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(COUNTS)
    statement = statement.from_select(
        [*KEY_COLUMNS, *BUCKET_COLUMNS],
        # In key order: concurrent imports lock the rows in one order.
        select(*(found.c[name] for name in KEY_COLUMNS),
               *(sign * found.c[name] for name in BUCKET_COLUMNS))
        .where(true()).order_by(*(found.c[name] for name in KEY_COLUMNS)),
    ).on_conflict_do_update(
        index_elements=[COUNTS.c[name] for name in KEY_COLUMNS],
        set_={name: COUNTS.c[name] + statement.excluded[name] for name in BUCKET_COLUMNS},
    )
    session.execute(statement)


def prune(session: Session) -> None:
    """Delete the rows whose changes add up to nothing (left by rows an import changed)."""
    session.execute(delete(COUNTS).where(*(COUNTS.c[name] == 0 for name in BUCKET_COLUMNS)))
