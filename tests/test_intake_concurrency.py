"""Sixteen concurrent sends of one id make one inquiry and sixteen identical answers, on a
database that really commits (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.db import database
from tests.support.forms import halsoforfragan
from tests.support.intake import counts, load_directory, new_client
from tests.support.pki import install_pki

SENDERS = 16


def test_concurrent_sends_of_one_id_make_one_inquiry(
    committing_app: Flask, instance: Path, pki_template: Path
) -> None:
    install_pki(instance, pki_template)
    with database(committing_app).transaction() as session:
        load_directory(session)
        token = new_client(session)
    data = halsoforfragan()
    start = threading.Barrier(SENDERS)

    def send(_index: int) -> tuple[int, bytes]:
        client = committing_app.test_client()
        start.wait()
        response = client.post(
            "/api/v1/inquiries", data=data, content_type="application/xml",
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code, response.get_data()

    with ThreadPoolExecutor(SENDERS) as pool:
        results = list(pool.map(send, range(SENDERS)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (SENDERS - 1) + [201], results[0][1][:500]
    assert len({body for _, body in results}) == 1, "the answers differ"
    with database(committing_app).transaction() as session:
        written = counts(session)
        audited = session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "inquiry.received")
        )
    assert (written.inquiries, written.legs, written.jobs, written.rejections) == (1, 3, 1, 0)
    assert audited == 1
