"""The counters every process keeps (intake, answers, SMTP sessions, HTTP responses).

Under gunicorn several processes count: with PROMETHEUS_MULTIPROC_DIR set, each writes its
values to a file of its own there and /metrics sums the files (prometheus-client's multiprocess
mode). The worker and the SMTP listener count into the same folder when they are given it, so
that the web's /metrics shows theirs too. The metric objects are made at first use, in the
process that uses them: the value class (in memory, or a file per process) is chosen then, after
`gateway serve` has set the folder up, not when prometheus-client happened to be imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    values,
)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Labels come from bounded sets (channels, rule codes from gateway/codes.py); a code that is
# not a plain upper-case word is counted as OTHER so no client can grow the series.
_MAX_CODE = 40

REGISTRY = CollectorRegistry(auto_describe=True)


@dataclass(frozen=True)
class _Metrics:
    intake_accepted: Counter
    intake_refused: Counter
    answer_accepted: Counter
    answer_refused: Counter
    smtp_sessions: Counter
    large_bodies_refused: Counter
    http_responses: Counter
    http_duration: Histogram


_lock = threading.Lock()
_made: _Metrics | None = None


def _metrics() -> _Metrics:
    global _made
    if _made is None:
        with _lock:
            if _made is None:
                # Chosen now, in this process: memory, or files in PROMETHEUS_MULTIPROC_DIR
                # (made if missing: the worker or the SMTP listener may start before the web).
                folder = multiprocess_dir()
                if folder is not None:
                    Path(folder).mkdir(parents=True, exist_ok=True)
                values.ValueClass = values.get_value_class()
                # The *_created series say when a process started counting: noise here.
                disable_created_metrics()
                _made = _Metrics(
                    intake_accepted=Counter(
                        "gateway_intake_accepted", "Hälsoförfrågningar taken in (new ones).",
                        ["channel"], registry=REGISTRY),
                    intake_refused=Counter(
                        "gateway_intake_refused",
                        "Hälsoförfrågningar refused, once per distinct rule code of a refusal.",
                        ["channel", "code"], registry=REGISTRY),
                    answer_accepted=Counter(
                        "gateway_answer_accepted", "Signed answers accepted.", ["channel"],
                        registry=REGISTRY),
                    answer_refused=Counter(
                        "gateway_answer_refused",
                        "Answers refused (P rules, C2/C7), once per distinct rule code.",
                        ["channel", "code"], registry=REGISTRY),
                    smtp_sessions=Counter(
                        "gateway_smtp_sessions", "SMTP connections accepted by the listener.",
                        registry=REGISTRY),
                    large_bodies_refused=Counter(
                        "gateway_large_bodies_refused",
                        "Requests refused with 503 because the process already handled its "
                        "share of large bodies.", registry=REGISTRY),
                    http_responses=Counter(
                        "gateway_http_responses", "HTTP responses by method and status.",
                        ["method", "status"], registry=REGISTRY),
                    http_duration=Histogram(
                        "gateway_http_request_duration_seconds",
                        "Time from the request's start to its response.", registry=REGISTRY,
                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)),
                )
    return _made


def _code(code: str) -> str:
    clean = code if len(code) <= _MAX_CODE and code.replace("_", "").isalnum() else "OTHER"
    return clean.upper()


def _count_codes(counter: Counter, channel: str, codes: Iterable[str]) -> None:
    """Count one refusal once per distinct rule code (OTHER when it names none)."""
    for code in dict.fromkeys(_code(c) for c in codes) or ["OTHER"]:
        counter.labels(channel=channel, code=code).inc()


def intake_accepted(channel: str) -> None:
    _metrics().intake_accepted.labels(channel=channel).inc()


def intake_refused(channel: str, codes: Iterable[str]) -> None:
    _count_codes(_metrics().intake_refused, channel, codes)


def answer_accepted(channel: str) -> None:
    _metrics().answer_accepted.labels(channel=channel).inc()


def answer_refused(channel: str, codes: Iterable[str]) -> None:
    _count_codes(_metrics().answer_refused, channel, codes)


def smtp_session() -> None:
    _metrics().smtp_sessions.inc()


def large_body_refused() -> None:
    _metrics().large_bodies_refused.inc()


def count_response(response: Response) -> Response:
    """after_request: count the response by method and status, and time it."""
    metrics = _metrics()
    method = request.method if request.method in _METHODS else "OTHER"
    metrics.http_responses.labels(method=method, status=str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        metrics.http_duration.observe(time.perf_counter() - started)
    return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_VARIABLE) or None


def prepare_multiprocess_dir() -> str:
    """Make sure PROMETHEUS_MULTIPROC_DIR names a folder; return it (called by the web's master
    before it forks). Unset: a new private folder. Set: the folder is created if missing and
    the files of a previous run of this process tree's own pids are left to mark_dead."""
    folder = multiprocess_dir()
    if folder is None:
        folder = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ[MULTIPROC_VARIABLE] = folder
    Path(folder).mkdir(parents=True, exist_ok=True)
    values.ValueClass = values.get_value_class()
    return folder


def mark_dead(pid: int) -> None:
    """gunicorn's child_exit: drop a dead worker's live gauges (its counters stay summed)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove_dir(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
