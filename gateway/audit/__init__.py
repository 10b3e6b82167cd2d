"""The audit log: append-only, hash-chained, verifiable, anchored."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Prepare record_denied for this app's database (see gateway.audit.service)."""
    from gateway.audit import anchoring, service

    service.init_app(app)
    anchoring.init_app(app)
