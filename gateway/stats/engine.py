"""The yearly response-time report of DESIGN 5.7, computed in the database from legs and history.

Grouped queries count the cohort per bucket by (source, care unit, sending unit, month),
summing the changes per day up to the measurement date: for the history from
history_day_counts, kept as rows are imported (gateway.stats.historycounts); for the live
hälsoförfrågningar (not SIPs) from inquiry_day_counts, kept as legs are written
(gateway.inquiries.daycounts). Python only adds up
those few hundred groups. The cohort is the inquiries sent in the year (Stockholm calendar) up
to the measurement date: live inquiries by their `submitted` leg (or `received` where a sender
gave no time), history rows by `sent_on`. Days run from the Stockholm date of sending to the
Stockholm date the answer reached the social services (`registered`, else `answer_delivered`;
in the history, `answer_registered_on`), and choose the bucket: up to 39 (a same-day answer
included) "1-39", 40-59, 60 and more "60+"; with no answer, a `closed` leg (any reason) is
"closed_ok"; otherwise "ongoing". Legs after the measurement date do not exist.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from forms.dates import STOCKHOLM
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries import daycounts
from gateway.inquiries.models import (
    FormType,
    Inquiry,
    InquiryDayCount,
    InquirySummary,
    Leg,
    LegKind,
)
from gateway.inquiries.workflow import SUMMARY_KINDS, count_pending
from gateway.stats import extras, historycounts
from gateway.stats.models import HistoryDayCount, HistoryInquiry, HistorySip
from gateway.stats.period import MONTH_NAMES, Period
from gateway.stats.shares import Cell, largest_remainder, published_row, suppress
from gateway.stats.sqltime import Expr, SqlTime

BUCKETS = ("1-39", "40-59", "60+", "closed_ok", "ongoing")
BUCKET_LABELS = {
    "1-39": "1–39 dagar",
    "40-59": "40–59 dagar",
    "60+": "60+ dagar",
    "closed_ok": "Ej svar, ok anledning",
    "ongoing": "Pågående",
}
SOURCES = ("history", "live")
# Legs read per live inquiry (from its summary); the first of each kind counts.
PIVOT_KINDS = SUMMARY_KINDS

Counts = dict[str, int]


def sql_time(session: Session, period: Period) -> SqlTime:
    """Date helpers for the session's database, valid over every leg the report reads."""
    # A leg may precede `submitted` by a clock's skew; a day's margin covers it.
    return SqlTime(
        session.get_bind().dialect.name,
        period.cohort_start_utc - dt.timedelta(days=1),
        period.cutoff_utc,
    )


def live_firsts(period: Period) -> Any:
    """A subquery of the year's live hälsoförfrågningar as of the measurement: the first time
    of each leg kind, read from the inquiry summaries (kept as legs are written); a first time
    after the measurement does not exist yet."""
    summary = InquirySummary
    firsts = [
        case((getattr(summary, kind.value) < period.cutoff_utc, getattr(summary, kind.value)),
             else_=None).label(kind.value)
        for kind in PIVOT_KINDS
    ]
    return (
        select(summary.inquiry_id, *firsts)
        .where(_starts_in_cohort(summary, period),
               summary.form_type == daycounts.COUNTED_FORM_TYPE)
        .subquery("legs_as_of")
    )


def _starts_in_cohort(summary: type[InquirySummary], period: Period) -> Expr:
    """The summary's cohort start as of the measurement lies in the cohort: on the summary's
    own columns (indexed, and estimated from their statistics), not on the as-of pivot.

    The cohort ends no later than the measurement, so where `submitted` is before it the start
    is `started`; only a `submitted` after the measurement (a sender's clock ahead) leaves
    `received` as the start."""
    start, end = period.cohort_start_utc, period.cohort_end_utc
    return or_(
        and_(summary.started >= start, summary.started < end),
        and_(summary.submitted >= period.cutoff_utc, summary.received >= start,
             summary.received < end),
    )


@dataclass(frozen=True)
class Group:
    """One row of the grouped counts: inquiries of a source, units and month, per bucket."""

    source: str
    care_unit: str
    sender_unit: str
    month: int
    counts: tuple[int, ...]


@dataclass(frozen=True)
class LiveCounts:
    """The live cohort's counts as of the measurement, from inquiry_day_counts: per units and
    month the buckets, and over the cohort the 30-day target and open past deadline."""

    groups: tuple[Group, ...]
    targets: extras.Targets


def summed_as_of(
    counts: Any, care_unit: Any, sender_unit: Any, measures: Sequence[str], period: Period
) -> Any:
    """(care unit, sending unit, cohort month, the measures) from a table of changes per
    day: summed over the days up to the measurement, per units and month of the cohort."""
    sums = [func.sum(getattr(counts, name)) for name in measures]
    return (
        select(care_unit, sender_unit, counts.month, *sums)
        .where(counts.month >= period.first_day, counts.month <= dt.date(period.year, 12, 1),
               counts.day <= period.as_of)
        # In the key's order: SQLite reads the rows in order and groups without sorting.
        .group_by(counts.month, care_unit, sender_unit)
    )


def history_groups(session: Session, period: Period) -> list[Group]:
    """The history's counts: one row per units and month, summed from history_day_counts (the
    changes per day kept as rows are imported) over the days up to the measurement."""
    counts = HistoryDayCount
    query = summed_as_of(counts, counts.care_unit, counts.sender_unit,
                         historycounts.BUCKET_COLUMNS, period)
    groups = []
    for care_unit, sender_unit, month, *values in session.execute(query):
        numbers = tuple(int(value) for value in values)
        if any(numbers):  # every row counted adds one; none sent yet adds nothing
            groups.append(Group("history", care_unit, sender_unit, month.month, numbers))
    return groups


def live_counts(session: Session, period: Period) -> LiveCounts:
    """Sum the changes per day up to the measurement over the cohort's months (a few rows per
    day and units instead of every inquiry), by units and month."""
    counts = InquiryDayCount
    by_units = summed_as_of(counts, counts.care_unit_id, counts.sender_unit_id,
                            daycounts.MEASURES, period)
    rows = session.execute(by_units).all()
    care: dict[int, str] = {
        row[0]: row[1] for row in session.execute(select(CareUnit.id, CareUnit.hsa_id))
    }
    senders: dict[int, str] = {
        row[0]: row[1] for row in session.execute(select(SenderUnit.id, SenderUnit.name))
    }
    groups, targets = [], [0, 0, 0]
    buckets = len(BUCKETS)
    for care_unit_id, sender_unit_id, month, *values in rows:
        numbers = [int(value) for value in values]
        targets = [a + b for a, b in zip(targets, numbers[buckets:], strict=True)]
        if any(numbers[:buckets]):  # units that a reroute left sum to nothing
            groups.append(Group("live", care[care_unit_id], senders[sender_unit_id],
                                month.month, tuple(numbers[:buckets])))
    return LiveCounts(tuple(groups), extras.Targets(*targets))


def _zero() -> Counts:
    return dict.fromkeys(BUCKETS, 0)


@dataclass
class Tally:
    """The grouped counts added up by bucket: overall, per month, per care and sending unit."""

    overall: Counts = field(default_factory=_zero)
    sources: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    months: dict[int, Counts] = field(default_factory=lambda: defaultdict(_zero))
    care_units: dict[str, Counts] = field(default_factory=lambda: defaultdict(_zero))
    sender_units: dict[str, Counts] = field(default_factory=lambda: defaultdict(_zero))

    def add(self, group: Group) -> None:
        self.sources[group.source] += sum(group.counts)
        for bucket, count in zip(BUCKETS, group.counts, strict=True):
            for counts in (
                self.overall, self.months[group.month], self.care_units[group.care_unit],
                self.sender_units[group.sender_unit],
            ):
                counts[bucket] += count


def tally(groups: Sequence[Group]) -> Tally:
    result = Tally()
    for group in groups:
        result.add(group)
    return result


def care_unit_names(session: Session, hsa_ids: Sequence[str]) -> dict[str, str]:
    """Names of the care units the directory knows; history may name units it no longer has."""
    if not hsa_ids:
        return {}
    rows = session.execute(
        select(CareUnit.hsa_id, CareUnit.name).where(CareUnit.hsa_id.in_(sorted(hsa_ids)))
    )
    return {hsa_id: name for hsa_id, name in rows}


def bucket_cells(counts: Counts) -> dict[str, dict[str, int | None]]:
    values = [counts[b] for b in BUCKETS]
    percents = largest_remainder(values)
    return {
        b: {"percent": p, "count": c} for b, c, p in zip(BUCKETS, values, percents, strict=True)
    }


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {"count": cell.count, "percent": cell.percent}


def suppressed_breakdown(
    groups: dict[str, Counts], columns: Sequence[str] = BUCKETS
) -> list[tuple[str, list[Cell]]]:
    """Return (key, cells) per group in key order: the columns then the total, suppressed."""
    keys = sorted(groups)
    table = [[groups[k][c] for c in columns] + [sum(groups[k].values())] for k in keys]
    marks = suppress(table)
    return [
        (key, published_row(row[:-1], row[-1], mark))
        for key, row, mark in zip(keys, table, marks, strict=True)
    ]


def _breakdown_json(
    groups: dict[str, Counts], describe: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for key, cells in suppressed_breakdown(groups):
        row = describe(key)
        row["total"] = cells[-1].count
        row["buckets"] = {
            b: _cell_json(cell) for b, cell in zip(BUCKETS, cells[:-1], strict=True)
        }
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r["name"]).casefold(), str(r["name"])))


@dataclass
class Report:
    """One year's report as of a measurement date."""

    period: Period
    tally: Tally
    care_unit_names: dict[str, str]
    extras: extras.Extras | None = None

    @property
    def total(self) -> int:
        return sum(self.tally.overall.values())

    @property
    def volume_count(self) -> int:
        return sum(sum(self.tally.months[m].values()) for m in self.period.volume_months)

    @property
    def per_month(self) -> float:
        return round(self.volume_count / len(self.period.volume_months), 1)

    def percents(self) -> dict[str, int]:
        values = largest_remainder([self.tally.overall[b] for b in BUCKETS])
        return dict(zip(BUCKETS, values, strict=True))

    def care_unit_name(self, hsa_id: str) -> str:
        return self.care_unit_names.get(hsa_id, hsa_id)

    def month_rows(self) -> list[dict[str, Any]]:
        rows = []
        for month in self.period.months:
            counts = self.tally.months[month]
            rows.append({
                "month": f"{self.period.year}-{month:02d}",
                "name": MONTH_NAMES[month - 1],
                "total": sum(counts.values()),
                "buckets": bucket_cells(counts),
            })
        return rows

    def care_unit_rows(self) -> list[dict[str, Any]]:
        return _breakdown_json(
            self.tally.care_units,
            lambda key: {"hsa_id": key, "name": self.care_unit_name(key)},
        )

    def sender_unit_rows(self) -> list[dict[str, Any]]:
        return _breakdown_json(self.tally.sender_units, lambda key: {"name": key})

    def to_json(self) -> dict[str, Any]:
        """The JSON of DESIGN 5.7, then the further keys; aggregates only, never an inquiry."""
        months = self.period.volume_months
        body: dict[str, Any] = {
            "year": self.period.year,
            "as_of": self.period.as_of.isoformat(),
            "total": self.total,
            "per_month": self.per_month,
            "buckets": bucket_cells(self.tally.overall),
            "volume": {
                "months": len(months),
                "first_month": f"{self.period.year}-{months[0]:02d}",
                "last_month": f"{self.period.year}-{months[-1]:02d}",
                "label": self.period.volume_label,
                "inquiries": self.volume_count,
            },
            "sources": dict(self.tally.sources),
            "months": self.month_rows(),
            "care_units": self.care_unit_rows(),
            "sender_units": self.sender_unit_rows(),
        }
        if self.extras is not None:
            body.update(self.extras.to_json())
        return body


# PostgreSQL settings for the rest of the report's transaction. The planner cannot estimate
# how many Stockholm sending days the groups have, so it sorts a million rows; with the default
# 4 MB that sort goes to disk, where a hash of the groups fits in memory. JIT compilation costs
# a fifth of a 200,000-inquiry report and saves nothing in these one-pass queries.
REPORT_SETTINGS = {"work_mem": "64MB", "jit": "off"}


def _tune_for_report(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for name, value in REPORT_SETTINGS.items():
        # set_config(..., true) is SET LOCAL: only until this transaction ends.
        session.execute(select(func.set_config(name, value, True)))


def response_times(session: Session, period: Period, *, detail: bool = True) -> Report:
    """Compute the report; `detail` adds the live-only measures and the rejections."""
    count_pending(session)  # legs written earlier in this transaction
    _tune_for_report(session)
    live = live_counts(session, period)
    counted = tally([*history_groups(session, period), *live.groups])
    names = care_unit_names(session, list(counted.care_units))
    if not detail:
        return Report(period, counted, names)
    found = extras.compute(
        session, period, sql_time(session, period), live_firsts(period), live.targets
    )
    return Report(period, counted, names, found)


def data_years(session: Session, as_of: dt.date, most: int = 8,
               form_type: FormType = FormType.HALSOFORFRAGAN) -> list[int]:
    """The years with cases of `form_type` (history or live) up to the measurement's, the last
    `most`: hälsoförfrågningar for their report, SIPs for theirs."""
    first_history = session.scalar(
        select(func.min(HistoryInquiry.sent_on)) if form_type == FormType.HALSOFORFRAGAN
        else select(func.min(HistorySip.invited_on)))
    first_leg = session.scalar(
        select(func.min(Leg.at)).join(Inquiry, Inquiry.id == Leg.inquiry_id)
        .where(Leg.kind.in_([LegKind.SUBMITTED, LegKind.RECEIVED]),
               Inquiry.form_type == form_type)
    )
    years = [as_of.year]
    if first_history is not None:
        years.append(first_history.year)
    if first_leg is not None:
        years.append(first_leg.astimezone(STOCKHOLM).year)
    first = max(min(years), as_of.year - most + 1)
    return list(range(first, as_of.year + 1))
