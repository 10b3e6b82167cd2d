"""Kryddgården Gateway: the application factory that wires every domain into one Flask app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import import_module
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import config as settings

# Each domain package exposes init_app(app); the order matters only where one uses another.
DOMAINS = (
    "gateway.db",
    "gateway.http",
    "gateway.vault",
    "gateway.audit",
    "gateway.auth",
    "gateway.jobs",
    "gateway.health",
    "gateway.stats",
    "gateway.directory",
    "gateway.inquiries",
    "gateway.auditlog",
    "gateway.sdkapi",
    "gateway.mail",
    "gateway.metrics",
    "gateway.federation",
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then GATEWAY_* variables, then `config` (tests) on top."""
    values = settings.defaults()
    values.update(settings.settings_from_env(os.environ))
    values.update(config or {})
    settings.resolve(values)

    app = Flask(__name__, instance_path=values["INSTANCE_PATH"])
    app.config.update(values)
    app.config.update(
        SESSION_COOKIE_SECURE=values["COOKIE_SECURE"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="gateway_session",
        # 30 MB is SDK's largest message; base64 in JSON adds a third.
        MAX_CONTENT_LENGTH=values.get("MAX_CONTENT_LENGTH", 42 * 1024 * 1024),
        JSON_SORT_KEYS=False,
    )
    for name in DOMAINS:
        import_module(name).init_app(app)
    hops = app.config["PROXY_HOPS"]
    if hops:
        # Only then is X-Forwarded-For the client's address (login throttling, audit).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app
