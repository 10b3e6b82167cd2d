"""The directory: organisations, care units, REKOs and their assignments; routing; import/export."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the directory's read API (/api/v1/directory) and admin pages (/katalog)."""
    from gateway.directory import api, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
