"""Background jobs: an outbox table, a worker that claims with leases, retries with backoff."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the "jobs" readiness check (backlog over the limit, or any dead job) and the
    daily pruning of finished jobs."""
    from gateway.health.service import register_check
    from gateway.jobs import pruning  # noqa: F401 - registers jobs.prune
    from gateway.jobs.service import check_backlog

    register_check(app, "jobs", check_backlog)
