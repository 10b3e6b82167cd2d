"""The `mail.send` job: hand one queued mail to the relay; a relay that is away means a retry."""

from __future__ import annotations

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


@job_handler(SEND_JOB)
def send_mail(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Send the queued mail; raise JobError (retried with backoff) while the relay is away.

    The Message-ID and Date come from the job, so a resend after a crash between the relay's
    "250" and the job's "done" is byte for byte the same message, which receivers can
    recognise as a duplicate.
    """
    try:
        message = build_message(
            sender=sender_address(current_app.config),
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            body=str(payload["body"]),
            kind=str(payload["kind"]),
            msg_id=str(payload["message_id"]),
            date=job.created_at,
        )
    except (KeyError, MailRefused) as exc:
        raise PermanentJobError(f"unusable mail payload ({type(exc).__name__})") from None
    try:
        transport().send(message)
    except MailTemporaryError as exc:
        raise JobError(str(exc)) from None
    except MailPermanentError as exc:
        raise PermanentJobError(str(exc)) from None
    log.info("mail job %s (%s) handed to the relay", job.id, payload["kind"])
