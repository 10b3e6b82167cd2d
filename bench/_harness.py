"""The benchmarks' common parts: result rows, fresh databases (SQLite in a folder, or a
PostgreSQL database created and dropped on the server), peak memory, the printed table and
`bench/out/results.json`.

Every benchmark module has `measure(context) -> list[Row]`; `python -m bench` runs each in a
process of its own (so its peak RSS is its own) and collects the rows.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import resource
import secrets
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.memory import resident_bytes
from signing.devpki import Person

PG_ENV = "GATEWAY_TEST_DATABASE_URL"
OUT = Path(__file__).parent / "out" / "results.json"


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    """Read the process's resident bytes from /proc every 5 ms while the block runs; yield a
    list whose one item is the highest so far (its value at the start, first)."""
    peak, stop = [resident_bytes(pid)], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], resident_bytes(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


@dataclass(frozen=True)
class Context:
    """What a run asks of the benchmarks: tiny sizes (`quick`) and which databases."""

    quick: bool = False
    postgresql: str | None = None

    def backends(self) -> list[tuple[str, str | None]]:
        """(name, server URL) per database: SQLite always, PostgreSQL where a server is set."""
        found: list[tuple[str, str | None]] = [("sqlite", None)]
        if self.postgresql:
            found.append(("postgresql", self.postgresql))
        return found


def context_from_env(quick: bool) -> Context:
    url = os.environ.get("GATEWAY_BENCH_DATABASE_URL") or os.environ.get(PG_ENV) or None
    return Context(quick=quick, postgresql=url)


@dataclass
class Row:
    """One measurement as results.json lists it; `detail` carries what a row reports beside."""

    name: str
    database: str | None
    unit: str
    value: float
    floor: float | None = None
    goal: str | None = None
    met: bool | None = None
    peak_rss_mb: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """The gateway's cost per item over the floor's (1 is the floor); None without one."""
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        ratio = self.ratio
        body["ratio"] = round(ratio, 3) if ratio is not None else None
        body["value"] = round(self.value, 6)
        body["floor"] = round(self.floor, 6) if self.floor is not None else None
        keys = ["name", "database", "unit", "value", "floor", "ratio", "goal", "met",
                "peak_rss_mb", "detail"]
        return {key: body[key] for key in keys}


def at_most(row: Row, limit: float, *, of: str = "ratio") -> Row:
    """Set the row's goal and whether it is met: `of` ("ratio" or "value") at most limit."""
    measured = row.ratio if of == "ratio" else row.value
    row.goal = f"{of} ≤ {limit:g}"
    row.met = measured is not None and measured <= limit
    return row


def at_least(row: Row, limit: float) -> Row:
    row.goal = f"value ≥ {limit:g}"
    row.met = row.value >= limit
    return row


def in_turns(ours: Callable[[], object], bare: Callable[[], object], runs: int,
             warm_up: int = 3, clock: Callable[[], float] = time.perf_counter
             ) -> tuple[float, float]:
    """Median seconds of ours and of bare (the floor), timed in turns so that a busy shared
    machine slows both alike; each turn the other goes first, so neither always runs on what
    the other left in the caches. `clock` may be time.process_time for work done in this
    process alone: the CPU it took, without the time other processes held the CPU."""
    for _ in range(warm_up):
        ours()
        bare()
    times: tuple[list[float], list[float]] = ([], [])
    pairs = list(zip((ours, bare), times, strict=True))
    for turn in range(runs):
        for run, measured in (pairs if turn % 2 == 0 else pairs[::-1]):
            start = clock()
            run()
            measured.append(clock() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def own_peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@contextmanager
def fresh_database(server: str | None, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database: SQLite in folder when server is None, else a new
    database on the PostgreSQL server, dropped afterwards."""
    if server is None:
        yield f"sqlite:///{folder / 'bench.sqlite'}"
        return
    url = sqlalchemy_url(server)
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


# The benchmarks' throwaway PKI (a temporary folder): a passphrase they can sign with, and the
# demo directory's primary REKO of Vårdcentralen Kryddgården, who may answer its inquiries.
BENCH_PASSPHRASE = "bench"  # noqa: S105 - a throwaway test PKI
BENCH_REKO = Person("SE2321000255-P001", "Anna Rekosson")


def gateway_app(folder: Path, url: str) -> Any:
    """A gateway app (instance in folder) on a migrated database with the demo directory and a
    development PKI."""
    from gateway import create_app
    from gateway.db import database
    from gateway.directory.demo import load_demo_directory
    from gateway.migrate import upgrade
    from signing.devpki import init_pki

    instance = folder / "instance"
    app = create_app({
        "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16), "COOKIE_SECURE": False,
    })
    upgrade(database(app).engine)
    init_pki(instance / "pki", passphrase=BENCH_PASSPHRASE, rekos=[BENCH_REKO])
    with app.app_context(), database(app).transaction() as session:
        load_demo_directory(session, actor="cli:bench")
    return app


def gateway_env(app: Any) -> dict[str, str]:
    """The environment for a `gateway` command in its own process on app's instance."""
    return {
        **os.environ,
        "GATEWAY_INSTANCE_PATH": app.instance_path,
        "GATEWAY_DATABASE_URL": app.config["DATABASE_URL"],
        "GATEWAY_SECRET_KEY": app.config["SECRET_KEY"],
    }


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain-text table (also the Markdown table of docs/performance.md)."""
    head = ["name", "database", "unit", "value", "floor", "ratio", "goal", "met", "peak RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["name"], row["database"], row["unit"], row["value"], row["floor"],
                 row["ratio"], row["goal"], row["met"], row["peak_rss_mb"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict[str, Any]], path: Path = OUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _child(name: str, context: Context, queue: Any) -> None:
    try:
        module = importlib.import_module(f"bench.{name}")
        rows = module.measure(context)
        peak = own_peak_rss_mb()
        found = []
        for row in rows:
            if row.peak_rss_mb is None:
                row.peak_rss_mb = peak
            found.append(row.to_json())
        queue.put(("ok", found))
    except BaseException:  # noqa: BLE001 - reported by the parent, which goes on
        queue.put(("error", traceback.format_exc()))


def run_one(name: str, context: Context) -> list[dict[str, Any]]:
    """Run one benchmark module in a fresh process; return its rows (raises on its failure)."""
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    process = spawn.Process(target=_child, args=(name, context, queue))
    process.start()
    status, payload = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"benchmark {name} failed:\n{payload}")
    rows: list[dict[str, Any]] = payload
    return rows


