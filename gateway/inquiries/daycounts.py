"""What one inquiry adds to the yearly report's live counts (DESIGN 5.7), day by day.

The report is measured *as of* any date A: a leg counts when its Stockholm date is on or before
A. Everything it counts of an inquiry (its cohort month, its bucket, the 30-day target, open
past deadline) depends on A only through comparisons of A with a few dates of that inquiry, so
it is constant between those dates. `changes` gives, for each such date, what changes from that
day on; summed over the days up to A they give the inquiry's counts as of A. Summed over every
inquiry (`inquiry_day_counts`, kept by workflow.add_leg), a report reads a few rows per day and
unit instead of every inquiry.

Pure: no database, no Flask; the migration that builds the table uses it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forms.dates import local_date

# The report counts hälsoförfrågningar only; other form types (SIP) have their own measures.
COUNTED_FORM_TYPE = "halsoforfragan"
# The measures, in this order in every vector: the five buckets (engine.BUCKETS), then the
# target's numerator and denominator, then open past deadline.
MEASURES = (
    "n_1_39", "n_40_59", "n_60", "n_closed_ok", "n_ongoing",
    "within_target", "target_due", "past_deadline",
)
TARGET_DAYS = 30
# Days from sending to answer: up to 39 (same day included) "1-39", up to 59 "40-59", else "60+".
BUCKET_LIMITS = (39, 59)
_CLOSED, _ONGOING, _WITHIN, _DUE, _PAST = 3, 4, 5, 6, 7
_DAY = dt.timedelta(days=1)

# The legs whose times the report gives (start kind, end kind, the summary's seconds column).
PAIRS = (
    ("received", "opened", "received_opened_s"),
    ("opened", "answered", "opened_answered_s"),
    ("answered", "answer_delivered", "answered_delivered_s"),
    ("answer_delivered", "registered", "delivered_registered_s"),
)
# The columns of a summary (inquiry_summaries) that `facts_from_row` reads, in this order.
FACT_COLUMNS = (
    "form_type", "care_unit_id", "sender_unit_id", "deadline",
    "submitted", "received", "answered", "answer_delivered", "registered", "closed",
    *(column for _, _, column in PAIRS),
)
Vector = tuple[int, ...]
# (first day of the cohort month, care unit id, sender unit id, the day the change holds from)
Key = tuple[dt.date, int, int, dt.date]


@dataclass(frozen=True)
class Facts:
    """What the counts of one inquiry depend on: its units, deadline and form type, and the
    Stockholm date of the first leg of each kind (None: no such leg)."""

    form_type: str | None
    care_unit_id: int | None
    sender_unit_id: int | None
    deadline: dt.date | None
    submitted: dt.date | None
    received: dt.date | None
    answered: dt.date | None
    answer_delivered: dt.date | None
    registered: dt.date | None
    closed: dt.date | None
    # The seconds of each leg of PAIRS (None: an end is missing).
    seconds: tuple[int | None, ...] = (None,) * len(PAIRS)


# Leg-time bins: each second up to EXACT, then SUB bins per doubling (about 3 % wide).
EXACT, SUB_BITS = 64, 5


def _day(at: dt.datetime | None) -> dt.date | None:
    return None if at is None else local_date(at)


def facts_from_row(row: Sequence[Any]) -> Facts:
    """Facts from a summary's FACT_COLUMNS: units and deadline, then first times in UTC."""
    form_type, care_unit_id, sender_unit_id, deadline, *rest = row
    submitted, received, answered, delivered, registered, closed = (
        _day(at) for at in rest[:6]
    )
    return Facts(str(form_type) if form_type is not None else None, care_unit_id,
                 sender_unit_id, deadline, submitted, received, answered, delivered,
                 registered, closed, tuple(None if v is None else int(v) for v in rest[6:]))


def _bucket(answer: dt.date | None, start: dt.date, closed: dt.date | None) -> int:
    if answer is not None:
        days = (answer - start).days
        return 0 if days <= BUCKET_LIMITS[0] else 1 if days <= BUCKET_LIMITS[1] else 2
    return _CLOSED if closed is not None else _ONGOING


def as_of(f: Facts, day: dt.date) -> tuple[tuple[dt.date, int, int], Vector] | None:
    """The inquiry's (cohort month, care unit, sender unit) and its measures as of `day`, or
    None when it has not started by then (or is not counted). Legs after `day` do not exist."""
    if f.form_type != COUNTED_FORM_TYPE or f.care_unit_id is None or f.sender_unit_id is None:
        return None

    def seen(date: dt.date | None) -> dt.date | None:
        return date if date is not None and date <= day else None

    start = seen(f.submitted) or seen(f.received)
    if start is None:
        return None
    received, answered, closed = seen(f.received), seen(f.answered), seen(f.closed)
    delivered, registered = seen(f.answer_delivered), seen(f.registered)
    vector = [0] * len(MEASURES)
    vector[_bucket(registered or delivered, start, closed)] = 1
    within = (received is not None and answered is not None
              and (answered - received).days <= TARGET_DAYS)
    expired = received is not None and (day - received).days > TARGET_DAYS
    vector[_WITHIN] = int(within)
    vector[_DUE] = int(within or expired)
    still_open = answered is None and delivered is None and registered is None and closed is None
    vector[_PAST] = int(still_open and f.deadline is not None and f.deadline < day)
    return (start.replace(day=1), f.care_unit_id, f.sender_unit_id), tuple(vector)


def _turning_days(f: Facts) -> list[dt.date]:
    """The days on which `as_of` may change: each leg's date, the 31st day after `received`
    (the target's 30 days have run out) and the day after the deadline."""
    days = {d for d in (f.submitted, f.received, f.answered, f.answer_delivered, f.registered,
                        f.closed) if d is not None}
    if f.received is not None:
        days.add(f.received + dt.timedelta(days=TARGET_DAYS + 1))
    if f.deadline is not None:
        days.add(f.deadline + _DAY)
    return sorted(days)


def changes(f: Facts | None) -> dict[Key, Vector]:
    """What the inquiry adds to the counts from each day on (the counts as of A are the sum of
    the changes on days up to A); no entry where nothing changes."""
    found: dict[Key, list[int]] = {}
    if f is None or f.form_type != COUNTED_FORM_TYPE:
        return {}
    before = None
    for day in _turning_days(f):
        now = as_of(f, day)
        if now == before:
            continue
        for state, sign in ((before, -1), (now, 1)):
            if state is not None:
                total = found.setdefault((*state[0], day), [0] * len(MEASURES))
                for index, value in enumerate(state[1]):
                    total[index] += sign * value
        before = now
    return nonzero(found)


def difference(old: Facts | None, new: Facts | None) -> dict[Key, Vector]:
    """What replacing `old` by `new` changes in the counts (no entry where nothing does)."""
    total: dict[Key, list[int]] = {}
    accumulate(total, changes(new))
    accumulate(total, changes(old), -1)
    return nonzero(total)


def totals(rows: Iterable[Sequence[Any]]) -> dict[Key, Vector]:
    """The counts' changes of every inquiry whose summary columns (FACT_COLUMNS) are given."""
    return weighted_totals((facts_from_row(row), 1) for row in rows)


def weighted_totals(found: Iterable[tuple[Facts, int]]) -> dict[Key, Vector]:
    """The counts' changes of inquiries given as (facts, how many inquiries have them)."""
    total: dict[Key, list[int]] = {}
    for facts, count in found:
        accumulate(total, changes(facts), count)
    return nonzero(total)


def accumulate(total: dict[Key, list[int]], part: Mapping[Key, Vector], times: int = 1) -> None:
    """Add `part` to `total`, each change `times` over (-1: take it away)."""
    for key, vector in part.items():
        into = total.setdefault(key, [0] * len(MEASURES))
        for index, value in enumerate(vector):
            into[index] += times * value


def nonzero(total: Mapping[Key, Sequence[int]]) -> dict[Key, Vector]:
    return {key: tuple(v) for key, v in total.items() if any(v)}


def as_rows(found: Mapping[Key, Vector]) -> list[dict[str, Any]]:
    """Rows of inquiry_day_counts (column: value), in key order (so concurrent writers lock
    rows in one order)."""
    return [
        {"month": key[0], "care_unit_id": key[1], "sender_unit_id": key[2], "day": key[3],
         **dict(zip(MEASURES, found[key], strict=True))}
        for key in sorted(found)
    ]


def bin_of(seconds: int) -> int:
    """The leg-time bin of a number of seconds: negatives in one bin, each second up to EXACT,
    then 2**SUB_BITS bins per doubling; bins are in the order of their seconds."""
    if seconds < 0:
        return -1
    if seconds < EXACT:
        return seconds
    shift = seconds.bit_length() - 1 - SUB_BITS
    return EXACT + (shift - (EXACT.bit_length() - 1 - SUB_BITS)) * (1 << SUB_BITS) + (
        (seconds >> shift) - (1 << SUB_BITS))


def bin_bounds(number: int) -> tuple[int | None, int | None]:
    """The seconds of a bin: from (inclusive) and to (exclusive); None where unbounded."""
    if number < 0:
        return None, 0
    if number < EXACT:
        return number, number + 1
    doublings, step = divmod(number - EXACT, 1 << SUB_BITS)
    shift = doublings + EXACT.bit_length() - 1 - SUB_BITS
    start = ((1 << SUB_BITS) + step) << shift
    return start, start + (1 << shift)


TimeKey = tuple[dt.date, int, int]  # (cohort month, leg index in PAIRS, bin)


def leg_times(f: Facts | None) -> dict[TimeKey, int]:
    """The inquiry's legs in inquiry_leg_time_counts: its cohort month by its first sending
    (submitted, else received), each leg whose ends both exist in its bin."""
    if f is None or f.form_type != COUNTED_FORM_TYPE:
        return {}
    start = f.submitted or f.received
    if start is None:
        return {}
    return {
        (start.replace(day=1), index, bin_of(seconds)): 1
        for index, seconds in enumerate(f.seconds) if seconds is not None
    }


def time_difference(old: Facts | None, new: Facts | None) -> dict[TimeKey, int]:
    total: dict[TimeKey, int] = dict(leg_times(new))
    for key, n in leg_times(old).items():
        total[key] = total.get(key, 0) - n
    return {key: n for key, n in total.items() if n}


def time_totals(rows: Iterable[Sequence[Any]]) -> dict[TimeKey, int]:
    """The leg-time counts of every inquiry whose summary columns (FACT_COLUMNS) are given."""
    return weighted_time_totals((facts_from_row(row), 1) for row in rows)


def weighted_time_totals(found: Iterable[tuple[Facts, int]]) -> dict[TimeKey, int]:
    """The leg-time counts of inquiries given as (facts, how many inquiries have them)."""
    total: dict[TimeKey, int] = {}
    for facts, count in found:
        for key, n in leg_times(facts).items():
            total[key] = total.get(key, 0) + n * count
    return total


def time_rows(found: Mapping[TimeKey, int]) -> list[dict[str, Any]]:
    """Rows of inquiry_leg_time_counts, in key order."""
    return [{"month": key[0], "leg": key[1], "bin": key[2], "n": found[key]}
            for key in sorted(found)]
