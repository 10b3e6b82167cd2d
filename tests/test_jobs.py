"""Jobs and the worker in one process: outbox, dedupe, retries, dead jobs, leases, readiness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gateway.db import database, get_session, utcnow
from gateway.errors import GatewayError
from gateway.jobs.cli import worker_command
from gateway.jobs.models import Job, JobState
from gateway.jobs.registry import JobError, PermanentJobError, job_handler
from gateway.jobs.service import backlog, backoff, describe_error, enqueue
from gateway.jobs.worker import Outcome, Worker
from tests.support.clock import Clock

LEASE = 60
PERSONAL = "191212121212"


class Boom(Exception):
    """A handler failure whose message must not reach last_error."""


@job_handler("test.effect")
def effect_handler(session: Session, payload: dict[str, Any], job: Job) -> None:
    session.execute(
        text("INSERT INTO job_effects (job_id, note) VALUES (:job_id, :note)"),
        {"job_id": job.id, "note": payload.get("note", "")},
    )
    if payload.get("fail") == "boom":
        raise Boom(f"could not handle {PERSONAL}")
    if payload.get("fail") == "job":
        raise JobError("the relay said no")
    if payload.get("fail") == "permanent":
        raise PermanentJobError("the inquiry is gone")


CLI_RUNS: list[dict[str, Any]] = []
STOPPING: list[Worker] = []


@job_handler("test.cli")
def cli_handler(session: Session, payload: dict[str, Any], job: Job) -> None:
    CLI_RUNS.append(payload)


@job_handler("test.stopper")
def stopper_handler(session: Session, payload: dict[str, Any], job: Job) -> None:
    STOPPING[-1].stop()


@pytest.fixture
def effects(app: Flask) -> Iterator[None]:
    """A table the test handlers write to (created in the test's rolled-back transaction)."""
    session = get_session()
    session.execute(text("CREATE TABLE job_effects (job_id INTEGER NOT NULL, note VARCHAR(40))"))
    session.commit()
    yield


def worker(app: Flask, clock: Clock, name: str = "w1") -> Worker:
    return Worker(app, f"test:{name}", clock, lease_seconds=LEASE, recurring=False)


def add_job(
    app: Flask, clock: Clock, kind: str = "test.effect", max_attempts: int | None = None,
    **payload: Any,
) -> int:
    """Enqueue and commit one job due at the clock's now; return its id."""
    with database(app).transaction() as session:
        return enqueue(session, kind, payload, run_at=clock(), max_attempts=max_attempts).id


def job(app: Flask, job_id: int) -> Job:
    with database(app).transaction() as session:
        found = session.get(Job, job_id)
        assert found is not None
        session.expunge(found)
        return found


def effect_count(app: Flask) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(text("SELECT count(*) FROM job_effects")) or 0)


def job_count(app: Flask) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# -- bad input first -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "payload", "options", "message"),
    [
        ("", {}, {}, "kind"),
        ("k" * 61, {}, {}, "kind"),
        ("test.effect", ["not", "a", "dict"], {}, "dict"),
        ("test.effect", {"when": dt.date(2024, 1, 1)}, {}, "JSON"),
        ("test.effect", {"x": float("nan")}, {}, "JSON"),
        ("test.effect", {}, {"run_at": dt.datetime(2024, 1, 1)}, "aware"),
        ("test.effect", {}, {"dedupe_key": ""}, "dedupe"),
        ("test.effect", {}, {"dedupe_key": "k" * 201}, "dedupe"),
        ("test.effect", {}, {"max_attempts": 0}, "max_attempts"),
    ],
)
def test_enqueue_refuses_bad_arguments_and_adds_nothing(
    app: Flask, kind: str, payload: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message), database(app).transaction() as session:
        enqueue(session, kind, payload, **options)
    assert job_count(app) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--max-jobs", "0"], ["--poll", "0"], ["--idle-exit", "0"], ["--idle-exit", "soon"],
        ["--bogus"],
    ],
)
def test_worker_command_refuses_bad_options(args: list[str]) -> None:
    result = CliRunner().invoke(worker_command, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_handler_registration_refuses_a_second_handler_for_a_kind() -> None:
    with pytest.raises(ValueError, match="already has a handler"):
        job_handler("test.effect")(cli_handler)


# -- enqueue -------------------------------------------------------------------------------

def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(app: Flask) -> None:
    with pytest.raises(RuntimeError), database(app).transaction() as session:
        enqueue(session, "test.effect", {"note": "a"})
        raise RuntimeError("the change that caused the job failed")
    assert job_count(app) == 0


def test_enqueue_commits_with_the_callers_transaction(app: Flask) -> None:
    with database(app).transaction() as session:
        created = enqueue(session, "test.effect", {"note": "a"})
    stored = job(app, created.id)
    assert (stored.state, stored.attempts, stored.payload) == (JobState.PENDING, 0, {"note": "a"})
    assert stored.run_at <= utcnow()


def test_a_dedupe_key_makes_enqueue_idempotent_without_spoiling_the_transaction(
    app: Flask,
) -> None:
    with database(app).transaction() as session:
        first = enqueue(session, "test.effect", {"note": "a"}, dedupe_key="remind:1:21")
    with database(app).transaction() as session:
        other = enqueue(session, "test.effect", {"note": "b"})
        again = enqueue(session, "test.effect", {"note": "c"}, dedupe_key="remind:1:21")
        assert again.id == first.id
        assert again.payload == {"note": "a"}
    assert job_count(app) == 2
    assert job(app, other.id).payload == {"note": "b"}


def test_dedupe_in_one_transaction_returns_the_pending_job(app: Flask) -> None:
    with database(app).transaction() as session:
        first = enqueue(session, "test.effect", {}, dedupe_key="k")
        assert enqueue(session, "test.effect", {}, dedupe_key="k").id == first.id
    assert job_count(app) == 1


# -- running -------------------------------------------------------------------------------

def test_worker_runs_a_due_job_once_and_marks_it_done(
    app: Flask, effects: None, clock: Clock
) -> None:
    job_id = add_job(app, clock, note="x")
    w = worker(app, clock)
    assert w.run_one() is Outcome.DONE
    assert w.run_one() is None
    done = job(app, job_id)
    assert (done.state, done.attempts, done.claimed_by) == (JobState.DONE, 1, "test:w1")
    assert done.finished_at == clock.now
    assert done.lease_until is None
    assert effect_count(app) == 1


def test_a_job_is_not_run_before_its_time(app: Flask, effects: None, clock: Clock) -> None:
    with database(app).transaction() as session:
        enqueue(session, "test.effect", {}, run_at=clock.now + dt.timedelta(minutes=5))
    w = worker(app, clock)
    assert w.run_one() is None
    clock.advance(299)
    assert w.run_one() is None
    clock.advance(1)
    assert w.run_one() is Outcome.DONE


def test_jobs_run_in_order_of_run_at(app: Flask, effects: None, clock: Clock) -> None:
    later = add_job(app, clock, note="later")
    with database(app).transaction() as session:
        earlier = enqueue(session, "test.effect", {}, run_at=clock.now - dt.timedelta(hours=1)).id
    w = worker(app, clock)
    first = w.claim()
    assert first is not None and first.job_id == earlier
    w.execute(first)
    second = w.claim()
    assert second is not None and second.job_id == later


def test_a_failed_job_is_retried_with_backoff_and_its_effects_rolled_back(
    app: Flask, effects: None, clock: Clock
) -> None:
    job_id = add_job(app, clock, fail="boom")
    w = worker(app, clock)
    assert w.run_one() is Outcome.RETRY
    failed = job(app, job_id)
    assert failed.state == JobState.PENDING
    assert failed.attempts == 1
    assert failed.claimed_by is None
    delay = failed.run_at - clock.now
    assert dt.timedelta(seconds=22.5) <= delay <= dt.timedelta(seconds=30)
    assert failed.last_error is not None
    assert failed.last_error.startswith("attempt 1: Boom at ")
    assert PERSONAL not in failed.last_error
    assert effect_count(app) == 0
    # Not again before the backoff has passed.
    assert w.run_one() is None
    clock.now = failed.run_at
    assert w.run_one() is Outcome.RETRY
    second = job(app, job_id)
    assert second.attempts == 2
    assert second.run_at - clock.now >= dt.timedelta(seconds=45)


def test_a_job_error_message_is_kept_in_last_error(app: Flask, effects: None, clock: Clock) -> None:
    job_id = add_job(app, clock, fail="job")
    worker(app, clock).run_one()
    assert job(app, job_id).last_error == "attempt 1: JobError: the relay said no"


def test_a_job_is_dead_after_max_attempts(app: Flask, effects: None, clock: Clock) -> None:
    job_id = add_job(app, clock, fail="boom", max_attempts=3)
    w = worker(app, clock)
    outcomes = []
    for _ in range(3):
        outcomes.append(w.run_one())
        clock.advance(3600)
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DEAD]
    dead = job(app, job_id)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 3)
    assert dead.finished_at is not None
    assert dead.last_error is not None and "attempt 3" in dead.last_error
    clock.advance(86400)
    assert w.run_one() is None


def test_a_permanent_failure_is_dead_at_once(app: Flask, effects: None, clock: Clock) -> None:
    job_id = add_job(app, clock, fail="permanent")
    assert worker(app, clock).run_one() is Outcome.DEAD
    dead = job(app, job_id)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 1)
    assert dead.last_error == "attempt 1: PermanentJobError: the inquiry is gone"


def test_an_unknown_kind_is_dead_with_a_clear_error(app: Flask, clock: Clock) -> None:
    job_id = add_job(app, clock, kind="test.nobody-handles-this")
    assert worker(app, clock).run_one() is Outcome.DEAD
    dead = job(app, job_id)
    assert dead.state == JobState.DEAD
    assert dead.last_error == (
        "attempt 1: UnknownJobKind: "
        "no handler is registered for job kind 'test.nobody-handles-this'"
    )


# -- leases --------------------------------------------------------------------------------

def test_a_claimed_job_is_not_claimed_again_while_its_lease_lasts(app: Flask, effects: None,
                                                                  clock: Clock) -> None:
    add_job(app, clock)
    assert worker(app, clock, "w1").claim() is not None
    clock.advance(LEASE - 1)
    assert worker(app, clock, "w2").claim() is None


def test_a_dead_workers_job_is_taken_by_another_after_the_lease(
    app: Flask, effects: None, clock: Clock
) -> None:
    job_id = add_job(app, clock)
    assert worker(app, clock, "w1").claim() is not None  # w1 dies here, holding the claim
    clock.advance(LEASE + 1)
    w2 = worker(app, clock, "w2")
    claim = w2.claim()
    assert claim is not None and (claim.job_id, claim.attempt) == (job_id, 2)
    assert w2.execute(claim) is Outcome.DONE
    done = job(app, job_id)
    assert (done.state, done.claimed_by) == (JobState.DONE, "test:w2")
    assert done.last_error is not None and "LeaseExpired: test:w1" in done.last_error
    assert effect_count(app) == 1


def test_a_slow_worker_whose_lease_expired_cannot_mark_done_and_its_effects_roll_back(
    app: Flask, effects: None, clock: Clock
) -> None:
    job_id = add_job(app, clock)
    slow, fast = worker(app, clock, "slow"), worker(app, clock, "fast")
    slow_claim = slow.claim()
    assert slow_claim is not None
    clock.advance(LEASE + 1)
    fast_claim = fast.claim()
    assert fast_claim is not None
    assert slow.execute(slow_claim) is Outcome.LOST
    assert effect_count(app) == 0
    assert job(app, job_id).claimed_by == "test:fast"
    assert fast.execute(fast_claim) is Outcome.DONE
    assert effect_count(app) == 1


def test_a_slow_worker_that_fails_after_losing_its_lease_changes_nothing(
    app: Flask, effects: None, clock: Clock
) -> None:
    job_id = add_job(app, clock, fail="boom")
    slow, fast = worker(app, clock, "slow"), worker(app, clock, "fast")
    slow_claim = slow.claim()
    clock.advance(LEASE + 1)
    assert fast.claim() is not None
    assert slow_claim is not None and slow.execute(slow_claim) is Outcome.LOST
    held = job(app, job_id)
    assert (held.state, held.claimed_by, held.attempts) == (JobState.RUNNING, "test:fast", 2)


def test_a_job_whose_worker_dies_on_every_attempt_ends_dead(app: Flask, clock: Clock) -> None:
    job_id = add_job(app, clock, max_attempts=2)
    for name in ("w1", "w2"):
        assert worker(app, clock, name).claim() is not None
        clock.advance(LEASE + 1)
    assert worker(app, clock, "w3").claim() is None
    dead = job(app, job_id)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 2)
    assert dead.last_error == "LeaseExpired: test:w2 did not finish attempt 2 of 2"


# -- the loop ------------------------------------------------------------------------------

def test_run_once_drains_what_is_due_and_max_jobs_bounds_it(
    app: Flask, effects: None, clock: Clock
) -> None:
    for _ in range(3):
        add_job(app, clock)
    with database(app).transaction() as session:
        enqueue(session, "test.effect", {}, run_at=clock.now + dt.timedelta(hours=1))
    assert worker(app, clock).run(max_jobs=2) == 2
    assert worker(app, clock).run(once=True) == 1
    assert effect_count(app) == 3


def test_run_stops_when_asked_after_the_current_job(
    app: Flask, effects: None, clock: Clock
) -> None:
    w = worker(app, clock)
    STOPPING.append(w)
    add_job(app, clock, kind="test.stopper")
    add_job(app, clock)
    assert w.run(idle_exit=30) == 1
    assert effect_count(app) == 0


def test_idle_exit_ends_an_idle_worker(app: Flask, clock: Clock) -> None:
    assert worker(app, clock).run(idle_exit=0.2, poll=0.05) == 0


# -- errors, backoff, backlog --------------------------------------------------------------

def test_backoff_doubles_from_30_seconds_up_to_an_hour_with_jitter() -> None:
    top = [backoff(n, rng=lambda: 1.0).total_seconds() for n in (1, 2, 3, 7, 8, 50, 10_000)]
    assert top == [30, 60, 120, 1920, 3600, 3600, 3600]
    assert backoff(1, rng=lambda: 0.0).total_seconds() == 22.5
    assert all(22.5 <= backoff(1).total_seconds() <= 30 for _ in range(50))


def test_error_descriptions_carry_no_personal_data() -> None:
    try:
        raise ValueError(f"bad personnummer {PERSONAL}")
    except ValueError as exc:
        described = describe_error(exc)
    assert described.startswith("ValueError at tests/test_jobs.py:")
    assert PERSONAL not in described
    gateway_error = GatewayError("RELAY_DOWN", "Reläet svarar inte", f"detail {PERSONAL}")
    assert describe_error(gateway_error) == "GatewayError RELAY_DOWN: Reläet svarar inte"
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError: Connection refused"
    )
    assert len(describe_error(JobError("x" * 2000))) == 500


def test_backlog_counts_due_running_and_dead_jobs(app: Flask, clock: Clock) -> None:
    with database(app).transaction() as session:
        enqueue(session, "test.effect", {}, run_at=clock.now - dt.timedelta(seconds=90))
        enqueue(session, "test.effect", {}, run_at=clock.now)
        enqueue(session, "test.effect", {}, run_at=clock.now + dt.timedelta(hours=1))
        enqueue(session, "test.nobody-handles-this", {}, run_at=clock.now - dt.timedelta(hours=2))
    w = worker(app, clock)
    assert w.run_one() is Outcome.DEAD
    assert w.claim() is not None
    report = backlog(get_session(), clock.now)
    assert report == {"due": 1, "running": 1, "expired_leases": 0, "dead": 1,
                      "oldest_due_seconds": 0}
    clock.advance(LEASE + 1)
    report = backlog(get_session(), clock.now)
    due = (report["due"], report["expired_leases"], report["oldest_due_seconds"])
    assert due == (2, 1, LEASE + 1)


def test_readiness_fails_on_a_dead_job(app: Flask, client: Any, clock: Clock) -> None:
    assert client.get("/readyz").get_json()["checks"]["jobs"]["ok"] is True
    add_job(app, clock, kind="test.nobody-handles-this")
    worker(app, clock).run_one()
    response = client.get("/readyz")
    assert response.status_code == 503
    jobs = response.get_json()["checks"]["jobs"]
    assert jobs["ok"] is False
    assert "dead 1" in jobs["detail"]


def test_readiness_fails_when_the_backlog_exceeds_the_limit(app: Flask, client: Any) -> None:
    app.config["JOB_BACKLOG_LIMIT"] = 2
    past = utcnow() - dt.timedelta(seconds=5)
    with database(app).transaction() as session:
        for _ in range(2):
            enqueue(session, "test.effect", {}, run_at=past)
    assert client.get("/readyz").get_json()["checks"]["jobs"]["ok"] is True
    with database(app).transaction() as session:
        enqueue(session, "test.effect", {}, run_at=past)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["jobs"]["detail"].startswith("due 3 (limit 2)")


# -- the command ---------------------------------------------------------------------------

def test_worker_help_says_sqlite_runs_one_worker() -> None:
    result = CliRunner().invoke(worker_command, ["--help"])
    assert result.exit_code == 0
    assert "On SQLite run one worker" in " ".join(result.output.split())


def test_worker_command_runs_due_jobs_once(
    committing_app: Flask, instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", committing_app.config["DATABASE_URL"])
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(instance))
    with database(committing_app).transaction() as session:
        enqueue(session, "test.cli", {"n": 1})
        enqueue(session, "test.cli", {"n": 2})
    CLI_RUNS.clear()
    result = CliRunner().invoke(worker_command, ["--once"])
    assert result.exit_code == 0, result.output
    # Recurring jobs (the audit anchor) may run too; these two must have.
    assert "jobs run" in result.output
    assert sorted(run["n"] for run in CLI_RUNS) == [1, 2]


def test_worker_command_says_so_when_the_database_is_unusable(
    tmp_path: Path, instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty SQLite file: no jobs table (the schema was never created).
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(instance))
    result = CliRunner().invoke(worker_command, ["--once"])
    assert result.exit_code == 1
    assert "the database is unavailable (OperationalError)" in result.output
    assert "Traceback" not in result.output
