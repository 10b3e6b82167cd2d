"""The migrations and the models describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, text

from gateway.db import database, get_session
from gateway.migrate import head_revision
from gateway.models import Base


def test_migrations_match_models(app: Flask) -> None:
    connection = get_session().connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(app: Flask) -> None:
    connection = get_session().connection()
    assert MigrationContext.configure(connection).get_current_revision() == head_revision()


def test_every_model_table_exists(app: Flask) -> None:
    tables = set(inspect(get_session().connection()).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_sqlite_runs_wal_with_foreign_keys(app: Flask) -> None:
    db = database(app)
    if db.dialect != "sqlite":
        return
    session = get_session()
    assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
