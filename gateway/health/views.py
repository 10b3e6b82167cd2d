"""GET /healthz (the process answers) and GET /readyz (database, keys, job backlog)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from gateway.health.service import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    report: dict[str, Any] = readiness()
    return jsonify(report), 200 if report["status"] == "ok" else 503
