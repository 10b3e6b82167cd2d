"""The SIP report of DESIGN 5.8, from live SIPs and the SIP history, as of a measurement date.

A year's SIPs are those held in it (by `held_on`, the Swedish date of the meeting), those
cancelled in it (by `cancelled_on`) and those invited in it that are neither yet ("planned").
A live SIP is invited on the Swedish date of its `received` leg (else of its creation); a
history row gives its dates. As for inquiries, what happened after the measurement date has not
happened: a SIP invited later does not exist, one held or cancelled later is still planned.

- Held per month: the held SIPs of the volume's months (period.whole_months) over their number,
  the project's own measure ("2024: 67 st/månad (jan–mars)").
- The REKO came: of the held SIPs where attendance was recorded, how many had the VC's REKO.
- Days from invitation to meeting: median and 90th percentile of the held SIPs' calendar days
  from invited_on to held_on (nearest rank: the value at rank ceil(p·n) of the n sorted days).
- Cancellations by reason; the history has none and counts as NOT_RECORDED.
- Per care unit and sending unit: each SIP with an outcome in the year by outcome (held with or
  without the REKO or not recorded, cancelled), small cells suppressed as for inquiries
  (gateway.stats.shares).

The SIPs are a few thousand a year: one query per source reads their dates and Python counts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries.models import FormType, Inquiry, InquirySummary, SipMeeting
from gateway.stats.engine import care_unit_names, suppressed_breakdown
from gateway.stats.extras import Rejections, rejections
from gateway.stats.models import HistorySip
from gateway.stats.period import MONTH_NAMES, Period
from gateway.stats.shares import percent_of

OUTCOMES = ("reko_came", "reko_absent", "reko_unknown", "cancelled")
OUTCOME_LABELS = {
    "reko_came": "Hölls, REKO deltog",
    "reko_absent": "Hölls, REKO deltog inte",
    "reko_unknown": "Hölls, REKO ej registrerat",
    "cancelled": "Ställdes in",
}
HELD = ("reko_came", "reko_absent", "reko_unknown")
NOT_RECORDED = "NOT_RECORDED"
SOURCES = ("history", "live")


@dataclass(frozen=True)
class Sip:
    """One SIP's dates and units, from either source; no person, no reference."""

    source: str
    care_unit: str
    sender_unit: str
    invited_on: dt.date
    held_on: dt.date | None
    cancelled_on: dt.date | None
    cancel_reason: str | None
    reko_attended: bool | None

    def as_of(self, day: dt.date) -> Sip | None:
        """The SIP as it stood at the end of `day`; None when it was not yet invited."""
        if self.invited_on > day:
            return None
        held = self.held_on is not None and self.held_on <= day
        cancelled = self.cancelled_on is not None and self.cancelled_on <= day
        if held or cancelled or (self.held_on is None and self.cancelled_on is None):
            return self  # nothing after the day to undo (the usual case: a past year)
        return replace(
            self,
            held_on=self.held_on if held else None,
            cancelled_on=self.cancelled_on if cancelled else None,
            cancel_reason=self.cancel_reason if cancelled else None,
            reko_attended=self.reko_attended if held else None,
        )

    @property
    def outcome(self) -> str | None:
        """The OUTCOMES key of a held or cancelled SIP; None while it is planned."""
        if self.cancelled_on is not None:
            return "cancelled"
        if self.held_on is None:
            return None
        if self.reko_attended is None:
            return "reko_unknown"
        return "reko_came" if self.reko_attended else "reko_absent"

    @property
    def days_to_meeting(self) -> int | None:
        return None if self.held_on is None else (self.held_on - self.invited_on).days


def _in_period(column: Any, period: Period) -> Any:
    return and_(column >= period.first_day, column <= period.last_day)


def _history(session: Session, period: Period) -> Iterable[Sip]:
    h = HistorySip
    query = select(
        h.care_unit, h.sender_unit, h.invited_on, h.held_on, h.cancelled_on, h.reko_attended
    ).where(or_(*(_in_period(c, period) for c in (h.invited_on, h.held_on, h.cancelled_on))))
    for care_unit, sender_unit, invited, held, cancelled, attended in session.execute(query):
        reason = NOT_RECORDED if cancelled is not None else None
        yield Sip("history", care_unit, sender_unit, invited, held, cancelled, reason, attended)


def _live(session: Session, period: Period) -> Iterable[Sip]:
    m = SipMeeting
    invited_at = func.coalesce(InquirySummary.received, Inquiry.created_at)
    query = (
        select(
            CareUnit.hsa_id, SenderUnit.name, invited_at, m.held_on, m.cancelled_on,
            m.cancel_reason, m.reko_attended,
        )
        .select_from(m)
        .join(Inquiry, Inquiry.id == m.inquiry_id)
        .outerjoin(InquirySummary, InquirySummary.inquiry_id == m.inquiry_id)
        .join(CareUnit, CareUnit.id == Inquiry.care_unit_id)
        .join(SenderUnit, SenderUnit.id == Inquiry.sender_unit_id)
        .where(
            Inquiry.form_type == FormType.SIP,
            or_(
                and_(invited_at >= period.cohort_start_utc, invited_at < period.cohort_end_utc),
                _in_period(m.held_on, period),
                _in_period(m.cancelled_on, period),
            ),
        )
    )
    for care_unit, sender_unit, at, held, cancelled, reason, attended in session.execute(query):
        yield Sip("live", care_unit, sender_unit, local_date(at), held, cancelled,
                  reason or (NOT_RECORDED if cancelled else None), attended)


def _in_year(day: dt.date | None, year: int) -> bool:
    return day is not None and day.year == year


def counted(sips: Iterable[Sip], period: Period) -> list[Sip]:
    """The year's SIPs as of the measurement: held or cancelled in the year, or invited in it
    and still planned."""
    found = []
    for sip in sips:
        now = sip.as_of(period.as_of)
        if now is None:
            continue
        outcome_day = now.held_on or now.cancelled_on
        if _in_year(outcome_day, period.year) or (
            outcome_day is None and now.invited_on.year == period.year
        ):
            found.append(now)
    return found


def nearest_rank(values: Sequence[int], percent: int) -> int | None:
    """The value at rank ceil(n·percent/100) of the sorted values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) * percent + 99) // 100 - 1]


def _zero() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


@dataclass
class SipReport:
    """One year's SIPs as of a measurement date."""

    period: Period
    sips: list[Sip]
    care_unit_names: dict[str, str]
    # Invitations refused at intake in the year (their own, not the hälsoförfrågningar's).
    rejections: Rejections = field(default_factory=lambda: Rejections(available=False))
    by_outcome: dict[str | None, list[Sip]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_outcome = defaultdict(list)
        for sip in self.sips:
            self.by_outcome[sip.outcome].append(sip)

    def _with(self, outcomes: Sequence[str]) -> list[Sip]:
        return [sip for outcome in outcomes for sip in self.by_outcome[outcome]]

    @property
    def held(self) -> int:
        return len(self._with(HELD))

    @property
    def volume_held(self) -> int:
        months = self.period.volume_months
        return sum(1 for s in self._with(HELD) if s.held_on and s.held_on.month in months)

    @property
    def per_month(self) -> float:
        return round(self.volume_held / len(self.period.volume_months), 1)

    def reko_attended(self) -> dict[str, Any]:
        came, absent = len(self._with(["reko_came"])), len(self._with(["reko_absent"]))
        return {
            "count": came,
            "percent": percent_of(came, came + absent),
            "of": came + absent,
            "not_recorded": len(self._with(["reko_unknown"])),
        }

    def days_to_meeting(self) -> dict[str, Any]:
        days = [s.days_to_meeting for s in self._with(HELD) if s.days_to_meeting is not None]
        return {
            "count": len(days),
            "median": nearest_rank(days, 50),
            "p90": nearest_rank(days, 90),
        }

    def cancellations(self) -> dict[str, int]:
        reasons = Counter(s.cancel_reason or NOT_RECORDED for s in self._with(["cancelled"]))
        return dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))

    def month_rows(self) -> list[dict[str, Any]]:
        held: Counter[int] = Counter()
        attended: Counter[int] = Counter()
        cancelled: Counter[int] = Counter(
            s.cancelled_on.month for s in self._with(["cancelled"]) if s.cancelled_on
        )
        for sip in self._with(HELD):
            if sip.held_on is not None:
                held[sip.held_on.month] += 1
                attended[sip.held_on.month] += bool(sip.reko_attended)
        return [
            {
                "month": f"{self.period.year}-{month:02d}",
                "name": MONTH_NAMES[month - 1],
                "held": held[month],
                "reko_attended": attended[month],
                "cancelled": cancelled[month],
            }
            for month in self.period.months
        ]

    def _breakdown(
        self, key: Callable[[Sip], str], describe: Callable[[str], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        groups: dict[str, dict[str, int]] = defaultdict(_zero)
        for sip in self.sips:
            outcome = sip.outcome
            if outcome is not None:
                groups[key(sip)][outcome] += 1
        rows = []
        for name, cells in suppressed_breakdown(groups, OUTCOMES):
            row = describe(name)
            row["total"] = cells[-1].count
            row["outcomes"] = {
                o: {"count": c.count, "percent": c.percent}
                for o, c in zip(OUTCOMES, cells[:-1], strict=True)
            }
            rows.append(row)
        return sorted(rows, key=lambda r: (str(r["name"]).casefold(), str(r["name"])))

    def care_unit_rows(self) -> list[dict[str, Any]]:
        return self._breakdown(
            lambda s: s.care_unit,
            lambda key: {"hsa_id": key, "name": self.care_unit_names.get(key, key)},
        )

    def sender_unit_rows(self) -> list[dict[str, Any]]:
        return self._breakdown(lambda s: s.sender_unit, lambda key: {"name": key})

    def to_json(self) -> dict[str, Any]:
        """The JSON of DESIGN 5.8, then the further keys; aggregates only, never a SIP."""
        months = self.period.volume_months
        sources = Counter(s.source for s in self.sips)
        return {
            "year": self.period.year,
            "as_of": self.period.as_of.isoformat(),
            "held": self.held,
            "per_month": self.per_month,
            "reko_attended": self.reko_attended(),
            "cancelled": len(self._with(["cancelled"])),
            "planned": len(self.by_outcome[None]),
            "volume": {
                "months": len(months),
                "first_month": f"{self.period.year}-{months[0]:02d}",
                "last_month": f"{self.period.year}-{months[-1]:02d}",
                "label": self.period.volume_label,
                "held": self.volume_held,
            },
            "days_to_meeting": self.days_to_meeting(),
            "cancellations": self.cancellations(),
            "sources": {source: sources[source] for source in SOURCES},
            "months": self.month_rows(),
            "care_units": self.care_unit_rows(),
            "sender_units": self.sender_unit_rows(),
            "rejections": self.rejections.to_json(),
        }


def sip_report(session: Session, period: Period) -> SipReport:
    """Compute the year's SIP report as of the period's measurement date."""
    sips = counted([*_history(session, period), *_live(session, period)], period)
    names = care_unit_names(session, sorted({s.care_unit for s in sips}))
    return SipReport(period, sips, names, rejections(session, period, FormType.SIP))
