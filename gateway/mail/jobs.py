"""Handing mail to the relay inside a job: `deliver` (the one place relay errors become job
errors) and the `mail.send` job that delivers the outbox."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from gateway.jobs.models import Job
from gateway.jobs.registry import JobError, PermanentJobError, job_handler
from gateway.mail.mailer import (
    SEND_JOB,
    MailPermanentError,
    MailRefused,
    MailTemporaryError,
    build_message,
    sender_address,
    transport,
)

log = logging.getLogger(__name__)


def deliver(
    *, to: str, subject: str, body: str, kind: str, msg_id: str, date: dt.datetime
) -> None:
    """Build the message and hand it to the relay.

    Raises JobError (the worker retries with backoff) while the relay is away or answers 4xx,
    PermanentJobError when it refuses for good (5xx) or no mail may carry these fields.
    """
    try:
        message = build_message(sender=sender_address(current_app.config), to=to,
                                subject=subject, body=body, kind=kind, msg_id=msg_id, date=date)
    except MailRefused as exc:
        raise PermanentJobError(f"unusable mail ({type(exc).__name__})") from None
    try:
        transport().send(message)
    except MailTemporaryError as exc:
        raise JobError(str(exc)) from None
    except MailPermanentError as exc:
        raise PermanentJobError(str(exc)) from None


@job_handler(SEND_JOB)
def send_mail(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Send the queued mail; raise JobError (retried with backoff) while the relay is away.

    The Message-ID and Date come from the job, so a resend after a crash between the relay's
    "250" and the job's "done" is byte for byte the same message, which receivers can
    recognise as a duplicate.
    """
    try:
        fields = {name: str(payload[name]) for name in ("to", "subject", "body", "kind")}
        msg_id = str(payload["message_id"])
    except KeyError as exc:
        raise PermanentJobError(f"unusable mail payload ({type(exc).__name__})") from None
    deliver(**fields, msg_id=msg_id, date=job.created_at)
    log.info("mail job %s (%s) handed to the relay", job.id, fields["kind"])
