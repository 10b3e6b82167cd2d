"""Notifying the care unit that an inquiry waits (the `inquiry.notify` job, reply addresses), and
the case worker that an answer came, or the VC closed or re-routed it (`inquiry.tell_sender`).

The mail carries no personal data: that an inquiry waits, its deadline, a link to it and the
per-inquiry reply address for answers by mail. Each recipient's mail is a row of the mail
outbox with its own Message-ID, handed to the relay inside the job (`gateway.mail.outbox.send`,
through `gateway.mail.jobs.deliver`); each acceptance is committed at once, so a retry after a
half-finished attempt (a relay away, a worker killed, a database restart) sends only what was
not accepted. The `notified` leg is committed with the job's completion, after every mail.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.db import utcnow
from gateway.directory.routing import RouteDecision, route
from gateway.directory.service import DirectoryError
from gateway.inquiries.intake import NOTIFY_JOB, PEER_CHANNEL
from gateway.inquiries.labels import REASON_LABELS
from gateway.inquiries.models import CloseReason, Inquiry, LegKind
from gateway.inquiries.workflow import add_leg, derive_status, is_open, legs_of
from gateway.jobs.models import Job
from gateway.jobs.registry import MAIL_LANE, PermanentJobError, job_handler
from gateway.jobs.service import enqueue
from gateway.mail import outbox
from gateway.mail.parsing import REPLY_LOCAL_PREFIX
from gateway.vault.service import get_vault

log = logging.getLogger(__name__)

WORKER_ACTOR = "system:worker"
REPLY_TOKEN_PURPOSE = "reply-token"  # noqa: S105 - a hash purpose, not a secret
REPLY_TOKEN_LENGTH = 32
SENDER_JOB = "inquiry.tell_sender"


# --- reply addresses -------------------------------------------------------------------------


def reply_token(inquiry_id: str) -> str:
    """Return the secret of the inquiry's reply address: a keyed hash of its id, so that every
    retry of a notification carries the same address and nobody without the key can make one."""
    return get_vault().keyed_hash(inquiry_id, REPLY_TOKEN_PURPOSE)[:REPLY_TOKEN_LENGTH]


def token_hash(token: str) -> str:
    """Return what is stored of a reply token (SHA-256 hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def reply_address(inquiry: Inquiry, config: Mapping[str, Any]) -> str:
    """Return `svar+<token>@<first SMTP domain>` and remember the token's hash on the inquiry."""
    token = reply_token(inquiry.id)
    inquiry.reply_token_hash = token_hash(token)
    domains = config.get("SMTP_DOMAINS") or ["localhost"]
    return f"{REPLY_LOCAL_PREFIX}{token}@{domains[0]}"


def inquiry_by_reply_token(session: Session, token: str) -> Inquiry | None:
    """Return the inquiry whose reply address carries token, or None."""
    return session.scalars(
        select(Inquiry).where(Inquiry.reply_token_hash == token_hash(token))
    ).one_or_none()


# --- whom to tell ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipients:
    """Where a notification goes: the REKOs' addresses, else the manager's; `kind` says which."""

    addresses: tuple[str, ...]
    kind: str
    hsa_ids: tuple[str, ...] = ()


def recipients_for(decision: RouteDecision) -> Recipients:
    """Return the current REKOs of the routing decision, or the manager when there is none."""
    emails = tuple(dict.fromkeys(c.email for c in decision.coordinators if c.email))
    if emails:
        return Recipients(emails, "reko", tuple(c.hsa_id for c in decision.coordinators))
    if decision.manager_email:
        return Recipients((decision.manager_email,), "manager")
    return Recipients((), "none")


def current_route(session: Session, inquiry: Inquiry, on: dt.date) -> RouteDecision:
    """Return today's routing decision for the inquiry's care unit; PermanentJobError when the
    unit has left the directory (retrying cannot help; the directory admin must act)."""
    try:
        return route(session, inquiry.care_unit.hsa_id, on)
    except DirectoryError as error:
        raise PermanentJobError(f"care unit cannot be routed ({error.code})") from None


# --- the mail --------------------------------------------------------------------------------


def notification_text(inquiry: Inquiry, base_url: str, reply_to: str) -> tuple[str, str]:
    """Return subject and body: no personal data, only that it waits, the deadline, a link."""
    link = f"{base_url.rstrip('/')}/inkorg/{inquiry.id}"
    body = "\n".join([
        f"En hälsoförfrågan väntar på svar från {inquiry.care_unit.name}.",
        "",
        f"Sista svarsdag: {inquiry.deadline.isoformat()}",
        f"Öppna den i inkorgen: {link}",
        "",
        "Svara i inkorgen, eller skicka det signerade svaret (PDF) som bilaga till",
        f"{reply_to}",
        "",
        "Meddelandet innehåller inga personuppgifter.",
    ]) + "\n"
    return f"Ny hälsoförfrågan till {inquiry.care_unit.name}", body


def _mail_each(session: Session, job: Job, addresses: Sequence[str], subject: str, body: str,
               kind: str) -> None:
    """Send one outbox row per address, keyed by the job's dedupe key and the address, so a
    retried job sends only what the relay has not taken (gateway.mail.outbox)."""
    key = job.dedupe_key or f"job:{job.id}"
    rows = [outbox.add(session, outbox.Mail(key=f"{key}:{address}", to=address,
                                            subject=subject, body=body, kind=kind))
            for address in addresses]
    outbox.send(session, job, rows)


@job_handler(NOTIFY_JOB, lane=MAIL_LANE)
def notify_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Tell the care unit's REKOs (or its manager) that the inquiry waits; leg `notified`."""
    inquiry_id = str(payload.get("inquiry_id", ""))
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise PermanentJobError("the inquiry is gone")
    if not is_open(derive_status(leg.kind for leg in legs_of(session, inquiry.id))):
        log.info("notify: inquiry %s is no longer open; nothing sent", inquiry.id)
        return
    now = job.created_at
    decision = current_route(session, inquiry, local_date(now))
    recipients = recipients_for(decision)
    if not recipients.addresses:
        raise PermanentJobError("no REKO and no manager address for the care unit")
    config = current_app.config
    subject, body = notification_text(inquiry, config["BASE_URL"], reply_address(inquiry, config))
    _mail_each(session, job, recipients.addresses, subject, body, "inquiry.notify")
    add_leg(session, inquiry.id, LegKind.NOTIFIED, at=utcnow(), actor=WORKER_ACTOR,
            detail={"to": recipients.kind, "count": len(recipients.addresses),
                    "coordinators": list(recipients.hsa_ids)})
    log.info("notify: inquiry %s notified (%s, %s recipients)", inquiry.id, recipients.kind,
             len(recipients.addresses))


# --- telling the sender ------------------------------------------------------------------------
#
# The case worker hears when an answer arrives, when the VC closes the inquiry and when it is
# re-routed. The recipient is the handläggare's e-mail in the form (avsandare/handlaggare/epost):
# staff's contact details given for this very inquiry, not the person's; the gateway keeps no
# other address of the case worker (web users have none). The mail says what happened, at
# which VC, and links to the inquiry; never the person, the reason's free text or any answer.


class SenderEvent(enum.StrEnum):
    ANSWERED = "answered"
    CLOSED = "closed"
    REROUTED = "rerouted"


def tell_sender(session: Session, inquiry: Inquiry, event: SenderEvent, *, occurrence: int = 1
                ) -> None:
    """Queue the mail to the inquiry's case worker about `event`, in the caller's transaction
    (it exists only if the event is committed); the same event (and `occurrence`, for events
    that can happen again) is queued once however often this is called. Nothing for an inquiry
    that came from a peer gateway: its case worker is told there."""
    if inquiry.channel == PEER_CHANNEL:
        return
    key = f"{SENDER_JOB}:{inquiry.id}:{event.value}:{occurrence}"
    enqueue(session, SENDER_JOB, {"inquiry_id": inquiry.id, "event": event.value},
            dedupe_key=key)


def sender_text(inquiry: Inquiry, event: SenderEvent, base_url: str,
                reason: str | None = None) -> tuple[str, str]:
    """Return subject and body of the case worker's mail: no personal data, a link."""
    unit = inquiry.care_unit.name
    subject, lead = {
        SenderEvent.ANSWERED: (f"Svar från {unit} på en hälsoförfrågan",
                               f"{unit} har svarat på en hälsoförfrågan från er enhet."),
        SenderEvent.CLOSED: (f"Hälsoförfrågan avslutad utan svar av {unit}",
                             f"{unit} har avslutat en hälsoförfrågan från er enhet utan svar."),
        SenderEvent.REROUTED: (f"Hälsoförfrågan skickad vidare till {unit}",
                               "En hälsoförfrågan från er enhet har skickats vidare till "
                               f"{unit}, där personen nu är listad."),
    }[event]
    lines = [lead, ""]
    if reason:
        lines.append(f"Anledning: {reason}")
    lines += [
        f"Öppna förfrågan: {base_url.rstrip('/')}/arenden/{inquiry.id}",
        "",
        "Meddelandet innehåller inga personuppgifter.",
    ]
    return subject, "\n".join(lines) + "\n"


def _close_reason(session: Session, inquiry: Inquiry) -> str | None:
    closed = [leg for leg in legs_of(session, inquiry.id) if leg.kind == LegKind.CLOSED]
    if not closed or closed[-1].reason is None:
        return None
    try:
        reason = CloseReason(closed[-1].reason)
    except ValueError:
        return None
    # The label of OTHER asks for a text; the text itself stays out of mail.
    return "Annan anledning" if reason is CloseReason.OTHER else REASON_LABELS[reason]


@job_handler(SENDER_JOB, lane=MAIL_LANE)
def sender_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Tell the inquiry's case worker what happened (payload: inquiry_id, event)."""
    inquiry = session.get(Inquiry, str(payload.get("inquiry_id", "")))
    if inquiry is None:
        raise PermanentJobError("the inquiry is gone")
    try:
        event = SenderEvent(str(payload.get("event")))
    except ValueError:
        raise PermanentJobError("unknown sender event") from None
    if inquiry.content is None:
        log.info("tell sender: inquiry %s purged; nothing sent", inquiry.id)
        return
    # Imported here: the answers service queues these mails, so it cannot be imported above.
    from gateway.inquiries.answers import inquiry_form

    address = inquiry_form(inquiry).avsandare.handlaggare.epost
    reason = _close_reason(session, inquiry) if event is SenderEvent.CLOSED else None
    subject, body = sender_text(inquiry, event, current_app.config["BASE_URL"], reason)
    _mail_each(session, job, [address], subject, body, f"inquiry.sender.{event.value}")
    log.info("tell sender: inquiry %s, %s", inquiry.id, event.value)
