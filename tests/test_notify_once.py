"""Each notification mail once (a PostgreSQL cluster of the test's own, real worker processes, a
real relay on loopback): a worker SIGKILLed while the relay holds the second mail, and the
database stopped right after the relay's 250, still leave every REKO with one Message-ID."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway import create_app
from gateway.db import database, make_engine
from gateway.inquiries.models import Leg, LegKind
from gateway.jobs.models import Job, JobState
from gateway.mail.models import OutboxMail
from gateway.migrate import upgrade
from tests.conftest import test_config
from tests.support.intake import load_directory, new_client
from tests.support.pgcluster import PgCluster
from tests.support.pki import install_pki
from tests.support.reko import ANNA_EMAIL, DEPUTY_EMAIL, submit
from tests.support.relays import RecordingRelay
from tests.support.servers import ServerProcess, gateway_env

pytestmark = pytest.mark.slow

LEASE_SECONDS = "2"


def prepared(cluster: PgCluster, instance: Path, pki_template: Path, relay_port: int
             ) -> tuple[Flask, str]:
    """A migrated database on the cluster, the demo directory and one inquiry (its notify job
    queued); return the app and the inquiry's id."""
    url = cluster.create_database("gateway")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    install_pki(instance, pki_template)
    app = create_app(test_config(instance, url, SMTP_RELAY=f"127.0.0.1:{relay_port}"))
    with app.app_context(), database(app).transaction() as session:
        load_directory(session)
        token = new_client(session)
    with app.app_context():
        inquiry_id = submit(app.test_client(), token)
    return app, inquiry_id


def worker(app: Flask, log: Path) -> ServerProcess:
    env = gateway_env(Path(app.config["INSTANCE_PATH"]), app.config["DATABASE_URL"],
                      SMTP_RELAY=app.config["SMTP_RELAY"], JOB_LEASE_SECONDS=LEASE_SECONDS)
    return ServerProcess.gateway("worker", "--no-recurring", "--poll", "0.1", env=env, log=log)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def notify_done(app: Flask) -> bool:
    try:
        with database(app).transaction() as session:
            job = session.scalars(select(Job).where(Job.kind == "inquiry.notify")).one()
            return job.state == JobState.DONE
    except SQLAlchemyError:
        return False  # the database is still on its way back


def assert_each_recipient_mailed_once(app: Flask, relay: RecordingRelay, inquiry_id: str
                                      ) -> dict[str, list[str]]:
    sent = relay.ids_by_recipient()
    assert set(sent) == {ANNA_EMAIL, DEPUTY_EMAIL}
    assert {rcpt: len(set(ids)) for rcpt, ids in sent.items()} == {
        ANNA_EMAIL: 1, DEPUTY_EMAIL: 1}
    with database(app).transaction() as session:
        rows = {row.recipient: row for row in session.scalars(select(OutboxMail))}
        assert {rcpt: row.message_id for rcpt, row in rows.items()} == {
            rcpt: ids[0] for rcpt, ids in sent.items()}
        assert all(row.sent_at is not None for row in rows.values())
        notified = session.scalars(
            select(Leg).where(Leg.inquiry_id == inquiry_id, Leg.kind == LegKind.NOTIFIED)
        ).all()
        assert len(notified) == 1
    return sent


def test_a_worker_killed_while_the_relay_holds_a_mail_sends_no_one_a_second_mail(
    pg_cluster: PgCluster, instance: Path, pki_template: Path, tmp_path: Path
) -> None:
    stalled, release = threading.Event(), threading.Event()

    def hold_the_second_mail(_rcpts: tuple[str, ...], _message_id: str) -> None:
        if len(relay.received) == 2 and not stalled.is_set():
            stalled.set()
            release.wait(60)

    with RecordingRelay(on_data=hold_the_second_mail) as relay:
        app, inquiry_id = prepared(pg_cluster, instance, pki_template, relay.port)
        with worker(app, tmp_path / "doomed.log") as doomed:
            wait_for(stalled.is_set, "the relay to hold the second mail")
            os.killpg(doomed.proc.pid, signal.SIGKILL)
            doomed.proc.wait()
        release.set()  # the relay has the data; its 250 goes to a closed socket
        killed_at = time.monotonic()
        with worker(app, tmp_path / "rescuer.log") as rescuer:
            wait_for(lambda: notify_done(app), f"the job to be taken over:\n{rescuer.output}")
        took_over = time.monotonic() - killed_at
        sent = assert_each_recipient_mailed_once(app, relay, inquiry_id)

    [first, second] = [rcpt for rcpt, _ in relay.received[:2]]
    # The first mail's 250 was recorded: the rescuer did not send it again. The mail in
    # flight at the kill came twice, with one Message-ID.
    assert len(sent[first]) == 1
    assert len(sent[second]) == 2
    assert took_over < float(LEASE_SECONDS) + 30
    database(app).engine.dispose()


def test_a_database_stopped_right_after_the_relays_250_sends_no_one_a_second_message_id(
    pg_cluster: PgCluster, instance: Path, pki_template: Path, tmp_path: Path
) -> None:
    stopped = threading.Event()

    def stop_the_database(_rcpts: tuple[str, ...], _message_id: str) -> None:
        if not stopped.is_set():
            # Before this relay's 250 goes out, so the commit that records it finds no
            # database.
            pg_cluster.stop("fast")
            stopped.set()

    with RecordingRelay(on_data=stop_the_database) as relay:
        app, inquiry_id = prepared(pg_cluster, instance, pki_template, relay.port)
        with worker(app, tmp_path / "worker.log") as survivor:
            wait_for(stopped.is_set, "the first mail")
            time.sleep(2)
            pg_cluster.start()
            wait_for(lambda: notify_done(app), f"the job to finish:\n{survivor.output}")
            assert survivor.proc.poll() is None, "the worker must outlive the restart"
        sent = assert_each_recipient_mailed_once(app, relay, inquiry_id)

    first = relay.received[0][0]
    # The one mail whose 250 could not be recorded came twice, with one Message-ID.
    assert len(sent[first]) == 2
    assert sum(len(ids) for ids in sent.values()) == 3
    database(app).engine.dispose()
