"""Readiness checks: each part says ok or why not, without personal data."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import text

from gateway.db import get_session

log = logging.getLogger(__name__)


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


def register_check(app: Any, name: str, check: Any, *, at_startup: bool = False) -> None:
    """Let a domain add a readiness check: a callable returning (ok, detail). With at_startup
    the web process also runs it when it starts and logs a failure (`log_startup_problems`):
    a part that cannot work (no key, a trust root without revocation source) is named in the
    log at once, not learnt request by request. Such a check must not need the database."""
    app.extensions.setdefault("gateway.readiness", {})[name] = check
    if at_startup:
        app.extensions.setdefault("gateway.startup", set()).add(name)


def startup_problems(app: Any) -> list[tuple[str, str]]:
    """Return (check, detail) of every failing start-up check, in the app's context."""
    checks = app.extensions.get("gateway.readiness", {})
    problems = []
    with app.app_context():
        for name in sorted(app.extensions.get("gateway.startup", ())):
            try:
                ok, detail = checks[name]()
            except Exception as exc:  # noqa: BLE001 - reported, not raised, at start
                ok, detail = False, type(exc).__name__
            if not ok:
                problems.append((name, detail))
    return problems


def log_startup_problems(app: Any) -> None:
    """Log each failing start-up check as an error line naming the check and why."""
    for name, detail in startup_problems(app):
        log.error("not ready: %s: %s", name, detail)
