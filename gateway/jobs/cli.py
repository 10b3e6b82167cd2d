"""The `gateway worker` command: run jobs until stopped, or bounded for tests and demos."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.clitools import app, configure_logging, fail, with_app
from gateway.db import database
from gateway.jobs.registry import LANES
from gateway.jobs.worker import Worker

HELP = """Run the background worker: claim due jobs, run them, retry failures with backoff.

SIGTERM or Ctrl-C stops it after the current job (a second Ctrl-C stops at once; the job is
given back). While a job runs its lease is renewed; a job whose worker dies is taken again
when its lease (GATEWAY_JOB_LEASE_SECONDS, default 60) runs out.

Jobs wait in lanes (scheduled: deadline scans, audit anchoring; peer: deliveries to other
gateways; default; mail: notifications and other mail). The worker takes turns between them,
and leaves the mail lane alone while the relay's circuit breaker is open. --lane runs a worker
for some lanes only (e.g. one worker for mail, another for the rest).

On PostgreSQL any number of workers may run side by side. On SQLite run one worker: claims
stay correct with several (SQLite transactions take the write lock at BEGIN), but the
workers only take turns.
"""


@click.command("worker", help=HELP)
@click.option("--once", is_flag=True, help="Run the jobs that are due now, then exit.")
@click.option(
    "--no-recurring",
    is_flag=True,
    help="Do not queue the recurring jobs (audit anchoring, deadline scans); run only queued ones.",
)
@click.option("--max-jobs", type=click.IntRange(min=1), help="Exit after this many jobs.")
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Exit after this many seconds without a due job.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait before looking again when nothing is due.",
)
@click.option(
    "--lane",
    "lanes",
    type=click.Choice(LANES),
    multiple=True,
    help="Take jobs from this lane only (repeatable); default every lane.",
)
@with_app
def worker_command(
    once: bool, max_jobs: int | None, idle_exit: float | None, poll: float, no_recurring: bool,
    lanes: tuple[str, ...],
) -> None:
    configure_logging()
    worker = Worker(app(), recurring=not no_recurring, lanes=lanes or None)
    try:
        ran = worker.run(once=once, max_jobs=max_jobs, idle_exit=idle_exit, poll=poll)
    except SQLAlchemyError as exc:
        fail(f"the database is unavailable ({type(exc).__name__})")
        return
    finally:
        # Close pooled connections now rather than leave them to the garbage collector.
        database(app()).engine.dispose()
    click.echo(f"worker {worker.worker_id}: {ran} jobs run", err=True)
