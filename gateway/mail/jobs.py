"""Handing mail to the relay inside a job: `deliver`, the one place relay errors become job
errors."""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from gateway.jobs.registry import JobError, PermanentJobError
from gateway.mail.mailer import (
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
