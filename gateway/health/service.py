"""Readiness checks: each part says ok or why not, without personal data."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import text

from gateway.db import get_session


def check_database() -> tuple[bool, str]:
    try:
        get_session().execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is shown
        return False, type(exc).__name__
    return True, "ok"


def readiness() -> dict[str, Any]:
    """Return {"status": "ok"|"fail", "checks": {name: {"ok", "detail"}}}."""
    checks: dict[str, tuple[bool, str]] = {"database": check_database()}
    for name, check in current_app.extensions.get("gateway.readiness", {}).items():
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001
            checks[name] = (False, type(exc).__name__)
    ok = all(result for result, _ in checks.values())
    return {
        "status": "ok" if ok else "fail",
        "checks": {
            name: {"ok": result, "detail": detail} for name, (result, detail) in checks.items()
        },
    }


def register_check(app: Any, name: str, check: Any) -> None:
    """Let a domain add a readiness check: a callable returning (ok, detail)."""
    app.extensions.setdefault("gateway.readiness", {})[name] = check
