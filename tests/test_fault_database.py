"""The database stopped under load (a PostgreSQL cluster of the test's own): the web process
answers only 201 and 503 with Retry-After; after the restart every accepted inquiry is there
whole, nothing is half-written, and every refused send goes through when sent again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from gateway import create_app
from gateway.audit.models import AuditEntry
from gateway.audit.service import verify
from gateway.db import database, make_engine
from gateway.inquiries.models import Inquiry, IntakeRejection, Leg
from gateway.jobs.models import Job
from gateway.migrate import upgrade
from tests.conftest import test_config
from tests.support.forms import valid_form
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pgcluster import PgCluster
from tests.support.pki import install_pki
from tests.support.servers import ServerProcess, free_port, gateway_env

pytestmark = pytest.mark.slow

SENDERS = 4
# Responses to wait for in each phase: enough to see every sender hit the phase.
PER_PHASE = 8
# A client honours Retry-After; the test's clients wait this much instead of its 30 s.
BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Sent:
    form_id: str
    xml: bytes
    status: int
    retry_after: str | None
    problem_code: str | None


class Load:
    """SENDERS threads posting new inquiries until stopped; every response is kept."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._send_loop) for _ in range(SENDERS)]

    def _send_loop(self) -> None:
        with requests.Session() as http:
            while not self.done.is_set():
                form = valid_form()
                xml = form.xml()
                response = http.post(
                    f"{self.base}/api/v1/inquiries", data=xml, timeout=60,
                    headers={**bearer(self.token), "Content-Type": "application/xml"},
                )
                code = None
                if response.headers.get("Content-Type") == "application/problem+json":
                    code = response.json()["eventIssues"][0]["typeCode"]
                with self.lock:
                    self.sent.append(Sent(form.id, xml, response.status_code,
                                          response.headers.get("Retry-After"), code))
                if response.status_code == 503:
                    self.done.wait(BACKOFF_SECONDS)

    def count(self, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for s in self.sent if status is None or s.status == status)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.done.set()
                pytest.fail(f"gave up waiting for {what}; statuses: {self.statuses()}")
            time.sleep(0.05)

    def statuses(self) -> dict[int, int]:
        with self.lock:
            found: dict[int, int] = {}
            for s in self.sent:
                found[s.status] = found.get(s.status, 0) + 1
            return found

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=90)


def prepared_app(cluster: PgCluster, instance: Path, pki_template: Path) -> tuple[Flask, str]:
    """A migrated database on the cluster with the demo directory; the app and a token."""
    url = cluster.create_database("gateway")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    install_pki(instance, pki_template)
    app = create_app(test_config(instance, url))
    with app.app_context(), database(app).transaction() as session:
        load_directory(session)
        token = new_client(session)
    return app, token


def test_database_stopped_under_load_gives_201_or_503_and_nothing_half_written(
    pg_cluster: PgCluster, instance: Path, pki_template: Path, tmp_path: Path
) -> None:
    app, token = prepared_app(pg_cluster, instance, pki_template)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = gateway_env(instance, app.config["DATABASE_URL"], COOKIE_SECURE="false")
    with ServerProcess.gateway("serve", "--port", str(port), "--workers", "2", env=env,
                               log=tmp_path / "web.log") as web:
        web.wait_http(f"{base}/healthz")
        with Load(base, token) as load:
            load.wait(lambda: load.count(201) >= PER_PHASE, "accepted sends before the stop")
            pg_cluster.stop("fast")
            stopped_at = load.count()
            load.wait(lambda: load.count() >= stopped_at + PER_PHASE, "sends while stopped")
            pg_cluster.start()
            restarted_at = load.count(201)
            load.wait(lambda: load.count(201) >= restarted_at + PER_PHASE,
                      "accepted sends after the restart")
        sent = list(load.sent)

        assert {s.status for s in sent} <= {201, 503}, load.statuses()
        refused = [s for s in sent if s.status == 503]
        assert refused, "the stopped database never showed"
        for s in refused:
            assert s.retry_after is not None and int(s.retry_after) > 0
            assert s.problem_code == "DATABASE_UNAVAILABLE"

        # A refused send is safe to repeat: stored once (200) or now (201), never twice.
        def send_again(refused_send: Sent) -> int:
            again = requests.post(
                f"{base}/api/v1/inquiries", data=refused_send.xml, timeout=60,
                headers={**bearer(token), "Content-Type": "application/xml"},
            )
            return again.status_code

        with ThreadPoolExecutor(SENDERS) as pool:
            assert set(pool.map(send_again, refused)) <= {200, 201}
        assert "unexpected error" not in web.output

    sent_ids = {s.form_id for s in sent}
    with app.app_context(), database(app).transaction() as session:
        stored = set(session.scalars(select(Inquiry.id)))
        assert stored == sent_ids
        legs = dict(session.execute(
            select(Leg.inquiry_id, func.count()).group_by(Leg.inquiry_id)
        ).all())
        # submitted, received, routed: all three or none, for every inquiry.
        assert set(legs) == stored and set(legs.values()) == {3}
        assert session.scalar(select(func.count()).select_from(Job)) == len(stored)
        assert session.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.receipt.is_(None))
        ) == 0
        assert session.scalar(select(func.count()).select_from(IntakeRejection)) == 0
        chain = verify(session)
        assert chain.ok, chain.describe()
        received = session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "inquiry.received")
        )
        assert received == len(stored)
    database(app).engine.dispose()
