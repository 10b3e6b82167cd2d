"""deploy/backup: a backup (database dump, keys encrypted apart) restored into an empty database
and a new instance folder reads the inquiry back, decrypted with the restored keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from gateway import create_app
from gateway.db import database, make_engine
from gateway.inquiries.models import Inquiry
from gateway.migrate import upgrade
from gateway.vault.service import get_vault
from tests.conftest import create_pg_database, drop_pg_database, test_config
from tests.support.deploy import GATEWAY_BIN, require_pg_server, require_tools, run_script
from tests.support.forms import TOLVAN, halsoforfragan
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pki import install_pki

PASSPHRASE = "a passphrase kept in the safe, not with the backups"


@pytest.fixture
def databases() -> Iterator[list[str]]:
    """Empty databases on the test server, dropped at the end."""
    require_pg_server()
    made: list[str] = []
    yield made
    for url in made:
        drop_pg_database(url)


def new_database(databases: list[str]) -> str:
    url = create_pg_database()
    databases.append(url)
    return url


def gateway_with_one_inquiry(url: str, instance: Path, pki: Path) -> tuple[Flask, str, bytes]:
    """A migrated gateway with one inquiry taken over the API: (app, token, the XML sent)."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    install_pki(instance, pki)
    app = create_app(test_config(instance, url))
    xml = halsoforfragan()
    with app.app_context():
        with database(app).transaction() as session:
            load_directory(session)
            token = new_client(session)
        response = app.test_client().post(
            "/api/v1/inquiries", data=xml, headers=bearer(token), content_type="application/xml"
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    database(app).engine.dispose()
    return app, token, xml


def test_restore_into_an_empty_database_reads_the_inquiry_back(
    databases: list[str], tmp_path: Path, pki_template: Path
) -> None:
    require_tools("pg_dump", "pg_restore", "psql", "gpg")
    source_url = new_database(databases)
    source = tmp_path / "source"
    source.mkdir()
    _app, token, xml = gateway_with_one_inquiry(source_url, source, pki_template)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE)
    passphrase.chmod(0o600)

    backup = run_script(
        "gateway-backup", str(tmp_path / "dumps"), str(tmp_path / "keys"),
        env={"GATEWAY_DATABASE_URL": source_url, "GATEWAY_INSTANCE_PATH": str(source),
             "GATEWAY_BACKUP_PASSPHRASE_FILE": str(passphrase)},
    )
    assert backup.returncode == 0, backup.stderr
    [dump] = (tmp_path / "dumps").glob("*.dump")
    [keys] = (tmp_path / "keys").glob("*.tar.gpg")
    # The key copy is encrypted: neither the file names nor the key file's fields show.
    assert b"keys.json" not in keys.read_bytes()
    assert b'"active"' not in keys.read_bytes()

    target_url = new_database(databases)
    target = tmp_path / "restored"
    target.mkdir()
    env = {"GATEWAY_DATABASE_URL": target_url, "GATEWAY_INSTANCE_PATH": str(target),
           "GATEWAY_BACKUP_PASSPHRASE_FILE": str(passphrase), "GATEWAY_BIN": str(GATEWAY_BIN)}
    restore = run_script("gateway-restore", str(keys), str(dump), env=env)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "restored" in restore.stdout

    app = create_app(test_config(target, target_url))
    form_id = halsoforfragan_id(xml)
    with app.app_context(), database(app).session() as session:
        inquiry = session.get(Inquiry, form_id)
        assert inquiry is not None and inquiry.content and inquiry.personnummer
        vault = get_vault()
        assert vault.open(inquiry.content, f"inquiries.content:{form_id}") == xml
        opened = vault.open(inquiry.personnummer, f"inquiries.personnummer:{form_id}")
        assert opened.decode() == TOLVAN
        # The sender's client and token came along: the API answers as before.
        status = app.test_client().get(f"/api/v1/inquiries/{form_id}", headers=bearer(token))
        assert status.status_code == 200, status.get_data(as_text=True)
    database(app).engine.dispose()

    # A second restore over it is refused: the database is no longer empty.
    (target / "vault" / "keys.json").rename(tmp_path / "moved-keys.json")
    again = run_script("gateway-restore", str(keys), str(dump), env=env)
    assert again.returncode != 0
    assert "not empty" in again.stderr


def halsoforfragan_id(xml: bytes) -> str:
    from lxml import etree

    root = etree.fromstring(xml)
    return str(root.findtext("{urn:kryddgarden:halsoforfragan:1}id"))
