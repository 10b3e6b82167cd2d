"""deploy/postgresql: the owner role migrates, the application role runs the whole journey of an
inquiry, and the application role can neither change nor remove an audit entry."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from gateway import create_app
from gateway.db import database, make_engine
from gateway.mail.sink import MailSink
from gateway.migrate import upgrade
from tests.conftest import test_config
from tests.support.deploy import DEPLOY, psql, require_pg_server, require_tools, with_user
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    parties,
    post_answer,
    run_jobs,
    signed_answer,
    submit,
)


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    app_role: str


@pytest.fixture
def roles() -> Iterator[Roles]:
    """roles.sql run on the test server with names of this test's own (roles are global to the
    server, so they are unique per run and dropped afterwards), then the schema and grants."""
    server = require_pg_server()
    require_tools("psql")
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    owner, app, db = f"gwowner_{suffix}", f"gwapp_{suffix}", f"gwroles_{suffix}"
    psql(server, DEPLOY / "postgresql" / "roles.sql", owner=owner, app=app, db=db)
    owner_url = with_user(server, owner, db)
    try:
        engine = make_engine(owner_url)
        upgrade(engine)
        engine.dispose()
        psql(owner_url, DEPLOY / "postgresql" / "grants.sql", app=app)
        yield Roles(owner_url, with_user(server, app, db), app)
    finally:
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{app}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
        admin.dispose()


def refused(url: str, statement: str) -> bool:
    """Whether the database refuses statement for lack of privilege."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except ProgrammingError as exc:
        return "permission denied" in str(exc.orig) or "must be owner" in str(exc.orig)
    finally:
        engine.dispose()
    return False


def test_the_app_role_runs_a_journey_and_cannot_rewrite_the_audit_log(
    roles: Roles, instance: Path, installed_pki: TestPki
) -> None:
    with MailSink() as sink:
        app = create_app(test_config(instance, roles.app_url,
                                     SMTP_RELAY=f"127.0.0.1:{sink.port}"))
        with app.app_context():
            tokens = parties()
            client = app.test_client()
            inquiry_id = submit(client, tokens.sender)
            assert run_jobs(app) == 1
            assert sink.messages
            pdf = signed_answer(installed_pki, inquiry_id)
            accepted = post_answer(client, tokens.reko, inquiry_id, pdf)
            assert accepted.status_code == 201, accepted.get_data(as_text=True)
            fetched = client.get(f"/api/v1/inquiries/{inquiry_id}/answer",
                                 headers=bearer(tokens.sender))
            assert fetched.get_data() == pdf
            registered = client.post(f"/api/v1/inquiries/{inquiry_id}/registered",
                                     headers=bearer(tokens.sender))
            assert registered.status_code == 200, registered.get_data(as_text=True)
            status = client.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(tokens.sender))
            assert status.get_json()["status"] == "registered"
        database(app).engine.dispose()

    audit_rows = "SELECT count(*) FROM audit_entries"
    engine = create_engine(roles.app_url)
    with engine.connect() as conn:
        assert conn.execute(text(audit_rows)).scalar_one() > 0
    engine.dispose()
    assert refused(roles.app_url, "UPDATE audit_entries SET actor = 'someone else'")
    assert refused(roles.app_url, "DELETE FROM audit_entries")
    assert refused(roles.app_url, "TRUNCATE audit_entries")
    assert refused(roles.app_url, "DELETE FROM audit_anchors")
    # Nor may it change the schema or the migrations' record.
    assert refused(roles.app_url, "DROP TABLE inquiries")
    assert refused(roles.app_url, "CREATE TABLE mine (id integer)")
    assert refused(roles.app_url, "UPDATE alembic_version SET version_num = 'x'")
    # The owner can (it is the role that migrates); the refusals above are the grants' doing.
    assert not refused(roles.owner_url, "UPDATE audit_entries SET actor = actor")
