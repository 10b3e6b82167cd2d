"""Statistics benchmark: the yearly report over a million inquiries on SQLite and PostgreSQL.

`python -m bench stats` runs the four rows (live and history, each database);
`python -m bench.stats --kind history --backend postgresql` runs one of them (`--rows`,
`--runs`). Each row has a fresh database: a million live inquiries with their legs (and the
summaries and day counts the workflow keeps), or a million imported history rows (and their
day counts), generated in SQL (`INSERT ... SELECT` over `generate_series` on PostgreSQL and a
recursive CTE on SQLite) with the secondary indexes made after the rows. The databases are
filled side by side, then the report (`response_times`) is timed against a `COUNT(*)` over
the same rows, one row after the other. PostgreSQL runs where GATEWAY_BENCH_DATABASE_URL or
GATEWAY_TEST_DATABASE_URL names a server (a database is created and dropped).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import literal_column, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bench._harness import (
    Context,
    Row,
    at_most,
    context_from_env,
    fresh_database,
    gateway_app,
    table,
)
from gateway.db import Database, UTCDateTime, database, make_engine
from gateway.inquiries import daycounts
from gateway.inquiries.workflow import count_summaries
from gateway.migrate import upgrade
from gateway.stats import historycounts
from gateway.stats.engine import response_times
from gateway.stats.models import CloseReason
from gateway.stats.period import Period
from gateway.stats.sqltime import epoch_seconds

YEAR = 2023
AS_OF = dt.date(2024, 4, 30)
CARE_UNITS = [f"SE2321000255-K{n:03d}" for n in range(1, 19)]
SENDER_UNITS = ["EBB Öster", "EBB Söder", "EBB Norr", "EBB Väster", "EBB Centrum", "AMA"]
REASONS = [reason.value for reason in CloseReason]
KINDS = ("live", "history")


def _numbers(dialect: str, count: int) -> str:
    """A WITH clause naming the row numbers 0 .. count-1 as s(n)."""
    if dialect == "postgresql":
        return f"WITH s(n) AS (SELECT generate_series(0, {count - 1})::bigint)"
    return f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {count - 1})"


def _day(dialect: str, days: str) -> str:
    """A SQL date `days` (an expression) after the first of January of YEAR."""
    if dialect == "postgresql":
        return f"(DATE '{YEAR}-01-01' + ({days})::int)"
    return f"date('{YEAR}-01-01', '+' || ({days}) || ' days')"


def _pick(values: list[Any], number: str = "n") -> str:
    """A SQL expression choosing one of values (numbers or texts) by the row number."""
    cases = " ".join(
        f"WHEN {index} THEN {value!r}" if isinstance(value, str) else f"WHEN {index} THEN {value}"
        for index, value in enumerate(values)
    )
    return f"CASE {number} % {len(values)} {cases} END"


def history_statement(dialect: str, count: int) -> str:
    """The INSERT ... SELECT of `count` history rows sent in YEAR: 75 % answered (0-89 days
    later), 17 % closed (0-89 days later), the rest still open; 18 care units by 6 sending
    units."""
    sent = "(n * 7919) % 365"
    fate = "(n * 13) % 100"
    later = "((n * 31) % 90)"
    imported = ("TIMESTAMPTZ '2024-05-01 00:00:00+00'" if dialect == "postgresql"
                else "'2024-05-01 00:00:00.000000'")
    return f"""{_numbers(dialect, count)}
        INSERT INTO history_inquiries (reference, care_unit, sender_unit, sent_on,
            answer_registered_on, closed_on, close_reason, imported_at)
        SELECT 'B-' || n, {_pick(CARE_UNITS)}, {_pick(SENDER_UNITS, f"(n / {len(CARE_UNITS)})")},
            {_day(dialect, sent)},
            CASE WHEN {fate} < 75 THEN {_day(dialect, f"{sent} + {later}")} END,
            CASE WHEN {fate} >= 75 AND {fate} < 92 THEN {_day(dialect, f"{sent} + {later}")} END,
            CASE WHEN {fate} >= 75 AND {fate} < 92 THEN {_pick(REASONS)} END,
            {imported}
        FROM s"""


@contextmanager
def bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction for a bulk fill of generated (consistent) rows: foreign
    keys are not checked row by row, nor each page synced (SQLite), and index builds may use
    more memory (PostgreSQL). The database is a throwaway."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(connection, "foreign_keys=OFF", "synchronous=OFF",
                            "cache_size=-262144")
        with connection.begin():
            if engine.dialect.name == "postgresql":
                for setting in ("maintenance_work_mem = '512MB'", "work_mem = '256MB'",
                                "synchronous_commit = off"):
                    connection.exec_driver_sql(f"SET LOCAL {setting}")
                superuser = connection.exec_driver_sql(
                    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                ).scalar()
                if superuser:  # foreign keys are triggers, skipped in a replica's role
                    connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield connection
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(connection, "foreign_keys=ON", "synchronous=FULL")


def _sqlite_pragmas(connection: Connection, *pragmas: str) -> None:
    """Set pragmas outside a transaction (on the driver's connection: SQLAlchemy would begin
    one first)."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for pragma in pragmas:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _analyze(engine: Engine) -> None:
    """As autovacuum would soon after a bulk load on PostgreSQL: statistics, and the visibility
    map that lets index walks read the index only."""
    analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(analyze))


def fill_history(url: str, count: int) -> None:
    """Add `count` history rows of YEAR (history_statement) and their day counts, as an import
    would have kept them (historycounts.rebuild)."""
    engine = make_engine(url)
    upgrade(engine)
    with bulk_connection(engine) as connection:
        connection.execute(text("DROP INDEX ix_history_inquiries_report"))
        connection.execute(text(history_statement(engine.dialect.name, count)))
        connection.execute(text(
            "CREATE INDEX ix_history_inquiries_report ON history_inquiries "
            "(sent_on, care_unit, sender_unit, answer_registered_on, closed_on)"
        ))
    with Session(engine) as session, session.begin():
        historycounts.rebuild(session)
    _analyze(engine)
    engine.dispose()


def fill_live(url: str, count: int) -> None:
    """Add `count` live inquiries of YEAR with their legs, generated in SQL (one statement per
    table and leg kind, one transaction): submitted and received; then answered and
    registered (75 %), closed (17 %) or only opened (8 %). Their summaries too (with the leg
    seconds), and the day counts the workflow would have kept (workflow.count_summaries)."""
    engine = make_engine(url)
    with bulk_connection(engine) as connection:
        care = [row[0] for row in connection.execute(text("SELECT id FROM care_units ORDER BY id"))]
        senders = [
            row[0] for row in connection.execute(text("SELECT id FROM sender_units ORDER BY id"))
        ]
        # 18 care units by 6 sending units, as the history: every choice then repeats each
        # 65,700 inquiries, and the day counts are computed once per distinct inquiry.
        bulk_fill(connection, live_statements(engine.dialect.name, count, care[:18], senders))
    with Session(engine) as session, session.begin():
        count_summaries(session)
    _analyze(engine)
    engine.dispose()


def live_statements(dialect: str, count: int, care: list[int], senders: list[int]) -> list[str]:
    """The INSERT ... SELECT statements that fill inquiries, legs and their summaries (SQLite or
    PostgreSQL)."""
    numbers = _numbers(dialect, count)
    if dialect == "postgresql":
        ident = ("lpad(to_hex(n), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0')")
        digest = "md5(n::text) || md5(n::text)"

        def moment(days: str, seconds: str) -> str:
            return (f"(TIMESTAMPTZ '{YEAR}-01-01 08:00:00+00' + make_interval("
                    f"days => ({days})::int, secs => ({seconds})::double precision))")
    else:
        ident = "printf('%08x-0000-4000-8000-%012x', n, n)"
        digest = "printf('%064x', n)"

        def moment(days: str, seconds: str) -> str:
            return (f"strftime('%Y-%m-%d %H:%M:%S', '{YEAR}-01-01 08:00:00', '+' || ({days}) || "
                    f"' days', '+' || ({seconds}) || ' seconds') || '.000000'")

    def day(days: str) -> str:
        return _day(dialect, days)

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
    # The summaries the workflow keeps as it writes legs: the same times, the status, and each
    # leg's seconds as the workflow computes them (NULL where an end is missing).
    firsts = {kind: f"CASE WHEN {where.replace('TRUE', truth)} THEN {at} END"
              for kind, where, at in legs}
    seconds = {column: _seconds_between(dialect, firsts.get(start), firsts.get(end))
               for start, end, column in daycounts.PAIRS}
    statements.append(f"""{numbers}
        INSERT INTO inquiry_summaries (inquiry_id, status, {", ".join(firsts)}, started,
            form_type, care_unit_id, sender_unit_id, deadline, {", ".join(seconds)})
        SELECT {ident},
            CASE WHEN {fate} < 75 THEN 'registered' WHEN {fate} < 92 THEN 'closed'
                 ELSE 'opened' END,
            {", ".join(firsts.values())}, {firsts["submitted"]},
            'halsoforfragan', {_pick(care)}, {_pick(senders)}, {day(sent_day + " + 30")},
            {", ".join(seconds.values())}
        FROM s""")
    return statements


def _seconds_between(dialect: str, start: str | None, end: str | None) -> str:
    """SQL for the seconds from start to end (SQL times) as the workflow computes a leg's
    (sqltime.epoch_seconds of each); NULL where either is missing."""
    if start is None or end is None:
        return "NULL"
    template = str(epoch_seconds(dialect, literal_column("__AT__", UTCDateTime())).compile(
        dialect=(postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()),
        compile_kwargs={"literal_binds": True},
    ))
    end_s, start_s = (template.replace("__AT__", f"({at})") for at in (end, start))
    return f"({end_s} - {start_s})"


# Indexes dropped while the rows go in and made again afterwards (far faster than keeping them).
BULK_INDEXES = {
    "ix_legs_at": "legs (at)",
    "ix_legs_inquiry_id": "legs (inquiry_id)",
    "ix_legs_kind": "legs (kind)",
    "ix_inquiries_person_hash": "inquiries (person_hash)",
    "ix_inquiries_person_care_unit": "inquiries (person_hash, care_unit_id)",
    "ix_inquiries_form_type": "inquiries (form_type)",
    "ix_inquiry_summaries_status": "inquiry_summaries (status)",
    "ix_inquiry_summaries_started": "inquiry_summaries (started)",
    **{f"ix_inquiry_summaries_{column}":
       f"inquiry_summaries ({column}, started, form_type) WHERE {column} IS NOT NULL"
       for _, _, column in daycounts.PAIRS},
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


def fill(kind: str, url: str, rows: int, folder: Path) -> float:
    """Fill one database with `rows` live inquiries or history rows; return the seconds."""
    started = time.perf_counter()
    if kind == "live":
        # The directory's changes are audited, which needs an app (its vault keys the chain).
        database(gateway_app(folder, url)).engine.dispose()
        started = time.perf_counter()
        fill_live(url, rows)
    else:
        fill_history(url, rows)
    return time.perf_counter() - started


def measure_one(kind: str, backend: str, url: str, rows: int, runs: int, filled: float) -> Row:
    """The report over one filled database against COUNT(*) over its rows."""
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


def measure_rows(
    context: Context, rows: int, runs: int, kinds: tuple[str, ...] = KINDS,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> list[Row]:
    """Fill a database per kind and backend, side by side (each in a process of its own: the
    SQLite fills run in Python, the PostgreSQL ones in the server), then time the reports one
    after the other."""
    plan = [(kind, backend, server) for kind in kinds for backend, server in context.backends()
            if backend in backends]
    with ExitStack() as stack:
        targets = []
        for kind, backend, server in plan:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-stats-")))
            targets.append((kind, backend, stack.enter_context(fresh_database(server, folder)),
                            folder))
        started = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(len(targets), mp_context=spawn) as pool:
            fills = [pool.submit(fill, kind, url, rows, folder)
                     for kind, _, url, folder in targets]
            seconds = [future.result() for future in fills]
        print(f"filled {len(targets)} databases of {rows:,} rows side by side in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        return [
            measure_one(kind, backend, url, rows, runs, filled)
            for (kind, backend, url, _), filled in zip(targets, seconds, strict=True)
        ]


def measure(context: Context) -> list[Row]:
    rows, runs = (2_000, 1) if context.quick else (1_000_000, 3)
    return measure_rows(context, rows, runs)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kind", choices=["all", *KINDS], default="all")
    parser.add_argument("--backend", choices=["all", "sqlite", "postgresql"], default="all")
    args = parser.parse_args(argv)
    context = context_from_env(quick=False)
    if args.backend == "postgresql" and context.postgresql is None:
        parser.error("set GATEWAY_BENCH_DATABASE_URL (or _TEST_) to a PostgreSQL server")
    kinds = KINDS if args.kind == "all" else (args.kind,)
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    found = measure_rows(context, args.rows, args.runs, kinds, backends)
    print(table([row.to_json() for row in found]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
