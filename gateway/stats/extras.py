"""Measures beyond the old report, from live legs only (the history has dates of two events).

- Answered within 30 days of `received`: of the cohort's live inquiries whose 30 days have run
  out by the measurement date or that were answered within them, how many were answered (the
  REKO's `answered` leg) on or before the 30th Stockholm calendar day after `received`.
- Leg times: the median and 90th percentile of received→opened, opened→answered,
  answered→answer_delivered and answer_delivered→registered, in whole seconds (nearest rank: the
  value at rank ceil(p·n) of the n sorted durations): when no leg is after the measurement
  date, from the bins kept as legs are written and an index walk within one bin; otherwise
  ranked with window functions over the cohort's summaries.
- Open past deadline: inquiries with no answer, delivery, registration or closure as of the
  measurement date whose deadline is before it.
- Rejected at intake by rule code, from `intake_rejections` where that table exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    case,
    func,
    inspect,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.db import UTCDateTime
from gateway.inquiries import daycounts
from gateway.inquiries.models import FormType, InquiryLegTimeCount, InquirySummary, Leg
from gateway.stats.period import Period
from gateway.stats.shares import percent_of
from gateway.stats.sqltime import SqlTime

TARGET_DAYS = 30
LEG_PAIRS = (
    ("received", "opened"),
    ("opened", "answered"),
    ("answered", "answer_delivered"),
    ("answer_delivered", "registered"),
)
REJECTIONS_TABLE = "intake_rejections"


@dataclass(frozen=True)
class LegTiming:
    """Median and 90th percentile of one leg, in seconds (None when no inquiry had it)."""

    start: str
    end: str
    count: int
    median_seconds: int | None
    p90_seconds: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "count": self.count,
            "median_hours": _hours(self.median_seconds),
            "p90_hours": _hours(self.p90_seconds),
        }


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


@dataclass(frozen=True)
class Rejections:
    """Intake refusals in the year up to the measurement date, by rule code."""

    available: bool
    total: int = 0
    by_code: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False}
        return {"available": True, "total": self.total, "by_code": dict(self.by_code)}


@dataclass(frozen=True)
class Extras:
    within_target: int
    target_due: int
    open_past_deadline: int
    legs: tuple[LegTiming, ...]
    rejections: Rejections

    @property
    def within_target_percent(self) -> int | None:
        return percent_of(self.within_target, self.target_due)

    def to_json(self) -> dict[str, Any]:
        return {
            "answered_within_30_days": {
                "percent": self.within_target_percent,
                "count": self.within_target,
                "of": self.target_due,
            },
            "legs": [leg.to_json() for leg in self.legs],
            "open_past_deadline": self.open_past_deadline,
            "rejections": self.rejections.to_json(),
        }


@dataclass(frozen=True)
class Targets:
    """Counted over the live cohort as of the measurement (engine.live_counts): answered within
    the target, the target's denominator, and open past deadline."""

    within_target: int
    target_due: int
    past_deadline: int


def compute(
    session: Session, period: Period, time: SqlTime, firsts: Any, targets: Targets
) -> Extras:
    """The measures: the target and deadline counts as given, the leg times from the first
    times (engine.live_firsts) and the rejections."""
    return Extras(
        within_target=targets.within_target,
        target_due=targets.target_due,
        open_past_deadline=targets.past_deadline,
        legs=_leg_timings(session, period, time, firsts),
        rejections=rejections(session, period),
    )


def _leg_timings(
    session: Session, period: Period, time: SqlTime, firsts: Any
) -> tuple[LegTiming, ...]:
    """The leg times: from the bins (inquiry_leg_time_counts) when no leg is after the
    measurement date (every leg of the cohort then counts: a report as of today), else from
    every summary of the cohort. The same numbers either way."""
    latest = session.scalar(select(func.max(Leg.at)))
    if latest is None or local_date(latest) <= period.as_of:
        return _leg_timings_from_bins(session, period)
    return _leg_timings_per_row(session, time, firsts)


def _leg_timings_from_bins(session: Session, period: Period) -> tuple[LegTiming, ...]:
    """Nearest rank, as _leg_timings_per_row: the bins say how many legs each leg kind has and
    which bin holds the wanted rank; the summaries of that bin (walked on their index, from the
    bin's first second) give the value at the rank within it."""
    counts = InquiryLegTimeCount
    rows = session.execute(
        select(counts.leg, counts.bin, func.sum(counts.n))
        .where(counts.month >= period.first_day, counts.month <= dt.date(period.year, 12, 1))
        .group_by(counts.leg, counts.bin)
    )
    bins: dict[int, list[tuple[int, int]]] = {}
    for leg, number, n in rows:
        if n:
            bins.setdefault(int(leg), []).append((int(number), int(n)))
    timings = []
    for index, (start, end, column) in enumerate(daycounts.PAIRS):
        found = sorted(bins.get(index, []))
        total = sum(n for _, n in found)
        if not total:
            timings.append(LegTiming(start, end, 0, None, None))
            continue
        median, p90 = (_at_rank(session, period, column, found, (total * percent + 99) // 100)
                       for percent in (50, 90))
        timings.append(LegTiming(start, end, total, median, p90))
    return tuple(timings)


def _at_rank(
    session: Session, period: Period, column: str, bins: list[tuple[int, int]], rank: int
) -> int:
    """The value at `rank` (1-based) among the cohort's seconds in `column`, given its bins."""
    number, before = _bin_at(bins, rank)
    low, high = daycounts.bin_bounds(number)
    seconds = getattr(InquirySummary, column)
    summary = InquirySummary
    conditions = [
        seconds < high, summary.started >= period.cohort_start_utc,
        summary.started < period.cohort_end_utc,
        summary.form_type == daycounts.COUNTED_FORM_TYPE,
    ]
    if low is not None:
        conditions.append(seconds >= low)
    value = session.scalar(
        select(seconds).where(*conditions).order_by(seconds).offset(rank - before - 1).limit(1)
    )
    if value is None:
        raise RuntimeError(f"inquiry_leg_time_counts disagrees with the summaries ({column})")
    return int(value)


def _bin_at(bins: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bin holding `rank` among bins (number, count) in order, and the count before it."""
    before = 0
    for number, n in bins:
        if before + n >= rank:
            return number, before
        before += n
    raise ValueError(f"rank {rank} beyond the {before} counted")


def _leg_timings_per_row(session: Session, time: SqlTime, cohort: Any) -> tuple[LegTiming, ...]:
    c = cohort.c
    durations = union_all(*[
        select(
            literal_column(f"'{start}>{end}'", String).label("leg"),
            (time.epoch_seconds(c[end]) - time.epoch_seconds(c[start])).label("seconds"),
        ).where(c[start].is_not(None), c[end].is_not(None))
        for start, end in LEG_PAIRS
    ]).subquery("durations")
    ranked = select(
        durations.c.leg,
        durations.c.seconds,
        func.row_number().over(partition_by=durations.c.leg, order_by=durations.c.seconds)
        .label("rank"),
        func.count().over(partition_by=durations.c.leg).label("n"),
    ).subquery("ranked")

    def at_rank(percent: int) -> Any:
        # Nearest rank: ceil(n * p / 100) in integer arithmetic, the same on both databases.
        wanted = (ranked.c.n * percent + 99) // 100
        return func.min(case((ranked.c.rank == wanted, ranked.c.seconds), else_=None))

    rows = session.execute(
        select(ranked.c.leg, ranked.c.n, at_rank(50), at_rank(90)).group_by(
            ranked.c.leg, ranked.c.n
        )
    )
    found = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}
    timings = []
    for start, end in LEG_PAIRS:
        n, median, p90 = found.get(f"{start}>{end}", (0, None, None))
        timings.append(LegTiming(start, end, n, median, p90))
    return tuple(timings)


def rejections(session: Session, period: Period,
               form_type: FormType = FormType.HALSOFORFRAGAN) -> Rejections:
    """Count the intake refusals of documents sent as `form_type` by rule code (a refusal of no
    known form type counts as a hälsoförfrågan's, as all did before SIP), or say the figure is
    unavailable (no such table)."""
    connection = session.connection()
    if not inspect(connection).has_table(REJECTIONS_TABLE):
        return Rejections(available=False)
    params = [
        bindparam("start", period.cohort_start_utc, type_=UTCDateTime()),
        bindparam("end", period.cohort_end_utc, type_=UTCDateTime()),
        bindparam("form_type", FormType(form_type).value),
        bindparam("unknown_type", FormType.HALSOFORFRAGAN.value),
    ]
    window = ("r.at >= :start AND r.at < :end "
              "AND COALESCE(r.form_type, :unknown_type) = :form_type")
    total = session.execute(
        # Only constants are pasted into the SQL; the values are bound.
        text(f"SELECT COUNT(*) FROM {REJECTIONS_TABLE} r WHERE {window}")  # noqa: S608
        .bindparams(*params)
    ).scalar_one()
    rows = session.execute(_codes_query(connection.dialect.name, window).bindparams(*params))
    by_code = tuple(sorted((str(code), int(n)) for code, n in rows))
    return Rejections(available=True, total=int(total), by_code=by_code)


def _codes_query(dialect: str, window: str) -> Any:
    """One row per rule code and its count; a row's `codes` is a JSON list of codes."""
    # A row whose codes are missing or not a list counts in the total but under no code.
    if dialect == "postgresql":
        codes = (
            "CASE WHEN json_typeof(r.codes::json) = 'array' THEN r.codes::json "
            "ELSE '[]'::json END"
        )
        sql = (
            f"SELECT code, COUNT(*) FROM {REJECTIONS_TABLE} r "  # noqa: S608 (constants)
            f"CROSS JOIN LATERAL json_array_elements_text({codes}) AS code "
            f"WHERE {window} GROUP BY code"
        )
    else:
        codes = (
            "CASE WHEN json_valid(r.codes) AND json_type(r.codes) = 'array' THEN r.codes "
            "ELSE '[]' END"
        )
        sql = (
            f"SELECT j.value, COUNT(*) FROM {REJECTIONS_TABLE} r, json_each({codes}) j "  # noqa: S608
            f"WHERE {window} GROUP BY j.value"
        )
    return text(sql)
