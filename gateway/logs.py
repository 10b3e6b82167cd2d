"""Logging of every process (web, worker, SMTP): one JSON object a line, with the request's id.

A line has `time` (UTC, ISO 8601), `level`, `logger`, `message`, the `request_id` of the web
request or SMTP message it belongs to, and for the access line of a web request `method`, `path`
(never the query string), `status` and `duration_ms`. Personal data never goes into a message:
the code logs ids, codes and classes of errors. Two more guards keep what others write out of
the log: a traceback is logged as its frames without the exception's text (a parser's message
may quote the content), and third-party loggers stay at WARNING even when GATEWAY_LOG_LEVEL is
DEBUG (SQLAlchemy logs statement parameters at INFO and rows at DEBUG, aiosmtpd every mail line).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import sys
import traceback
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Any

LEVEL_VARIABLE = "GATEWAY_LOG_LEVEL"
REQUEST_ID_HEADER = "X-Request-Id"
# A client's (or nginx's) id is kept when it is short and plain; anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Loggers of our own code; everything else is a library's.
OWN_LOGGERS = ("gateway", "forms", "signing", "common")
# What a log line may carry beside the message (passed as `extra=`).
FIELDS = ("method", "path", "status", "duration_ms", "bytes", "channel", "kind", "code")

_request_id: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(given: str | None) -> str:
    """Return `given` when it is a plain id of 8–64 characters, else a new one."""
    if given and _SANE_REQUEST_ID.match(given):
        return given
    return new_request_id()


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Any:
    """Make request_id the id of every line logged from this context; return the token to
    `unbind` it with."""
    return _request_id.set(request_id)


def unbind(token: Any) -> None:
    _request_id.reset(token)


@contextlib.contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Log the lines inside the block under request_id (a new one when None); yield it."""
    rid = request_id or new_request_id()
    token = bind_request_id(rid)
    try:
        yield rid
    finally:
        unbind(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            line["request_id"] = request_id
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            # The frames say where; the exception's text is left out (it may quote content).
            line["exception"] = f"{kind.__module__}.{kind.__qualname__}"
            line["traceback"] = "".join(traceback.format_tb(tb)).rstrip()
        return json.dumps(line, ensure_ascii=False, default=str)


def _level(raw: str | None) -> int:
    name = (raw or "INFO").strip().upper()
    value = logging.getLevelName(name)
    return value if isinstance(value, int) else logging.INFO


def configure(level: str | int | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record to `stream` (stderr) as JSON lines; return the handler.

    level: for our own loggers (default GATEWAY_LOG_LEVEL, else INFO); libraries log WARNING
    and above. Replaces the root logger's handlers, so calling it twice is harmless.
    """
    own = level if isinstance(level, int) else _level(level or os.environ.get(LEVEL_VARIABLE))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    return handler


def gunicorn_logconfig() -> dict[str, Any]:
    """Return gunicorn's `logconfig_dict`: its own log and ours as JSON lines on stderr, as
    `configure` sets them up (gunicorn's access log is off: the app logs every request)."""
    own = logging.getLevelName(_level(os.environ.get(LEVEL_VARIABLE)))

    def handler() -> dict[str, Any]:
        return {"class": "logging.StreamHandler", "formatter": "json",
                "stream": "ext://sys.stderr"}

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"console": handler(), "error_console": handler()},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"],
                               "propagate": False, "qualname": "gunicorn.error"},
            # Off: its lines would repeat the app's, with the query string.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False,
                                "qualname": "gunicorn.access"},
            **{name: {"level": own} for name in OWN_LOGGERS},
        },
        "root": {"level": "WARNING", "handlers": ["console"]},
    }
