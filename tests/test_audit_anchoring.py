"""Anchoring the audit chain with RFC 3161 timestamps from the development TSA."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from gateway.audit.anchoring import ANCHOR_JOB, anchor_now, verify_anchors
from gateway.audit.models import AuditAnchor, AuditEntry
from gateway.audit.service import read_head, record
from gateway.db import database, get_session
from gateway.jobs.models import Job
from gateway.jobs.registry import recurring_kinds
from gateway.jobs.worker import Worker
from signing.devpki import PkiLayout


def add_entries(n: int = 3) -> None:
    session = get_session()
    for i in range(n):
        record(session, actor="cli:test", action="test.entry", object_id=str(i))
    session.commit()


@pytest.mark.usefixtures("installed_pki")
def test_anchor_verifies_against_the_trust_roots(app: Flask) -> None:
    add_entries()
    session = get_session()
    anchored = anchor_now(session, app)
    session.commit()
    assert anchored is not None and anchored.token
    report = verify_anchors(get_session(), app)
    assert report.ok, report.problem
    assert report.checked == 1
    assert report.latest is not None


@pytest.mark.usefixtures("installed_pki")
def test_rewritten_anchored_entry_is_found(app: Flask) -> None:
    add_entries()
    session = get_session()
    anchored = anchor_now(session, app)
    assert anchored is not None
    # Someone rewrites the chain (head included); only the timestamp still knows the old hash.
    session.execute(
        update(AuditEntry).where(AuditEntry.seq == anchored.seq).values(entry_hash="f" * 64)
    )
    session.commit()
    report = verify_anchors(get_session(), app)
    assert not report.ok
    assert f"seq {anchored.seq}" in report.problem


@pytest.mark.usefixtures("installed_pki")
def test_forged_token_is_refused(app: Flask) -> None:
    add_entries()
    session = get_session()
    anchored = anchor_now(session, app)
    assert anchored is not None
    assert anchored.token is not None
    forged = anchored.token[:-20] + bytes(20)
    session.execute(update(AuditAnchor).where(AuditAnchor.id == anchored.id).values(token=forged))
    session.commit()
    report = verify_anchors(get_session(), app)
    assert not report.ok
    assert "timestamp invalid" in report.problem


def test_without_a_tsa_nothing_is_anchored(app: Flask) -> None:
    add_entries()
    assert anchor_now(get_session(), app) is None


@pytest.mark.usefixtures("installed_pki")
def test_worker_anchors_once_per_slot(app: Flask) -> None:
    add_entries()
    now = dt.datetime(2026, 11, 23, 10, 15, tzinfo=dt.UTC)
    worker = Worker(app, "test-worker", clock=lambda: now)
    worker.seed_recurring()
    worker.seed_recurring()
    session = get_session()
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.kind == ANCHOR_JOB))
    assert jobs == 1
    session.commit()
    while worker.run_one() is not None:
        pass
    assert get_session().scalar(select(func.count()).select_from(AuditAnchor)) == 1


def anchors() -> list[tuple[int, str]]:
    rows = get_session().execute(select(AuditAnchor.seq, AuditAnchor.entry_hash)
                                 .order_by(AuditAnchor.id))
    return [(row.seq, row.entry_hash) for row in rows]


def run_slot(app: Flask, now: dt.datetime) -> None:
    worker = Worker(app, "test-worker", clock=lambda: now)
    worker.seed_recurring()
    get_session().commit()
    while worker.run_one() is not None:
        pass


def test_the_head_is_anchored_every_five_minutes_by_default(app: Flask) -> None:
    assert app.config["AUDIT_ANCHOR_MINUTES"] == 5
    assert recurring_kinds()[ANCHOR_JOB] == dt.timedelta(minutes=5)


@pytest.mark.usefixtures("installed_pki")
def test_only_slots_that_saw_appends_are_anchored(app: Flask) -> None:
    start = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    add_entries(2)
    run_slot(app, start)
    head = read_head(get_session())
    assert head is not None
    assert anchors() == [(head.seq, head.entry_hash)]
    # Five quiet minutes: the head is anchored already, so no new timestamp.
    run_slot(app, start + dt.timedelta(minutes=5))
    assert anchors() == [(head.seq, head.entry_hash)]
    add_entries(1)
    run_slot(app, start + dt.timedelta(minutes=10))
    new_head = read_head(get_session())
    assert new_head is not None
    assert anchors() == [(head.seq, head.entry_hash), (new_head.seq, new_head.entry_hash)]
    report = verify_anchors(get_session(), app)
    assert (report.ok, report.checked, report.latest_seq) == (True, 2, new_head.seq)


@pytest.mark.usefixtures("installed_pki")
def test_cli_anchor_and_verify(committing_app: Flask) -> None:
    with database(committing_app).transaction() as session:
        record(session, actor="cli:test", action="test.entry")
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": committing_app.config["DATABASE_URL"],
        "GATEWAY_INSTANCE_PATH": committing_app.instance_path,
    }
    database(committing_app).engine.dispose()

    def gateway(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )

    anchored = gateway("audit", "anchor")
    assert anchored.returncode == 0, anchored.stderr
    verified = gateway("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit anchors ok: 1" in verified.stdout
    assert "covering entries up to seq 1" in verified.stdout
    assert "not yet anchored" not in verified.stdout
    again = gateway("audit", "anchor")
    assert again.returncode == 1
    assert "anchored already" in again.stderr
    assert "Traceback" not in verified.stderr


@pytest.fixture(autouse=True)
def _quiet_pyhanko(caplog: pytest.LogCaptureFixture) -> None:
    # pyhanko logs path-building failures with tracebacks for forged tokens: expected noise.
    caplog.set_level("CRITICAL", logger="pyhanko")
    caplog.set_level("CRITICAL", logger="pyhanko_certvalidator")


def test_instance_layout_is_used(app: Flask) -> None:
    assert Path(app.config["TRUST_ROOTS"][0]) == PkiLayout.for_instance(app.instance_path).ca_cert
