"""The daily jobs.prune and mail.prune: finished jobs and mails the relay accepted go after
GATEWAY_JOBS_KEPT_DAYS; what is pending, running, dead or unsent stays whatever its age, and a
pruned job's dedupe key cannot bring its work back (the inquiry's legs decide reminders)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from gateway.db import database
from gateway.jobs.models import Job, JobState
from gateway.jobs.pruning import PRUNE_JOB as JOBS_PRUNE
from gateway.jobs.registry import recurring_kinds
from gateway.jobs.service import enqueue, slot_start
from gateway.jobs.worker import Outcome, Worker
from gateway.mail.models import OutboxMail
from gateway.mail.outbox import PRUNE_JOB as MAIL_PRUNE
from tests.support.clock import Clock

DAY = dt.timedelta(days=1)


def _job(kind: str, state: JobState, finished_days_ago: float | None, now: dt.datetime) -> Job:
    finished = None if finished_days_ago is None else now - finished_days_ago * DAY
    return Job(kind=kind, lane="default", payload={}, state=state, run_at=now - 40 * DAY,
               finished_at=finished, dedupe_key=f"{kind}:{state}:{finished_days_ago}")


def _mail(key: str, sent_days_ago: float | None, now: dt.datetime) -> OutboxMail:
    sent = None if sent_days_ago is None else now - sent_days_ago * DAY
    return OutboxMail(key=key * 64, message_id=f"<{key}@example.org>",
                      recipient="anna.rekosson@example.org", subject="Ny hälsoförfrågan",
                      body="En hälsoförfrågan väntar.", kind="inquiry.notify",
                      created_at=now - 60 * DAY, sent_at=sent)


def _run_daily(app: Flask, clock: Clock, kind: str) -> None:
    """Queue today's slot of `kind` as the worker's scheduler does and let a worker run it."""
    slot = slot_start(clock(), DAY)
    with database(app).transaction() as session:
        enqueue(session, kind, {"slot": slot.isoformat()}, run_at=slot,
                dedupe_key=f"{kind}@{slot.isoformat()}")
    worker = Worker(app, "test:pruner", clock, lease_seconds=60, recurring=False)
    assert worker.run_one() is Outcome.DONE


def test_done_jobs_past_the_kept_days_go_and_every_other_job_stays(
        app: Flask, clock: Clock) -> None:
    now = clock()
    with database(app).transaction() as session:
        session.add_all([
            _job("inquiry.notify", JobState.DONE, 31, now),
            _job("mail.send", JobState.DONE, 45, now),
            _job("inquiry.notify", JobState.DONE, 10, now),
            _job("mail.send", JobState.DEAD, 90, now),
            _job("federation.deliver", JobState.PENDING, None, now),
            _job("federation.deliver", JobState.RUNNING, None, now),
        ])

    _run_daily(app, clock, JOBS_PRUNE)

    with database(app).transaction() as session:
        left = {(j.kind, j.state.value, j.dedupe_key) for j in session.scalars(select(Job))
                if j.kind != JOBS_PRUNE}
    assert left == {
        ("inquiry.notify", "done", "inquiry.notify:done:10"),
        ("mail.send", "dead", "mail.send:dead:90"),
        ("federation.deliver", "pending", "federation.deliver:pending:None"),
        ("federation.deliver", "running", "federation.deliver:running:None"),
    }


def test_sent_mails_past_the_kept_days_go_and_unsent_ones_stay(app: Flask,
                                                                clock: Clock) -> None:
    app.config["JOBS_KEPT_DAYS"] = 7
    now = clock()
    with database(app).transaction() as session:
        session.add_all([_mail("a", 8, now), _mail("b", 6, now), _mail("c", None, now)])

    _run_daily(app, clock, MAIL_PRUNE)

    with database(app).transaction() as session:
        keys = sorted(m.key[0] for m in session.scalars(select(OutboxMail)))
    assert keys == ["b", "c"]


def test_both_run_daily_in_the_scheduled_lane() -> None:
    assert recurring_kinds()[JOBS_PRUNE] == DAY
    assert recurring_kinds()[MAIL_PRUNE] == DAY
