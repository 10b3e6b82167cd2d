"""GET /healthz (the process answers) and GET /readyz (database, keys, job backlog)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from gateway.health.service import readiness
from gateway.http import database_unavailable
from gateway.operator import is_operator

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The checks' verdicts to anyone (a load balancer); their details (key ids, backlog, trust
    roots) only to the operator: loopback or the operator token."""
    report: dict[str, Any] = readiness()
    if not is_operator():
        report["checks"] = {name: {"ok": check["ok"]} for name, check in report["checks"].items()}
    if not report["checks"]["database"]["ok"]:
        # The same 503 as every endpoint while the database is out of reach, with the checks.
        raise database_unavailable(checks=report["checks"])
    return jsonify(report), 200 if report["status"] == "ok" else 503
