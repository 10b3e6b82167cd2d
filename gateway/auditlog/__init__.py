"""The auditor's view of the audit log: search, entries, the chain's state, log extracts."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway.auditlog.views import bp

    app.register_blueprint(bp)
