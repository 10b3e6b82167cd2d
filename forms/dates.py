"""Swedish time, defined once for the whole project: the zone, local dates, today, and
calendar-month arithmetic."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

# Consent dates and deadlines are Swedish calendar dates.
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local_date(moment: dt.datetime) -> dt.date:
    """Return the calendar date in Sweden of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("local_date needs an aware datetime")
    return moment.astimezone(STOCKHOLM).date()


def local_clock(moment: dt.datetime, *, seconds: bool = False) -> str:
    """Return an aware datetime as Swedish wall-clock time to the minute (2025-03-10 14:05), or
    with `seconds` to the second (2025-03-10 14:05:09). Pages say once that times are Swedish."""
    if moment.tzinfo is None:
        raise ValueError("local_clock needs an aware datetime")
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S" if seconds
                                                 else "%Y-%m-%d %H:%M")


def stockholm_today() -> dt.date:
    """Return today's date in Sweden, whatever the server's zone: the date rules, routing and
    statistics use by default."""
    return local_date(dt.datetime.now(dt.UTC))


def add_months(day: dt.date, months: int) -> dt.date:
    """Return `day` plus `months` calendar months, clamped to the end of the target month.

    2024-01-31 + 1 month is 2024-02-29; 2024-02-29 + 12 months is 2025-02-28.
    """
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))
