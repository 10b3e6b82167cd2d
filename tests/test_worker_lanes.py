"""Lanes, the relay's circuit breaker and leases: a relay that is down or hangs does not hold up
the deadline scan and costs a few timeouts, not one per mail; a heartbeat keeps a long job's
lease, and without it another worker takes the job."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.db import database, get_session, utcnow
from gateway.inquiries.deadlines import SCAN_JOB
from gateway.jobs.models import Job, JobState
from gateway.jobs.registry import MAIL_LANE, SCHEDULED_LANE, job_handler
from gateway.jobs.service import checkpoint, enqueue
from gateway.jobs.worker import Outcome, Worker
from gateway.mail.jobs import BREAKER_FAILURES
from gateway.mail.mailer import SEND_JOB, queue_mail
from tests.conftest import AppMaker
from tests.support.clock import Clock
from tests.support.relays import HangingRelay
from tests.support.servers import free_port

RELAY_TIMEOUT = 2
MAILS = 8
LONG_JOB = "test.lanes.long"


@job_handler(LONG_JOB)
def long_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    # Committed first, as a handler that waits on something outside the database does, so
    # that no transaction (on SQLite: the write lock) is held while it waits.
    checkpoint(session, job)
    time.sleep(float(payload["seconds"]))


@contextmanager
def relay_at(kind: str) -> Iterator[int]:
    """The port of a relay that is down (nothing listens) or hangs (accepts, never speaks)."""
    if kind == "down":
        yield free_port()
        return
    with HangingRelay() as hanging:
        yield hanging.port


@dataclass(frozen=True)
class Seen:
    lane: str
    state: JobState
    attempts: int
    run_at: dt.datetime
    finished_at: dt.datetime | None
    last_error: str | None


def jobs_of(kind: str) -> list[Seen]:
    session = get_session()
    session.expire_all()
    return [Seen(j.lane, j.state, j.attempts, j.run_at, j.finished_at, j.last_error)
            for j in session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))]


@pytest.mark.parametrize("relay", ["down", "hanging"])
def test_a_relay_down_or_hanging_holds_up_no_scan_and_costs_a_few_timeouts(
    make_app: AppMaker, relay: str
) -> None:
    with relay_at(relay) as port:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{port}", SMTP_RELAY_TIMEOUT=RELAY_TIMEOUT,
                       SMTP_RELAY_PAUSE_SECONDS=300)
        with app.app_context():
            session = get_session()
            for n in range(MAILS):
                queue_mail(session, to="reko@example.org", subject="Ny hälsoförfrågan",
                           body="En förfrågan väntar.\n", kind="inquiry.notify",
                           dedupe_key=f"lanes:{n}")
            started = utcnow()
            # The mail has waited longest; the hourly scan falls due while the relay fails.
            session.execute(update(Job).where(Job.kind == SEND_JOB)
                            .values(run_at=started - dt.timedelta(minutes=5)))
            scan_due = started + dt.timedelta(seconds=1)
            enqueue(session, SCAN_JOB, {"slot": scan_due.isoformat()}, run_at=scan_due)
            session.commit()

            clock = time.monotonic()
            Worker(app, "test:lanes", recurring=False).run(idle_exit=1.5, poll=0.05)
            elapsed = time.monotonic() - clock

            [scan] = jobs_of(SCAN_JOB)
            mails = jobs_of(SEND_JOB)
    assert scan.lane == SCHEDULED_LANE and {m.lane for m in mails} == {MAIL_LANE}
    assert scan.state == JobState.DONE and scan.finished_at is not None
    # At most the one mail attempt in flight when it fell due stood before the scan.
    late = (scan.finished_at - scan_due).total_seconds()
    assert late < RELAY_TIMEOUT + 1.5, late
    # The breaker opened after BREAKER_FAILURES failures: the next mail was postponed with its
    # attempt given back, and the mail lane left alone; the rest wait, untouched.
    tried = [m for m in mails if m.attempts == 1]
    assert len(tried) == BREAKER_FAILURES
    assert all("unreachable" in (m.last_error or "") for m in tried)
    [postponed] = [m for m in mails if (m.last_error or "").startswith("postponed:")]
    assert postponed.attempts == 0 and postponed.run_at > started + dt.timedelta(seconds=200)
    assert sum(1 for m in mails if m.last_error is None) == MAILS - BREAKER_FAILURES - 1
    assert {m.state for m in mails} == {JobState.PENDING}
    assert elapsed < (BREAKER_FAILURES + 1) * RELAY_TIMEOUT + 3, elapsed


@pytest.mark.parametrize("heartbeat", [True, False])
def test_the_heartbeat_keeps_a_long_jobs_lease_from_another_worker(
    committing_app: Flask, heartbeat: bool
) -> None:
    with database(committing_app).transaction() as session:
        job_id = enqueue(session, LONG_JOB, {"seconds": 3.5}).id
    holder = Worker(committing_app, "test:holder", lease_seconds=1, recurring=False,
                    heartbeat=heartbeat)
    other = Worker(committing_app, "test:other", lease_seconds=1, recurring=False)
    claim = holder.claim()
    assert claim is not None and claim.job_id == job_id
    outcome: list[Outcome] = []
    running = threading.Thread(target=lambda: outcome.append(holder.execute(claim)))
    running.start()
    taken = None
    while running.is_alive() and taken is None:
        time.sleep(0.2)
        taken = other.claim()
    running.join()
    with database(committing_app).transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        state, attempts, claimed_by = job.state, job.attempts, job.claimed_by
    if heartbeat:
        assert taken is None
        assert outcome == [Outcome.DONE]
        assert (state, attempts, claimed_by) == (JobState.DONE, 1, "test:holder")
    else:
        # Without renewals the 1 s lease runs out mid-job: another worker takes it over
        # and the first one's result is thrown away.
        assert taken is not None and taken.job_id == job_id
        assert outcome == [Outcome.LOST]
        assert (state, attempts, claimed_by) == (JobState.RUNNING, 2, "test:other")


FENCED_JOB = "test.lanes.fenced"
TAKE_OVER: list[Callable[[], None]] = []
AFTER_TAKEOVER: list[str] = []


@job_handler(FENCED_JOB)
def fenced_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    checkpoint(session, job)  # progress while the claim holds
    TAKE_OVER[-1]()  # meanwhile the lease runs out and another worker takes the job
    checkpoint(session, job)  # must refuse: the claim is not ours any more
    AFTER_TAKEOVER.append("ran")


def test_a_worker_whose_job_was_taken_over_checkpoints_nothing(
    make_app: AppMaker, clock: Clock
) -> None:
    app = make_app()
    with database(app).transaction() as session:
        job_id = enqueue(session, FENCED_JOB, {}, run_at=clock()).id
    holder = Worker(app, "test:holder", clock, lease_seconds=60, recurring=False)
    other = Worker(app, "test:other", clock, lease_seconds=60, recurring=False)
    taken: list[Any] = []

    def take_over() -> None:
        clock.advance(61)
        taken.append(other.claim())

    TAKE_OVER.append(take_over)
    AFTER_TAKEOVER.clear()
    assert holder.run_one() == Outcome.LOST
    assert AFTER_TAKEOVER == []
    assert taken and taken[0] is not None and taken[0].job_id == job_id
    with database(app).transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.state, job.claimed_by, job.attempts) == (JobState.RUNNING, "test:other", 2)


def test_a_worker_for_some_lanes_leaves_the_others_alone(make_app: AppMaker, clock: Clock
                                                        ) -> None:
    app = make_app()
    with app.app_context():
        session = get_session()
        queue_mail(session, to="reko@example.org", subject="Ny hälsoförfrågan",
                   body="En förfrågan väntar.\n", kind="inquiry.notify", dedupe_key="lane:1")
        enqueue(session, SCAN_JOB, {"slot": clock().isoformat()}, run_at=clock())
        session.commit()
        assert Worker(app, "test:sched", clock, lanes=[SCHEDULED_LANE],
                      recurring=False).run(once=True) == 1
        assert [(j.lane, j.state) for j in jobs_of(SCAN_JOB)] == [(SCHEDULED_LANE, JobState.DONE)]
        assert [j.state for j in jobs_of(SEND_JOB)] == [JobState.PENDING]
    with pytest.raises(ValueError, match="unknown lanes"):
        Worker(app, "test:bad", clock, lanes=["express"])
