"""Inbox benchmark: server time (in process, through the Flask app) of the REKO's inbox
(/inkorg) and the case worker's list (/arenden) with 10,000 inquiries in the unit, on SQLite
and PostgreSQL. The inquiries and their legs are generated in SQL (as in the statistics
benchmark) for Vårdcentralen Kryddgården from EBB Öster; both users log in through the real
password and TOTP steps.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from sqlalchemy import select, text

from bench._forms import KRYDDGARDEN
from bench._forms import SENDER as FORM_SENDER
from bench._harness import Context, Row, at_most, fresh_database, gateway_app
from bench.stats import bulk_fill, live_statements
from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import database
from gateway.directory.models import CareUnit, FunctionalAddress, SenderUnit

REKO_HSA_ID = "SE2321000255-P001"  # Kryddgården's primary REKO in the demo directory
PASSWORD = "bänkens lösenord är långt"
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PAGES = {"reko_inbox": "/inkorg", "case_worker_list": "/arenden"}


def _app(folder: Path, url: str, count: int) -> tuple[Flask, dict[str, str]]:
    app: Flask = gateway_app(folder, url)
    engine = database(app).engine
    secrets_by_user = {}
    with app.app_context(), database(app).transaction() as session:
        for username, role, extra in (
            ("rekobank", Role.COORDINATOR, {"hsa_id": REKO_HSA_ID}),
            ("handlaggare", Role.CASE_WORKER, {"unit": FORM_SENDER.funktionsadress}),
        ):
            user, secret = create_user(session, username=username, role=role,
                                       password=PASSWORD, **extra)
            if role is Role.COORDINATOR:  # the inbox of the unit filled below, not the picker
                user.inbox_scope = KRYDDGARDEN[0]
            secrets_by_user[username] = secret
        care = session.scalar(select(CareUnit.id).where(CareUnit.hsa_id == KRYDDGARDEN[0]))
        sender = session.scalar(
            select(SenderUnit.id).join(FunctionalAddress)
            .where(FunctionalAddress.address == FORM_SENDER.funktionsadress)
        )
    assert care is not None and sender is not None
    with engine.begin() as connection:
        bulk_fill(connection, live_statements(engine.dialect.name, count, [care], [sender]))
        connection.execute(text("ANALYZE"))
    return app, secrets_by_user


def _token(client: Any, page: str) -> str:
    found = TOKEN_RE.search(client.get(page).get_data(as_text=True))
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def _logged_in(app: Flask, username: str, secret: str) -> Any:
    client = app.test_client()
    with app.app_context():
        first = client.post("/login", data={"csrf_token": _token(client, "/login"),
                                            "username": username, "password": PASSWORD})
        assert first.status_code == 302, first.get_data(as_text=True)[:500]
        done = client.post("/login/otp", data={"csrf_token": _token(client, "/login/otp"),
                                               "code": pyotp.TOTP(secret).now()})
        assert done.status_code == 302, done.get_data(as_text=True)[:500]
    return client


def _server_ms(app: Flask, client: Any, path: str, runs: int) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(runs + 1):
        with app.app_context():
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        size = len(response.get_data())
    return statistics.median(times[1:]), size


def run(backend: str, server: str | None, count: int, runs: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="bench-inbox-") as tmp:
        folder = Path(tmp)
        with fresh_database(server, folder) as url:
            app, user_secrets = _app(folder, url, count)
            try:
                clients = {
                    "reko_inbox": _logged_in(app, "rekobank", user_secrets["rekobank"]),
                    "case_worker_list": _logged_in(app, "handlaggare",
                                                   user_secrets["handlaggare"]),
                }
                found = {
                    page: _server_ms(app, clients[page], path, runs)
                    for page, path in PAGES.items()
                }
            finally:
                database(app).engine.dispose()
    detail: dict[str, Any] = {"inquiries": count}
    for page, (ms, size) in found.items():
        detail[f"{page}_ms"] = round(ms, 1)
        detail[f"{page}_bytes"] = size
    worst = max(ms for ms, _ in found.values())
    print(f"inbox {backend:<10} {count} inquiries: " + ", ".join(
        f"{page} {ms:.0f} ms ({size // 1024} kB)" for page, (ms, size) in found.items()),
        flush=True)
    row = Row("inbox", backend, "ms server time (the slower page)", worst, detail=detail)
    return at_most(row, 150, of="value")


def measure(context: Context) -> list[Row]:
    count, runs = (200, 1) if context.quick else (10_000, 5)
    return [run(backend, server, count, runs) for backend, server in context.backends()]
