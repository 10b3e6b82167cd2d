"""Prometheus metrics: counters kept by the processes, gauges read from the database at scrape,
served at /metrics to loopback or an operator's token."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway.metrics import counters
    from gateway.metrics.views import bp

    app.register_blueprint(bp)
    app.after_request(counters.count_response)
