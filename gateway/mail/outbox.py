"""The mail outbox: `add` makes a recipient's row once (and fixes its Message-ID); `send` hands
the unsent rows to the relay, recording each acceptance in a commit of its own.

A worker that dies, or a database that restarts, between the relay's "250" and that commit
sends that one message again on the retry, with the same Message-ID (receivers recognise
it); every mail recorded as accepted is skipped. A sent row is kept JOBS_KEPT_DAYS (the daily
`mail.prune`), long past any retry of the job that made it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db import utcnow
from gateway.jobs.models import Job
from gateway.jobs.registry import (
    MAIL_LANE,
    SCHEDULED_LANE,
    PermanentJobError,
    job_handler,
    recurring,
)
from gateway.jobs.service import checkpoint, slot_time
from gateway.mail.jobs import deliver
from gateway.mail.mailer import SEND_JOB, build_message, sender_address
from gateway.mail.models import OutboxMail

log = logging.getLogger(__name__)

PRUNE_JOB = "mail.prune"

recurring(PRUNE_JOB, dt.timedelta(days=1))


@dataclass(frozen=True)
class Mail:
    """One message to one recipient; `key` names it, so asking twice makes one row."""

    key: str
    to: str
    subject: str
    body: str
    kind: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_message_id() -> str:
    """Return a fresh Message-ID in the sender's domain (random: no content leaks into it)."""
    domain = sender_address(current_app.config).rpartition("@")[2]
    return f"<{uuid.uuid4().hex}@{domain}>"


def add(session: Session, mail: Mail, *, message_id: str | None = None) -> OutboxMail:
    """Return the outbox row of `mail.key`, making it (in the caller's transaction) if new.

    Raises MailRefused (before anything is written) for a bad recipient, subject, body or
    kind, or a subject or body that looks like it holds a personnummer.
    """
    msg_id = message_id or new_message_id()
    build_message(sender=sender_address(current_app.config), to=mail.to, subject=mail.subject,
                  body=mail.body, kind=mail.kind, msg_id=msg_id, date=utcnow())
    row = OutboxMail(key=key_hash(mail.key), message_id=msg_id, recipient=mail.to,
                     subject=mail.subject, body=mail.body, kind=mail.kind)
    # Insert and let the unique key decide (a savepoint keeps the caller's transaction).
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.scalars(
            select(OutboxMail).where(OutboxMail.key == row.key)
        ).one_or_none()
        if existing is None:
            raise
        return existing
    return row


def send(session: Session, job: Job, rows: Sequence[OutboxMail]) -> int:
    """Hand each unsent row to the relay; return how many were sent now.

    The rows (and their Message-IDs) are committed first, then each acceptance right after
    the relay's "250" (`checkpoint`: only while the job's claim holds). No transaction is
    open while the relay is talked to. Raises as `deliver` does; what was accepted before
    the failure stays recorded.
    """
    checkpoint(session, job)
    sent = 0
    for row in rows:
        if row.sent_at is not None:
            continue
        deliver(to=row.recipient, subject=row.subject, body=row.body, kind=row.kind,
                msg_id=row.message_id, date=row.created_at)
        row.sent_at = dt.datetime.now(dt.UTC)
        checkpoint(session, job)
        sent += 1
    return sent


@job_handler(SEND_JOB, lane=MAIL_LANE)
def send_mail(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Send the job's outbox row unless the relay has accepted it already.

    Raises JobError (retried with backoff) while the relay is away, PermanentJobError when
    the row is gone or the relay refuses the mail for good.
    """
    if "outbox_id" in payload:
        row = session.get(OutboxMail, payload["outbox_id"])
    elif {"to", "subject", "body", "kind", "message_id"} <= payload.keys():
        # Queued before the outbox table: the job carries the mail and its Message-ID.
        fields = {name: str(payload[name]) for name in ("to", "subject", "body", "kind")}
        row = add(session, Mail(key=job.dedupe_key or f"job:{job.id}", **fields),
                  message_id=str(payload["message_id"]))
    else:
        row = None
    if row is None:
        raise PermanentJobError("unusable mail payload (no outbox row)")
    if send(session, job, [row]):
        log.info("mail job %s (%s) handed to the relay", job.id, row.kind)


def prune_sent(session: Session, before: dt.datetime) -> int:
    """Delete the rows the relay accepted before `before`; return how many. Unsent rows stay
    whatever their age (their job is still trying, or dead and waiting for an operator)."""
    result = session.execute(delete(OutboxMail).where(OutboxMail.sent_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


@job_handler(PRUNE_JOB, lane=SCHEDULED_LANE)
def prune_job(session: Session, payload: dict[str, Any], _job: Job) -> None:
    """The daily run at the worker's slot: sent mails older than JOBS_KEPT_DAYS go."""
    before = slot_time(payload) - dt.timedelta(days=current_app.config["JOBS_KEPT_DAYS"])
    log.info("mail: pruned %d sent mails", prune_sent(session, before))
