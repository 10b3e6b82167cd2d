"""The workflow of an inquiry: its status and whose turn it is, derived from its legs; deadlines.

One place for the rule, used by the API, the web pages and the statistics alike.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, event, func, select, update
from sqlalchemy.orm import Session

from forms.dates import STOCKHOLM, local_date
from gateway.db import Rows, built_once, upsert_for
from gateway.inquiries import daycounts
from gateway.inquiries.models import (
    FormType,
    Inquiry,
    InquiryDayCount,
    InquiryLegTimeCount,
    InquirySummary,
    Leg,
    LegKind,
)
from gateway.stats.sqltime import SqlTime, epoch_seconds
from gateway.vault.service import get_vault

__all__ = [
    "STOCKHOLM",
    "Machine",
    "Progress",
    "SipStatus",
    "Status",
    "Turn",
    "NewLeg",
    "add_leg",
    "count_pending",
    "count_summaries",
    "deadline_for",
    "derive_status",
    "first_legs",
    "is_open",
    "legs_of",
    "progress",
    "rebuild_day_counts",
    "rebuild_summaries",
    "record_opened",
    "start_summary",
    "turn_for",
]


class Status(enum.StrEnum):
    RECEIVED = "received"
    OPENED = "opened"
    ANSWERED = "answered"
    ANSWER_DELIVERED = "answer_delivered"
    REGISTERED = "registered"
    CLOSED = "closed"


class SipStatus(enum.StrEnum):
    """Where a SIP invitation stands (DESIGN 5.8): the VC replies, the sender records the
    outcome."""

    RECEIVED = "received"
    OPENED = "opened"
    REPLIED = "replied"
    HELD = "held"
    CANCELLED = "cancelled"


class Turn(enum.StrEnum):
    CARE_UNIT = "care_unit"
    SENDER = "sender"
    NONE = "none"


# The legs that move an inquiry on; the others (submitted, routed, notified, reminded,
# escalated, rejected, consent_withdrawn) record what happened without changing its state.
# A reroute sends it to another care unit, where it starts over as received.
_MOVES: dict[LegKind, Status] = {
    LegKind.RECEIVED: Status.RECEIVED,
    LegKind.REROUTED: Status.RECEIVED,
    LegKind.OPENED: Status.OPENED,
    LegKind.ANSWERED: Status.ANSWERED,
    LegKind.ANSWER_DELIVERED: Status.ANSWER_DELIVERED,
    LegKind.REGISTERED: Status.REGISTERED,
    LegKind.CLOSED: Status.CLOSED,
}

# Closed and registered are final: nothing after them reopens the case, with one exception: an
# inquiry the VC closed as RELISTED (the person is listed elsewhere) may be sent on by its sender
# with a consent for the new VC (gateway.inquiries.resend), and that `rerouted` leg starts it
# over as received there. The service decides which closes may be re-opened.
_FINAL = frozenset({Status.CLOSED, Status.REGISTERED})
_REOPENED_BY: dict[enum.StrEnum, LegKind] = {Status.CLOSED: LegKind.REROUTED}

_TURN: dict[enum.StrEnum, Turn] = {
    # The care unit must open and answer.
    Status.RECEIVED: Turn.CARE_UNIT,
    Status.OPENED: Turn.CARE_UNIT,
    # The answer waits for the social services to fetch it and register it.
    Status.ANSWERED: Turn.SENDER,
    Status.ANSWER_DELIVERED: Turn.SENDER,
    Status.REGISTERED: Turn.NONE,
    Status.CLOSED: Turn.NONE,
}


@dataclass(frozen=True)
class Machine:
    """A form type's statuses and whose turn, as its legs move it: `moves` (a leg kind to the
    status it leads to), `final` (nothing moves on from these, except by the leg kind
    `reopened_by` names), `turns`, and `waiting` (the statuses in which the care unit has yet
    to act: open for the repeat check and `opened`)."""

    start: enum.StrEnum
    moves: Mapping[LegKind, enum.StrEnum]
    final: frozenset[enum.StrEnum]
    turns: Mapping[enum.StrEnum, Turn]
    waiting: frozenset[enum.StrEnum]
    reopened_by: Mapping[enum.StrEnum, LegKind] = field(default_factory=dict)

    def step(self, status: enum.StrEnum, kind: LegKind) -> enum.StrEnum:
        """Return the status after a leg of `kind` in `status`."""
        if status in self.final and self.reopened_by.get(status) is not kind:
            return status
        return self.moves.get(kind, status)

    def derive(self, kinds: Iterable[LegKind | str]) -> enum.StrEnum:
        """Return the status after legs of `kinds`, in the order they were recorded."""
        status = self.start
        for kind in kinds:
            status = self.step(status, LegKind(kind))
        return status


HALSOFORFRAGAN_MACHINE = Machine(
    Status.RECEIVED, _MOVES, frozenset(_FINAL), _TURN,
    frozenset({Status.RECEIVED, Status.OPENED}), _REOPENED_BY,
)
SIP_MACHINE = Machine(
    SipStatus.RECEIVED,
    {
        LegKind.RECEIVED: SipStatus.RECEIVED,
        LegKind.REROUTED: SipStatus.RECEIVED,
        LegKind.OPENED: SipStatus.OPENED,
        LegKind.REPLIED: SipStatus.REPLIED,
        LegKind.HELD: SipStatus.HELD,
        LegKind.CANCELLED: SipStatus.CANCELLED,
    },
    frozenset({SipStatus.HELD, SipStatus.CANCELLED}),
    {
        # The VC's REKO must reply (and may reply again while the meeting is ahead).
        SipStatus.RECEIVED: Turn.CARE_UNIT,
        SipStatus.OPENED: Turn.CARE_UNIT,
        # Replied (coming, not coming or a new time): the sender holds the meeting, or moves
        # or cancels it, and records the outcome.
        SipStatus.REPLIED: Turn.SENDER,
        SipStatus.HELD: Turn.NONE,
        SipStatus.CANCELLED: Turn.NONE,
    },
    frozenset({SipStatus.RECEIVED, SipStatus.OPENED}),
)
_MACHINES: dict[FormType, Machine] = {
    FormType.HALSOFORFRAGAN: HALSOFORFRAGAN_MACHINE,
    FormType.SIP: SIP_MACHINE,
}


def machine_for(form_type: FormType) -> Machine:
    """Return the status machine of the form type."""
    return _MACHINES[FormType(form_type)]


def derive_status(kinds: Iterable[LegKind | str]) -> Status:
    """Return the hälsoförfrågan's status after legs of `kinds`, in the order they were
    recorded."""
    return Status(HALSOFORFRAGAN_MACHINE.derive(kinds))


# The kinds whose first time the summary keeps (the statistics read these).
SUMMARY_KINDS = (
    LegKind.SUBMITTED, LegKind.RECEIVED, LegKind.OPENED, LegKind.ANSWERED,
    LegKind.ANSWER_DELIVERED, LegKind.REGISTERED, LegKind.CLOSED,
)
_SUMMARIES_KEY = "gateway.inquiry_summaries"
_LEGS = cast(Table, Leg.__table__)
_SUMMARIES = cast(Table, InquirySummary.__table__)


def _apply(summary: InquirySummary, machine: Machine, kind: LegKind, at: dt.datetime) -> None:
    """Fold one leg into the summary: the status step of the inquiry's form type's machine (a
    SIP's summary reaches replied, held, cancelled) and the earliest time of its kind."""
    before = type(machine.start)(summary.status)
    summary.status = machine.step(before, kind).value
    if before is Status.CLOSED and summary.status != before.value:
        # A close taken back by a re-route no longer stands: the statistics count the inquiry
        # as open again (and by a later close, if one comes), never as closed and open at once.
        summary.closed = None
    if kind in SUMMARY_KINDS:
        current = getattr(summary, kind.value)
        if current is None or at < current:
            setattr(summary, kind.value, at)
        summary.started = summary.submitted or summary.received


@dataclass
class _Pending:
    """This transaction's summaries (locked or added by it), and what each touched inquiry
    counted in inquiry_day_counts before the transaction's legs."""

    transaction: object
    summaries: dict[str, InquirySummary] = field(default_factory=dict)
    counted: dict[str, daycounts.Facts | None] = field(default_factory=dict)


def _pending(session: Session) -> _Pending:
    """This transaction's _Pending (a new transaction starts afresh)."""
    session.connection()  # begun, so the transaction below is this one
    transaction = session.get_transaction()
    pending: _Pending | None = session.info.get(_SUMMARIES_KEY)
    if pending is None or pending.transaction is not transaction:
        pending = _Pending(transaction)
        session.info[_SUMMARIES_KEY] = pending
    return pending


def start_summary(session: Session, inquiry: Inquiry) -> None:
    """Add the summary of an inquiry created in this transaction (saves add_leg a lookup), with
    the form type, units and deadline it counts with (saves count_pending an UPDATE)."""
    session.add(_new_summary(session, inquiry))


def first_legs(session: Session, inquiry: Inquiry, legs: Iterable[NewLeg]) -> list[Rows]:
    """The rows of a new inquiry's summary and of its first legs, in their order (folded as
    add_leg folds them), for gateway.db.insert_with to write with the inquiry: the intake's,
    in the statement that inserts the inquiry (issue 17)."""
    legs = list(legs)
    summary = _new_summary(session, inquiry)
    machine = machine_for(inquiry.form_type)
    for leg in legs:
        _apply(summary, machine, leg.kind, leg.at)
    values = {column.key: getattr(summary, column.key) for column in _SUMMARIES.columns}
    return [Rows(_SUMMARIES, (values,), objects=(summary,)),
            Rows(_LEGS, tuple({"inquiry_id": inquiry.id, **leg.values()} for leg in legs))]


def _new_summary(session: Session, inquiry: Inquiry) -> InquirySummary:
    """A new inquiry's summary (not yet added), with the units it counts with, known to this
    transaction as counted with none of its legs."""
    summary = InquirySummary(inquiry_id=inquiry.id, status=Status.RECEIVED.value)
    _take_units(summary, inquiry)
    pending = _pending(session)
    pending.summaries[inquiry.id] = summary
    pending.counted[inquiry.id] = _counted_facts(summary)
    return summary


def _summary_for(session: Session, inquiry_id: str) -> InquirySummary:
    """The inquiry's summary, locked for this transaction (so legs of one inquiry are folded in
    the order they are written), or a new one."""
    # Known in this transaction (locked or added by it): no further round trip.
    pending = _pending(session)
    summary = pending.summaries.get(inquiry_id)
    if summary is None or summary not in session:
        summary = session.get(InquirySummary, inquiry_id, with_for_update=True)
        if summary is None:
            summary = InquirySummary(inquiry_id=inquiry_id, status=Status.RECEIVED.value)
            session.add(summary)
        pending.summaries[inquiry_id] = summary
        # One remembered but not in the session was never written (an intake that lost its id
        # to a concurrent send) or was rolled back with a savepoint: it counted nothing, so
        # what the inquiry counted is the summary's found now.
        pending.counted.pop(inquiry_id, None)
    if inquiry_id not in pending.counted:
        pending.counted[inquiry_id] = _counted_facts(summary)
    return summary


def _counted_facts(summary: InquirySummary) -> daycounts.Facts:
    return daycounts.facts_from_row([getattr(summary, name) for name in daycounts.FACT_COLUMNS])


def count_pending(session: Session) -> None:
    """Bring inquiry_day_counts up to date with the legs this transaction has written (and the
    inquiries' current units: a reroute moves the counts). Runs before every commit; a report
    in the same transaction calls it first."""
    pending: _Pending | None = session.info.get(_SUMMARIES_KEY)
    if pending is None or not pending.counted or session.get_transaction() is not \
            pending.transaction:
        return
    session.flush()
    touched = {
        inquiry_id: summary for inquiry_id in pending.counted
        # A summary added in a savepoint since rolled back never counted.
        if (summary := pending.summaries.get(inquiry_id)) is not None and summary in session
    }
    _take_seconds(session, touched)
    total: dict[daycounts.Key, list[int]] = {}
    times: dict[daycounts.TimeKey, int] = {}
    for inquiry_id, summary in touched.items():
        inquiry = session.get(Inquiry, inquiry_id)
        if inquiry is not None:
            _take_units(summary, inquiry)
        before, after = pending.counted[inquiry_id], _counted_facts(summary)
        daycounts.accumulate(total, daycounts.difference(before, after))
        for key, n in daycounts.time_difference(before, after).items():
            times[key] = times.get(key, 0) + n
    pending.counted.clear()
    _add_day_counts(session, daycounts.nonzero(total))
    _add_leg_time_counts(session, {key: n for key, n in times.items() if n})


def _leg_seconds(dialect: str) -> list[Any]:
    """The seconds of each leg (daycounts.PAIRS) from the summary's first times, as the database
    computes them (the same expression the statistics used over the first times)."""
    summary = InquirySummary
    return [
        epoch_seconds(dialect, getattr(summary, end)) - epoch_seconds(dialect, getattr(summary,
                                                                                        start))
        for start, end, _ in daycounts.PAIRS
    ]


def _take_seconds(session: Session, summaries: dict[str, InquirySummary]) -> None:
    """Set the summaries' leg seconds from their (flushed) first times."""
    # A leg without both its ends has no seconds (NULL): no need to ask the database for those
    # of a summary that has none to set or clear (a new inquiry's).
    summaries = {
        inquiry_id: summary for inquiry_id, summary in summaries.items()
        if any((getattr(summary, start) is not None and getattr(summary, end) is not None)
               or getattr(summary, column) is not None
               for start, end, column in daycounts.PAIRS)
    }
    if not summaries:
        return
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        select(InquirySummary.inquiry_id, *_leg_seconds(dialect))
        .where(InquirySummary.inquiry_id.in_(sorted(summaries)))
    )
    for inquiry_id, *seconds in rows:
        summary = summaries[inquiry_id]
        for (_, _, column), value in zip(daycounts.PAIRS, seconds, strict=True):
            if getattr(summary, column) != value:
                setattr(summary, column, value)


def _take_units(summary: InquirySummary, inquiry: Inquiry) -> None:
    units = {"form_type": FormType(inquiry.form_type).value, "care_unit_id": inquiry.care_unit_id,
             "sender_unit_id": inquiry.sender_unit_id, "deadline": inquiry.deadline}
    for name, value in units.items():
        # Only what changed (a reroute): a summary set to the values it has is still flushed
        # again, which before every intake's commit cost more than the day counts' upsert.
        if getattr(summary, name) != value:
            setattr(summary, name, value)


def _add_day_counts(session: Session, found: dict[daycounts.Key, daycounts.Vector]) -> None:
    """Add the changes to inquiry_day_counts (a row per key, made where missing)."""
    if not found:
        return
    session.execute(built_once(session, "inquiry_day_counts.add", _day_counts_upsert),
                    daycounts.as_rows(found))


def _day_counts_upsert(session: Session) -> Any:
    table = InquiryDayCount.metadata.tables[InquiryDayCount.__tablename__]
    statement = upsert_for(session, table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.month, table.c.care_unit_id, table.c.sender_unit_id,
                        table.c.day],
        set_={name: table.c[name] + statement.excluded[name] for name in daycounts.MEASURES},
    )


def _add_leg_time_counts(session: Session, found: dict[daycounts.TimeKey, int]) -> None:
    """Add the changes to inquiry_leg_time_counts (a row per key, made where missing)."""
    if not found:
        return
    table = InquiryLegTimeCount.metadata.tables[InquiryLegTimeCount.__tablename__]
    statement = upsert_for(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.month, table.c.leg, table.c.bin],
        set_={"n": table.c.n + statement.excluded.n},
    )
    session.execute(statement, daycounts.time_rows(found))


@event.listens_for(Session, "before_commit")
def _count_before_commit(session: Session) -> None:
    count_pending(session)


def turn_for(status: Status) -> Turn:
    """Return whose turn it is in `status`."""
    return _TURN[status]


def is_open(status: Status) -> bool:
    """Return whether the care unit has yet to answer (the repeat check's "still open")."""
    return status in (Status.RECEIVED, Status.OPENED)


def deadline_for(received_at: dt.datetime, answer_days: int) -> dt.date:
    """Return the answer deadline: the Swedish date of `received_at` plus `answer_days`."""
    return local_date(received_at) + dt.timedelta(days=answer_days)


def add_leg(
    session: Session,
    inquiry_id: str,
    kind: LegKind,
    *,
    at: dt.datetime,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Leg:
    """Append a leg in the caller's transaction and return it. Legs are never changed; the
    inquiry's summary (status, first time of each kind) follows in the same transaction."""
    leg = NewLeg(kind, at, actor, reason, detail)
    _fold(session, inquiry_id, [leg])
    row = Leg(inquiry_id=inquiry_id, **leg.values())
    session.add(row)
    return row


@dataclass(frozen=True)
class NewLeg:
    """A leg to append (first_legs): what add_leg takes."""

    kind: LegKind
    at: dt.datetime
    actor: str
    reason: str | None = None
    detail: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "actor": self.actor, "reason": self.reason,
                "detail": self.detail}


def _fold(session: Session, inquiry_id: str, legs: list[NewLeg]) -> None:
    """Fold the legs, in order, into the inquiry's summary."""
    inquiry = session.get(Inquiry, inquiry_id)
    machine = machine_for(inquiry.form_type) if inquiry is not None else HALSOFORFRAGAN_MACHINE
    summary = _summary_for(session, inquiry_id)
    for leg in legs:
        _apply(summary, machine, leg.kind, leg.at)


def seal_leg_text(session: Session, leg: Leg, text: str) -> None:
    """Seal free text on a new leg (purged with the inquiry's content; `leg_text` reads it): a
    close's reason text, a SIP reply's participants and comment."""
    session.flush()  # the leg's id is in the sealing context
    leg.text = get_vault().seal(text.encode("utf-8"), _leg_context(leg))


def leg_text(leg: Leg) -> str | None:
    """Return the free text sealed on a leg; None when there was none or it was purged."""
    return None if leg.text is None else get_vault().open(leg.text, _leg_context(leg)).decode()


def _leg_context(leg: Leg) -> str:
    return f"legs.text:{leg.id}"


def legs_of(session: Session, inquiry_id: str) -> list[Leg]:
    """Return the inquiry's legs in the order they were recorded."""
    return list(session.scalars(select(Leg).where(Leg.inquiry_id == inquiry_id).order_by(Leg.id)))


def rebuild_summaries(session: Session) -> int:
    """Replace every inquiry summary with one folded from the legs (in the order written), and
    the day counts with those the summaries give, in the caller's transaction; return how many
    summaries. Both are derived data: this gives exactly what add_leg keeps."""
    session.execute(delete(InquirySummary))
    session.info.pop(_SUMMARIES_KEY, None)
    inquiries = {row.id: row for row in session.execute(
        select(Inquiry.id, Inquiry.form_type, Inquiry.care_unit_id, Inquiry.sender_unit_id,
               Inquiry.deadline)
    )}
    count = 0
    current: InquirySummary | None = None
    rows = session.execute(select(Leg.inquiry_id, Leg.kind, Leg.at).order_by(Leg.inquiry_id,
                                                                               Leg.id))
    for inquiry_id, kind, at in rows:
        if current is None or current.inquiry_id != inquiry_id:
            current = InquirySummary(inquiry_id=inquiry_id, status=Status.RECEIVED.value)
            _take_units(current, inquiries[inquiry_id])  # type: ignore[arg-type]
            session.add(current)
            count += 1
        _apply(current, machine_for(inquiries[inquiry_id].form_type), LegKind(kind), at)
    session.flush()
    rebuild_day_counts(session)
    return count


def rebuild_day_counts(session: Session) -> int:
    """Replace the summaries' leg seconds, inquiry_day_counts and inquiry_leg_time_counts with
    what the summaries' first times and units give; return how many day-count rows."""
    dialect = session.get_bind().dialect.name
    session.execute(update(InquirySummary).values({
        column: seconds
        for (_, _, column), seconds in zip(daycounts.PAIRS, _leg_seconds(dialect), strict=True)
    }).execution_options(synchronize_session=False))
    for known in list(session.identity_map.values()):
        if isinstance(known, InquirySummary):
            session.expire(known)
    return count_summaries(session)


def count_summaries(session: Session) -> int:
    """Replace inquiry_day_counts and inquiry_leg_time_counts with what the summaries (units,
    deadline, first times and leg seconds as they are) give; return how many day-count rows."""
    session.execute(delete(InquiryDayCount))
    session.execute(delete(InquiryLegTimeCount))
    facts = _counted_summaries(session)
    found = daycounts.weighted_totals(facts)
    _add_day_counts(session, found)
    _add_leg_time_counts(session, daycounts.weighted_time_totals(facts))
    return len(found)


# The summaries' first times that count by their Stockholm date (daycounts.Facts).
_DATED = daycounts.FACT_COLUMNS[4:10]


def _counted_summaries(session: Session) -> list[tuple[daycounts.Facts, int]]:
    """Every summary's daycounts.Facts and how many summaries have the same: grouped in the
    database by units, deadline, the Stockholm dates of the first times and the leg seconds
    (FACT_COLUMNS with dates for times), so each distinct one is counted once."""
    summary = InquirySummary
    times = [getattr(summary, kind) for kind in _DATED]
    bounds = session.execute(
        select(*(func.min(at) for at in times), *(func.max(at) for at in times))
    ).one()
    known = [at for at in bounds if at is not None]
    if not known:
        return []
    dialect = session.get_bind().dialect.name
    local = SqlTime(dialect, min(known) - dt.timedelta(days=1), max(known) + dt.timedelta(days=1))
    columns = [
        local.local_date(getattr(summary, name)) if name in _DATED else getattr(summary, name)
        for name in daycounts.FACT_COLUMNS
    ]
    found = []
    for *values, count in session.execute(select(*columns, func.count()).group_by(*columns)):
        form_type, care_unit_id, sender_unit_id, deadline = values[:4]
        submitted, received, answered, delivered, registered, closed = (
            None if day is None else dt.date.fromisoformat(str(day)[:10]) for day in values[4:10]
        )
        found.append((daycounts.Facts(
            None if form_type is None else str(form_type), care_unit_id, sender_unit_id,
            deadline, submitted, received, answered, delivered, registered, closed,
            tuple(None if value is None else int(value) for value in values[10:]),
        ), int(count)))
    return found


@dataclass(frozen=True)
class Progress:
    """Where an inquiry stands: status (a SipStatus for a SIP), whose turn, deadline (a SIP's:
    the reply due date) and its legs."""

    status: Status | SipStatus
    turn: Turn
    deadline: dt.date
    legs: tuple[Leg, ...]

    def days_left(self, today: dt.date) -> int:
        """Return days until the deadline from `today` (negative when overdue)."""
        return (self.deadline - today).days

    def overdue(self, today: dt.date) -> bool:
        """Return whether the care unit's answer is late on `today`."""
        return self.turn is Turn.CARE_UNIT and today > self.deadline


def progress(session: Session, inquiry: Inquiry) -> Progress:
    """Return the inquiry's progress from its legs."""
    legs = tuple(legs_of(session, inquiry.id))
    machine = machine_for(inquiry.form_type)
    status = machine.derive(leg.kind for leg in legs)
    assert isinstance(status, Status | SipStatus)
    return Progress(status, machine.turns[status], inquiry.deadline, legs)


def record_opened(session: Session, inquiry: Inquiry, *, actor: str, at: dt.datetime) -> bool:
    """Append the leg `opened` when this is the receiving side's first read of the inquiry at
    its current care unit (none since it was received or last rerouted) and the answer is still
    due; return whether it did. In the caller's transaction; the caller decides (through the
    access service) that the reader is on the care unit's side, and audits the read.

    The one way `opened` is written, whichever channel reads: the REKO's web page, the gateway
    API's GET /api/v1/inquiries/{id}, the SDK API's GET /v1/sdk/messages/{id}.
    """
    kinds: list[LegKind] = []
    since_route: list[LegKind] = []
    for leg in legs_of(session, inquiry.id):
        kinds.append(leg.kind)
        since_route = [] if leg.kind == LegKind.REROUTED else [*since_route, leg.kind]
    machine = machine_for(inquiry.form_type)
    if LegKind.OPENED in since_route or machine.derive(kinds) not in machine.waiting:
        return False
    add_leg(session, inquiry.id, LegKind.OPENED, at=at, actor=actor)
    return True
