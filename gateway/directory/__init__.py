"""The directory: organisations, care units, REKOs and their assignments; routing; import/export."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the directory's read API (/api/v1/directory), admin pages (/katalog) and the
    REKO list for everyone logged in (/hitta-reko)."""
    from gateway.directory import api, contact_views, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(contact_views.bp)
