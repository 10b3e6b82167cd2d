"""Swedish calendar dates and day arithmetic in SQL, the same answers on SQLite and PostgreSQL.

PostgreSQL converts with its own time-zone rules (`timezone('Europe/Stockholm', at)`). SQLite
has no zone data, so for the span a report looks at we compute the UTC instants where
Stockholm's offset changes (from Python's zoneinfo, the same IANA rules) and convert with a CASE
over those instants: `date(at, '+3600 seconds')` in winter, `'+7200 seconds'` in summer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, case, cast, extract, func, literal
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from forms.dates import STOCKHOLM as STOCKHOLM  # re-exported: the statistics' time zone
from gateway.db import UTCDateTime

# Offsets change at most twice a year, months apart: a week's step cannot jump over two changes.
_STEP = dt.timedelta(days=7)

Expr = ColumnElement[Any]
# A column expression or a mapped attribute (HistoryInquiry.sent_on).
Column = ColumnElement[Any] | QueryableAttribute[Any]


def start_of_day_utc(day: dt.date) -> dt.datetime:
    """Return the UTC instant at which `day` begins in Stockholm."""
    return dt.datetime.combine(day, dt.time(), STOCKHOLM).astimezone(dt.UTC)


def _offset(moment: dt.datetime) -> int:
    delta = moment.astimezone(STOCKHOLM).utcoffset()
    assert delta is not None
    return int(delta.total_seconds())


def _first_with_new_offset(before: dt.datetime, after: dt.datetime) -> dt.datetime:
    """Bisect to the second: the first instant in (before, after] with after's offset."""
    target = _offset(after)
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle <= before:
            middle = before + dt.timedelta(seconds=1)
        if _offset(middle) == target:
            after = middle
        else:
            before = middle
    return after


def offset_changes(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """Return [(from_utc, offset_seconds), ...]: Stockholm's offset from each instant on.

    The first entry is `start` itself; each later one is an instant in (start, end] where the
    offset changes.
    """
    changes = [(start, _offset(start))]
    moment = start
    while moment < end:
        step_end = min(moment + _STEP, end)
        if _offset(step_end) != _offset(moment):
            at = _first_with_new_offset(moment, step_end)
            changes.append((at, _offset(at)))
        moment = step_end
    return changes


@dataclass(frozen=True)
class SqlTime:
    """Date expressions for one dialect, valid for timestamps within [span_start, span_end]."""

    dialect: str
    span_start: dt.datetime
    span_end: dt.datetime

    def local_date(self, at: Column) -> Expr:
        """The Stockholm calendar date of a UTC timestamp expression (as a date, or ISO text)."""
        if self.dialect == "postgresql":
            return cast(func.timezone("Europe/Stockholm", at), Date)
        changes = offset_changes(self.span_start, self.span_end)
        modifiers = [f"{offset:+d} seconds" for _, offset in changes]
        if len(changes) == 1:
            return func.date(at, modifiers[0])
        whens = [
            (at < literal(changes[i + 1][0], UTCDateTime()), modifiers[i])
            for i in range(len(changes) - 1)
        ]
        return func.date(at, case(*whens, else_=modifiers[-1]))

    def days_between(self, later: Column, earlier: Column) -> Expr:
        """Whole calendar days from `earlier` to `later` (both dates)."""
        if self.dialect == "postgresql":
            return cast(later, Date) - cast(earlier, Date)
        return cast(func.julianday(later) - func.julianday(earlier), Integer)

    def month(self, day: Column) -> Expr:
        """The month number (1-12) of a date."""
        if self.dialect == "postgresql":
            return cast(extract("month", day), Integer)
        # Dates are ISO text on SQLite; slicing is a third of the cost of strftime.
        return cast(func.substr(day, 6, 2), Integer)

    def epoch_seconds(self, at: Column) -> Expr:
        return epoch_seconds(self.dialect, at)


def epoch_seconds(dialect: str, at: Column) -> Expr:
    """Whole seconds since 1970 of a UTC timestamp, truncated (exact integers on both; SQLite
    rounds to the millisecond first)."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", at)), BigInteger)
    return cast(func.strftime("%s", at), BigInteger)
