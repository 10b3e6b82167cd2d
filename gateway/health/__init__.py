"""Liveness and readiness endpoints."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway.health.views import bp

    app.register_blueprint(bp)
