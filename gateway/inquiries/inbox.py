"""The REKO's inbox as a query: the chosen units' inquiries and SIP invitations in one tab
(waiting, answered, closed), filtered (by type among others), searched, sorted and paged by the
database in a fixed number of statements (tab counts, the matching count, one page of rows),
whatever the number of inquiries."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased, contains_eager

from gateway.db import UTCDateTime
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries.models import (
    FormType,
    Inquiry,
    InquiryMark,
    InquirySummary,
    Leg,
    LegKind,
    MarkKind,
    SipMeeting,
)
from gateway.inquiries.paging import Page
from gateway.inquiries.personal import name_matches, personnummer_hash
from gateway.inquiries.references import PREFIXES, format_reference, typed_reference
from gateway.inquiries.workflow import SipStatus, Status

NEAR_DAYS = 7
NO_MARK = "INGEN"


class Tab(enum.StrEnum):
    WAITING = "vantar"
    ANSWERED = "besvarade"
    CLOSED = "avslutade"


AnyStatus = Status | SipStatus

# A SIP invitation waits for the VC's reply as an inquiry waits for its answer (received and
# opened are the same values in both machines); replied is answered; held or cancelled closed.
TAB_STATUSES: dict[Tab, tuple[AnyStatus, ...]] = {
    Tab.WAITING: (Status.RECEIVED, Status.OPENED),
    Tab.ANSWERED: (Status.ANSWERED, Status.ANSWER_DELIVERED, Status.REGISTERED,
                   SipStatus.REPLIED),
    Tab.CLOSED: (Status.CLOSED, SipStatus.HELD, SipStatus.CANCELLED),
}


def status_of_row(form_type: FormType, value: str) -> AnyStatus:
    """Return a summary's status as its form type's enum."""
    return SipStatus(value) if form_type == FormType.SIP else Status(value)


class Due(enum.StrEnum):
    SOON = "snart"
    OVERDUE = "forsenad"


@dataclass(frozen=True)
class InboxQuery:
    """What the REKO asked for: the units in scope and the tab, filters, search and order."""

    unit_ids: tuple[int, ...]
    tab: Tab = Tab.WAITING
    care_unit_id: int | None = None
    form_type: FormType | None = None
    status: AnyStatus | None = None
    mark: str | None = None
    due: Due | None = None
    repeat: bool = False
    search: str = ""
    personal: bool = False
    sort: str = "deadline"
    descending: bool = False
    page: int = 1


@dataclass(frozen=True)
class InboxRow:
    """One inquiry or SIP invitation as the inbox lists it (the meeting for a SIP; the person
    only when personuppgifter are shown)."""

    inquiry: Inquiry
    status: AnyStatus
    mark: MarkKind | None
    answered: dt.datetime | None
    closed: dt.datetime | None
    days_left: int
    person: tuple[str, str] | None = None
    meeting: SipMeeting | None = None

    @property
    def is_sip(self) -> bool:
        return self.inquiry.form_type == FormType.SIP

    @property
    def repeat(self) -> bool:
        return self.inquiry.repeat_of is not None

    @property
    def urgency(self) -> str:
        if self.status not in TAB_STATUSES[Tab.WAITING]:
            return "none"
        if self.days_left < 0:
            return "past"
        return "near" if self.days_left <= NEAR_DAYS else "ok"


@dataclass(frozen=True)
class InboxPage:
    """One page of one tab: its rows, how many match, how many each tab holds in scope."""

    rows: list[InboxRow]
    matching: int
    tab_totals: dict[Tab, int]
    page: Page
    searched_personal: bool = False
    notes: list[str] = field(default_factory=list)

    def total(self, tab: Tab) -> int:
        return self.tab_totals.get(tab, 0)


_STATUS_ORDER = list(dict.fromkeys([*(s.value for s in Status), *(s.value for s in SipStatus)]))
_Mark = aliased(InquiryMark)
_Rows = Select[Inquiry, InquirySummary, InquiryMark, SipMeeting, dt.datetime, dt.datetime]


def _last_leg(*kinds: LegKind) -> Any:
    """The time of the inquiry's latest leg of `kinds` (a correlated subquery)."""
    return (select(func.max(Leg.at)).where(Leg.inquiry_id == Inquiry.id, Leg.kind.in_(kinds))
            .correlate(Inquiry).scalar_subquery())


# When the case was answered and closed: an inquiry's first answer and its close (the summary);
# a SIP invitation's latest reply, and when its outcome (held or cancelled) was recorded.
ANSWERED = type_coerce(func.coalesce(InquirySummary.answered, case(
    (Inquiry.form_type == FormType.SIP, _last_leg(LegKind.REPLIED)))), UTCDateTime())
CLOSED = type_coerce(func.coalesce(InquirySummary.closed, case(
    (Inquiry.form_type == FormType.SIP, _last_leg(LegKind.HELD, LegKind.CANCELLED)))),
    UTCDateTime())


def sort_key(column: str) -> Any:
    """Return the ORDER BY expression of an inbox column (KeyError for one that has none)."""
    return {
        "reference": Inquiry.reference,
        "type": Inquiry.form_type,
        "meeting": SipMeeting.starts_at,
        "care_unit": CareUnit.name,
        "sender": SenderUnit.name,
        "received": Inquiry.created_at,
        "deadline": Inquiry.deadline,
        "days": Inquiry.deadline,
        "answered": ANSWERED,
        "closed": CLOSED,
        "status": case({v: i for i, v in enumerate(_STATUS_ORDER)},
                       value=InquirySummary.status, else_=0),
        "mark": case({m.value: i for i, m in enumerate(MarkKind, start=1)},
                     value=_Mark.mark, else_=0),
        "repeat": case((Inquiry.repeat_of.is_(None), 0), else_=1),
    }[column]


def _scoped(query: InboxQuery) -> _Rows:
    """The inquiries and invitations routed now to the units in scope (the VC and type filters
    narrow them)."""
    units = [query.care_unit_id] if query.care_unit_id in query.unit_ids else list(query.unit_ids)
    types = [query.form_type] if query.form_type else list(FormType)
    return (
        select(Inquiry, InquirySummary, _Mark, SipMeeting, ANSWERED, CLOSED)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .join(CareUnit, CareUnit.id == Inquiry.care_unit_id)
        .join(SenderUnit, SenderUnit.id == Inquiry.sender_unit_id)
        # A mark is the unit's: one set before a re-route stays with the old unit.
        .outerjoin(_Mark, and_(_Mark.inquiry_id == Inquiry.id,
                               _Mark.care_unit_id == Inquiry.care_unit_id))
        .outerjoin(SipMeeting, SipMeeting.inquiry_id == Inquiry.id)
        .where(Inquiry.care_unit_id.in_(units), Inquiry.form_type.in_(types))
    )


def _filters(query: InboxQuery, today: dt.date) -> list[ColumnElement[bool]]:
    """The conditions of the tab and the filters chosen."""
    statuses = [s.value for s in TAB_STATUSES[query.tab]]
    if query.status is not None and query.status.value in statuses:
        statuses = [query.status.value]
    terms: list[ColumnElement[bool]] = [InquirySummary.status.in_(statuses)]
    if query.mark == NO_MARK:
        terms.append(_Mark.mark.is_(None))
    elif query.mark in set(MarkKind):
        terms.append(_Mark.mark == MarkKind(query.mark))
    if query.due is Due.OVERDUE:
        terms.append(Inquiry.deadline < today)
    elif query.due is Due.SOON:
        terms.append(Inquiry.deadline.between(today, today + dt.timedelta(days=NEAR_DAYS)))
    if query.repeat:
        terms.append(Inquiry.repeat_of.is_not(None))
    return terms


def search_condition(text: str, personal: bool) -> tuple[ColumnElement[bool] | None, bool]:
    """Return the condition for a search text and whether it looked at personal data: a
    reference always; a personnummer or name only when personuppgifter are shown."""
    ways: list[ColumnElement[bool]] = []
    typed = typed_reference(text)
    if typed is not None:
        year, number = typed
        # One number series for every form type: the number names one case whatever prefix.
        ways.append(Inquiry.reference.in_([format_reference(year, number, p) for p in PREFIXES])
                    if year else or_(*(Inquiry.reference.like(f"{p}-____-{number:06d}")
                                       for p in PREFIXES)))
    looked = False
    if personal:
        person = personnummer_hash(text)
        if person is not None:
            ways.append(Inquiry.person_hash == person)
            looked = True
        elif (named := name_matches(text)) is not None:
            ways.append(named)
            looked = True
    if not ways:
        return None, looked
    return or_(*ways), looked


def inbox_page(session: Session, query: InboxQuery, today: dt.date) -> InboxPage:
    """Return the page of the inbox the query asks for (three statements)."""
    if not query.unit_ids:
        return InboxPage([], 0, {}, Page.of(1, 0))
    scoped = _scoped(query)
    totals = _tab_totals(session, scoped)
    filtered = scoped.where(*_filters(query, today))
    notes: list[str] = []
    looked = False
    if query.search.strip():
        condition, looked = search_condition(query.search, query.personal)
        if condition is None:
            notes.append("Sökningen gav ingen träff: sök på referens (till exempel "
                         "HF-2026-000123)" + ("" if query.personal else
                                              ", eller slå på Visa personuppgifter för att "
                                              "söka på namn eller personnummer") + ".")
        filtered = filtered.where(condition if condition is not None else Inquiry.id.is_(None))
    matching = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    page = Page.of(query.page, matching)
    key = sort_key(query.sort)
    order = [key.desc() if query.descending else key.asc(),
             Inquiry.id.desc() if query.descending else Inquiry.id.asc()]
    found = session.execute(
        filtered.options(contains_eager(Inquiry.care_unit), contains_eager(Inquiry.sender_unit))
        .order_by(*order).limit(page.size).offset(page.offset)
    )
    rows = [InboxRow(inquiry, status_of_row(inquiry.form_type, summary.status),
                     mark.mark if mark else None, answered, closed,
                     (inquiry.deadline - today).days, meeting=meeting)
            for inquiry, summary, mark, meeting, answered, closed in found]
    return InboxPage(rows, matching, totals, page, looked, notes)


def _tab_totals(session: Session, scoped: _Rows) -> dict[Tab, int]:
    """How many inquiries each tab holds in scope: one grouped count."""
    counted = scoped.with_only_columns(InquirySummary.status, func.count()).group_by(
        InquirySummary.status)
    by_status = {status: count for status, count in session.execute(counted)}
    return {tab: sum(by_status.get(s.value, 0) for s in statuses)
            for tab, statuses in TAB_STATUSES.items()}
