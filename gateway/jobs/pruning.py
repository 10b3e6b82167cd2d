"""Daily clean-up of finished jobs: a done job older than JOBS_KEPT_DAYS can no longer matter.

Nothing re-enqueues a finished job's dedupe key after that long: recurring jobs seed only the
current slot, reminders and escalations are decided by the inquiry's legs, and each other
key belongs to one event (an inquiry's notification, an envelope's delivery attempt). Dead
jobs stay until an operator has looked at them (`/readyz` reports them).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.jobs.models import Job, JobState
from gateway.jobs.registry import SCHEDULED_LANE, job_handler, recurring
from gateway.jobs.service import slot_time

log = logging.getLogger(__name__)

PRUNE_JOB = "jobs.prune"

recurring(PRUNE_JOB, dt.timedelta(days=1))


def prune_done_jobs(session: Session, before: dt.datetime) -> int:
    """Delete the jobs that finished well before `before`; return how many. The caller
    commits."""
    result = session.execute(delete(Job).where(
        Job.state == JobState.DONE, Job.finished_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


@job_handler(PRUNE_JOB, lane=SCHEDULED_LANE)
def prune_job(session: Session, payload: dict[str, Any], _job: Job) -> None:
    """The daily run at the worker's slot: done jobs older than JOBS_KEPT_DAYS go."""
    before = slot_time(payload) - dt.timedelta(days=current_app.config["JOBS_KEPT_DAYS"])
    log.info("jobs: pruned %d finished jobs", prune_done_jobs(session, before))
