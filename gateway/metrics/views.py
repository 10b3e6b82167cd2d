"""GET /metrics: Prometheus' text format, for loopback or a bearer operator token; 404 to
everyone else, as if there were no such page."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.db import get_session, utcnow
from gateway.metrics import counters
from gateway.metrics.collect import DatabaseCollector

bp = Blueprint("metrics", __name__)


def _from_loopback() -> bool:
    # A request that came through nginx carries X-Forwarded-For: nginx runs on loopback, but
    # its client does not.
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _has_token() -> bool:
    token: str | None = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode())


class _Own(Collector):
    """This process's counters, when there is no multiprocess folder to read."""

    def collect(self) -> Iterable[Metric]:
        return counters.REGISTRY.collect()


@bp.get("/metrics")
def metrics() -> Response:
    if not (_has_token() or _from_loopback()):
        abort(404)
    registry = CollectorRegistry(auto_describe=False)
    folder = counters.multiprocess_dir()
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_Own())
    registry.register(DatabaseCollector(get_session(), utcnow()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
