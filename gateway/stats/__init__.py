"""Statistics: response-time and SIP reports from legs and manual histories; page, API, export."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway import openapi
    from gateway.stats.api import bp as api_bp
    from gateway.stats.api import openapi_paths
    from gateway.stats.views import bp as views_bp

    app.register_blueprint(views_bp)
    app.register_blueprint(api_bp)
    openapi.register_paths(app, openapi_paths())
