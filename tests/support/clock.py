"""Clocks for tests: a frozen one (time-machine) for tests whose outcome depends on today's
date, and one moved by hand for code that takes its clock as an argument (the worker).

A pytest plugin (`pytest_plugins` in tests/conftest.py). A module whose dates are computed at
import, or a test that compares "today" in two places, takes `frozen_clock` and the dates
below, so that it gives the same answer on any day and at any hour, midnight included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine

from gateway.db import utcnow

# A Monday at noon in Sweden: far from midnight, a month's or year's end and summer time.
FROZEN_AT = dt.datetime(2025, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
FROZEN_TODAY = FROZEN_AT.date()


@pytest.fixture
def frozen_clock() -> Iterator[dt.datetime]:
    """Stop the clock at FROZEN_AT for the test (datetime, date and time.time; not monotonic)."""
    # Given in UTC: a ZoneInfo would make time-machine change the process's TZ as well.
    with time_machine.travel(FROZEN_AT.astimezone(dt.UTC), tick=False):
        yield FROZEN_AT


class Clock:
    """A clock the test moves by hand, for code that is given its clock (e.g. the Worker)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()
