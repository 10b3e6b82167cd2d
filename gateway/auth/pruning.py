"""Daily clean-up of what authentication leaves behind once it can no longer matter: used
`private_key_jwt` assertions past their expiry, access tokens a day past theirs, login
attempts older than LOGIN_ATTEMPTS_KEPT_DAYS (far beyond any throttling window), and the marks of
reads logged in sessions that have ended (gateway.audit.reads)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.audit.reads import prune_read_marks
from gateway.auth.models import ApiToken, LoginAttempt, UsedAssertion
from gateway.jobs.models import Job
from gateway.jobs.registry import SCHEDULED_LANE, job_handler, recurring
from gateway.jobs.service import slot_time

log = logging.getLogger(__name__)

PRUNE_JOB = "auth.prune"
# An expired token is kept a day, so that a client's "token expired" can still be told apart
# from an unknown token in the logs of that day.
TOKEN_GRACE = dt.timedelta(days=1)

recurring(PRUNE_JOB, dt.timedelta(days=1))


@dataclass(frozen=True)
class Pruned:
    """How many rows of each kind went."""

    assertions: int
    tokens: int
    login_attempts: int
    read_marks: int


def prune(session: Session, now: dt.datetime, *, login_days: int, session_hours: int) -> Pruned:
    """Delete what can no longer matter as of `now` (see the module docstring); the caller
    commits. A login attempt kept `login_days` is far longer than the throttling window needs;
    no web session lasts longer than `session_hours` (a token lives at most 30 minutes)."""
    assertions = session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
    tokens = session.execute(delete(ApiToken).where(ApiToken.expires_at < now - TOKEN_GRACE))
    attempts = session.execute(delete(LoginAttempt).where(
        LoginAttempt.at < now - dt.timedelta(days=login_days)))
    marks = prune_read_marks(session, now - dt.timedelta(hours=session_hours))
    return Pruned(assertions.rowcount, tokens.rowcount, attempts.rowcount,  # type: ignore[attr-defined]
                  marks)


@job_handler(PRUNE_JOB, lane=SCHEDULED_LANE)
def prune_job(session: Session, payload: dict[str, Any], _job: Job) -> None:
    """The daily run at the worker's slot (else now)."""
    now = slot_time(payload)
    pruned = prune(session, now, login_days=current_app.config["LOGIN_ATTEMPTS_KEPT_DAYS"],
                   session_hours=current_app.config["SESSION_MAX_HOURS"])
    log.info("auth: pruned %d assertions, %d tokens, %d login attempts, %d read marks",
             pruned.assertions, pruned.tokens, pruned.login_attempts, pruned.read_marks)
