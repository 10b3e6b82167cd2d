"""Gunicorn settings of the web process: the one configuration of both `gateway serve` and
`gunicorn --config deploy/gunicorn.conf.py` (which imports this module).

The app comes from the same factory as every other process and reads the same GATEWAY_*
environment (systemd: EnvironmentFile=/etc/kryddgarden/gateway.env). nginx terminates TLS in
front (GATEWAY_PROXY_HOPS=1) and buffers request bodies, so a worker never waits on a slow
client. Options given on the command line (e.g. --bind) override these.
"""

from __future__ import annotations

import os
from typing import Any

from gateway import logs, memory
from gateway.metrics import counters

__all__ = [
    "wsgi_app", "bind", "worker_class", "workers", "threads", "preload_app", "timeout",
    "graceful_timeout", "keepalive", "max_requests", "max_requests_jitter", "limit_request_line",
    "limit_request_fields", "limit_request_field_size", "forwarded_allow_ips", "worker_tmp_dir",
    "accesslog", "errorlog", "logconfig_dict", "proc_name", "on_starting", "post_fork",
    "child_exit", "on_exit",
]

wsgi_app = "gateway:create_app()"
bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")

# Threads, not processes, carry concurrency: a request mostly waits on PostgreSQL. Each process
# holds its own connection pool (SQLAlchemy's default 5 + 10 overflow); workers x pool must stay
# below the server's max_connections with the workers and SMTP listeners counted in.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GATEWAY_WEB_THREADS", "4"))

# No preloading: every worker builds the app (and its engine) after the fork, so no database
# connection is ever shared between processes.
preload_app = False

# A 30 MB SDK message is validated in seconds; a worker silent this long is stuck, not busy.
timeout = 60
graceful_timeout = 30
# Behind nginx on loopback: keep its upstream connections briefly.
keepalive = 5

# glibc keeps freed memory per thread arena: besides trimming after large bodies (see
# gateway/memory.py), a worker is replaced after this many requests (jitter spreads the
# restarts so they never all happen at once).
max_requests = 1000
max_requests_jitter = 200

# Header limits as gunicorn's defaults, written out so nginx's can be checked against them.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# X-Forwarded-* are believed from nginx on loopback only (the app's ProxyFix does the same).
forwarded_allow_ips = "127.0.0.1"

# The heartbeat file in memory: /tmp may be on a slow or read-only disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - gunicorn's heartbeat files, not data

# No gunicorn access log: the app logs every request as a JSON line with its request id, its
# path without the query string (which could carry identifiers), status and duration.
accesslog = None
errorlog = "-"
logconfig_dict = logs.gunicorn_logconfig()
proc_name = "kryddgarden-web"

_made_metrics_dir: list[str] = []


def on_starting(_server: Any) -> None:
    """In the master, before the first fork: the folder where the workers count (Prometheus
    multiprocess mode); a private one unless PROMETHEUS_MULTIPROC_DIR names one."""
    given = counters.multiprocess_dir()
    folder = counters.prepare_multiprocess_dir()
    if given is None:
        _made_metrics_dir.append(folder)


def post_fork(_server: Any, _worker: Any) -> None:
    memory.limit_arenas()


def child_exit(_server: Any, worker: Any) -> None:
    """A worker exited (max_requests, a crash, a reload): its live gauges go."""
    counters.mark_dead(worker.pid)


def on_exit(_server: Any) -> None:
    for folder in _made_metrics_dir:
        counters.remove_dir(folder)
