"""What waits, counted: per care unit (the REKO's start page and reminder mails) and per sender
unit (the case worker's start page). Counts only, never whose; one grouped query each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from gateway.inquiries.models import FormType, Inquiry, InquirySummary
from gateway.inquiries.workflow import Status

_WAITING = (Status.RECEIVED.value, Status.OPENED.value)


@dataclass(frozen=True)
class Waiting:
    """How many inquiries wait for the care unit's answer, how many of them are past their
    deadline, and (for the sender) how many answers have come and are not read yet."""

    waiting: int = 0
    overdue: int = 0
    new_answers: int = 0

    def __add__(self, other: Waiting) -> Waiting:
        return Waiting(self.waiting + other.waiting, self.overdue + other.overdue,
                       self.new_answers + other.new_answers)

    def phrases(self, *, sender: bool) -> list[str]:
        """Return the counts in Swedish for a start page ("2 nya svar", "1 försenad")."""
        found = []
        if sender:
            answers = "nytt svar" if self.new_answers == 1 else "nya svar"
            found.append(f"{self.new_answers} {answers}")
        found.append(f"{self.waiting} väntar på svar")
        found.append(f"{self.overdue} {'försenad' if self.overdue == 1 else 'försenade'}")
        return found


def _overdue(today: dt.date) -> ColumnElement[int]:
    return func.coalesce(func.sum(case(
        (InquirySummary.status.in_(_WAITING) & (Inquiry.deadline < today), 1), else_=0)), 0)


def _waiting() -> ColumnElement[int]:
    return func.coalesce(func.sum(case((InquirySummary.status.in_(_WAITING), 1), else_=0)), 0)


def by_care_unit(session: Session, today: dt.date,
                 care_unit_ids: Iterable[int] | None = None) -> dict[int, Waiting]:
    """Return per care unit id what waits for its answer on `today` (units with nothing left
    out); all units when care_unit_ids is None."""
    query = (
        select(Inquiry.care_unit_id, _waiting(), _overdue(today))
        .select_from(Inquiry)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .where(InquirySummary.status.in_(_WAITING),
               Inquiry.form_type == FormType.HALSOFORFRAGAN)
        .group_by(Inquiry.care_unit_id)
    )
    if care_unit_ids is not None:
        query = query.where(Inquiry.care_unit_id.in_(sorted(set(care_unit_ids))))
    return {unit: Waiting(int(waiting), int(overdue))
            for unit, waiting, overdue in session.execute(query)}


def for_care_units(session: Session, care_unit_ids: Iterable[int], today: dt.date) -> Waiting:
    """Return what waits for the answer of any of the care units on `today`."""
    ids = list(care_unit_ids)
    if not ids:
        return Waiting()
    return sum(by_care_unit(session, today, ids).values(), Waiting())


def for_sender_unit(session: Session, sender_unit_id: int | None, today: dt.date) -> Waiting:
    """Return the sender unit's inquiries waiting for an answer (and overdue) and its answers
    that have come and are not read yet, on `today`."""
    if sender_unit_id is None:
        return Waiting()
    new = func.coalesce(func.sum(case(
        (InquirySummary.status == Status.ANSWERED.value, 1), else_=0)), 0)
    row = session.execute(
        select(_waiting(), _overdue(today), new)
        .select_from(Inquiry)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .where(Inquiry.sender_unit_id == sender_unit_id,
               Inquiry.form_type == FormType.HALSOFORFRAGAN)
    ).one()
    return Waiting(int(row[0]), int(row[1]), int(row[2]))
