"""The audit log: entries chain, any tampering is found and named, appends never fork the chain."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from gateway.audit.cli import audit_group
from gateway.audit.models import AuditAnchor, AuditEntry
from gateway.audit.service import (
    ENTRIES,
    GENESIS_HASH,
    HEAD,
    anchor,
    entry_digest,
    read_head,
    record,
    record_denied,
    verify,
)
from gateway.db import database, get_session


def make_chain(session: Session, n: int) -> list[AuditEntry]:
    entries = [
        record(
            session,
            actor=f"user:handlaggare{i}",
            action="inquiry.read",
            object_type="inquiry",
            object_id=f"id-{i}",
            detail={"n": i, "unit": "EBB Öster"},
        )
        for i in range(1, n + 1)
    ]
    session.flush()
    return entries


def entries(session: Session) -> list[Any]:
    return list(session.execute(select(ENTRIES).order_by(ENTRIES.c.seq)).all())


# --- bad input first -------------------------------------------------------------------------


def test_detail_that_is_not_a_dict_is_refused(app: Flask) -> None:
    with pytest.raises(TypeError):
        record(get_session(), actor="user:a", action="x", detail=["not", "a", "dict"])  # type: ignore[arg-type]


def test_detail_with_nan_is_refused(app: Flask) -> None:
    with pytest.raises(ValueError):
        record(get_session(), actor="user:a", action="x", detail={"n": float("nan")})


def test_hostile_actor_is_recorded_cut_and_the_chain_still_verifies(app: Flask) -> None:
    session = get_session()
    hostile = "user:" + "\x00<script>" + "å" * 1000
    entry = record(session, actor=hostile, action="login.failed", object_id="x" * 500)
    assert len(entry.actor) == 200 and entry.actor.endswith("…")
    assert "\x00" not in entry.actor
    assert len(entry.object_id) == 200
    session.expire_all()
    assert verify(session).ok


def test_detail_values_are_stored_as_they_are_hashed(app: Flask) -> None:
    session = get_session()
    when = dt.datetime(2024, 4, 30, 12, 0, tzinfo=dt.UTC)
    record(session, actor="system:worker", action="job.run",
           detail={"when": when, "codes": ("C1", "C2"), "n": 1.5, 7: "seven"})
    session.expire_all()
    stored = entries(session)[0]
    assert stored.detail == {"when": str(when), "codes": ["C1", "C2"], "n": 1.5, "7": "seven"}
    assert verify(session).ok


# --- an intact chain -------------------------------------------------------------------------


def test_empty_log_verifies(app: Flask) -> None:
    report = verify(get_session())
    assert report.ok and report.checked == 0
    assert report.describe() == "audit chain ok: 0 entries"


def test_entries_link_from_the_genesis_hash(app: Flask) -> None:
    session = get_session()
    made = make_chain(session, 3)
    assert [e.seq for e in made] == [1, 2, 3]
    assert made[0].prev_hash == GENESIS_HASH
    assert made[1].prev_hash == made[0].entry_hash
    assert made[2].prev_hash == made[1].entry_hash
    assert read_head(session) == (3, made[2].entry_hash)
    assert made[0].outcome == "ok"


def test_untouched_chain_passes_in_small_batches(app: Flask) -> None:
    session = get_session()
    make_chain(session, 7)
    report = verify(session, batch_size=2)
    assert report.ok and report.checked == 7
    assert report.first_broken is None


def test_a_rolled_back_entry_leaves_no_gap(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    with pytest.raises(RuntimeError), session.begin_nested():
        record(session, actor="user:a", action="inquiry.change")
        raise RuntimeError("the caller fails after recording")
    after = record(session, actor="user:a", action="inquiry.change")
    assert after.seq == 3
    assert verify(session).ok


def test_denied_attempt_survives_the_callers_rollback(app: Flask) -> None:
    session = get_session()
    make_chain(session, 1)
    session.commit()
    record_denied(actor="user:b", action="inquiry.read", object_type="inquiry", object_id="q1",
                  detail={"required": ["coordinator"]})
    record(session, actor="user:a", action="inquiry.change")
    session.rollback()
    rows = entries(session)
    assert [(r.seq, r.actor, r.outcome) for r in rows] == [(1, "user:handlaggare1", "ok"),
                                                           (2, "user:b", "denied")]
    assert rows[1].detail == {"required": ["coordinator"]}
    assert verify(session).ok


# --- tampering -------------------------------------------------------------------------------

ALTERATIONS: list[tuple[str, Any]] = [
    ("at", dt.datetime(2001, 1, 1, tzinfo=dt.UTC)),
    ("actor", "user:someone-else"),
    ("action", "inquiry.delete"),
    ("object_type", "answer"),
    ("object_id", "id-999"),
    ("outcome", "denied"),
    ("detail", {"n": 3, "unit": "EBB Väster"}),
    ("prev_hash", "f" * 64),
    ("entry_hash", "e" * 64),
    ("seq", 103),
]


@pytest.mark.parametrize(("column", "value"), ALTERATIONS, ids=[a[0] for a in ALTERATIONS])
def test_altering_any_column_of_a_middle_entry_is_found(
    app: Flask, column: str, value: Any
) -> None:
    session = get_session()
    make_chain(session, 5)
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == 3).values({column: value}))
    report = verify(session)
    assert not report.ok
    assert report.first_broken == 3
    assert report.checked == 2
    assert "seq 3" in report.describe()


def test_a_time_moved_by_one_microsecond_is_found(app: Flask) -> None:
    session = get_session()
    made = make_chain(session, 3)
    moved = made[1].at + dt.timedelta(microseconds=1)
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == 2).values(at=moved))
    assert verify(session).first_broken == 2


@pytest.mark.parametrize(
    ("seq", "broken"), [(1, 1), (3, 3), (5, 5)], ids=["first", "middle", "last"]
)
def test_deleting_an_entry_is_found(app: Flask, seq: int, broken: int) -> None:
    session = get_session()
    make_chain(session, 5)
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq == seq))
    report = verify(session)
    assert not report.ok
    assert report.first_broken == broken


def test_deleting_the_last_entries_and_rewinding_nothing_is_found(app: Flask) -> None:
    session = get_session()
    make_chain(session, 5)
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq >= 4))
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 4)
    assert "missing at the end" in report.reason


def test_deleting_the_head_row_is_found(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    session.execute(delete(HEAD))
    report = verify(session)
    assert not report.ok and "head" in report.reason


def _forge(session: Session, seq: int, prev_hash: str) -> None:
    at = dt.datetime.now(dt.UTC)
    fields: dict[str, Any] = dict(
        seq=seq, at=at, actor="user:intruder", action="inquiry.read", object_type="inquiry",
        object_id="id-1", outcome="ok", detail={}, prev_hash=prev_hash,
    )
    # The forger knows the algorithm; only the head row and the links give it away.
    session.execute(insert(ENTRIES).values(entry_hash=entry_digest(**fields), **fields))


def test_a_forged_entry_appended_after_the_head_is_found(app: Flask) -> None:
    session = get_session()
    made = make_chain(session, 3)
    _forge(session, 4, made[-1].entry_hash)
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 4)


def test_a_forged_entry_in_place_of_a_removed_one_is_found(app: Flask) -> None:
    session = get_session()
    made = make_chain(session, 4)
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq == 2))
    _forge(session, 2, made[0].entry_hash)
    report = verify(session)
    # The forger has no chain key: its plain SHA-256 entry is itself found.
    assert (report.ok, report.first_broken) == (False, 2)


def test_a_forged_entry_before_the_start_is_found(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    _forge(session, 0, GENESIS_HASH)
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 0)


# --- concurrency and SQLite's write lock (really committing) -----------------------------------


def test_concurrent_appends_form_one_unbroken_chain(committing_app: Flask) -> None:
    db = database(committing_app)
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def append(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with db.transaction() as session:
                    record(session, actor=f"system:worker{worker}", action="job.run",
                           object_id=str(i))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread below
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with db.transaction() as session:
        report = verify(session)
        seqs = [row.seq for row in entries(session)]
    assert report.ok, report.describe()
    assert report.checked == threads * per_thread
    assert seqs == list(range(1, threads * per_thread + 1))


def test_first_appends_racing_to_create_the_head_agree(committing_app: Flask) -> None:
    db = database(committing_app)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def append() -> None:
        try:
            start.wait()
            with db.transaction() as session:
                record(session, actor="system:worker", action="job.run")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=append) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with db.transaction() as session:
        assert verify(session).checked == 4


def test_denial_after_this_threads_own_append_does_not_wait(committing_app: Flask) -> None:
    db = database(committing_app)
    session = get_session()  # the request's session, as a view sees it
    record(session, actor="user:a", action="inquiry.change")  # holds the chain (and SQLite)
    started = time.monotonic()
    record_denied(actor="user:b", action="inquiry.read", object_id="q1")
    assert time.monotonic() - started < 5
    session.rollback()  # the view fails: its own entry goes, the denial stays
    with db.transaction() as other:
        rows = entries(other)
        assert [(r.seq, r.actor, r.outcome) for r in rows] == [(1, "user:b", "denied")]
        assert verify(other).ok


def test_denial_during_a_read_is_written_without_waiting(committing_app: Flask) -> None:
    db = database(committing_app)
    session = get_session()
    session.execute(select(ENTRIES.c.seq)).all()  # a view that has read something
    started = time.monotonic()
    record_denied(actor="user:b", action="inquiry.read", object_id="q1")
    assert time.monotonic() - started < 5
    if db.dialect == "postgresql":
        # Nothing to wait for: committed at once, visible before the caller's transaction ends.
        with db.transaction() as other:
            assert [r.outcome for r in entries(other)] == ["denied"]
    session.commit()
    with db.transaction() as other:
        assert [r.outcome for r in entries(other)] == ["denied"]


def test_denial_with_no_open_transaction_commits_at_once(committing_app: Flask) -> None:
    record_denied(actor="anonymous:127.0.0.1", action="token.invalid")
    with database(committing_app).transaction() as other:
        assert [r.outcome for r in entries(other)] == ["denied"]


# --- the command line ------------------------------------------------------------------------


def _cli_env(app: Flask) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": database(app).url,
        "GATEWAY_INSTANCE_PATH": app.instance_path,
        "GATEWAY_SECRET_KEY": "test",
    }


def test_cli_verify_reports_an_intact_chain(committing_app: Flask) -> None:
    with database(committing_app).transaction() as session:
        make_chain(session, 3)
    result = CliRunner().invoke(audit_group, ["verify"], env=_cli_env(committing_app))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "audit chain ok: 3 entries", "not yet anchored: the last 3 entries"]


def test_cli_verify_names_the_first_broken_entry(committing_app: Flask) -> None:
    db = database(committing_app)
    with db.transaction() as session:
        make_chain(session, 4)
        session.execute(update(ENTRIES).where(ENTRIES.c.seq == 2).values(action="inquiry.delete"))
    result = CliRunner().invoke(audit_group, ["verify"], env=_cli_env(committing_app))
    assert result.exit_code == 1
    assert "seq 2" in result.stderr
    assert "inquiry.delete" in result.stderr
    assert "altered" in result.stderr


def test_cli_verify_on_a_database_without_tables_fails_cleanly(
    tmp_path: Any, instance: Any
) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}",
           "GATEWAY_INSTANCE_PATH": str(instance), "GATEWAY_SECRET_KEY": "test"}
    result = CliRunner().invoke(audit_group, ["verify"], env=env)
    assert result.exit_code == 1
    assert "gateway db upgrade" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- anchoring boundary -------------------------------------------------------------------------


class FixedTimestamper:
    """A stand-in TSA (external service): returns a token naming the digest."""

    name = "test-tsa"

    def timestamp(self, digest: bytes) -> bytes:
        return b"token:" + digest


def test_anchor_timestamps_the_current_head(app: Flask) -> None:
    session = get_session()
    assert anchor(session, FixedTimestamper()) is None
    made = make_chain(session, 2)
    anchored = anchor(session, FixedTimestamper())
    assert isinstance(anchored, AuditAnchor)
    assert (anchored.seq, anchored.entry_hash) == (2, made[-1].entry_hash)
    assert anchored.token == b"token:" + bytes.fromhex(made[-1].entry_hash)
