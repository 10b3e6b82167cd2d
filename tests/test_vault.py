"""Encryption at rest: envelopes open only with the right key and context; keys rotate live."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import LargeBinary, select, update
from sqlalchemy.orm import Session

from gateway.audit.models import AuditEntry
from gateway.audit.service import verify
from gateway.auth.users import create_user
from gateway.db import Base, database, get_session
from gateway.inquiries.models import Answer, Inquiry
from gateway.vault.cli import vault_group
from gateway.vault.columns import sealed_columns
from gateway.vault.keys import KeyStore, VaultError
from gateway.vault.rotation import key_usage, rotate
from gateway.vault.service import SEAL_PIECE, Vault, get_vault, parse_header
from tests.conftest import AppMaker
from tests.support.factories import CareUnitFactory, SenderUnitFactory
from tests.support.pdfs import TestPki
from tests.support.reko import (
    parties,
    post_answer,
    signed_answer,
    submit,
)

CONTEXT = "inquiries.content:3f1c7a52-0000-4000-8000-000000000001"
PNR = "191212121212"


def vault_at(folder: Path) -> Vault:
    return Vault(KeyStore(folder / "vault" / "keys.json"))


def keys_file(app: Flask) -> Path:
    return Path(app.instance_path) / "vault" / "keys.json"


# --- bad input first -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "envelope",
    [b"", b"\x01", b"\x02" + b"\x00" * 100, b"\x01\x00" + b"\x00" * 100, b"\x01\x41k-1",
     b"<?xml version='1.0'?><halsoforfragan/>", b"\x01\x05k\xff\xfe\xfd\xfc" + b"\x00" * 80],
    ids=["empty", "version-only", "unknown-version", "no-key-id", "cut-header", "plaintext",
         "non-ascii-key-id"],
)
def test_what_is_not_an_envelope_is_refused(app: Flask, envelope: bytes) -> None:
    with pytest.raises(VaultError) as caught:
        get_vault().open(envelope, CONTEXT)
    assert caught.value.code == "VAULT_MALFORMED"


@pytest.mark.parametrize("size", [0, 1, SEAL_PIECE - 1, SEAL_PIECE, 2 * SEAL_PIECE + 7])
def test_a_file_sealed_in_pieces_opens_as_the_same_bytes(app: Flask, size: int) -> None:
    plaintext = os.urandom(size)
    source = io.BytesIO(b"before" + plaintext)
    source.seek(len(b"before"))
    envelope = get_vault().seal_file(source, size, CONTEXT)
    assert get_vault().open(envelope, CONTEXT) == plaintext
    with pytest.raises(VaultError):
        get_vault().open(envelope, CONTEXT + "x")


def test_a_file_shorter_than_its_size_is_not_sealed(app: Flask) -> None:
    with pytest.raises(ValueError, match="ended"):
        get_vault().seal_file(io.BytesIO(b"abc"), 4, CONTEXT)


def test_an_envelope_cut_short_is_refused(app: Flask) -> None:
    envelope = get_vault().seal(b"abc", CONTEXT)
    header = parse_header(envelope)
    with pytest.raises(VaultError) as caught:
        get_vault().open(envelope[: header.size + 10], CONTEXT)
    assert caught.value.code == "VAULT_MALFORMED"


def test_the_wrong_context_is_refused(app: Flask) -> None:
    vault = get_vault()
    envelope = vault.seal(b"<halsoforfragan/>", CONTEXT)
    others = (CONTEXT + "x", "inquiries.content:another-id", "inquiries.personnummer:" + CONTEXT)
    for other in others:
        with pytest.raises(VaultError) as caught:
            vault.open(envelope, other)
        assert caught.value.code == "VAULT_INTEGRITY"


def test_a_flipped_bit_anywhere_is_refused(app: Flask) -> None:
    vault = get_vault()
    envelope = vault.seal(b"personnummer " + PNR.encode(), CONTEXT)
    for position in range(len(envelope)):
        for bit in (0x01, 0x80):
            damaged = bytearray(envelope)
            damaged[position] ^= bit
            with pytest.raises(VaultError) as caught:
                vault.open(bytes(damaged), CONTEXT)
            assert caught.value.code.startswith("VAULT_"), position


def test_an_envelope_from_another_instance_names_its_unknown_key(
    app: Flask, tmp_path: Path
) -> None:
    foreign = vault_at(tmp_path / "other")
    envelope = foreign.seal(b"x", CONTEXT)
    with pytest.raises(VaultError) as caught:
        get_vault().open(envelope, CONTEXT)
    assert caught.value.code == "VAULT_UNKNOWN_KEY"
    assert foreign.keys().active in caught.value.detail


@pytest.mark.parametrize("context", ["", None, b"bytes"])
def test_a_missing_context_is_a_programming_error(app: Flask, context: Any) -> None:
    with pytest.raises(ValueError):
        get_vault().seal(b"x", context)


def _write_keys(path: Path, data: Any, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    path.chmod(mode)


def _good_keys() -> dict[str, Any]:
    key = base64.b64encode(b"k" * 32).decode()
    return {"version": 1, "active": "k-1", "keks": {"k-1": {"key": key, "created": ""}},
            "hash_key": key}


BAD_KEY_FILES: list[tuple[str, Any]] = [
    ("not-json", "{"),
    ("wrong-version", {**_good_keys(), "version": 2}),
    ("no-keks", {**_good_keys(), "keks": {}}),
    ("active-missing", {**_good_keys(), "active": "k-2"}),
    ("short-key", {**_good_keys(), "keks": {"k-1": {"key": base64.b64encode(b"k" * 16).decode()}}}),
    ("not-base64", {**_good_keys(), "hash_key": "***"}),
    ("bad-key-id", {**_good_keys(), "active": "k 1", "keks": {"k 1": _good_keys()["keks"]["k-1"]}}),
]


@pytest.mark.parametrize(("name", "content"), BAD_KEY_FILES, ids=[b[0] for b in BAD_KEY_FILES])
def test_a_broken_key_file_is_refused_clearly(app: Flask, name: str, content: Any) -> None:
    _write_keys(keys_file(app), content)
    with pytest.raises(VaultError) as caught:
        get_vault().seal(b"x", CONTEXT)
    assert caught.value.code == "VAULT_KEYS"
    assert str(keys_file(app)) in caught.value.detail
    assert base64.b64encode(b"k" * 32).decode() not in caught.value.detail


def test_a_key_file_readable_by_others_is_refused(app: Flask) -> None:
    _write_keys(keys_file(app), _good_keys(), mode=0o644)
    with pytest.raises(VaultError) as caught:
        get_vault().seal(b"x", CONTEXT)
    assert caught.value.code == "VAULT_KEYS"
    assert "chmod 600" in caught.value.detail


def test_an_unusable_vault_folder_is_refused_clearly(app: Flask) -> None:
    keys_file(app).parent.write_text("a file where the folder should be")
    with pytest.raises(VaultError) as caught:
        get_vault().seal(b"x", CONTEXT)
    assert caught.value.code == "VAULT_KEYS"


def test_readiness_fails_on_a_broken_key_file(client: Any, app: Flask) -> None:
    _write_keys(keys_file(app), "{")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["keys"] == {"ok": False, "detail": "VAULT_KEYS"}


# --- sealing and opening ---------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [b"", b"<halsoforfragan/>", bytes(range(256)) * 4096])
def test_round_trip(app: Flask, plaintext: bytes) -> None:
    vault = get_vault()
    assert vault.open(vault.seal(plaintext, CONTEXT), CONTEXT) == plaintext


def test_two_seals_of_the_same_plaintext_differ(app: Flask) -> None:
    vault = get_vault()
    first, second = vault.seal(PNR.encode(), CONTEXT), vault.seal(PNR.encode(), CONTEXT)
    assert first != second
    assert parse_header(first).wrapped_key != parse_header(second).wrapped_key
    assert PNR.encode() not in first


def test_the_envelope_names_the_active_key(app: Flask) -> None:
    vault = get_vault()
    header = parse_header(vault.seal(b"x", CONTEXT))
    assert header.kek_id == vault.keys().active
    assert header.kek_id.startswith("k-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d"))


def test_keys_file_is_created_private_on_first_use(app: Flask) -> None:
    path = keys_file(app)
    assert not path.exists()
    get_vault().seal(b"x", CONTEXT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.glob(".keys.json.*")) == []  # no temporary files left


def test_processes_starting_at_once_agree_on_the_keys(tmp_path: Path) -> None:
    vaults = [vault_at(tmp_path) for _ in range(8)]
    start = threading.Barrier(len(vaults))
    actives: list[str] = []

    def first_use(vault: Vault) -> None:
        start.wait()
        actives.append(vault.keys().active)

    threads = [threading.Thread(target=first_use, args=(v,)) for v in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(actives) == len(vaults) and len(set(actives)) == 1
    envelope = vaults[0].seal(b"shared", CONTEXT)
    assert vaults[-1].open(envelope, CONTEXT) == b"shared"


def test_keyed_hash_is_stable_and_private_to_the_instance(app: Flask, tmp_path: Path) -> None:
    vault = get_vault()
    digest = vault.keyed_hash(PNR)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == vault.keyed_hash(PNR)
    assert digest == vault_at(Path(app.instance_path)).keyed_hash(PNR)  # another process
    assert digest != vault.keyed_hash("194107086995")
    assert digest != vault.keyed_hash(PNR, purpose="other")
    assert digest != vault_at(tmp_path / "other-instance").keyed_hash(PNR)
    assert PNR not in digest


def test_readiness_reports_the_keys(client: Any, app: Flask) -> None:
    body = client.get("/readyz").get_json()
    assert body["checks"]["keys"]["ok"] is True
    assert get_vault().keys().active in body["checks"]["keys"]["detail"]


# --- rotation --------------------------------------------------------------------------------


def seed_inquiries(session: Session, vault: Vault, n: int) -> list[str]:
    # Built, then added to the caller's session (a committing test passes one of its own).
    sender, care = SenderUnitFactory.build(), CareUnitFactory.build()
    session.add_all([sender, care])
    session.flush()
    ids = []
    for i in range(n):
        inquiry_id = str(uuid.uuid4())
        session.add(Inquiry(
            id=inquiry_id, reference=f"HF-T-{i}", sender_unit_id=sender.id,
            care_unit_id=care.id,
            routed_to="sdk:reko-kryddgarden:0203:skane.se", reply_to="sdk:ebb-oster:0203:malmo.se",
            content_digest="0" * 64,
            content=vault.seal(
                f"<halsoforfragan n='{i}'/>".encode(), f"inquiries.content:{inquiry_id}"
            ),
            personnummer=vault.seal(PNR.encode(), f"inquiries.personnummer:{inquiry_id}"),
            person_hash=vault.keyed_hash(PNR),
            receipt=None,
            deadline=dt.date(2024, 5, 30), consent_valid_to=dt.date(2024, 12, 31),
            submitted_by="client:ebb",
        ))
        ids.append(inquiry_id)
    session.flush()
    pdf = vault.seal(b"%PDF-1.7 signed", f"answers.pdf:{ids[0]}")
    session.add(Answer(inquiry_id=ids[0], pdf=pdf, pdf_digest="0" * 64, report={},
                       submitted_by="user:reko"))
    session.flush()
    return ids


def stored(session: Session) -> dict[str, tuple[bytes, bytes]]:
    session.expire_all()
    rows = session.execute(select(Inquiry.id, Inquiry.content, Inquiry.personnummer)).all()
    return {row.id: (row.content, row.personnummer) for row in rows}


def assert_all_open(vault: Vault, values: dict[str, tuple[bytes, bytes]]) -> None:
    for inquiry_id, (content, personnummer) in values.items():
        assert vault.open(content, f"inquiries.content:{inquiry_id}").startswith(b"<halsoforfragan")
        assert vault.open(personnummer, f"inquiries.personnummer:{inquiry_id}") == PNR.encode()


def test_rotation_rewraps_every_sealed_value_and_they_still_open(app: Flask) -> None:
    vault = get_vault()
    session = get_session()
    seed_inquiries(session, vault, 5)
    old_key = vault.keys().active
    before = stored(session)

    report = rotate(database(), vault, batch_size=2)

    assert report.new_key != old_key and vault.keys().active == report.new_key
    counts = {t.column: t for t in report.columns}
    assert counts["inquiries.content"].rewrapped == 5
    assert counts["inquiries.personnummer"].rewrapped == 5
    assert counts["answers.pdf"].rewrapped == 1
    assert report.unreadable == 0
    after = stored(session)
    for inquiry_id, (content, _pnr) in after.items():
        old, new = parse_header(before[inquiry_id][0]), parse_header(content)
        assert new.kek_id == report.new_key
        # Only the wrapped data key changed: nonce and ciphertext are the same bytes.
        assert content[new.size:] == before[inquiry_id][0][old.size:]
        assert new.nonce == old.nonce
    assert_all_open(vault, after)
    assert old_key in vault.keys().keks  # kept until retired
    answer_pdf = session.execute(select(Answer.pdf)).scalar_one()
    assert parse_header(answer_pdf).kek_id == report.new_key


def test_another_process_follows_the_rotation(app: Flask) -> None:
    vault = get_vault()
    other_process = vault_at(Path(app.instance_path))
    other_process.keys()  # loaded before the rotation
    session = get_session()
    seed_inquiries(session, vault, 2)
    report = rotate(database(), vault, retire_old=True, grace_seconds=0)
    assert_all_open(other_process, stored(session))
    assert parse_header(other_process.seal(b"x", CONTEXT)).kek_id == report.new_key


def test_retire_old_removes_keys_no_longer_used(app: Flask) -> None:
    vault = get_vault()
    session = get_session()
    seed_inquiries(session, vault, 3)
    old_key = vault.keys().active
    report = rotate(database(), vault, retire_old=True, grace_seconds=0)
    assert report.retired == [old_key]
    assert list(vault.keys().keks) == [report.new_key]
    assert_all_open(vault, stored(session))
    key_text = keys_file(app).read_text()
    assert old_key not in key_text


def test_unreadable_and_unsealed_values_are_counted_and_keep_their_keys(app: Flask) -> None:
    vault = get_vault()
    session = get_session()
    ids = seed_inquiries(session, vault, 3)
    old_key = vault.keys().active
    # One envelope whose wrapped key is damaged, and a structured answer stored in clear.
    damaged = bytearray(session.get(Inquiry, ids[1]).content)  # type: ignore[union-attr, arg-type]
    damaged[parse_header(bytes(damaged)).size - 20] ^= 0xFF
    session.execute(update(Inquiry).where(Inquiry.id == ids[1]).values(content=bytes(damaged)))
    session.execute(update(Answer).where(Answer.inquiry_id == ids[0]).values(structured=b"<svar/>"))
    session.flush()

    report = rotate(database(), vault, retire_old=True, grace_seconds=0)

    counts = {t.column: t for t in report.columns}
    assert counts["inquiries.content"].unreadable == 1
    assert counts["inquiries.content"].rewrapped == 2
    assert counts["answers.structured"].not_sealed == 1
    assert report.retired == [] and report.kept == [old_key]  # the damaged value still names it
    usage = {t.column: t.by_key for t in key_usage(database())}
    assert usage["inquiries.content"] == {old_key: 1, report.new_key: 2}


def test_rotation_is_audited(app: Flask) -> None:
    vault = get_vault()
    seed_inquiries(get_session(), vault, 1)
    report = rotate(database(), vault)
    session = get_session()
    actions = session.execute(
        select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail).order_by(AuditEntry.seq)
    ).all()
    assert [(a.action, a.object_id) for a in actions] == [
        ("vault.key_added", report.new_key), ("vault.rotate", report.new_key)]
    assert actions[1].detail["rewrapped"] == 3
    assert verify(session).ok


# --- the command line ------------------------------------------------------------------------


def _cli_env(app: Flask) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": database(app).url, "GATEWAY_INSTANCE_PATH": app.instance_path,
            "GATEWAY_SECRET_KEY": "test"}


def test_cli_rotate_and_status(committing_app: Flask) -> None:
    vault = get_vault()
    with database(committing_app).transaction() as session:
        seed_inquiries(session, vault, 2)
    old_key = vault.keys().active
    runner = CliRunner()
    env = _cli_env(committing_app)

    status = runner.invoke(vault_group, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert f"key {old_key} (active)" in status.stdout and ": 5 envelopes" in status.stdout

    rotated = runner.invoke(vault_group, ["rotate", "--retire-old", "--grace", "0"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new_key = vault.keys().active
    assert f"new active key: {new_key}" in rotated.stdout
    assert "inquiries.content: 2 re-wrapped" in rotated.stdout
    assert f"retired: {old_key}" in rotated.stdout

    as_json = runner.invoke(vault_group, ["status", "--json"], env=env)
    body = json.loads(as_json.stdout)
    assert [(k["id"], k["active"], k["envelopes"]) for k in body["keys"]] == [(new_key, True, 5)]
    secrets_in_file = json.loads(keys_file(committing_app).read_text())
    chain = secrets_in_file["chain"]
    assert body["audit_chain"]["active"] == chain["active"]
    assert f"audit chain keys: {chain['active']} (active {chain['active']}" in status.stdout
    for text in (status.stdout, rotated.stdout, as_json.stdout):
        assert secrets_in_file["hash_key"] not in text
        assert secrets_in_file["keks"][new_key]["key"] not in text
        assert chain["keys"][chain["active"]]["key"] not in text
    with database(committing_app).transaction() as session:
        assert_all_open(vault, stored(session))


def test_cli_rotate_refuses_bad_options(committing_app: Flask) -> None:
    result = CliRunner().invoke(vault_group, ["rotate", "--batch-size", "0"],
                                env=_cli_env(committing_app))
    assert result.exit_code == 2
    assert not keys_file(committing_app).exists()


def test_cli_on_a_database_without_tables_fails_cleanly(tmp_path: Path, instance: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}",
           "GATEWAY_INSTANCE_PATH": str(instance), "GATEWAY_SECRET_KEY": "test"}
    for args in (["status"], ["rotate", "--grace", "0"]):
        result = CliRunner().invoke(vault_group, args, env=env)
        assert result.exit_code == 1, result.output
        assert "gateway db upgrade" in result.stderr
    keys = json.loads((instance / "vault" / "keys.json").read_text())
    assert len(keys["keks"]) == 1  # the failed rotation added no key


# --- which columns are sealed ----------------------------------------------------------------


def _is_envelope(value: bytes) -> bool:
    try:
        parse_header(bytes(value))
    except VaultError:
        return False
    return True


def test_rotation_walks_exactly_the_columns_that_hold_envelopes(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    """After a send, an answer and a new user, every binary column holding envelopes is declared
    sealed, and every declared column holds only envelopes: rotation cannot miss or invent one."""
    app = make_app()
    with app.app_context():
        tokens = parties()
        client = app.test_client()
        inquiry_id = submit(client, tokens.sender)
        answer = signed_answer(installed_pki, inquiry_id)
        assert post_answer(client, tokens.reko, inquiry_id, answer).status_code == 201
        session = get_session()
        create_user(session, username="granskare", role="auditor", password="x" * 16)
        declared = {f"{c.table.name}.{c.name}" for c in sealed_columns(Base.metadata)}
        holding: dict[str, set[bool]] = {}
        for table in Base.metadata.tables.values():
            for column in table.columns:
                if isinstance(column.type, LargeBinary):
                    values = session.scalars(select(column).where(column.is_not(None))).all()
                    holding[f"{table.name}.{column.name}"] = {_is_envelope(v) for v in values}
    assert {"inquiries.content", "answers.pdf", "users.totp_secret"} <= declared
    assert "inquiries.receipt" not in declared and holding["inquiries.receipt"] == {False}
    for name, kinds in holding.items():
        assert kinds <= ({True} if name in declared else {False}), name
    assert [t.column for t in key_usage(database(app))] == sorted(declared)
