"""The web process (`gateway serve`): gunicorn running the app factory with the one gunicorn
configuration (gateway/gunicorn_conf.py, which deploy/gunicorn.conf.py imports too)."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from gateway import clitools, gunicorn_conf


class GatewayServer(BaseApplication):
    """Gunicorn with gateway/gunicorn_conf.py's settings, then `overrides` on top."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        super().__init__()

    def load_config(self) -> None:
        settings = {name: getattr(gunicorn_conf, name) for name in gunicorn_conf.__all__}
        # An option not given (None) keeps the configuration's value, not gunicorn's default
        # (`--workers` left out once meant gunicorn's one worker instead of WEB_CONCURRENCY).
        settings.update({k: v for k, v in self.overrides.items() if v is not None})
        for key, value in settings.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        # In each worker after the fork (preload_app is off), as gunicorn does with wsgi_app.
        from gateway import create_app

        return create_app()


def serve(host: str, port: int, workers: int | None = None) -> None:
    """Serve the app with gunicorn until stopped."""
    GatewayServer({"bind": f"{host}:{port}", "workers": workers}).run()


@click.command("serve", help="Run the web process (gunicorn, settings from "
                             "gateway/gunicorn_conf.py).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", type=click.IntRange(1, 64),
              help="Worker processes (default WEB_CONCURRENCY, else 3).")
@clitools.with_app  # a bad GATEWAY_* setting stops here, not in every worker
def serve_command(host: str, port: int, workers: int | None) -> None:
    from gateway.health.service import log_startup_problems

    clitools.configure_logging()
    log_startup_problems(clitools.app())
    serve(host, port, workers=workers)
