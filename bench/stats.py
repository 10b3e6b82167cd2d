"""Statistics benchmark: the yearly report over a million inquiries on SQLite and PostgreSQL.

`python -m bench stats` (or `python -m bench.stats --rows N --runs N`). Fills a fresh database
of each kind with history rows in one year (bulk: executemany on SQLite, COPY on PostgreSQL),
then times the whole report (`response_times`: the grouped query, the breakdowns, the live
measures) and prints the median of a few runs. PostgreSQL runs where GATEWAY_BENCH_DATABASE_URL
or GATEWAY_TEST_DATABASE_URL names a server (a database is created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.db import Database, make_engine
from gateway.migrate import upgrade
from gateway.stats.engine import response_times
from gateway.stats.models import CloseReason
from gateway.stats.period import Period

YEAR = 2023
AS_OF = dt.date(2024, 4, 30)
CARE_UNITS = [f"SE2321000255-K{n:03d}" for n in range(1, 19)]
SENDER_UNITS = ["EBB Öster", "EBB Söder", "EBB Norr", "EBB Väster", "EBB Centrum", "AMA"]
REASONS = [reason.value for reason in CloseReason]
COLUMNS = (
    "reference", "care_unit", "sender_unit", "sent_on", "answer_registered_on", "closed_on",
    "close_reason", "imported_at",
)


def history_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Yield `count` believable rows in YEAR: answered, closed or still open."""
    rng = random.Random(6)  # noqa: S311 - benchmark data
    start = dt.date(YEAR, 1, 1)
    now = dt.datetime.now(dt.UTC)
    for number in range(count):
        sent = start + dt.timedelta(days=rng.randrange(365))
        fate = rng.random()
        answered = closed = reason = None
        if fate < 0.75:
            answered = sent + dt.timedelta(days=int(rng.expovariate(1 / 35)))
        elif fate < 0.92:
            closed, reason = sent + dt.timedelta(days=rng.randrange(90)), rng.choice(REASONS)
        yield (
            f"B-{number:07d}", rng.choice(CARE_UNITS), rng.choice(SENDER_UNITS), sent, answered,
            closed, reason, now,
        )


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def fill_sqlite(url: str, count: int) -> None:
    engine = make_engine(url)
    marks = ", ".join("?" for _ in COLUMNS)
    sql = f"INSERT INTO history_inquiries ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        cursor.executemany(sql, ([_sqlite_value(v) for v in row] for row in history_rows(count)))
        cursor.execute("COMMIT")
        cursor.execute("ANALYZE")
    finally:
        raw.close()
        engine.dispose()


def fill_postgresql(url: str, count: int) -> None:
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        with cursor.copy(f"COPY history_inquiries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in history_rows(count):
                copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE history_inquiries")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def time_report(url: str, runs: int) -> tuple[float, int]:
    """Return the median seconds of `runs` reports, and the cohort's size."""
    database = Database(url)
    seconds, total = [], 0
    try:
        for _ in range(runs):
            with database.transaction() as session:
                started = time.perf_counter()
                report = response_times(session, Period(YEAR, AS_OF))
                seconds.append(time.perf_counter() - started)
                total = report.total
    finally:
        database.engine.dispose()
    return statistics.median(seconds), total


def _server_url() -> str | None:
    url = os.environ.get("GATEWAY_BENCH_DATABASE_URL") or os.environ.get(
        "GATEWAY_TEST_DATABASE_URL"
    )
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _admin(server: str, statement: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


def run_backend(name: str, url: str, rows: int, runs: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    started = time.perf_counter()
    (fill_postgresql if name == "postgresql" else fill_sqlite)(url, rows)
    filled = time.perf_counter() - started
    median, total = time_report(url, runs)
    print(
        f"{name:<10} rows {rows:>9,}  bulk insert {filled:7.1f} s  "
        f"yearly report {median:6.2f} s (median of {runs}; cohort {total:,})"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench stats", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["all", "sqlite", "postgresql"], default="all")
    args = parser.parse_args(argv)
    if args.backend in ("all", "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            run_backend("sqlite", f"sqlite:///{Path(folder) / 'bench.sqlite'}", args.rows,
                        args.runs)
    if args.backend in ("all", "postgresql"):
        server = _server_url()
        if not server:
            print("postgresql skipped: set GATEWAY_BENCH_DATABASE_URL (or _TEST_) to a server")
            return
        name = f"gwbench_{uuid.uuid4().hex[:8]}"
        _admin(server, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            run_backend("postgresql", url, args.rows, args.runs)
        finally:
            _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
