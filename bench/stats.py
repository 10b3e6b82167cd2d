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
from sqlalchemy.orm import Session

from bench._harness import Context, Row, at_most, fresh_database, gateway_app
from gateway.db import Database, database, make_engine
from gateway.inquiries.workflow import rebuild_day_counts
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


def fill_live(url: str, count: int) -> None:
    """Add `count` live inquiries of YEAR with their legs, generated in SQL (one statement per
    table and leg kind, one transaction): submitted and received; then answered and
    registered (75 %), closed (17 %) or only opened (8 %). Their summaries too, and the day
    counts built from those (workflow.rebuild_day_counts)."""
    engine = make_engine(url)
    dialect = engine.dialect.name
    with engine.begin() as connection:
        care = [row[0] for row in connection.execute(text("SELECT id FROM care_units ORDER BY id"))]
        senders = [
            row[0] for row in connection.execute(text("SELECT id FROM sender_units ORDER BY id"))
        ]
        bulk_fill(connection, live_statements(dialect, count, care, senders))
    # The day counts the workflow keeps as it writes legs: what the summaries give.
    with Session(engine) as session, session.begin():
        rebuild_day_counts(session)
    # As autovacuum would soon after a bulk load on PostgreSQL: the visibility map lets the
    # leg-time walk read its index only.
    analyze = "VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(analyze))
    engine.dispose()


def _pick(ids: list[int]) -> str:
    """A SQL expression choosing one of ids by the row number n."""
    cases = " ".join(f"WHEN {index} THEN {value}" for index, value in enumerate(ids))
    return f"CASE n % {len(ids)} {cases} END"


def live_statements(dialect: str, count: int, care: list[int], senders: list[int]) -> list[str]:
    """The INSERT ... SELECT statements that fill inquiries and legs (SQLite or PostgreSQL)."""
    if dialect == "postgresql":
        numbers = f"WITH s(n) AS (SELECT generate_series(0, {count - 1})::bigint)"
        ident = ("lpad(to_hex(n), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0')")
        digest = "md5(n::text) || md5(n::text)"

        def moment(days: str, seconds: str) -> str:
            return (f"(TIMESTAMPTZ '{YEAR}-01-01 08:00:00+00' + make_interval("
                    f"days => ({days})::int, secs => ({seconds})::double precision))")

        def day(days: str) -> str:
            return f"(DATE '{YEAR}-01-01' + ({days})::int)"
    else:
        numbers = ("WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s "
                   f"WHERE n < {count - 1})")
        ident = "printf('%08x-0000-4000-8000-%012x', n, n)"
        digest = "printf('%064x', n)"

        def moment(days: str, seconds: str) -> str:
            return (f"strftime('%Y-%m-%d %H:%M:%S', '{YEAR}-01-01 08:00:00', '+' || ({days}) || "
                    f"' days', '+' || ({seconds}) || ' seconds') || '.000000'")

        def day(days: str) -> str:
            return f"date('{YEAR}-01-01', '+' || ({days}) || ' days')"

    sent_day = "(n * 7919) % 365"
    sent_second = "(n % 28800)"
    fate = "(n * 13) % 100"
    answer_days = "((n * 31) % 90)"
    close_days = "(n % 60)"
    inquiries = f"""{numbers}
        INSERT INTO inquiries (id, reference, sender_unit_id, care_unit_id, routed_to,
            reply_to, content_digest, person_hash, channel, flags, deadline, consent_valid_to,
            submitted_by, created_at)
        SELECT {ident}, 'HF-B-' || n, {_pick(senders)}, {_pick(care)}, 'sdk:bench',
            'sdk:bench', {digest}, {digest}, 'api', '[]', {day(sent_day + " + 30")},
            {day(sent_day + " + 300")}, 'client:bench', {moment(sent_day, sent_second + " + 1")}
        FROM s"""
    legs = [
        ("submitted", "TRUE", moment(sent_day, sent_second)),
        ("received", "TRUE", moment(sent_day, sent_second + " + 1")),
        ("opened", f"{fate} >= 75", moment(sent_day + " + 1", sent_second)),
        ("answered", f"{fate} < 75", moment(f"{sent_day} + {answer_days}", sent_second)),
        ("registered", f"{fate} < 75",
         moment(f"{sent_day} + {answer_days}", sent_second + " + 3600")),
        ("closed", f"{fate} >= 75 AND {fate} < 92",
         moment(f"{sent_day} + {close_days}", sent_second + " + 60")),
    ]
    truth = "TRUE" if dialect == "postgresql" else "1"
    statements = [inquiries]
    for kind, where, at in legs:
        statements.append(f"""{numbers}
            INSERT INTO legs (inquiry_id, kind, at, actor)
            SELECT {ident}, '{kind}', {at}, 'client:bench' FROM s
            WHERE {where.replace("TRUE", truth)}""")
    # The summaries the workflow keeps as it writes legs: the same times, and the status.
    firsts = {kind: f"CASE WHEN {where.replace('TRUE', truth)} THEN {at} END"
              for kind, where, at in legs}
    statements.append(f"""{numbers}
        INSERT INTO inquiry_summaries (inquiry_id, status, {", ".join(firsts)}, started,
            form_type, care_unit_id, sender_unit_id, deadline)
        SELECT {ident},
            CASE WHEN {fate} < 75 THEN 'registered' WHEN {fate} < 92 THEN 'closed'
                 ELSE 'opened' END,
            {", ".join(firsts.values())}, {firsts["submitted"]},
            'halsoforfragan', {_pick(care)}, {_pick(senders)}, {day(sent_day + " + 30")}
        FROM s""")
    return statements


# Indexes dropped while the rows go in and made again afterwards (far faster than keeping them).
BULK_INDEXES = {
    "ix_legs_at": "legs (at)",
    "ix_legs_inquiry_id": "legs (inquiry_id)",
    "ix_legs_kind": "legs (kind)",
    "ix_inquiries_person_hash": "inquiries (person_hash)",
    "ix_inquiries_person_care_unit": "inquiries (person_hash, care_unit_id)",
    "ix_inquiry_summaries_status": "inquiry_summaries (status)",
    "ix_inquiry_summaries_started": "inquiry_summaries (started)",
}


def bulk_fill(connection: Any, statements: list[str]) -> None:
    """Run the fill statements with the secondary indexes dropped, then make them again."""
    for name in BULK_INDEXES:
        connection.execute(text(f"DROP INDEX {name}"))
    for statement in statements:
        connection.execute(text(statement))
    for name, columns in BULK_INDEXES.items():
        connection.execute(text(f"CREATE INDEX {name} ON {columns}"))


def time_report(url: str, runs: int) -> tuple[float, int]:
    """Return the median seconds of `runs` reports (one where a report takes over 10 s), and
    the cohort's size."""
    database = Database(url)
    seconds, total = [], 0
    try:
        for _ in range(runs):
            with database.transaction() as session:
                started = time.perf_counter()
                report = response_times(session, Period(YEAR, AS_OF))
                seconds.append(time.perf_counter() - started)
                total = report.total
            if seconds[-1] > 10:
                break
    finally:
        database.engine.dispose()
    return statistics.median(seconds), total


def time_count(url: str, table: str, runs: int) -> float:
    """The floor: median seconds of a COUNT(*) over the same rows."""
    database = Database(url)
    seconds = []
    try:
        for _ in range(runs):
            with database.transaction() as session:
                started = time.perf_counter()
                session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608
                seconds.append(time.perf_counter() - started)
    finally:
        database.engine.dispose()
    return statistics.median(seconds)


def measure_one(
    kind: str, backend: str, url: str, rows: int, runs: int, folder: Path
) -> Row:
    """One database of `rows` live inquiries or history rows; the report against COUNT(*)."""
    started = time.perf_counter()
    if kind == "live":
        # The directory's changes are audited, which needs an app (its vault keys the chain).
        database(gateway_app(folder, url)).engine.dispose()
        started = time.perf_counter()
        fill_live(url, rows)
    else:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        (fill_postgresql if backend == "postgresql" else fill_sqlite)(url, rows)
    filled = time.perf_counter() - started
    seconds, total = time_report(url, runs)
    floor = time_count(url, "inquiries" if kind == "live" else "history_inquiries", runs)
    print(f"{kind:<8} {backend:<10} rows {rows:>9,}  fill {filled:6.1f} s  report {seconds:7.3f} s"
          f"  count(*) {floor:7.4f} s  cohort {total:,}", flush=True)
    row = Row(f"stats_{kind}", backend, "s per yearly report", seconds, floor,
              detail={"rows": rows, "cohort": total, "fill_s": round(filled, 1)})
    limit = 1.0 if backend == "postgresql" else 2.0
    if kind == "history" and backend == "sqlite":
        row.goal = "— (goal on PostgreSQL)"
        return row
    return at_most(row, limit, of="value")


def measure(context: Context) -> list[Row]:
    rows, runs = (2_000, 1) if context.quick else (1_000_000, 3)
    found = []
    for kind in ("live", "history"):
        for backend, server in context.backends():
            with tempfile.TemporaryDirectory(prefix="bench-stats-") as folder, \
                    fresh_database(server, Path(folder)) as url:
                found.append(measure_one(kind, backend, url, rows, runs, Path(folder)))
    return found


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
