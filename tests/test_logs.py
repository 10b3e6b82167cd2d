"""The log format: one JSON object a line, the request id taken from X-Request-Id when it is
plain and echoed back, a traceback without the exception's text, libraries kept at WARNING."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from gateway import logs


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {name: logging.getLogger(name).level for name in (*logs.OWN_LOGGERS, "sqlalchemy")})
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("given", ["abc", "x" * 65, "två ord", "id;X-Evil=1", ""])
def test_an_unusable_request_id_is_replaced(app: Flask, given: str) -> None:
    response = app.test_client().get("/healthz", headers={"X-Request-Id": given})
    echoed = response.headers["X-Request-Id"]
    assert echoed != given and len(echoed) == 32 and echoed.isalnum()


def test_a_plain_request_id_is_kept_and_echoed(app: Flask) -> None:
    response = app.test_client().get("/healthz", headers={"X-Request-Id": "nginx-1234abcd"})
    assert response.headers["X-Request-Id"] == "nginx-1234abcd"


def test_each_request_is_one_json_line_with_its_id(app: Flask, configured: io.StringIO) -> None:
    response = app.test_client().get("/healthz?personnummer=191212121212")
    found = [r for r in lines(configured) if r["logger"] == "gateway.access"]
    assert len(found) == 1
    line = found[0]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert isinstance(line["duration_ms"], float)
    assert "191212121212" not in configured.getvalue()
    assert str(line["time"]).endswith("Z")


def test_a_traceback_is_logged_without_the_exceptions_text(configured: io.StringIO) -> None:
    content = " ".join(("Tolvan", "Tolvansson", "191212121212"))  # not in the source line
    try:
        raise ValueError(content)
    except ValueError:
        logging.getLogger("gateway.test").exception("could not parse")
    (line,) = lines(configured)
    assert line["exception"] == "builtins.ValueError"
    assert "test_logs.py" in str(line["traceback"])
    assert "Tolvan" not in configured.getvalue()


def test_libraries_stay_at_warning_when_ours_log_debug(configured: io.StringIO) -> None:
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT secret")
    logging.getLogger("gateway.test").debug("ours")
    with logs.request_context("smtp-0001"):
        logging.getLogger("gateway.test").info("in a context")
    assert [(r["message"], r.get("request_id")) for r in lines(configured)] == [
        ("ours", None), ("in a context", "smtp-0001")]
