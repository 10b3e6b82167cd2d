"""Background jobs: an outbox table, a worker that claims with leases, retries with backoff."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to set up yet."""
