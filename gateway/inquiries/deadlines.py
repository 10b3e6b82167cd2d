"""Deadlines: reminders to the REKO on days 21 and 28 after `received`, escalation to the VC's
manager on the answer day (day 30 by default), each once, done by the worker's hourly scan.
The same scan reminds a SIP invitation's REKOs before its reply due date (svarSenast) while it
has no reply, and before the meeting when they replied KOMMER (days from the settings
SIP_REPLY_REMINDER_DAYS and SIP_MEETING_REMINDER_DAYS); never after it was held or cancelled.

The scan runs as the recurring job `deadline.scan`; its slot (from the worker's clock) is
"now", so tests drive time with an injected clock. Each reminder or escalation writes its leg
and queues its mails (the outbox) in the scan's transaction, and a leg already written is
never written again: the scan is idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from forms.dates import STOCKHOLM, local_date
from gateway.directory.routing import route
from gateway.directory.service import DirectoryError, assignments_on
from gateway.inquiries.counts import Waiting, by_care_unit
from gateway.inquiries.models import FormType, Inquiry, InquirySummary, Leg, LegKind, SipMeeting
from gateway.inquiries.workflow import SipStatus, add_leg, derive_status, is_open
from gateway.jobs.models import Job
from gateway.jobs.registry import SCHEDULED_LANE, job_handler, recurring
from gateway.jobs.service import slot_time
from gateway.mail.mailer import queue_mail

log = logging.getLogger(__name__)

SCAN_JOB = "deadline.scan"
REMINDER_DAYS = (21, 28)
WORKER_ACTOR = "system:worker"

recurring(SCAN_JOB, dt.timedelta(hours=1))


def day_of(inquiry: Inquiry, today: dt.date, rerouted_at: dt.datetime | None = None) -> int:
    """Return the inquiry's day number on `today`: day 0 is the Swedish date it was received, or
    last sent on to another VC (`rerouted_at`), whose answer time starts then."""
    return (today - local_date(rerouted_at or inquiry.created_at)).days


def at_current_unit(legs: list[Leg]) -> tuple[dt.datetime | None, int, list[Leg]]:
    """Return when the inquiry was last rerouted (None: never), how many times, and the legs
    since: the reminders and escalation of the VC it is at now."""
    rerouted = [index for index, leg in enumerate(legs) if leg.kind == LegKind.REROUTED]
    if not rerouted:
        return None, 0, legs
    last = rerouted[-1]
    return legs[last].at, len(rerouted), legs[last + 1:]


def scan(session: Session, now: dt.datetime) -> dict[str, int]:
    """Send every reminder and escalation that is due at `now` and not yet sent; return counts.

    Only the latest due reminder is sent (a scan that was away over day 21 and 28 reminds
    once, for day 28).
    """
    today = local_date(now)
    answer_days = current_app.config["ANSWER_DAYS"]
    done = {"reminded": 0, "escalated": 0}
    waiting = _WaitingByReko(session, today)
    for inquiry, legs in _candidates(session, today, answer_days):
        rerouted_at, routing, current = at_current_unit(legs)
        day = day_of(inquiry, today, rerouted_at)
        reminders = {int(leg.reason or 0) for leg in current if leg.kind == LegKind.REMINDED}
        escalated = any(leg.kind == LegKind.ESCALATED for leg in current)
        if day >= answer_days and not escalated:
            _escalate(session, inquiry, day, now, routing)
            done["escalated"] += 1
            continue
        due = [d for d in REMINDER_DAYS if d <= day and d < answer_days]
        if due and max(due) > max(reminders, default=0) and not escalated:
            _remind(session, inquiry, max(due), now, waiting, routing)
            done["reminded"] += 1
    done["reminded"] += _scan_sips(session, now)
    return done


def _candidates(
    session: Session, today: dt.date, answer_days: int
) -> Iterator[tuple[Inquiry, list[Leg]]]:
    """Yield open inquiries old enough for the first reminder, with their legs."""
    first = min(min(REMINDER_DAYS), answer_days)
    # Received on or before (today - first) in Sweden; a day of margin for time zones, the
    # exact day is checked per inquiry.
    cutoff = dt.datetime.combine(today - dt.timedelta(days=first - 1), dt.time(), dt.UTC)
    inquiries = session.scalars(
        select(Inquiry)
        # A hälsoförfrågan's answer deadline; a SIP's reminders are its own (not yet built).
        .where(Inquiry.created_at < cutoff, Inquiry.purged_at.is_(None),
               Inquiry.form_type == FormType.HALSOFORFRAGAN)
        .order_by(Inquiry.created_at)
    )
    for inquiry in inquiries:
        legs = list(session.scalars(
            select(Leg).where(Leg.inquiry_id == inquiry.id).order_by(Leg.id)
        ))
        if is_open(derive_status(leg.kind for leg in legs)):
            yield inquiry, legs


class _WaitingByReko:
    """What waits for each REKO's answer on one day, over all the units they cover: two
    queries for the whole scan (the day's assignments, the counts per unit), made when the
    first reminder needs them."""

    def __init__(self, session: Session, today: dt.date) -> None:
        self.session = session
        self.today = today
        self._units: dict[str, set[int]] | None = None
        self._counts: dict[int, Waiting] = {}

    def of(self, hsa_id: str) -> Waiting:
        if self._units is None:
            self._units = {}
            for assignment in assignments_on(self.session, self.today):
                self._units.setdefault(assignment.coordinator.hsa_id, set()).add(
                    assignment.care_unit_id)
            self._counts = by_care_unit(self.session, self.today)
        units = self._units.get(hsa_id, set())
        return sum((self._counts.get(unit, Waiting()) for unit in units), Waiting())


def _waiting_line(waiting: Waiting) -> str:
    """Return the reminder's count line: how many wait for the REKO, how many are overdue."""
    cases = "hälsoförfrågan" if waiting.waiting == 1 else "hälsoförfrågningar"
    return (f"Du har {waiting.waiting} {cases} som väntar på svar på dina vårdcentraler, "
            f"varav {waiting.overdue} har passerat sista svarsdag.")


def _routing_key(routing: int) -> str:
    """The dedupe key's part for the VC the inquiry is at now: a VC it was sent on to is
    reminded of its own days."""
    return f":rerouted{routing}" if routing else ""


def _remind(session: Session, inquiry: Inquiry, day: int, now: dt.datetime,
            waiting: _WaitingByReko, routing: int = 0) -> None:
    subject = f"Påminnelse: hälsoförfrågan till {inquiry.care_unit.name} väntar på svar"
    _remind_rekos(
        session, inquiry, now, reason=str(day), subject=subject, kind="inquiry.reminder",
        routing=routing, detail={"day": day},
        body=lambda hsa_id: _body(inquiry, f"Förfrågan togs emot för {day} dagar sedan och är "
                                           "inte besvarad.", _waiting_line(waiting.of(hsa_id))))


def _remind_rekos(session: Session, inquiry: Inquiry, now: dt.datetime, *, reason: str,
                  subject: str, kind: str, body: Callable[[str], str], routing: int,
                  detail: dict[str, Any]) -> None:
    """Queue one reminder to each REKO routed to today (`body` of their HSA-id), once per
    reminder (`reason`) and VC, and write its `reminded` leg: every form type's reminders."""
    recipients = _reko_recipients(session, inquiry, now)
    for email, hsa_id in recipients.items():
        queue_mail(session, to=email, subject=subject, body=body(hsa_id), kind=kind,
                   dedupe_key=f"{kind}:{inquiry.id}:{reason}:{email}{_routing_key(routing)}")
    add_leg(session, inquiry.id, LegKind.REMINDED, at=now, actor=WORKER_ACTOR,
            reason=reason, detail={**detail, "count": len(recipients)})


# --- SIP invitations: the reply due date and the meeting --------------------------------------

SIP_REPLY = "svar"
SIP_MEETING = "mote"


def _latest_due(days_left: int, days: tuple[int, ...]) -> int | None:
    """The reminder due `days_left` days before a date: the fewest days before it that have
    come (a scan that was away reminds once, for the latest); None before the first or after
    the date."""
    due = [d for d in days if 0 <= days_left <= d]
    return min(due) if due else None


def _scan_sips(session: Session, now: dt.datetime) -> int:
    """Send every SIP reminder due at `now` and not yet sent; return how many."""
    today = local_date(now)
    reply_days = current_app.config["SIP_REPLY_REMINDER_DAYS"]
    meeting_days = current_app.config["SIP_MEETING_REMINDER_DAYS"]
    waiting = (SipStatus.RECEIVED.value, SipStatus.OPENED.value)
    near: list[Any] = []
    if reply_days:
        near.append(and_(InquirySummary.status.in_(waiting),
                         SipMeeting.reply_due.between(today, today + dt.timedelta(
                             days=max(reply_days)))))
    if meeting_days:
        # A day of margin each side for time zones; the Swedish date is checked per meeting.
        near.append(and_(
            InquirySummary.status == SipStatus.REPLIED.value,
            SipMeeting.decision == "KOMMER",
            SipMeeting.starts_at.between(
                dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), dt.UTC),
                dt.datetime.combine(today + dt.timedelta(days=max(meeting_days) + 2), dt.time(),
                                    dt.UTC))))
    if not near:
        return 0
    found = session.execute(
        select(Inquiry, SipMeeting, InquirySummary.status)
        .join(SipMeeting, SipMeeting.inquiry_id == Inquiry.id)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .where(Inquiry.form_type == FormType.SIP, Inquiry.purged_at.is_(None), or_(*near))
        .order_by(Inquiry.created_at)
    ).all()
    sent = 0
    for inquiry, meeting, status in found:
        if status == SipStatus.REPLIED.value:
            what, date = SIP_MEETING, local_date(meeting.starts_at)
            days = _latest_due((date - today).days, meeting_days)
        else:
            what, date = SIP_REPLY, meeting.reply_due
            days = _latest_due((date - today).days, reply_days)
        if days is None:
            continue
        legs = list(session.scalars(
            select(Leg).where(Leg.inquiry_id == inquiry.id).order_by(Leg.id)))
        _, routing, current = at_current_unit(legs)
        reason = f"{what}:{date.isoformat()}:{days}"
        if any(leg.kind == LegKind.REMINDED and leg.reason == reason for leg in current):
            continue
        _remind_sip(session, inquiry, meeting, what, days, now, routing, reason)
        sent += 1
    return sent


def _when(days: int) -> str:
    return {0: "i dag", 1: "i morgon"}.get(days, f"om {days} dagar")


def _remind_sip(session: Session, inquiry: Inquiry, meeting: SipMeeting, what: str, days: int,
                now: dt.datetime, routing: int, reason: str) -> None:
    """One SIP reminder: to reply by the due date, or of the meeting the REKO said they come
    to. The reference, the dates and a link; no personal data."""
    starts = meeting.starts_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
    if what == SIP_REPLY:
        subject = (f"Påminnelse: SIP-kallelse {inquiry.reference} ska besvaras "
                   f"{_when(days)}")
        lead = (f"SIP-kallelsen {inquiry.reference} till {inquiry.care_unit.name} är inte "
                f"besvarad. Sista svarsdag är {_when(days)}, {meeting.reply_due.isoformat()}.")
    else:
        subject = f"Påminnelse: SIP-möte {inquiry.reference} {_when(days)}"
        lead = (f"Ni har svarat att ni kommer till SIP-mötet {inquiry.reference}, "
                f"{_when(days)} klockan {starts[-5:]}.")
    _remind_rekos(
        session, inquiry, now, reason=reason, subject=subject, kind=f"sip.reminder.{what}",
        routing=routing, detail={"days_before": days, "of": what},
        body=lambda _: _body(inquiry, lead, due_line=(
            f"Sista svarsdag: {meeting.reply_due.isoformat()}\nSIP-möte: {starts} (svensk tid)")))


def _escalate(session: Session, inquiry: Inquiry, day: int, now: dt.datetime,
              routing: int = 0) -> None:
    manager = inquiry.care_unit.manager_email
    emails = [manager] if manager else list(_reko_recipients(session, inquiry, now))
    subject = f"Sista svarsdag passerad: hälsoförfrågan till {inquiry.care_unit.name}"
    body = _body(inquiry, f"Förfrågan togs emot för {day} dagar sedan och har inte besvarats "
                          "inom svarstiden. Se till att någon tar hand om den.")
    for email in emails:
        queue_mail(session, to=email, subject=subject, body=body, kind="inquiry.escalation",
                   dedupe_key=f"inquiry.escalation:{inquiry.id}:{email}"
                              f"{_routing_key(routing)}")
    add_leg(session, inquiry.id, LegKind.ESCALATED, at=now, actor=WORKER_ACTOR,
            detail={"day": day, "to": "manager" if manager else "reko", "count": len(emails)})


def _reko_recipients(session: Session, inquiry: Inquiry, now: dt.datetime) -> dict[str, str]:
    """Return the e-mail address and HSA-id of each REKO routed to today, by address."""
    try:
        decision = route(session, inquiry.care_unit.hsa_id, local_date(now))
    except DirectoryError:
        return {}
    found: dict[str, str] = {}
    for coordinator in decision.coordinators:
        if coordinator.email:
            found.setdefault(coordinator.email, coordinator.hsa_id)
    return found


def _body(inquiry: Inquiry, lead: str, counts: str | None = None, *,
          due_line: str | None = None) -> str:
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/inkorg/{inquiry.id}"
    return "\n".join([
        lead,
        *([counts] if counts else []),
        "",
        f"Vårdcentral: {inquiry.care_unit.name}",
        due_line or f"Sista svarsdag: {inquiry.deadline.isoformat()}",
        f"Öppna den i inkorgen: {link}",
        "",
        "Meddelandet innehåller inga personuppgifter.",
    ]) + "\n"


@job_handler(SCAN_JOB, lane=SCHEDULED_LANE)
def scan_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """The hourly scan; "now" is the slot the worker queued (its clock), else the time now."""
    now = slot_time(payload)
    counts = scan(session, now)
    if any(counts.values()):
        log.info("deadline scan: %s reminders, %s escalations", counts["reminded"],
                 counts["escalated"])
