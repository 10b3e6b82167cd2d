"""`gateway.db.insert_unless_taken` in a session that lives on across a rollback, on a database
that really commits (SQLite reuses a rolled-back rowid; natural keys repeat on both), and
`insert_with`, which writes the rows that refer to the inserted one with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session

from gateway.db import Rows, insert_unless_taken, insert_with, make_engine, utcnow
from gateway.jobs.models import Job, JobState
from gateway.jobs.service import enqueue
from tests.conftest import drop_pg_database, fresh_database_url


def test_a_key_rolled_back_can_be_inserted_again_in_the_same_session(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    Job.metadata.tables[Job.__tablename__].create(engine)
    with Session(engine, expire_on_commit=False) as session:
        enqueue(session, "k", {}, dedupe_key="first")
        session.commit()
        # Still held (by a caller, an exception's frame): the identity map keeps it.
        held = enqueue(session, "k", {}, dedupe_key="second")
        rolled_back = held.id
        session.rollback()
        again = enqueue(session, "k", {}, dedupe_key="third")
        session.commit()
        assert again.id == rolled_back  # SQLite gave the rowid out again
        assert again.dedupe_key == "third" and again.state is JobState.PENDING
        assert held is not again
    engine.dispose()


def test_a_taken_key_inserts_nothing_and_the_first_stays(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    Job.metadata.tables[Job.__tablename__].create(engine)
    with Session(engine) as session:
        first = enqueue(session, "k", {"n": 1}, dedupe_key="same")
        twin = Job(kind="k", lane="default", payload={"n": 2}, dedupe_key="same",
                   run_at=utcnow())
        assert insert_unless_taken(session, twin, Job.dedupe_key) is None
        session.commit()
        assert first.payload == {"n": 1} and twin not in session
    engine.dispose()


# --- insert_with: a row and the rows that refer to it, in one statement on PostgreSQL ----------

_META = MetaData()
_PARENTS = Table("parents", _META, Column("id", String(20), primary_key=True),
                 Column("note", String(20)))
_CHILDREN = Table("children", _META, Column("id", Integer, primary_key=True),
                  Column("parent_id", ForeignKey("parents.id"), nullable=False),
                  Column("label", String(20), nullable=False),
                  Column("tag", String(20), unique=True))


class _Base(DeclarativeBase):
    pass


class _Parent(_Base):
    __table__ = _PARENTS


class _Child(_Base):
    __table__ = _CHILDREN


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = fresh_database_url(request.param, tmp_path)
    engine = make_engine(url)
    _META.create_all(engine)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def _children(labels: list[str], parent: str = "p", tags: list[str | None] | None = None) -> Rows:
    tags = tags or [None] * len(labels)
    return Rows(_CHILDREN, tuple({"parent_id": parent, "label": label, "tag": tag}
                                 for label, tag in zip(labels, tags, strict=True)),
                skip_taken=True)


def _labels(session: Session) -> list[str]:
    return list(session.scalars(select(_CHILDREN.c.label).order_by(_CHILDREN.c.id)))


def test_the_rows_are_written_with_their_row_in_their_order(engine: Engine) -> None:
    with Session(engine) as session:
        written = insert_with(session, _Parent(id="p", note="n"), (_PARENTS.c.id,),
                              [_children(["c", "a", "b"]), Rows(_CHILDREN, ())])
        session.commit()
        assert written is not None and written[1] == [3, 0]
        # The key sequence follows the given order (an inquiry's legs are read in it).
        assert _labels(session) == ["c", "a", "b"]


def test_a_taken_key_writes_none_of_the_rows(engine: Engine) -> None:
    with Session(engine) as session:
        assert insert_with(session, _Parent(id="p"), (_PARENTS.c.id,), [_children(["a"])])
        session.commit()
        twin = _Parent(id="p", note="twin")
        assert insert_with(session, twin, (_PARENTS.c.id,), [_children(["b", "c"])]) is None
        session.commit()
        assert _labels(session) == ["a"] and twin not in session
        assert session.scalar(select(_PARENTS.c.note)) is None


def test_a_row_whose_key_is_taken_is_left_out_and_not_counted(engine: Engine) -> None:
    with Session(engine) as session:
        insert_with(session, _Parent(id="p"), (_PARENTS.c.id,), [_children(["a"], tags=["t"])])
        written = insert_with(session, _Parent(id="q"), (_PARENTS.c.id,),
                              [_children(["b", "c"], "q", tags=["t", "u"])])
        session.commit()
        assert written is not None and written[1] == [1]
        assert _labels(session) == ["a", "c"]


def test_the_rows_objects_are_in_the_session_as_written(engine: Engine) -> None:
    child = _Child(parent_id="p", label="kept", tag="k")
    rows = Rows(_CHILDREN, ({"id": 7, "parent_id": "p", "label": "kept", "tag": "k"},),
                objects=(child,))
    executed: list[str] = []
    with Session(engine) as session:
        insert_with(session, _Parent(id="p"), (_PARENTS.c.id,), [rows])
        event.listen(engine, "before_cursor_execute", lambda *a: executed.append(a[2]))
        assert inspect(child).persistent and session.get(_Child, 7) is child
        assert (child.label, child.tag) == ("kept", "k") and executed == []  # no read back
        child.label = "changed"
        session.commit()  # a change is the unit of work's, as for any loaded object
        assert session.scalar(select(_CHILDREN.c.label)) == "changed"


def test_a_row_taken_on_another_key_than_the_one_named_is_an_error(engine: Engine) -> None:
    with Session(engine) as session:
        insert_with(session, _Parent(id="p"), (_PARENTS.c.id,),
                    [Rows(_CHILDREN, ({"id": 1, "parent_id": "p", "label": "a", "tag": "t"},))])
        clash = Rows(_CHILDREN, ({"id": 1, "parent_id": "q", "label": "b", "tag": "u"},),
                     skip_taken=True, conflict=("tag",))
        with pytest.raises(IntegrityError):  # a job taken on its id is not a duplicate's
            insert_with(session, _Parent(id="q"), (_PARENTS.c.id,), [clash])


def test_objects_are_never_left_without_their_row_and_sql_defaults_are_refused(
    engine: Engine,
) -> None:
    with pytest.raises(ValueError, match="objects"):
        Rows(_CHILDREN, ({"parent_id": "p", "label": "a"},), skip_taken=True,
             objects=(_Child(parent_id="p", label="a"),))
    table = Table("computed", MetaData(), Column("id", Integer, primary_key=True),
                  Column("made", String(10), default=func.lower("X")))
    with Session(engine) as session, pytest.raises(ValueError, match="computed.made"):
        insert_with(session, _Parent(id="p"), (_PARENTS.c.id,), [Rows(table, ({"id": 1},))])
