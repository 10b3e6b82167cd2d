"""Helpers for `gateway` subcommands: an app context, and clean errors instead of tracebacks."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app

from gateway.errors import ConfigError, GatewayError

F = TypeVar("F", bound=Callable[..., Any])


def with_app(func: F) -> F:
    """Run the command inside an app context built by the factory from GATEWAY_* settings."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from gateway import create_app

        try:
            app = create_app()
        except ConfigError as exc:
            raise click.UsageError(f"configuration: {exc}") from None
        try:
            with app.app_context():
                return func(*args, **kwargs)
        finally:
            from gateway.db import database

            # Close pooled connections now, not when the pool is collected (tests run commands
            # in-process, where psycopg warns about connections left for the collector).
            database(app).engine.dispose()

    return wrapper  # type: ignore[return-value]


def app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def configure_logging() -> None:
    """Log as every process does: JSON lines on stderr (gateway/logs.py)."""
    from gateway import logs

    logs.configure()


# ISO dates on the command line (2024-04-30), as everywhere in the gateway.
DATE = click.DateTime(formats=["%Y-%m-%d"])


def read_input(file: str, max_bytes: int) -> bytes:
    """Return up to max_bytes + 1 bytes of file ('-' is standard input), so callers can tell
    an oversize input; exits with a message when the file cannot be read."""
    if file == "-":
        return sys.stdin.buffer.read(max_bytes + 1)
    try:
        with Path(file).open("rb") as handle:
            return handle.read(max_bytes + 1)
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror or exc}")
    raise AssertionError("unreachable")


def fail(message: str, code: int = 1) -> None:
    """Print message to stderr and exit with code."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def run_cli(group: click.Group, args: list[str] | None = None) -> None:
    """Run group; domain errors and bad configuration become a message and exit status 2."""
    try:
        group.main(args=args, prog_name="gateway", standalone_mode=True)
    except GatewayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"error: configuration: {exc}", err=True)
        sys.exit(2)
