"""A worker process for the multi-process tests: the real `gateway worker` plus a test handler.

Run as `python -m tests.support.worker_child worker [options]` from the repository root; the
database and the lease come
from GATEWAY_* variables as for the real command. The handler of kind "test.child.effect"
writes one row into job_effects (which the test creates), then, if WORKER_CHILD_MARKERS names
a folder, leaves a file named after the job there, then sleeps WORKER_CHILD_SLEEP seconds: so a
test knows when a job is under way and can stop or kill the worker in the middle of it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.jobs.models import Job
from gateway.jobs.registry import job_handler


@job_handler("test.child.effect")
def child_effect(session: Session, payload: dict[str, Any], job: Job) -> None:
    session.execute(
        text("INSERT INTO job_effects (job_id, worker) VALUES (:job_id, :worker)"),
        {"job_id": job.id, "worker": str(os.getpid())},
    )
    session.flush()
    markers = os.environ.get("WORKER_CHILD_MARKERS")
    if markers:
        (Path(markers) / str(job.id)).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("WORKER_CHILD_SLEEP", "0")))


if __name__ == "__main__":
    from gateway.cli import main

    main()
