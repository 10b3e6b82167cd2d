"""Notifying the care unit that an inquiry waits: the `inquiry.notify` job, reply addresses.

The mail carries no personal data: that an inquiry waits, its deadline, a link to it and the
per-inquiry reply address for answers by mail. Each recipient's mail is a row of the mail
outbox with its own Message-ID, handed to the relay inside the job (`gateway.mail.outbox.send`,
through `gateway.mail.jobs.deliver`); each acceptance is committed at once, so a retry after a
half-finished attempt (a relay away, a worker killed, a database restart) sends only what was
not accepted. The `notified` leg is committed with the job's completion, after every mail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.db import utcnow
from gateway.directory.routing import RouteDecision, route
from gateway.directory.service import DirectoryError
from gateway.inquiries.intake import NOTIFY_JOB
from gateway.inquiries.models import Inquiry, LegKind
from gateway.inquiries.workflow import add_leg, derive_status, is_open, legs_of
from gateway.jobs.models import Job
from gateway.jobs.registry import MAIL_LANE, PermanentJobError, job_handler
from gateway.mail import outbox
from gateway.mail.parsing import REPLY_LOCAL_PREFIX
from gateway.vault.service import get_vault

log = logging.getLogger(__name__)

WORKER_ACTOR = "system:worker"
REPLY_TOKEN_PURPOSE = "reply-token"  # noqa: S105 - a hash purpose, not a secret
REPLY_TOKEN_LENGTH = 32


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
    key = job.dedupe_key or f"job:{job.id}"
    rows = [
        outbox.add(session, outbox.Mail(key=f"{key}:{address}", to=address, subject=subject,
                                        body=body, kind="inquiry.notify"))
        for address in recipients.addresses
    ]
    outbox.send(session, job, rows)
    add_leg(session, inquiry.id, LegKind.NOTIFIED, at=utcnow(), actor=WORKER_ACTOR,
            detail={"to": recipients.kind, "count": len(recipients.addresses),
                    "coordinators": list(recipients.hsa_ids)})
    log.info("notify: inquiry %s notified (%s, %s recipients)", inquiry.id, recipients.kind,
             len(recipients.addresses))
