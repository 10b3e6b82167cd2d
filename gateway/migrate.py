"""Schema migrations: Alembic run programmatically on the app's engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None, vault: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    # Migrations that seal values kept in clear before read the app's vault from here.
    cfg.attributes["vault"] = vault
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, vault: Any = None) -> None:
    """Create or migrate the database to `revision`, in one transaction. Pass the app's vault
    (`gateway db upgrade` does): migrations that seal existing clear values need it."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection, vault), revision)


def downgrade(engine: Engine, revision: str, *, vault: Any = None) -> None:
    """Migrate the database back to `revision` (tests of migrations; developers)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection, vault), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the models (developers only)."""
    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True)
