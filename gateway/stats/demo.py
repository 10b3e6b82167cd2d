"""A believable manual history for the demo: 2022-2024 in the volumes and shares the project saw.

2022 and 2023 reproduce the project's own measurement of April 2024 exactly (2022: 43/6/30/21/0
per cent, 11 a month; 2023: 38/15/26/14/7, 23 a month); 2024 runs at 21 a month. Inquiries
still open in April 2024 were answered or closed later, as real ones are, so a measurement made
today shows how the figures moved. The SIP history holds the project's SIPs a month (2022: 60,
2023: 68, 2024: 67, the last measured over January-March) in every month of those years, with
cancellations beside them and the REKO at about half of the meetings. The rows are generated from
fixed seeds: the same every run.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from gateway.inquiries.models import CloseReason
from gateway.stats.history import HistoryRow, ImportSummary, import_history
from gateway.stats.sip_history import SIPS, SipHistoryRow

PROJECT_MEASUREMENT = dt.date(2024, 4, 30)
# Days to an answer drawn for each answered bucket (a same-day answer now and then).
DAYS = {"1-39": (0, 39), "40-59": (40, 59), "60+": (60, 160)}
# The demo directory's connected care units, busier ones weighing more.
CARE_UNITS = {
    "SE2321000255-K001": 6, "SE2321000255-K002": 9, "SE2321000255-K003": 8,
    "SE2321000255-K004": 2, "SE2321000255-K005": 5, "SE2321000255-K006": 3,
    "SE2321000255-K007": 2, "SE2321000255-K008": 4, "SE2321000255-K009": 5,
    "SE2321000255-K010": 4, "SE2321000255-K011": 6, "SE2321000255-K012": 3,
    "SE2321000255-K013": 2, "SE2321000255-K014": 1, "SE2321000255-K015": 4,
    "SE2321000255-K016": 4, "SE2321000255-K017": 3, "SE2321000255-K018": 4,
}
SENDER_UNITS = {
    "EBB Öster": 5, "EBB Söder": 6, "EBB Norr": 4, "EBB Väster": 3, "EBB Centrum": 3, "AMA": 4,
}
REASONS = {
    CloseReason.RELISTED: 8, CloseReason.INFO_VIA_SIP: 5, CloseReason.WITHDRAWN_BY_SENDER: 4,
    CloseReason.CONSENT_WITHDRAWN: 2, CloseReason.PERSON_MOVED: 3, CloseReason.DUPLICATE: 1,
    CloseReason.PERSON_DECEASED: 1, CloseReason.OTHER: 1,
}


@dataclass(frozen=True)
class YearSpec:
    """One year of history: inquiries a month, and how many fell in each bucket when measured."""

    year: int
    per_month: int
    measured: dt.date
    counts: dict[str, int]


YEARS = (
    YearSpec(2022, 11, PROJECT_MEASUREMENT,
             {"1-39": 57, "40-59": 8, "60+": 40, "closed_ok": 27, "ongoing": 0}),
    YearSpec(2023, 23, PROJECT_MEASUREMENT,
             {"1-39": 105, "40-59": 41, "60+": 72, "closed_ok": 39, "ongoing": 19}),
    YearSpec(2024, 21, dt.date(2025, 6, 30),
             {"1-39": 121, "40-59": 37, "60+": 49, "closed_ok": 39, "ongoing": 6}),
)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _sent_dates(rng: random.Random, spec: YearSpec) -> list[dt.date]:
    days = []
    for month in range(1, 13):
        first = dt.date(spec.year, month, 1)
        length = ((first + dt.timedelta(days=32)).replace(day=1) - first).days
        days += [first + dt.timedelta(days=rng.randrange(length)) for _ in range(spec.per_month)]
    return sorted(days)


def _buckets(rng: random.Random, spec: YearSpec, total: int) -> list[str]:
    """Bucket per sent date (in date order): the still-open ones among the year's last."""
    assert sum(spec.counts.values()) == total, spec
    ongoing = spec.counts["ongoing"]
    late = set(rng.sample(range(total - 3 * ongoing, total), ongoing)) if ongoing else set()
    others = [b for b, n in spec.counts.items() if b != "ongoing" for _ in range(n)]
    rng.shuffle(others)
    pool = iter(others)
    return ["ongoing" if i in late else next(pool) for i in range(total)]


def _outcome(
    rng: random.Random, bucket: str, sent: dt.date, spec: YearSpec, today: dt.date
) -> tuple[dt.date | None, dt.date | None, CloseReason | None]:
    """(answer_registered_on, closed_on, close_reason) for one inquiry."""
    if bucket in DAYS:
        low, high = DAYS[bucket]
        high = min(high, (spec.measured - sent).days)
        return sent + dt.timedelta(days=rng.randint(low, max(low, high))), None, None
    reason = CloseReason(_weighted(rng, {r.value: w for r, w in REASONS.items()}))
    if bucket == "closed_ok":
        latest = min(60, (spec.measured - sent).days)
        return None, sent + dt.timedelta(days=rng.randint(min(3, latest), latest)), reason
    # Open at the measurement; most were answered or closed in the months after it.
    later = spec.measured + dt.timedelta(days=rng.randint(2, 120))
    fate = rng.random()
    if later > today or fate < 0.2:
        return None, None, None
    if fate < 0.4:
        return None, later, reason
    return later, None, None


def demo_rows(
    specs: tuple[YearSpec, ...] = YEARS, today: dt.date | None = None
) -> Iterator[HistoryRow]:
    """Yield the demo history, the same rows every time (for a given today)."""
    today = today or stockholm_today()
    rng = random.Random(5_7)  # noqa: S311 - demo data, not security
    for spec in specs:
        sent_dates = _sent_dates(rng, spec)
        buckets = _buckets(rng, spec, len(sent_dates))
        for number, (sent, bucket) in enumerate(zip(sent_dates, buckets, strict=True), 1):
            answered, closed, reason = _outcome(rng, bucket, sent, spec, today)
            yield HistoryRow(
                reference=f"MAL-{spec.year}-{number:04d}",
                care_unit=_weighted(rng, CARE_UNITS),
                sender_unit=_weighted(rng, SENDER_UNITS),
                sent_on=sent,
                answer_registered_on=answered,
                closed_on=closed,
                close_reason=reason,
            )


def load_demo_history(session: Session, actor: str) -> ImportSummary:
    """Import the demo history (merged by reference: a second run changes nothing).

    The caller commits.
    """
    return import_history(session, list(demo_rows()), actor=actor, source="demo history")


# SIPs held a month per year, as the project counted them; a few more a month were cancelled.
SIP_PER_MONTH = {2022: 60, 2023: 68, 2024: 67}
SIP_CANCELLED_PER_MONTH = 5
# Whether the REKO came, as the history records it (None: not recorded).
SIP_ATTENDANCE = {"ja": 11, "nej": 8, "": 1}
SIP_ATTENDED = {"ja": True, "nej": False, "": None}


def _days_in_month(year: int, month: int) -> int:
    first = dt.date(year, month, 1)
    return ((first + dt.timedelta(days=32)).replace(day=1) - first).days


def _demo_sip(rng: random.Random, reference: str, meeting: dt.date, held: bool) -> SipHistoryRow:
    """One SIP invited two to five weeks before its meeting, held on that day or cancelled."""
    invited = meeting - dt.timedelta(days=rng.randint(14, 35))
    attended = SIP_ATTENDED[_weighted(rng, SIP_ATTENDANCE)] if held else None
    return SipHistoryRow(
        reference=reference,
        care_unit=_weighted(rng, CARE_UNITS),
        sender_unit=_weighted(rng, SENDER_UNITS),
        invited_on=invited,
        held_on=meeting if held else None,
        cancelled_on=None if held else invited + dt.timedelta(days=rng.randint(3, 13)),
        reko_attended=attended,
    )


def demo_sip_rows() -> Iterator[SipHistoryRow]:
    """Yield the demo SIP history: per month the project's held SIPs and a few cancelled."""
    rng = random.Random(5_8)  # noqa: S311 - demo data, not security
    for year, per_month in SIP_PER_MONTH.items():
        number = 0
        for month in range(1, 13):
            length = _days_in_month(year, month)
            for index in range(per_month + SIP_CANCELLED_PER_MONTH):
                number += 1
                meeting = dt.date(year, month, 1 + rng.randrange(length))
                yield _demo_sip(rng, f"SIP-{year}-{number:04d}", meeting, index < per_month)


def load_demo_sip_history(session: Session, actor: str) -> ImportSummary:
    """Import the demo SIP history (merged by reference: a second run changes nothing).

    The caller commits.
    """
    rows = list(demo_sip_rows())
    return import_history(session, rows, actor=actor, source="demo SIP history", fmt=SIPS)
