"""Storage: the engine, sessions per request or command, the base model and shared column types."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import (
    ColumnDefault,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")
E = TypeVar("E")
# A SELECT of any columns, kept as it is typed through a function that narrows it.
AnySelect = TypeVar("AnySelect", bound="Select[*tuple[Any, ...]]")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on both databases (SQLite keeps no zone; PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime()}


# Large values are written to SQLite in pieces of this size (see write_blob_in_place).
BLOB_PIECE = 1024 * 1024
# ... and to PostgreSQL in pieces of this size: each piece rewrites the value so far on the
# server, so fewer, larger pieces there.
PG_BLOB_PIECE = 4 * 1024 * 1024


def blob_placeholder(session: Session, data: bytes | bytearray) -> Any:
    """Return what to put in a large (nullable) binary column at the INSERT: NULL, to be
    filled by `write_blob_in_place` after the flush (data is the value it will get).

    A bound value is copied whole by the drivers: SQLite's driver and engine each copy it (a
    22 MB answer PDF was held three times while inserted), and psycopg copies it into its
    dumper's buffer and again into libpq's (whose buffer then stays that large). Written in
    pieces, only a piece is ever copied."""
    return None


def upsert_for(session: Session, target: Any) -> PostgresqlInsert | SqliteInsert:
    """Return an INSERT into `target` (a table or a mapped class) with the session's database's
    ON CONFLICT clauses (both databases have them, each in its own dialect)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(target)
    return sqlite_insert(target)


_BUILT: dict[tuple[str, Hashable], Any] = {}


def built_once(session: Session, key: Hashable, build: Callable[[Session], E]) -> E:
    """Return the statement `build` makes for the session's database, made once per process
    and database kind (`key` names it): a statement executed for every inquiry is then not
    built again each time, only its parameters change."""
    found = _BUILT.get((session.get_bind().dialect.name, key))
    if found is None:
        found = _BUILT[(session.get_bind().dialect.name, key)] = build(session)
    statement: E = found
    return statement


def insert_unless_taken(session: Session, new: T, *conflict: Any) -> T | None:
    """INSERT the row of `new` (a mapped object not yet added, its attributes as set; column
    defaults as for any insert) with ON CONFLICT DO NOTHING on the unique columns `conflict`
    (none named: on any unique key) and return `new`, now stored and in the session; None when
    the key was taken. One statement, where a savepoint around a flush costs three, and the
    transaction stays usable on PostgreSQL either way."""
    written = insert_with(session, new, conflict, ())
    return None if written is None else written[0]


@dataclass(frozen=True)
class Rows:
    """Rows of one table that `insert_with` writes with the row they refer to, each with the same
    keys. `skip_taken`: a row whose unique key is taken is left out (ON CONFLICT DO NOTHING on
    the unique columns `conflict`; none named: on any unique key). `objects`: the mapped objects
    these are the rows of (transient, keys given), in the session as stored afterwards; never
    with `skip_taken`, which could leave an object without its row."""

    table: Table
    rows: tuple[dict[str, Any], ...]
    skip_taken: bool = False
    conflict: tuple[str, ...] = ()
    objects: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.objects and (self.skip_taken or len(self.objects) != len(self.rows)):
            raise ValueError("Rows' objects are one per row, and never with skip_taken")


def insert_with(session: Session, new: T, conflict: tuple[Any, ...],
                rows: Sequence[Rows]) -> tuple[T, list[int]] | None:
    """Insert `new` as `insert_unless_taken` does and, when it was, `rows` (which refer to it);
    return `new` and how many of each Rows were written, or None when its key was taken and
    nothing was written. On PostgreSQL one statement (data-modifying CTEs, each row inserted
    from the first's RETURNING), where a statement each cost a round trip and its client-side
    work; on SQLite, where round trips cost little, a statement per table (issue 17)."""
    mapper = inspect(type(new))
    given = {prop.columns[0].key: getattr(new, prop.key)
             for prop in mapper.column_attrs if prop.key in new.__dict__}
    names = tuple(column.key for column in conflict)
    complete = [(r, [_with_defaults(r.table, row) for row in r.rows]) for r in rows if r.rows]
    session.flush()  # rows these may refer to
    together = bool(complete) and session.get_bind().dialect.name == "postgresql"
    shape = tuple((r.table, len(values), tuple(values[0]), r.skip_taken, r.conflict)
                  for r, values in complete) if together else ()
    key = ("insert_with", type(new), names, frozenset(given), shape)
    statement = built_once(session, key, lambda s: _first_insert(s, mapper.local_table, given,
                                                                names, complete if together
                                                                else ()))
    parameters = dict(given) if not together else _together_parameters(given, complete)
    row = session.execute(statement, parameters).first()
    if row is None:
        return None
    filled = dict(row._mapping)
    counts = [int(filled.pop(f"written_{i}")) for i in range(len(complete))] if together else []
    _adopt(session, new, filled)
    if not together:
        counts = [_insert_rows(session, r, values) for r, values in complete]
    for r, values in complete:
        if r.objects:
            for obj, value in zip(r.objects, values, strict=True):
                _adopt(session, obj, value)
    by_rows = iter(counts)
    return new, [next(by_rows) if r.rows else 0 for r in rows]


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its columns' Python-side defaults where it has no value (an INSERT ...
    SELECT gets none of them from SQLAlchemy), its keys in the table's column order. A value
    or a callable without arguments only: a column whose default is a SQL expression must be
    given its value."""
    complete = {}
    for column in table.columns:
        if column.key in row:
            complete[column.key] = row[column.key]
        elif isinstance(column.default, ColumnDefault):
            default = column.default
            if default.is_clause_element:
                raise ValueError(f"{table.name}.{column.key}: a SQL default; give its value")
            complete[column.key] = default.arg(None) if default.is_callable else default.arg
    return complete


def _first_insert(session: Session, table: Table, given: dict[str, Any], names: tuple[str, ...],
                  complete: Sequence[tuple[Rows, list[dict[str, Any]]]]) -> Any:
    """The INSERT of `new`'s row returning only what the database filled in (the key,
    defaults); with `complete`, one statement that inserts those rows after it."""
    # Only what the database filled in: the ORM's bulk INSERT ... RETURNING of the whole entity
    # read the sealed content back and built a second object (issue 17).
    filled = [column for column in table.columns
              if column.key not in given or column.primary_key]
    first = upsert_for(session, table).on_conflict_do_nothing(index_elements=list(names) or None)
    if not complete:
        return first.returning(*filled)
    first_cte = first.values({
        key: bindparam(f"v_{key}", type_=table.c[key].type) for key in given
    }).returning(*filled).cte("first_row")
    counts = []
    for i, (r, values) in enumerate(complete):
        keys = list(values[0])
        # A row each, FROM the first row (none when it was not inserted); one INSERT per table
        # whose rows take the table's key sequence in their order (legs are read in it).
        each = [
            select(literal_column(str(j), Integer).label("ordinal"),
                   *(bindparam(f"r{i}_{j}_{key}", type_=r.table.c[key].type).label(key)
                     for key in keys)).select_from(first_cte)
            for j in range(len(values))
        ]
        given_rows = (each[0] if len(each) == 1 else union_all(*each)).subquery(f"given_{i}")
        picked = select(*(given_rows.c[key] for key in keys)).order_by(given_rows.c.ordinal)
        insert_rows = postgresql_insert(r.table).from_select(keys, picked, include_defaults=False)
        if r.skip_taken:
            insert_rows = insert_rows.on_conflict_do_nothing(
                index_elements=list(r.conflict) or None)
        inserted = insert_rows.returning(literal_column("1")).cte(f"inserted_{i}")
        counts.append(select(func.count()).select_from(inserted).scalar_subquery()
                      .label(f"written_{i}"))
    return select(*first_cte.c, *counts)


def _together_parameters(given: dict[str, Any],
                         complete: Sequence[tuple[Rows, list[dict[str, Any]]]]) -> dict[str, Any]:
    parameters = {f"v_{key}": value for key, value in given.items()}
    for i, (_, values) in enumerate(complete):
        for j, value in enumerate(values):
            parameters.update({f"r{i}_{j}_{key}": item for key, item in value.items()})
    return parameters


def _insert_rows(session: Session, rows: Rows, values: list[dict[str, Any]]) -> int:
    """INSERT the rows (executemany) and return how many were written."""
    statement = built_once(
        session, ("insert_rows", rows.table, rows.skip_taken, rows.conflict),
        lambda s: upsert_for(s, rows.table).on_conflict_do_nothing(
            index_elements=list(rows.conflict) or None) if rows.skip_taken else insert(rows.table))
    written: int = session.execute(statement, values).rowcount  # type: ignore[attr-defined]
    return written


def _adopt(session: Session, new: Any, filled: dict[str, Any]) -> None:
    """Make `new`, whose row was just written by Core, an object of the session as stored:
    its attributes as set, and `filled` (by column key) as written."""
    mapper = inspect(type(new))
    by_column = {prop.columns[0].key: prop.key for prop in mapper.column_attrs}
    for column in mapper.primary_key:
        if column.key in filled:
            setattr(new, by_column[column.key], filled[column.key])
    make_transient_to_detached(new)
    # An object still mapped under this key is stale: the row was just inserted, so whatever
    # held that key before was rolled back (SQLite hands a rolled-back rowid out again).
    stale = session.identity_map.get(inspect(new).key)
    if stale is not None:
        session.expunge(stale)
    session.add(new)
    for column_key, value in filled.items():
        set_committed_value(new, by_column[column_key], value)


def write_blob_in_place(session: Session, column: Any, row_id: int,
                        data: bytes | bytearray) -> None:
    """After the flush of a row given `blob_placeholder(data)`, write `data` to its column in
    pieces. On SQLite the column becomes a zeroblob of the value's size (never materialised)
    and the pieces are written into it (incremental blob I/O; `row_id` is the row's INTEGER
    PRIMARY KEY, SQLite's rowid); elsewhere each piece is appended with an UPDATE."""
    table = column.table
    (key,) = table.primary_key.columns
    view = memoryview(data)
    if session.get_bind().dialect.name != "sqlite":
        session.execute(update(table).where(key == row_id).values({column: b""}))
        # The piece as a parameter of the execution, not a value in the statement: SQLAlchemy
        # caches a compiled statement with the values it was built with, and a piece (a view of
        # data) would keep the whole value alive after the request.
        append = (update(table).where(key == bindparam("row_id"))
                  .values({column: column.concat(bindparam("piece", type_=column.type))}))
        for start in range(0, len(view), PG_BLOB_PIECE):
            session.execute(append, {"row_id": row_id, "piece": view[start:start + PG_BLOB_PIECE]})
        return
    session.execute(update(table).where(key == row_id).values({column: func.zeroblob(len(data))}))
    driver = session.connection().connection.driver_connection
    with driver.blobopen(table.name, column.name, row_id) as blob:  # type: ignore[union-attr]
        for start in range(0, len(view), BLOB_PIECE):
            blob.write(view[start:start + BLOB_PIECE])


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE, and
    its file is private (see `_private_sqlite_file`)."""
    # Statement parameters stay out of SQLAlchemy's log lines and exception texts: they hold
    # mail recipients (a case worker's address from the form) and other rows' values, and
    # either can reach a log (echo at DEBUG, a logged IntegrityError).
    kwargs.setdefault("hide_parameters", True)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    _private_sqlite_file(make_url(url).database)
    # Connections are pooled (SQLAlchemy's default QueuePool), not opened per transaction: a
    # new one costs its PRAGMAs, and closing the last one checkpoints the WAL; together 14 % of
    # an intake's time (issue 17).
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so that we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        # A read that decides a write (idempotency, the audit chain head) must hold the
        # write lock from the start, or SQLite fails the upgrade with SQLITE_BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _private_sqlite_file(database: str | None) -> None:
    """Create the database file readable by its owner only (0600, in a 0700 folder when the
    folder is new): it holds sealed content but also names, dates and routing. SQLite gives
    the -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


class Database:
    """The engine and session factory of one app; tests may bind it to an open connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        # True in tests whose sessions all share one connection: no second thread may use it.
        self.bound = False
        self.engine = make_engine(url)
        # What every session of this app finds in its `info` (the audit chain's vault there),
        # so that work on a thread without an app context has it too.
        self.session_info: dict[str, Any] = {}
        self.sessionmaker = sessionmaker(
            self.engine, expire_on_commit=False, info=self.session_info
        )
        # True while sessions join one outside connection (tests): its pool is not ours.
        self.joined = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def bind_to(self, connection: Connection) -> None:
        """Make every session join `connection`'s transaction through savepoints (tests)."""
        self.joined = True
        self.sessionmaker = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint",
            info=self.session_info,
        )
        self.bound = True

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session committed on success and rolled back on any error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions["gateway.db"]
    return db


def get_session() -> Session:
    """Return this request's or command's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().session()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """End this request's or command's session (what it did not commit is rolled back)."""
    session = g.pop("db_session", None)
    if session is not None:
        # Whatever the view did not commit is not wanted: no half-written rows.
        session.rollback()
        session.close()


def init_app(app: Flask) -> None:
    app.extensions["gateway.db"] = Database(app.config["DATABASE_URL"])
    # A request ends its session even when an outer app context (a test, a CLI command)
    # stays pushed and would otherwise share it across requests.
    app.teardown_request(close_session)
    app.teardown_appcontext(close_session)
