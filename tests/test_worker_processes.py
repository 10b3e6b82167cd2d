"""Workers as real processes: two share 1,000 jobs on PostgreSQL; a killed or stopped worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from gateway.db import database
from gateway.jobs.models import Job, JobState
from gateway.jobs.service import enqueue

pytestmark = pytest.mark.slow

# Run as a module from the repository root: run as a script, its own folder would come first
# on sys.path and tests/support/forms.py would shadow the `forms` package.
REPO = Path(__file__).resolve().parents[1]
KIND = "test.child.effect"


class Child:
    """One `gateway worker` subprocess, its output in a file (a pipe could fill and stall it)."""

    def __init__(self, app: Flask, log: Path, args: list[str], env: dict[str, str]) -> None:
        self.log = log
        full_env = dict(os.environ)
        full_env.update(
            GATEWAY_DATABASE_URL=app.config["DATABASE_URL"],
            GATEWAY_INSTANCE_PATH=app.config["INSTANCE_PATH"],
            GATEWAY_SECRET_KEY="test-secret-key",
            GATEWAY_COOKIE_SECURE="false",
        )
        full_env.update(env)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.worker_child", "worker", "--no-recurring",
                 *args],
                stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=REPO,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 60) -> None:
        wait_for(lambda: " started" in self.output or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, f"worker exited early:\n{self.output}"

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"worker did not exit within {timeout} s:\n{self.output}")


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting after {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start worker subprocesses; any still running at the end are killed."""
    children: list[Child] = []

    def start(app: Flask, *args: str, **env: str) -> Child:
        child = Child(app, tmp_path / f"worker-{len(children)}.log", list(args), env)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    path = tmp_path / "markers"
    path.mkdir()
    return path


def create_effects(app: Flask) -> None:
    with database(app).transaction() as session:
        session.execute(
            text("CREATE TABLE job_effects (job_id INTEGER NOT NULL, worker VARCHAR(20) NOT NULL)")
        )


def add_jobs(app: Flask, count: int) -> list[int]:
    with database(app).transaction() as session:
        return [enqueue(session, KIND, {"n": n}).id for n in range(count)]


def effects(app: Flask) -> list[tuple[int, str]]:
    with database(app).transaction() as session:
        rows: list[Any] = list(session.execute(text("SELECT job_id, worker FROM job_effects")))
    return [(row[0], row[1]) for row in rows]


def jobs(app: Flask) -> dict[int, Job]:
    with database(app).transaction() as session:
        return {job.id: job for job in session.scalars(select(Job))}


def test_two_workers_do_1000_jobs_each_exactly_once(
    committing_app: Flask, start_worker: Callable[..., Child]
) -> None:
    if database(committing_app).dialect != "postgresql":
        pytest.skip("workers side by side is the PostgreSQL setup; on SQLite one worker runs")
    create_effects(committing_app)
    # Idle long enough to outlast queueing 1,000 jobs on a busy machine (about 5 s at load 11).
    options = ("--poll", "0.05", "--idle-exit", "10")
    first = start_worker(committing_app, *options, WORKER_CHILD_SLEEP="0.001")
    second = start_worker(committing_app, *options, WORKER_CHILD_SLEEP="0.001")
    first.wait_started()
    second.wait_started()

    ids = add_jobs(committing_app, 1000)

    assert first.wait_exit(180) == 0, first.output
    assert second.wait_exit(180) == 0, second.output
    rows = effects(committing_app)
    assert len(rows) == 1000
    assert sorted(job_id for job_id, _ in rows) == sorted(ids)
    done = jobs(committing_app)
    assert {job.state for job in done.values()} == {JobState.DONE}
    assert {job.attempts for job in done.values()} == {1}
    by_worker = {pid: sum(1 for _, w in rows if w == pid) for _, pid in rows}
    assert set(by_worker) == {str(first.proc.pid), str(second.proc.pid)}, by_worker
    # The done mark and the effect were committed by the same worker.
    claimed = {job.id: job.claimed_by for job in done.values()}
    assert all(f":{pid}:" in (claimed[job_id] or "") for job_id, pid in rows)


def test_a_job_of_a_killed_worker_is_done_by_another_exactly_once(
    committing_app: Flask, start_worker: Callable[..., Child], markers: Path
) -> None:
    create_effects(committing_app)
    [job_id] = add_jobs(committing_app, 1)
    lease = {"GATEWAY_JOB_LEASE_SECONDS": "2", "WORKER_CHILD_MARKERS": str(markers)}
    doomed = start_worker(committing_app, "--poll", "0.05", WORKER_CHILD_SLEEP="120", **lease)
    # The marker is written after the job's effect: the worker is in the middle of the job.
    wait_for(lambda: (markers / str(job_id)).exists(), 60)
    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait()

    rescuer = start_worker(
        committing_app, "--poll", "0.1", "--max-jobs", "1", "--idle-exit", "30", **lease
    )
    assert rescuer.wait_exit(60) == 0, rescuer.output

    job = jobs(committing_app)[job_id]
    assert job.state == JobState.DONE
    assert job.attempts == 2
    assert f":{rescuer.proc.pid}:" in (job.claimed_by or "")
    assert job.last_error is not None and f":{doomed.proc.pid}:" in job.last_error
    assert effects(committing_app) == [(job_id, str(rescuer.proc.pid))]


def test_sigterm_stops_a_worker_after_its_current_job(
    committing_app: Flask, start_worker: Callable[..., Child], markers: Path
) -> None:
    create_effects(committing_app)
    add_jobs(committing_app, 2)
    worker = start_worker(
        committing_app, "--poll", "0.05",
        WORKER_CHILD_SLEEP="2", WORKER_CHILD_MARKERS=str(markers),
    )
    wait_for(lambda: any(markers.iterdir()), 60)
    [current] = [int(marker.name) for marker in markers.iterdir()]
    worker.proc.send_signal(signal.SIGTERM)

    assert worker.wait_exit(30) == 0, worker.output
    assert "1 jobs run" in worker.output
    states = {job.id: (job.state, job.attempts) for job in jobs(committing_app).values()}
    waiting = next(job_id for job_id in states if job_id != current)
    assert states == {current: (JobState.DONE, 1), waiting: (JobState.PENDING, 0)}
    assert effects(committing_app) == [(current, str(worker.proc.pid))]
