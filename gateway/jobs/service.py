"""Jobs: enqueue in the caller's transaction (outbox), retry delays, error text, the backlog."""

from __future__ import annotations

import datetime as dt
import json
import random
import traceback
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Table, and_, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gateway.db import Rows, get_session, insert_unless_taken, utcnow
from gateway.errors import GatewayError
from gateway.jobs.models import Job, JobState
from gateway.jobs.registry import JobError, LeaseLost, lane_of

_JOBS = cast(Table, Job.__table__)

BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
LAST_ERROR_MAX = 500


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job in the caller's transaction and return it; it exists only if the caller commits.

    With a `dedupe_key` the call is idempotent: when a job with that key already exists (in any
    state, committed by anyone) that job is returned and nothing is added. Payloads carry ids,
    never personal data. Raises ValueError for arguments no caller should pass.
    """
    job = Job(**_values(kind, payload, run_at, dedupe_key, max_attempts))
    if dedupe_key is None:
        session.add(job)
        session.flush()
        return job
    return _insert_once(session, job, dedupe_key)


def job_rows(kind: str, payload: dict[str, Any], *, dedupe_key: str) -> Rows:
    """The row `enqueue` adds, for gateway.db.insert_with to write with the row its payload
    names (left out where a job with the key exists, as `enqueue` leaves it)."""
    return Rows(_JOBS, (_values(kind, payload, None, dedupe_key, None),), skip_taken=True,
                conflict=("dedupe_key",))


def _values(kind: str, payload: dict[str, Any], run_at: dt.datetime | None,
            dedupe_key: str | None, max_attempts: int | None) -> dict[str, Any]:
    _check_arguments(kind, payload, run_at, dedupe_key, max_attempts)
    values = {"kind": kind, "lane": lane_of(kind), "payload": payload,
              "run_at": run_at or utcnow(), "dedupe_key": dedupe_key}
    if max_attempts is not None:
        values["max_attempts"] = max_attempts
    return values


def _check_arguments(
    kind: str,
    payload: dict[str, Any],
    run_at: dt.datetime | None,
    dedupe_key: str | None,
    max_attempts: int | None,
) -> None:
    if not isinstance(kind, str) or not 0 < len(kind) <= 60:
        raise ValueError("a job kind is 1 to 60 characters")
    if not isinstance(payload, dict):
        raise ValueError("a job payload is a dict")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("a job payload must be plain JSON (str, numbers, lists, dicts)") from None
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be an aware datetime")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= 200:
        raise ValueError("a dedupe key is 1 to 200 characters")
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts is at least 1")


def _insert_once(session: Session, job: Job, dedupe_key: str) -> Job:
    # Insert and let the unique constraint decide (ON CONFLICT DO NOTHING: a duplicate leaves
    # the caller's transaction intact, without a savepoint's two round trips). Checking first
    # would race another enqueuer.
    inserted = insert_unless_taken(session, job, Job.dedupe_key)
    if inserted is not None:
        return inserted
    existing = session.scalars(select(Job).where(Job.dedupe_key == dedupe_key)).one_or_none()
    if existing is None:
        raise RuntimeError(f"job {dedupe_key!r} neither inserted nor found")
    return existing


def checkpoint(session: Session, job: Job) -> None:
    """Commit the handler's work so far, if `job`'s claim still holds; raise LeaseLost if not.

    For progress a later attempt must see even if this one fails: what it commits has to be
    safe to keep (an idempotent fact, such as "the relay accepted this mail"). The claim is
    checked in the same transaction, so a worker whose job was taken over commits nothing.
    Afterwards no transaction is open: on SQLite the write lock is free while the handler
    waits on something outside the database.
    """
    result = session.execute(
        update(Job)
        .where(
            Job.id == job.id,
            Job.claimed_by == job.claimed_by,
            Job.attempts == job.attempts,
            Job.state == JobState.RUNNING,
        )
        .values(claimed_by=job.claimed_by)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        session.rollback()
        raise LeaseLost(f"job {job.id}: the claim of attempt {job.attempts} was taken over")
    session.commit()


def backoff(
    attempts: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: Callable[[], float] = random.random,
) -> dt.timedelta:
    """Return the wait after `attempts` failed tries: base·2^(n-1), capped at cap, jittered.

    The jitter takes up to a quarter off, so that jobs that failed together (a relay that was
    down) do not all come back in the same second.
    """
    exponent = min(max(attempts, 1) - 1, 32)
    delay = min(cap, base * 2**exponent)
    return dt.timedelta(seconds=delay * (0.75 + 0.25 * rng()))


def describe_error(exc: BaseException) -> str:
    """Return a short last_error text for exc that carries no personal data.

    Only messages the gateway writes itself are kept (GatewayError, JobError, an OS error's
    generic text); other messages may quote input (a database error quotes its parameters),
    so for them the class and the place it was raised stand in.
    """
    name = type(exc).__name__
    if isinstance(exc, GatewayError):
        text = f"{name} {exc.code}: {exc.title}"
    elif isinstance(exc, JobError):
        text = f"{name}: {exc}"
    elif isinstance(exc, DBAPIError):
        text = f"{name} ({type(exc.orig).__name__}){_raised_at(exc)}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{name}: {exc.strerror}{_raised_at(exc)}"
    else:
        text = f"{name}{_raised_at(exc)}"
    return text[:LAST_ERROR_MAX]


def _raised_at(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return ""
    last = frames[-1]
    return f" at {'/'.join(PurePath(last.filename).parts[-2:])}:{last.lineno}"


def backlog(session: Session, now: dt.datetime) -> dict[str, Any]:
    """Return counts of due, running, expired-lease and dead jobs and the oldest due job's age."""
    due = and_(Job.state == JobState.PENDING, Job.run_at <= now)
    expired = and_(Job.state == JobState.RUNNING, Job.lease_until < now)
    row = session.execute(
        select(
            func.count().filter(due),
            func.count().filter(Job.state == JobState.RUNNING),
            func.count().filter(expired),
            func.count().filter(Job.state == JobState.DEAD),
            func.min(Job.run_at).filter(due),
        )
        # Done jobs pile up; leaving them out lets the (state, run_at) index answer.
        .where(Job.state.in_([JobState.PENDING, JobState.RUNNING, JobState.DEAD]))
    ).one()
    pending_due, running, expired_leases, dead, oldest = row
    return {
        "due": pending_due + expired_leases,
        "running": running,
        "expired_leases": expired_leases,
        "dead": dead,
        "oldest_due_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
    }


def check_backlog() -> tuple[bool, str]:
    """Readiness: fail when more jobs are due than JOB_BACKLOG_LIMIT or any job is dead."""
    report = backlog(get_session(), utcnow())
    limit = current_app.config["JOB_BACKLOG_LIMIT"]
    detail = (
        f"due {report['due']} (limit {limit}), running {report['running']}, "
        f"dead {report['dead']}, oldest due {report['oldest_due_seconds']} s"
    )
    return report["due"] <= limit and report["dead"] == 0, detail


def slot_start(now: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """Return the start of the slot of length `every` (counted from the epoch) holding now."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return epoch + ((now - epoch) // every) * every


def slot_time(payload: dict[str, Any]) -> dt.datetime:
    """Return the time a scheduled job stands for: its slot (seed_recurring), in UTC; now
    when it has none or an unreadable one."""
    try:
        at = dt.datetime.fromisoformat(str(payload["slot"]))
    except (KeyError, ValueError):
        return utcnow()
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def seed_recurring(session: Session, now: dt.datetime) -> None:
    """Enqueue the current slot's job of every recurring kind; a slot already queued is kept."""
    from gateway.jobs.registry import recurring_kinds

    for kind, every in recurring_kinds().items():
        start = slot_start(now, every)
        key = f"{kind}@{start.isoformat()}"
        enqueue(session, kind, {"slot": start.isoformat()}, run_at=start, dedupe_key=key)
