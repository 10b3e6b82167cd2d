"""Capture the SQL statements a block runs, the test harness's own left out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gateway.db import database

# The test harness's own transaction frame (each test runs in a rolled-back transaction).
_FRAME = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """Yield a list that fills with the statements the block runs on the app's engine, each on
    one line and in lower case."""
    engine = database().engine
    statements: list[str] = []

    def counted(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_FRAME):
            statements.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", counted)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", counted)
