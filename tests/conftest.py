"""Fixtures: every database test runs on SQLite and, where configured, PostgreSQL.

The schema comes from the real migrations; each test runs inside a transaction that is
rolled back (sessions join it through savepoints), as warehouse's tests do.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway import create_app
from gateway.db import database, make_engine
from gateway.migrate import upgrade

PG_URL_VAR = "GATEWAY_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"]

# Fixtures shared by many modules, registered here so that tests name them without imports.
pytest_plugins = [
    "tests.support.clock", "tests.support.pgcluster", "tests.support.pki", "tests.support.stats",
    "tests.support.web",
]


# argon2id as production sets it costs 64 MiB and about half a second a hash: waste in tests
# that make users and API clients by the dozen. The tests hash with real argon2id all the same,
# cheaply; a test about the production parameters asks for `production_argon2`.
TEST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
ARGON2_HASHERS = ("gateway.auth.users._hasher", "gateway.auth.clients._hasher")


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for hasher in ARGON2_HASHERS:
            patch.setattr(hasher, TEST_ARGON2)  # raises if the hasher has moved
        yield


@pytest.fixture
def production_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password and client-secret hashers with production parameters, for this test."""
    for hasher in ARGON2_HASHERS:
        monkeypatch.setattr(hasher, PasswordHasher())


def pg_server_url() -> str | None:
    url = os.environ.get(PG_URL_VAR)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_pg_database() -> str:
    """Create an empty PostgreSQL database for this run and return its URL."""
    server = pg_server_url()
    assert server
    name = f"gwtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    server = pg_server_url()
    assert server
    name = make_url(url).database
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database_url(backend: str, tmp_path: Path) -> str:
    """Return the URL of a new, empty database of `backend` (skips where PostgreSQL is unset)."""
    if backend == "postgresql":
        if not pg_server_url():
            pytest.skip(f"PostgreSQL run skipped: {PG_URL_VAR} is not set")
        return create_pg_database()
    return f"sqlite:///{tmp_path / f'gw-{uuid.uuid4().hex[:8]}.sqlite'}"


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head once per test session and backend."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("db"))
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    if request.param == "postgresql":
        drop_pg_database(url)


def test_config(instance: Path, database_url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "COOKIE_SECURE": False,
        "BASE_URL": "http://localhost",
    }
    config.update(extra)
    return config


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


AppMaker = Callable[..., Flask]


@pytest.fixture
def make_app(migrated_url: str, instance: Path) -> Iterator[AppMaker]:
    """Build apps on the test's instance with extra config (e.g. SMTP_RELAY=...), each app's
    sessions joining one transaction that is rolled back after the test."""
    rollbacks: list[Callable[[], None]] = []

    def build(**extra: Any) -> Flask:
        application = create_app(test_config(instance, migrated_url, **extra))
        db = database(application)
        connection = db.engine.connect()
        transaction = connection.begin()
        db.bind_to(connection)

        def rollback() -> None:
            transaction.rollback()
            connection.close()
            db.engine.dispose()

        rollbacks.append(rollback)
        return application

    yield build
    for rollback in reversed(rollbacks):
        rollback()


@pytest.fixture
def app(make_app: AppMaker) -> Iterator[Flask]:
    """An app in an app context whose writes are rolled back after the test."""
    application = make_app()
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture(params=BACKENDS)
def committing_app(
    request: pytest.FixtureRequest, tmp_path: Path, instance: Path
) -> Iterator[Flask]:
    """An app on a database of its own that really commits (for multi-process tests)."""
    url = fresh_database_url(request.param, tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    application = create_app(test_config(instance, url))
    with application.app_context():
        yield application
    database(application).engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)
