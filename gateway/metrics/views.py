"""GET /metrics: Prometheus' text format, for loopback or a bearer operator token; 404 to
everyone else, as if there were no such page."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, abort
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.db import get_session, utcnow
from gateway.metrics import counters
from gateway.metrics.collect import DatabaseCollector
from gateway.operator import is_operator

bp = Blueprint("metrics", __name__)


class _Own(Collector):
    """This process's counters, when there is no multiprocess folder to read."""

    def collect(self) -> Iterable[Metric]:
        return counters.REGISTRY.collect()


@bp.get("/metrics")
def metrics() -> Response:
    if not is_operator():
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
