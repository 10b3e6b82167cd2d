"""The SDK message API (DIGG's sdk-api-restful.yml under /v1): a view onto inquiries and answers."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway.sdkapi import api

    app.register_blueprint(api.bp)
