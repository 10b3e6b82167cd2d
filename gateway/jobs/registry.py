"""The job handler registry: which function runs each job kind, and the errors handlers raise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from gateway.jobs.models import Job

# A handler does its work in `session` and does not commit itself: the worker commits its
# effects together with the job's "done" mark, so that they happen exactly once. Progress that
# must survive a failed attempt (a mail the relay accepted) goes through
# `gateway.jobs.service.checkpoint`, which commits only while the claim holds.
Handler = Callable[[Session, dict[str, Any], Job], None]

# Lanes: kinds that must not wait behind each other. A worker takes turns between lanes, so a
# mail relay that hangs or a backlog of one kind never holds up the others; `gateway worker
# --lane` runs workers for chosen lanes only.
DEFAULT_LANE = "default"
MAIL_LANE = "mail"
PEER_LANE = "peer"
SCHEDULED_LANE = "scheduled"
LANES = (SCHEDULED_LANE, PEER_LANE, DEFAULT_LANE, MAIL_LANE)

_HANDLERS: dict[str, Handler] = {}
_LANES: dict[str, str] = {}
_RECURRING: dict[str, dt.timedelta] = {}


class JobError(Exception):
    """A handler failure whose message is safe to store (no personal data); retried."""


class PermanentJobError(JobError):
    """A failure retrying cannot mend (the thing is gone, a bad payload): the job dies now."""


class LaneBlocked(JobError):
    """What every job of the lane needs is away until `until` (the mail relay's circuit is
    open): the job waits without using an attempt, and the worker takes nothing more from the
    lane until then."""

    def __init__(self, message: str, until: dt.datetime) -> None:
        super().__init__(message)
        self.until = until


class LeaseLost(JobError):
    """The job's claim is no longer this worker's (its lease ran out and another took it)."""


class UnknownJobKind(PermanentJobError):
    """No handler is registered for the job's kind in this process."""


def job_handler(kind: str, *, lane: str = DEFAULT_LANE) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `kind`, whose jobs run in `lane`;
    raise ValueError on a clash or an unknown lane.

    Domains import their handler modules in their `init_app`, so that every process built by
    the factory (web, worker) knows the same kinds.
    """
    if not kind or len(kind) > 60:
        raise ValueError("a job kind is 1 to 60 characters")
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r} (one of {', '.join(LANES)})")

    def register(func: Handler) -> Handler:
        existing = _HANDLERS.get(kind)
        if existing is not None and existing is not func:
            raise ValueError(f"job kind {kind!r} already has a handler ({existing.__qualname__})")
        _HANDLERS[kind] = func
        _LANES[kind] = lane
        return func

    return register


def get_handler(kind: str) -> Handler:
    """Return the handler of `kind`; raise UnknownJobKind when none is registered."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise UnknownJobKind(f"no handler is registered for job kind {kind!r}") from None


def lane_of(kind: str) -> str:
    """Return the lane of `kind`'s jobs (the default lane for a kind with no handler here)."""
    return _LANES.get(kind, DEFAULT_LANE)


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def recurring(kind: str, every: dt.timedelta) -> None:
    """Run `kind` (a registered handler) once in every slot of `every`, by whichever worker.

    The worker enqueues the current slot's job with a dedupe key, so any number of workers
    make one job per slot, and a slot missed while no worker ran is caught up once.
    """
    if every < dt.timedelta(minutes=1):
        raise ValueError("a recurring job runs at most once a minute")
    _RECURRING[kind] = every


def recurring_kinds() -> dict[str, dt.timedelta]:
    return dict(_RECURRING)
