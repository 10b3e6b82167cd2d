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
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, create_engine, insert, text
from sqlalchemy.engine import make_url

from bench._forms import SENDER as FORM_SENDER
from bench._forms import halsoforfragan
from forms import parse_halsoforfragan
from gateway import create_app
from gateway.db import database, utcnow
from gateway.directory.demo import load_demo_directory
from gateway.inquiries.intake import Submitter, submit
from gateway.migrate import upgrade
from gateway.vault.service import get_vault
from signing.devpki import init_pki

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

    @property
    def ratio(self) -> float:
        """The service's throughput as a share of the floor's."""
        return self.service_per_second / self.floor_per_second

    def describe(self) -> str:
        return (
            f"{self.backend:<10} {self.count} inquiries: service {self.service_per_second:7.1f}/s "
            f"({1000 / self.service_per_second:6.1f} ms each), floor "
            f"{self.floor_per_second:7.1f}/s ({1000 / self.floor_per_second:6.1f} ms each), "
            f"service/floor {self.ratio:.2f}"
        )


def _forms(count: int, offset: int) -> list[bytes]:
    """Distinct valid forms (own id and person), built before any timing starts."""
    return [
        halsoforfragan(offset + n)
        for n in range(count)
    ]


@contextmanager
def _fresh_database(url: str | None, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database: SQLite in folder, or a new one on the server."""
    if url is None:
        yield f"sqlite:///{folder / 'bench.sqlite'}"
        return
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    name = f"gwbench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app(folder: Path, url: str) -> Flask:
    instance = folder / "instance"
    app = create_app({
        "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16), "COOKIE_SECURE": False,
    })
    upgrade(database(app).engine)
    init_pki(instance / "pki", passphrase=secrets.token_hex(8))
    with database(app).transaction() as session:
        load_demo_directory(session, actor="cli:bench")
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


def run(backend: str, url: str | None, count: int) -> Result:
    """Measure one backend in a temporary instance and database, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        folder = Path(tmp)
        with _fresh_database(url, folder) as db_url:
            app = _app(folder, db_url)
            try:
                with app.app_context():
                    floor = _rate(_floor_step(app), _forms(count + WARM_UP, 0))
                    service = _rate(_service_step(app), _forms(count + WARM_UP, 10_000))
            finally:
                database(app).engine.dispose()
    return Result(backend, count, service, floor)


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
