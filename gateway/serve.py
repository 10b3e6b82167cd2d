"""The web process (`gateway serve`): gunicorn running the app factory (the same app the worker
and SMTP use)."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from gateway import clitools


class GatewayServer(BaseApplication):
    """Gunicorn with options given in code instead of a config file."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _post_fork(_server: Any, _worker: Any, app: Flask) -> None:
    from gateway.db import database

    # Connections opened before the fork must not be shared between processes.
    database(app).engine.dispose(close=False)


def serve(app: Flask, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    """Serve app with gunicorn until stopped."""
    GatewayServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            # No query strings in the access log: they could carry identifiers.
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            "timeout": 120,
            "limit_request_line": 8190,
            "post_fork": lambda server, worker: _post_fork(server, worker, app),
        },
    ).run()


@click.command("serve", help="Run the web process (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@clitools.with_app
def serve_command(host: str, port: int, workers: int) -> None:
    from gateway.health.service import log_startup_problems

    clitools.configure_logging()
    app = clitools.app()
    log_startup_problems(app)
    serve(app, host, port, workers=workers)
