"""Test helpers for deploy/: its files, libpq URLs, psql with variables, and the scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import pg_server_url
from tests.support.servers import REPO

DEPLOY = REPO / "deploy"
# The console script of this environment, for scripts that call `gateway`.
GATEWAY_BIN = Path(sys.executable).with_name("gateway")


def require_tools(*names: str) -> None:
    """Skip the test, naming the Debian package's command, when a tool is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (see .ci/run)")


def require_pg_server() -> str:
    """Return the test PostgreSQL server's URL, or skip."""
    url = pg_server_url()
    if not url:
        pytest.skip("PostgreSQL run skipped: GATEWAY_TEST_DATABASE_URL is not set")
    return url


def libpq_url(url: str) -> str:
    """The URL as psql and pg_dump take it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_user(url: str, user: str, database: str | None = None) -> str:
    """The SQLAlchemy URL of the same server as user (and database)."""
    changed = make_url(url).set(username=user, password=None)
    if database is not None:
        changed = changed.set(database=database)
    return changed.render_as_string(hide_password=False)


def psql(url: str, file: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run a psql script with -v variables; fail the test with psql's output on an error."""
    args = ["psql", "--no-psqlrc", "--quiet", "--dbname", libpq_url(url), "--file", str(file)]
    for name, value in variables.items():
        args += ["--set", f"{name}={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{file.name}: {result.stdout}{result.stderr}"
    return result


def run_script(
    name: str, *args: str, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run deploy/backup/NAME with env on top of this environment (GATEWAY_* removed)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full.update(env)
    return subprocess.run(
        [str(DEPLOY / "backup" / name), *args], env=full, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
