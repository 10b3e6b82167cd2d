"""Intake benchmark (DESIGN 8): hälsoförfrågningar accepted per second end to end through the
intake service (validated, consent-checked, routed, encrypted, stored, receipted), against a
floor that only parses and validates, encrypts and inserts; on SQLite and on PostgreSQL.

    python -m bench intake                                  # SQLite (+ PostgreSQL if
                                                            # GATEWAY_TEST_DATABASE_URL is set)
    python -m bench.intake --count 300 --database-url postgresql://postgres@127.0.0.1/test

Every run uses a temporary instance folder and a fresh database, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, event, insert

from bench._forms import SENDER as FORM_SENDER
from bench._forms import halsoforfragan
from bench._harness import Context, Row, at_most, fresh_database, gateway_app
from forms import parse_halsoforfragan
from gateway.db import database, utcnow
from gateway.inquiries.intake import Submitter, submit
from gateway.vault.service import get_vault

DEFAULT_COUNT = 300
WARM_UP = 10
PG_ENV = "GATEWAY_TEST_DATABASE_URL"

_FLOOR = Table(
    "bench_intake_floor",
    MetaData(),
    Column("id", String(36), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class Result:
    backend: str
    count: int
    service_per_second: float
    floor_per_second: float
    statements: float  # SQL statements per inquiry through the service

    @property
    def ratio(self) -> float:
        """The service's cost per inquiry over the floor's."""
        return self.floor_per_second / self.service_per_second

    def describe(self) -> str:
        return (
            f"{self.backend:<10} {self.count} inquiries: service {self.service_per_second:7.1f}/s "
            f"({1000 / self.service_per_second:6.1f} ms each, {self.statements:.1f} statements), "
            f"floor {self.floor_per_second:7.1f}/s ({1000 / self.floor_per_second:6.1f} ms each), "
            f"cost over the floor {self.ratio:.2f}"
        )

    def row(self) -> Row:
        row = Row("intake_service", self.backend, "ms per inquiry",
                  1000 / self.service_per_second, 1000 / self.floor_per_second,
                  detail={"inquiries": self.count, "statements_per_inquiry": self.statements})
        return at_most(row, 3)


def _forms(count: int, offset: int) -> list[bytes]:
    """Distinct valid forms (own id and person), built before any timing starts."""
    return [
        halsoforfragan(offset + n)
        for n in range(count)
    ]


def _app(folder: Path, url: str) -> Flask:
    app: Flask = gateway_app(folder, url)
    _FLOOR.create(database(app).engine)
    return app


def _service_step(app: Flask) -> Callable[[bytes], None]:
    submitter = Submitter("cli:bench", FORM_SENDER.organisation,
                          frozenset({FORM_SENDER.funktionsadress}))
    db = database(app)

    def step(data: bytes) -> None:
        with db.transaction() as session:
            result = submit(session, data, submitter=submitter, channel="api", now=utcnow())
            assert result.created
            result.body()

    return step


def _floor_step(app: Flask) -> Callable[[bytes], None]:
    db = database(app)
    vault = get_vault(app)

    def step(data: bytes) -> None:
        form = parse_halsoforfragan(data)
        sealed = vault.seal(data, f"inquiries.content:{form.id}")
        with db.transaction() as session:
            session.execute(insert(_FLOOR).values(id=form.id, content=sealed))

    return step


def _rate(step: Callable[[bytes], None], forms: list[bytes]) -> float:
    for data in forms[:WARM_UP]:
        step(data)
    timed = forms[WARM_UP:]
    started = time.perf_counter()
    for data in timed:
        step(data)
    return len(timed) / (time.perf_counter() - started)


def _interleaved(service: Callable[[bytes], None], floor: Callable[[bytes], None],
                 count: int, rounds: int = 5) -> tuple[float, float]:
    """Rates of the service and the floor, measured in turns (a busy machine slows both)."""
    spent = [0.0, 0.0]
    done = [0, 0]
    offsets = [0, 100_000]
    per_round = max(1, count // rounds)
    for step, forms in ((floor, _forms(WARM_UP, 200_000)), (service, _forms(WARM_UP, 300_000))):
        for data in forms:
            step(data)
    for _ in range(rounds):
        for index, step in enumerate((service, floor)):
            forms = _forms(per_round, offsets[index])
            offsets[index] += per_round
            started = time.perf_counter()
            for data in forms:
                step(data)
            spent[index] += time.perf_counter() - started
            done[index] += per_round
    return done[0] / spent[0], done[1] / spent[1]


def run(backend: str, url: str | None, count: int) -> Result:
    """Measure one backend in a temporary instance and database, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        folder = Path(tmp)
        with fresh_database(url, folder) as db_url:
            app = _app(folder, db_url)
            engine = database(app).engine
            try:
                with app.app_context():
                    service_step = _service_step(app)
                    statements = [0]

                    def counted(*_args: object) -> None:
                        statements[0] += 1

                    event.listen(engine, "before_cursor_execute", counted)
                    probes = _forms(5, 900_000)
                    for data in probes:
                        service_step(data)
                    event.remove(engine, "before_cursor_execute", counted)
                    service, floor = _interleaved(service_step, _floor_step(app), count)
            finally:
                engine.dispose()
    return Result(backend, count, service, floor, statements[0] / len(probes))


def measure(context: Context) -> list[Row]:
    count = 20 if context.quick else DEFAULT_COUNT
    rows = []
    for backend, server in context.backends():
        result = run(backend, server, count)
        print(result.describe(), flush=True)
        rows.append(result.row())
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=f"inquiries per measurement (default {DEFAULT_COUNT})")
    parser.add_argument("--database-url", default=os.environ.get(PG_ENV),
                        help=f"a PostgreSQL server to measure too (default ${PG_ENV})")
    args = parser.parse_args(argv)
    if not 0 < args.count <= 10_000:
        parser.error("--count must be between 1 and 10000")
    print("intake: accepted per second, service (end to end) against the floor "
          "(parse+XSD, seal, insert); one transaction per inquiry")
    print(run("sqlite", None, args.count).describe())
    if args.database_url:
        print(run("postgresql", args.database_url, args.count).describe())
    else:
        print(f"postgresql skipped: set {PG_ENV} or pass --database-url")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
