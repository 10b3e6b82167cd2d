"""The measurement: which year's inquiries, as of which date, and the months its volume covers.

Everything is counted *as of* the measurement date (inclusive): an inquiry sent, answered or
closed after it does not exist yet. The volume ("21 st/månad (jan–mars)") averages over the
cohort's whole months, and `whole_months` alone decides which those are: a month counts when its
last day is on or before the measurement date (so 2024-03-31 gives jan–mars, and so does
2024-04-15); a year that ended before the measurement averages over all twelve. Measured before
the end of January of the year itself, no month is whole and January so far is used. The page,
the API, the CLI and the exports all take the months from here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from forms.dates import stockholm_today
from gateway import codes
from gateway.errors import GatewayError
from gateway.params import date_parameter
from gateway.params import shown as _shown
from gateway.stats.sqltime import start_of_day_utc

FIRST_YEAR = 2000
YEAR = re.compile(r"[0-9]{4}")
MONTH_NAMES = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)
MONTH_ABBREVIATIONS = (
    "jan", "feb", "mars", "april", "maj", "juni", "juli", "aug", "sep", "okt", "nov", "dec",
)


class StatsError(GatewayError):
    """A statistics request or history file that cannot be used; says which part and why."""


@dataclass(frozen=True)
class Period:
    """One yearly report's frame: the cohort year and the measurement date (inclusive)."""

    year: int
    as_of: dt.date

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def last_day(self) -> dt.date:
        """The last day an inquiry of the cohort can have been sent, as of the measurement."""
        return min(dt.date(self.year, 12, 31), self.as_of)

    @property
    def cohort_start_utc(self) -> dt.datetime:
        return start_of_day_utc(self.first_day)

    @property
    def cohort_end_utc(self) -> dt.datetime:
        """The first instant after the cohort (exclusive bound)."""
        return start_of_day_utc(self.last_day + dt.timedelta(days=1))

    @property
    def cutoff_utc(self) -> dt.datetime:
        """Legs at or after this instant happened after the measurement date."""
        return start_of_day_utc(self.as_of + dt.timedelta(days=1))

    @property
    def months(self) -> range:
        """The months (1-12) of the cohort that exist as of the measurement date."""
        return range(1, self.last_day.month + 1)

    @property
    def volume_months(self) -> range:
        """The months the volume averages over: `whole_months` of the period."""
        return whole_months(self.year, self.as_of)

    @property
    def volume_label(self) -> str:
        """The months of the volume in Swedish, e.g. "jan–mars" or "jan–dec"."""
        months = self.volume_months
        first, last = MONTH_ABBREVIATIONS[months[0] - 1], MONTH_ABBREVIATIONS[months[-1] - 1]
        return first if len(months) == 1 else f"{first}–{last}"


def whole_months(year: int, as_of: dt.date) -> range:
    """Return the months (1-12) of `year` whose last day is on or before `as_of`; January alone
    when none is (a measurement early in the year itself averages over January so far)."""
    if as_of.year > year:
        return range(1, 13)
    next_day = as_of + dt.timedelta(days=1)
    last_whole = as_of.month if next_day.month != as_of.month else as_of.month - 1
    return range(1, max(last_whole, 1) + 1)


def make_period(year: int, as_of: dt.date, today: dt.date | None = None) -> Period:
    """Return the period; raise StatsError (400) for a year or date that cannot be measured."""
    today = today or stockholm_today()
    if as_of > today:
        raise StatsError.at(
            codes.FUTURE_DATE,
            f"Mätdatumet {as_of.isoformat()} har inte kommit än; senast {today.isoformat()}.",
            "as_of",
        )
    if not FIRST_YEAR <= year <= as_of.year:
        raise StatsError.at(
            codes.YEAR_OUT_OF_RANGE,
            f"Året ska vara mellan {FIRST_YEAR} och mätdatumets år {as_of.year}; fick {year}.",
            "year",
        )
    return Period(year, as_of)


def parse_date(raw: str, name: str = "as_of") -> dt.date:
    """Return an ISO date (YYYY-MM-DD); raise a 400 naming the parameter otherwise."""
    return date_parameter(raw, name, StatsError)


def parse_year(raw: str) -> int:
    if not YEAR.fullmatch(raw):
        raise StatsError.at(
            codes.INVALID_YEAR,
            f"Parametern year ska vara ett år med fyra siffror ({_shown(raw)}).", "year",
        )
    return int(raw)


def period_from_text(year: str | None, as_of: str | None, today: dt.date | None = None) -> Period:
    """Return the period from request text; both optional (today, and the measurement's year)."""
    today = today or stockholm_today()
    measured = parse_date(as_of) if as_of else today
    return make_period(parse_year(year) if year else measured.year, measured, today)
