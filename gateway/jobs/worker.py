"""The worker: claims due jobs under a lease, runs their handlers, retries with backoff.

A claim is one short transaction that marks the job running with a lease. The handler then
runs in a second transaction that also marks the job done, guarded by the claim; if the lease
expired meanwhile and another worker took the job, the guard matches nothing and the whole
transaction (the handler's effects included) is rolled back. So a job whose worker dies is
taken again after its lease, and a job that succeeds has its effects committed exactly once.
Effects outside the database (a mail handed to a relay) are at least once: a handler makes
them idempotent (a stable Message-ID) and finishes well within JOB_LEASE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

from flask import Flask
from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.db import database, get_session, utcnow
from gateway.jobs.models import Job, JobState
from gateway.jobs.registry import PermanentJobError, get_handler
from gateway.jobs.service import backoff, describe_error, seed_recurring

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# How many dead workers' exhausted jobs one claim may bury before giving up for this round.
MAX_BURIALS_PER_CLAIM = 10
# How often (seconds) the loop makes sure each recurring job's current slot is queued.
SEED_EVERY = 60.0


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"
    # The lease expired and another worker holds the job now; nothing of ours was kept.
    LOST = "lost"


@dataclass(frozen=True)
class Claim:
    """What a worker holds while it runs a job: the claim's attempt number fences it."""

    job_id: int
    kind: str
    attempt: int
    max_attempts: int
    lease_until: dt.datetime


def make_worker_id() -> str:
    """Return host:pid:random, unique per worker process and readable in the jobs table."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    """Claims and runs jobs of one app's database; `clock` is injectable so tests drive time."""

    def __init__(
        self,
        app: Flask,
        worker_id: str | None = None,
        clock: Clock = utcnow,
        *,
        lease_seconds: int | None = None,
        recurring: bool = True,
    ) -> None:
        self.app = app
        # Off in tests that count jobs: the recurring ones would be among them.
        self.recurring = recurring
        self.worker_id = (worker_id or make_worker_id())[:100]
        self.clock = clock
        self.lease = dt.timedelta(seconds=lease_seconds or app.config["JOB_LEASE_SECONDS"])
        self._stopping = False

    # -- claiming ------------------------------------------------------------------------

    def claim(self) -> Claim | None:
        """Claim the next due job (or a dead worker's job) in one short transaction, or None."""
        db = database(self.app)
        for _ in range(MAX_BURIALS_PER_CLAIM):
            now = self.clock()
            with db.transaction() as session:
                job = session.scalars(self._due_query(db.dialect, now)).first()
                if job is None:
                    return None
                if job.state == JobState.RUNNING and job.attempts >= job.max_attempts:
                    # Its worker died on the last allowed attempt: a job that kills workers
                    # must not be handed to the next one forever.
                    self._bury(job, now)
                    continue
                return self._take(job, now)
        return None

    def _due_query(self, dialect: str, now: dt.datetime) -> Any:
        query = (
            select(Job)
            .where(
                or_(
                    and_(Job.state == JobState.PENDING, Job.run_at <= now),
                    and_(Job.state == JobState.RUNNING, Job.lease_until < now),
                )
            )
            .order_by(Job.run_at, Job.id)
            .limit(1)
        )
        if dialect == "postgresql":
            # Workers skip each other's locked rows instead of queueing behind them. SQLite
            # has no row locks; its transactions begin IMMEDIATE, so claims there take turns.
            query = query.with_for_update(skip_locked=True)
        return query

    def _take(self, job: Job, now: dt.datetime) -> Claim:
        if job.state == JobState.RUNNING:
            log.warning("job %s (%s): lease of %s expired; taking it over", job.id, job.kind,
                        job.claimed_by)
            job.last_error = f"LeaseExpired: {job.claimed_by} did not finish attempt {job.attempts}"
        job.state = JobState.RUNNING
        job.claimed_by = self.worker_id
        job.lease_until = now + self.lease
        job.attempts += 1
        return Claim(job.id, job.kind, job.attempts, job.max_attempts, job.lease_until)

    def _bury(self, job: Job, now: dt.datetime) -> None:
        log.error("job %s (%s): worker %s stopped on the last attempt; job is dead", job.id,
                  job.kind, job.claimed_by)
        job.state = JobState.DEAD
        job.last_error = (
            f"LeaseExpired: {job.claimed_by} did not finish attempt {job.attempts} "
            f"of {job.max_attempts}"
        )
        job.claimed_by = None
        job.lease_until = None
        job.finished_at = now

    # -- running -------------------------------------------------------------------------

    def execute(self, claim: Claim) -> Outcome:
        """Run the claimed job's handler and record how it went; return the outcome."""
        started = time.monotonic()
        outcome = self._execute(claim)
        log.info("job %s (%s) attempt %s: %s in %.0f ms", claim.job_id, claim.kind, claim.attempt,
                 outcome, (time.monotonic() - started) * 1000)
        return outcome

    def _execute(self, claim: Claim) -> Outcome:
        # A fresh app context per job gives the handler its own g, and get_session() in any
        # service it calls returns the session whose transaction the worker commits.
        with self.app.app_context():
            session = get_session()
            try:
                self._call_handler(session, claim)
                if not self._mark_done(session, claim):
                    session.rollback()
                    log.warning("job %s: lease lost to another worker; effects rolled back",
                                claim.job_id)
                    return Outcome.LOST
                session.commit()
                return Outcome.DONE
            except Exception as exc:  # noqa: BLE001 - any handler failure is recorded and retried
                session.rollback()
                return self._record_failure(claim, exc)
            except BaseException:
                # Interrupted (a second Ctrl-C): give the job back rather than wait for the lease.
                session.rollback()
                self._release(claim)
                raise

    def _call_handler(self, session: Session, claim: Claim) -> None:
        handler = get_handler(claim.kind)
        job = session.get(Job, claim.job_id)
        if job is None:
            raise PermanentJobError("the job row is gone")
        handler(session, dict(job.payload), job)

    def _guarded(self, claim: Claim) -> Any:
        # Only the holder of this very claim may change the job: the attempt number fences
        # off a second claim by the same worker id as well.
        return update(Job).where(
            Job.id == claim.job_id,
            Job.claimed_by == self.worker_id,
            Job.attempts == claim.attempt,
            Job.state == JobState.RUNNING,
        ).execution_options(synchronize_session=False)

    def _mark_done(self, session: Session, claim: Claim) -> bool:
        result = session.execute(
            self._guarded(claim).values(
                state=JobState.DONE, lease_until=None, finished_at=self.clock()
            )
        )
        return cast(CursorResult[Any], result).rowcount == 1

    def _record_failure(self, claim: Claim, exc: Exception) -> Outcome:
        now = self.clock()
        error = f"attempt {claim.attempt}: {describe_error(exc)}"
        dead = isinstance(exc, PermanentJobError) or claim.attempt >= claim.max_attempts
        values: dict[str, Any] = {"last_error": error, "claimed_by": None, "lease_until": None}
        if dead:
            values.update(state=JobState.DEAD, finished_at=now)
        else:
            values.update(state=JobState.PENDING, run_at=now + backoff(claim.attempt))
        with database(self.app).transaction() as session:
            result = session.execute(self._guarded(claim).values(**values))
            changed = cast(CursorResult[Any], result).rowcount == 1
        if not changed:
            return Outcome.LOST
        log.warning("job %s (%s) failed: %s", claim.job_id, claim.kind, error)
        return Outcome.DEAD if dead else Outcome.RETRY

    def _release(self, claim: Claim) -> None:
        try:
            with database(self.app).transaction() as session:
                session.execute(self._guarded(claim).values(
                    state=JobState.PENDING, run_at=self.clock(), claimed_by=None, lease_until=None
                ))
        except SQLAlchemyError:
            log.warning("job %s: could not release; it is retried when the lease ends",
                        claim.job_id)

    def run_one(self) -> Outcome | None:
        """Claim and run one due job; return its outcome, or None when nothing is due."""
        claim = self.claim()
        return None if claim is None else self.execute(claim)

    # -- the loop ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop after the current job."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(
        self,
        *,
        once: bool = False,
        max_jobs: int | None = None,
        idle_exit: float | None = None,
        poll: float = 1.0,
    ) -> int:
        """Run jobs until stopped (SIGTERM/SIGINT, after the current job); return how many ran.

        once: stop when nothing is due; max_jobs: stop after that many; idle_exit: stop after
        that many seconds without a job; poll: seconds to wait when nothing is due.
        """
        ran = 0
        idle_since = time.monotonic()
        seeded_at = -SEED_EVERY
        with self._signals():
            log.info("worker %s started", self.worker_id)
            while not self._stopping:
                if self.recurring and time.monotonic() - seeded_at >= SEED_EVERY:
                    self._seed_recurring_guarded()
                    seeded_at = time.monotonic()
                outcome = self._run_one_guarded(once)
                if outcome is not None:
                    ran += 1
                    idle_since = time.monotonic()
                    if max_jobs is not None and ran >= max_jobs:
                        break
                    continue
                if once or (idle_exit is not None and time.monotonic() - idle_since >= idle_exit):
                    break
                self._sleep(poll)
        log.info("worker %s stopped after %s jobs", self.worker_id, ran)
        return ran

    def seed_recurring(self) -> None:
        """Enqueue the due slot of every recurring job kind (idempotent)."""
        with database(self.app).transaction() as session:
            seed_recurring(session, self.clock())

    def _seed_recurring_guarded(self) -> None:
        try:
            self.seed_recurring()
        except SQLAlchemyError as exc:
            log.warning("worker %s: could not seed recurring jobs (%s)", self.worker_id,
                        type(exc).__name__)

    def _run_one_guarded(self, once: bool) -> Outcome | None:
        try:
            return self.run_one()
        except SQLAlchemyError as exc:
            if once:
                raise
            # The database restarting must not end the worker; claims resume when it is back.
            log.warning("worker %s: database unavailable (%s); retrying", self.worker_id,
                        type(exc).__name__)
            return None

    def _sleep(self, seconds: float) -> None:
        # Short naps, so a stop request is seen quickly; no lock is shared with the signal
        # handler, which only flips a flag.
        end = time.monotonic() + seconds
        while not self._stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            self._stopping = True
            # A second Ctrl-C interrupts the current job at once; its claim is given back.
            signal.signal(signal.SIGINT, signal.default_int_handler)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
