"""Inquiries: the hälsoförfrågan, its legs and answers; intake, workflow, receipts and the API."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway import openapi
    from gateway.inquiries import api, receipts

    receipts.init_app(app)
    app.register_blueprint(api.bp)
    openapi.init_app(app)
    openapi.register_schemas(app, api.OPENAPI_SCHEMAS)
    openapi.register_paths(app, api.openapi_paths())
