"""The worker: claims due jobs under a lease, runs their handlers, retries with backoff.

A claim is one short transaction that marks the job running with a lease, which a heartbeat
thread renews while the handler runs; a job whose worker dies is taken again once the lease
(JOB_LEASE_SECONDS) runs out. The handler runs in a second transaction that also marks the
job done, guarded by the claim; if another worker took the job meanwhile, the guard matches
nothing and the whole transaction (the handler's effects included) is rolled back, so a job
that succeeds has its effects committed exactly once. Progress a retry must not repeat (a
mail the relay accepted) is committed earlier with `service.checkpoint`, under the same guard.
Effects outside the database are at least once: a handler makes them recognisable (a stable
Message-ID).

Jobs wait in lanes (registry.LANES); the worker takes turns between them, so that no kind
waits behind another's backlog, and a lane whose dependency is away (LaneBlocked: the mail
relay's breaker is open) is left alone until it is back, its jobs postponed without using an
attempt.
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
from collections.abc import Callable, Iterator, Sequence
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
from gateway.jobs.registry import LANES, LaneBlocked, LeaseLost, PermanentJobError, get_handler
from gateway.jobs.service import backoff, describe_error, seed_recurring

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# How many dead workers' exhausted jobs one claim may bury before giving up for this round.
MAX_BURIALS_PER_CLAIM = 10
# How often (seconds) the loop makes sure each recurring job's current slot is queued.
SEED_EVERY = 60.0
# The heartbeat renews a running job's lease this many times per lease.
HEARTBEATS_PER_LEASE = 3


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"
    # The lease expired and another worker holds the job now; nothing of ours was kept.
    LOST = "lost"
    # The lane is blocked (LaneBlocked): the job waits, its attempt given back.
    POSTPONED = "postponed"


@dataclass(frozen=True)
class Claim:
    """What a worker holds while it runs a job: the claim's attempt number fences it."""

    job_id: int
    kind: str
    lane: str
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
        lanes: Sequence[str] | None = None,
        heartbeat: bool | None = None,
    ) -> None:
        """lanes: the lanes to take jobs from (default all); heartbeat: renew the lease while a
        job runs (default on, except where the database is one shared test connection)."""
        self.app = app
        # Off in tests that count jobs: the recurring ones would be among them.
        self.recurring = recurring
        self.worker_id = (worker_id or make_worker_id())[:100]
        self.clock = clock
        self.lease = dt.timedelta(seconds=lease_seconds or app.config["JOB_LEASE_SECONDS"])
        self.lanes = tuple(lanes or LANES)
        unknown = set(self.lanes) - set(LANES)
        if unknown:
            raise ValueError(f"unknown lanes: {', '.join(sorted(unknown))}")
        self.heartbeat = not database(app).bound if heartbeat is None else heartbeat
        # A lane blocked until then (LaneBlocked) is not claimed from.
        self.paused: dict[str, dt.datetime] = {}
        self._next_lane = 0
        self._stopping = False

    # -- claiming ------------------------------------------------------------------------

    def claim(self) -> Claim | None:
        """Claim the next due job (or a dead worker's job) in one short transaction, or None.

        The lanes take turns: the search starts at the lane after the one last served, and
        skips lanes that are paused.
        """
        now = self.clock()
        open_lanes = [lane for lane in self._rotation() if self.paused.get(lane, now) <= now]
        if not open_lanes:
            return None
        for lane in open_lanes:
            self.paused.pop(lane, None)
        # One look for the lanes with anything due, so an idle worker asks once per poll.
        with database(self.app).transaction() as session:
            busy = set(session.scalars(
                select(Job.lane).where(Job.lane.in_(open_lanes), self._due(now)).distinct()
            ))
        for lane in (lane for lane in open_lanes if lane in busy):
            claim = self._claim_in(lane)
            if claim is not None:
                self._next_lane = (self.lanes.index(lane) + 1) % len(self.lanes)
                return claim
        return None

    def _rotation(self) -> list[str]:
        return [*self.lanes[self._next_lane:], *self.lanes[:self._next_lane]]

    def _claim_in(self, lane: str) -> Claim | None:
        db = database(self.app)
        for _ in range(MAX_BURIALS_PER_CLAIM):
            now = self.clock()
            with db.transaction() as session:
                job = session.scalars(self._due_query(db.dialect, now, lane)).first()
                if job is None:
                    return None
                if job.state == JobState.RUNNING and job.attempts >= job.max_attempts:
                    # Its worker died on the last allowed attempt: a job that kills workers
                    # must not be handed to the next one forever.
                    self._bury(job, now)
                    continue
                return self._take(job, now)
        return None

    @staticmethod
    def _due(now: dt.datetime) -> Any:
        return or_(
            and_(Job.state == JobState.PENDING, Job.run_at <= now),
            and_(Job.state == JobState.RUNNING, Job.lease_until < now),
        )

    def _due_query(self, dialect: str, now: dt.datetime, lane: str) -> Any:
        query = (
            select(Job)
            .where(Job.lane == lane, self._due(now))
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
        return Claim(job.id, job.kind, job.lane, job.attempts, job.max_attempts, job.lease_until)

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
        with self._heartbeat(claim):
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
            except LaneBlocked as blocked:
                session.rollback()
                return self._postpone(claim, blocked)
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
        if (job.claimed_by, job.attempts) != (self.worker_id, claim.attempt):
            # Taken over before we began: `checkpoint` fences by the row's claim, so the
            # handler must not run with someone else's.
            raise LeaseLost(f"job {job.id}: taken over before attempt {claim.attempt} began")
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

    def _postpone(self, claim: Claim, blocked: LaneBlocked) -> Outcome:
        # Not a failure of this job: its attempt is given back, and the lane rests.
        self.paused[claim.lane] = blocked.until
        with database(self.app).transaction() as session:
            result = session.execute(self._guarded(claim).values(
                state=JobState.PENDING, run_at=blocked.until, attempts=claim.attempt - 1,
                claimed_by=None, lease_until=None, last_error=f"postponed: {blocked}"[:500],
            ))
            changed = cast(CursorResult[Any], result).rowcount == 1
        if not changed:
            return Outcome.LOST
        log.info("lane %s paused until %s: %s", claim.lane, blocked.until.isoformat(), blocked)
        return Outcome.POSTPONED

    @contextmanager
    def _heartbeat(self, claim: Claim) -> Iterator[None]:
        """Renew the claim's lease every lease/HEARTBEATS_PER_LEASE while the block runs."""
        if not self.heartbeat:
            yield
            return
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(claim, done), daemon=True,
                                name=f"heartbeat-{claim.job_id}")
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join(self.lease.total_seconds())

    def _beat(self, claim: Claim, done: threading.Event) -> None:
        every = self.lease.total_seconds() / HEARTBEATS_PER_LEASE
        while not done.wait(every):
            try:
                with database(self.app).transaction() as session:
                    result = session.execute(
                        self._guarded(claim).values(lease_until=self.clock() + self.lease))
                    renewed = cast(CursorResult[Any], result).rowcount == 1
            except SQLAlchemyError as exc:
                log.warning("job %s: could not renew the lease (%s)", claim.job_id,
                            type(exc).__name__)
                continue
            if not renewed:
                if not done.is_set():
                    log.warning("job %s: the claim is gone; the lease is no longer renewed",
                                claim.job_id)
                return

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
