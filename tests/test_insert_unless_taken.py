"""`gateway.db.insert_unless_taken` in a session that lives on across a rollback, on a database
that really commits (SQLite reuses a rolled-back rowid; natural keys repeat on both)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from gateway.db import insert_unless_taken, make_engine, utcnow
from gateway.jobs.models import Job, JobState
from gateway.jobs.service import enqueue


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
