"""A PostgreSQL cluster of a test's own, for fault tests that stop, restart or kill the database.

Never the machine's shared server: `initdb` makes a cluster in a temporary folder, which listens
on its own loopback port and socket folder, and is removed at the end. As root (CI), every
server command runs as the `postgres` user, since PostgreSQL refuses to run as root.

    def test_something(pg_cluster: PgCluster) -> None:    # the fixture below
        url = pg_cluster.create_database("gateway")       # postgresql+psycopg://…
        ...
        pg_cluster.stop()          # fast shutdown: sessions end, in-flight transactions abort
        pg_cluster.start()
        pg_cluster.restart()
        pg_cluster.kill()          # immediate shutdown, as a crash: recovery on the next start

A pytest plugin (`pytest_plugins` in tests/conftest.py): tests name `pg_cluster` without imports.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.servers import free_port

SERVER_USER = "postgres"


def postgres_bin(name: str) -> str | None:
    """Return the path of a PostgreSQL server program (initdb, pg_ctl), newest version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


class PgCluster:
    """One initdb cluster: its folder, port and superuser URL; start, stop, restart, kill."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = port
        self._as_root = os.geteuid() == 0
        self._initdb = postgres_bin("initdb")
        self._pg_ctl = postgres_bin("pg_ctl")

    # --- running the server programs ----------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        options: dict[str, Any] = {}
        if self._as_root:
            options = {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        result = subprocess.run(
            list(args), cwd=self.folder, env=env, capture_output=True, text=True,
            timeout=120, check=False, **options,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.server_log()}"
            )
        return result

    def _pg_ctl_run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self._pg_ctl
        return self._run(self._pg_ctl, "-D", str(self.data), *args, check=check)

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        """Make the cluster (trust authentication, superuser `postgres`, no fsync at init)."""
        assert self._initdb
        if self._as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.folder.chmod(0o700)
        self._run(self._initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg_ctl_run("-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends sessions and aborts their transactions; `smart` waits
        for sessions to end; `immediate` is a crash (recovery on the next start)."""
        self._pg_ctl_run("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill(self) -> None:
        """Stop the server as a crash would."""
        self.stop("immediate")

    @property
    def running(self) -> bool:
        return self._pg_ctl_run("status", check=False).returncode == 0

    def destroy(self) -> None:
        """Stop the server if it runs and remove the folder."""
        if self.data.exists() and self.running:
            self._pg_ctl_run("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- databases ----------------------------------------------------------------------------

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """The SQLAlchemy (psycopg 3) URL of a database of this cluster over TCP on loopback."""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str) -> None:
        """Run statements as the superuser in the `postgres` database (autocommit)."""
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()

    def create_database(self, name: str, owner: str = "postgres") -> str:
        """Create an empty database and return its URL."""
        self.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return self.url(name)


def start_cluster() -> PgCluster:
    """Make and start a cluster in a new temporary folder (the caller destroys it)."""
    if not postgres_bin("initdb") or not postgres_bin("pg_ctl"):
        pytest.skip("initdb/pg_ctl not found: install Debian's postgresql")
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="gw-pgcluster-"))
    cluster = PgCluster(folder, free_port())
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A running cluster of the test's own, removed afterwards whatever the test did to it."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()
