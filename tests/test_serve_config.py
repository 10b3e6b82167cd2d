"""`gateway serve` runs gunicorn with gateway/gunicorn_conf.py's settings, options on top."""

from __future__ import annotations

from gateway import gunicorn_conf
from gateway.serve import GatewayServer


def test_options_left_out_keep_the_configured_workers_and_threads() -> None:
    server = GatewayServer({"bind": "127.0.0.1:8123", "workers": None})
    assert server.cfg.workers == gunicorn_conf.workers > 1
    assert server.cfg.threads == gunicorn_conf.threads
    assert server.cfg.worker_class_str == "gthread"
    assert server.cfg.bind == ["127.0.0.1:8123"]


def test_an_option_given_wins_over_the_configuration() -> None:
    assert GatewayServer({"bind": "127.0.0.1:8123", "workers": 1}).cfg.workers == 1
