"""Handing mail to the relay inside a job: `deliver`, the one place relay errors become job
errors, behind a circuit breaker that lets mail wait while the relay is away."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from flask import Flask, current_app

from gateway.jobs.registry import JobError, LaneBlocked, PermanentJobError
from gateway.mail.mailer import (
    MailPermanentError,
    MailRefused,
    MailTemporaryError,
    RelayUnreachable,
    build_message,
    sender_address,
    transport,
)

log = logging.getLogger(__name__)

# Relay failures in a row (each after at most GATEWAY_SMTP_RELAY_TIMEOUT) that open the breaker.
BREAKER_FAILURES = 3


class RelayBreaker:
    """A circuit breaker over the relay, one per process.

    After BREAKER_FAILURES unreachable-relay failures in a row it opens for `pause` seconds:
    mail jobs then wait (LaneBlocked) instead of each spending a timeout on a relay that is
    away. When the pause is over one mail tries (half open): success closes the breaker,
    another failure opens it again.
    """

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.failures = 0
        self.open_until = 0.0  # time.monotonic()
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise LaneBlocked while the breaker is open."""
        with self._lock:
            left = self.open_until - time.monotonic()
        if left > 0:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=left)
            raise LaneBlocked(
                f"the mail relay failed {self.failures} times in a row; mail waits until "
                f"{until:%H:%M:%S} UTC", until)

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= BREAKER_FAILURES:
                self.open_until = time.monotonic() + self.pause
                opened = self.failures == BREAKER_FAILURES
            else:
                opened = False
        if opened:
            log.warning("mail relay failed %s times in a row: mail waits %s s before the next "
                        "try", BREAKER_FAILURES, self.pause)

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self.open_until = 0.0


def breaker(app: Flask | None = None) -> RelayBreaker:
    """Return the app's relay breaker (made in create_app, one per process)."""
    found: RelayBreaker = (app or current_app).extensions["gateway.mail.breaker"]
    return found


def deliver(
    *, to: str, subject: str, body: str, kind: str, msg_id: str, date: dt.datetime
) -> None:
    """Build the message and hand it to the relay.

    Raises LaneBlocked (the job waits, no attempt used) while the relay's breaker is open,
    JobError (the worker retries with backoff) while the relay is away or answers 4xx,
    PermanentJobError when it refuses for good (5xx) or no mail may carry these fields.
    """
    try:
        message = build_message(sender=sender_address(current_app.config), to=to,
                                subject=subject, body=body, kind=kind, msg_id=msg_id, date=date)
    except MailRefused as exc:
        raise PermanentJobError(f"unusable mail ({type(exc).__name__})") from None
    relay = breaker()
    relay.check()
    try:
        transport().send(message)
    except RelayUnreachable as exc:
        relay.failed()
        raise JobError(str(exc)) from None
    except MailTemporaryError as exc:
        raise JobError(str(exc)) from None
    except MailPermanentError as exc:
        relay.succeeded()  # the relay answered: it is there
        raise PermanentJobError(str(exc)) from None
    relay.succeeded()
