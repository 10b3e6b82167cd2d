"""The keyed audit chain: someone with only the database cannot rewrite it, keys rotate, and
chains made before keying still verify up to where the key file says keying began."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway.audit.cli import audit_group
from gateway.audit.service import (
    ENTRIES,
    GENESIS_HASH,
    HEAD,
    HEAD_ID,
    entry_digest,
    record,
    rotate_chain_key,
    verify,
)
from gateway.db import database, get_session, utcnow
from gateway.vault.service import get_vault, keys_path

# --- the attacker: full access to the database, none to the instance folder ---------------------

Forger = Callable[[dict[str, Any]], tuple[str | None, str]]


def plain_sha256_keeping_key_id(fields: dict[str, Any]) -> tuple[str | None, str]:
    return fields["key_id"], entry_digest(**{**fields, "key_id": None})


def plain_sha256_as_legacy(fields: dict[str, Any]) -> tuple[str | None, str]:
    return None, entry_digest(**{**fields, "key_id": None})


def hmac_under_a_guessed_key(fields: dict[str, Any]) -> tuple[str | None, str]:
    return fields["key_id"], entry_digest(**fields, key=secrets.token_bytes(32))


FORGERS = [plain_sha256_keeping_key_id, plain_sha256_as_legacy, hmac_under_a_guessed_key]


def make_chain(session: Session, n: int) -> None:
    for i in range(1, n + 1):
        record(session, actor="user:handlaggare", action="inquiry.read", object_type="inquiry",
               object_id=f"id-{i}", detail={"n": i})
    session.flush()


def rewrite_from(session: Session, seq: int, forge: Forger) -> None:
    """Change entry seq's detail and recompute it and every later entry, and the head."""
    rows = session.execute(select(ENTRIES).where(ENTRIES.c.seq >= seq).order_by(ENTRIES.c.seq))
    prev_hash = session.scalar(select(ENTRIES.c.entry_hash).where(ENTRIES.c.seq == seq - 1))
    prev_hash = prev_hash or GENESIS_HASH
    for row in rows.all():
        fields = {name: getattr(row, name) for name in (
            "seq", "at", "actor", "action", "object_type", "object_id", "outcome", "detail",
            "key_id")}
        if row.seq == seq:
            fields["detail"] = {"n": 999, "note": "never happened"}
        fields["prev_hash"] = prev_hash
        key_id, prev_hash = forge(fields)
        session.execute(update(ENTRIES).where(ENTRIES.c.seq == row.seq).values(
            detail=fields["detail"], prev_hash=fields["prev_hash"], key_id=key_id,
            entry_hash=prev_hash))
    session.execute(update(HEAD).where(HEAD.c.id == HEAD_ID).values(entry_hash=prev_hash))


def key_file(app: Flask) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(keys_path(app).read_text())
    return data


def write_key_file(app: Flask, data: dict[str, Any]) -> None:
    path = keys_path(app)
    temp = path.with_name("keys.new")
    temp.write_text(json.dumps(data))
    temp.chmod(0o600)
    os.replace(temp, path)


# --- bad input first: a rewritten chain --------------------------------------------------------


@pytest.mark.parametrize("forge", FORGERS, ids=lambda f: f.__name__)
def test_a_chain_rewritten_with_database_access_only_is_found(app: Flask, forge: Forger) -> None:
    session = get_session()
    make_chain(session, 5)
    assert verify(session).ok
    rewrite_from(session, 3, forge)
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 3), report.describe()
    assert "seq 3" in report.describe()


@pytest.mark.parametrize("forge", FORGERS, ids=lambda f: f.__name__)
def test_cli_verify_names_the_first_rewritten_entry(
    committing_app: Flask, forge: Forger
) -> None:
    with database(committing_app).transaction() as session:
        make_chain(session, 4)
    with database(committing_app).transaction() as session:
        rewrite_from(session, 2, forge)
    result = CliRunner().invoke(audit_group, ["verify"], env=_cli_env(committing_app))
    assert result.exit_code == 1, result.output
    assert "audit chain broken at entry seq 2" in result.stderr


def test_an_unknown_key_id_fails_clearly(app: Flask) -> None:
    session = get_session()
    make_chain(session, 3)
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == 2).values(key_id="a-20990101-dead"))
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 2)
    assert "a-20990101-dead" in report.reason and "not in the vault's key file" in report.reason


def test_entries_are_keyed_with_the_active_chain_key(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    active = key_file(app)["chain"]["active"]
    assert active.startswith("a-")
    assert session.scalars(select(ENTRIES.c.key_id)).all() == [active, active]


# --- rotation ----------------------------------------------------------------------------------


def test_entries_under_an_old_key_verify_after_rotation(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    old = key_file(app)["chain"]["active"]
    new = rotate_chain_key(session, actor="cli:test")
    make_chain(session, 2)
    assert new != old and key_file(app)["chain"]["active"] == new
    # The rotation is itself an entry, keyed with the new key.
    assert session.scalars(select(ENTRIES.c.key_id).order_by(ENTRIES.c.seq)).all() == [
        old, old, new, new, new]
    report = verify(session)
    assert report.ok and report.checked == 5, report.describe()


def test_a_removed_old_key_makes_its_entries_unverifiable(app: Flask) -> None:
    session = get_session()
    make_chain(session, 2)
    old = key_file(app)["chain"]["active"]
    rotate_chain_key(session, actor="cli:test")
    data = key_file(app)
    del data["chain"]["keys"][old]
    write_key_file(app, data)
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 1)
    assert old in report.reason


def test_cli_rotate_key(committing_app: Flask) -> None:
    with database(committing_app).transaction() as session:
        make_chain(session, 1)
    env = _cli_env(committing_app)
    rotated = CliRunner().invoke(audit_group, ["rotate-key"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new = key_file(committing_app)["chain"]["active"]
    assert rotated.stdout.strip() == f"new audit chain key: {new}"
    verified = CliRunner().invoke(audit_group, ["verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "audit chain ok: 2 entries" in verified.stdout


# --- chains made before keying -----------------------------------------------------------------


def legacy_chain(app: Flask, session: Session, n: int) -> None:
    """Entries as the gateway wrote them before the chain was keyed, and a key file of then."""
    get_vault(app).keys()  # the key file is made on first use
    data = key_file(app)
    del data["chain"]
    write_key_file(app, data)
    prev_hash = GENESIS_HASH
    for seq in range(1, n + 1):
        fields: dict[str, Any] = dict(
            seq=seq, at=utcnow(),
            actor="user:a", action="inquiry.read", object_type="inquiry", object_id=str(seq),
            outcome="ok", detail={}, prev_hash=prev_hash,
        )
        prev_hash = entry_digest(**fields)
        session.execute(insert(ENTRIES).values(entry_hash=prev_hash, **fields))
    session.execute(insert(HEAD).values(id=HEAD_ID, seq=n, entry_hash=prev_hash))


def test_a_legacy_chain_verifies_and_is_keyed_from_the_next_entry(app: Flask) -> None:
    session = get_session()
    legacy_chain(app, session, 3)
    assert verify(session).ok
    make_chain(session, 2)
    chain = key_file(app)["chain"]
    assert chain["legacy_until"] == 3
    keys = session.scalars(select(ENTRIES.c.key_id).order_by(ENTRIES.c.seq)).all()
    assert keys == [None, None, None, chain["active"], chain["active"]]
    report = verify(session)
    assert report.ok and report.legacy == 3
    assert report.describe() == (
        "audit chain ok: 5 entries (3 from before the chain was keyed, plain SHA-256)"
    )


def test_a_legacy_entry_rewritten_breaks_the_first_keyed_entry(app: Flask) -> None:
    session = get_session()
    legacy_chain(app, session, 3)
    make_chain(session, 2)
    # The legacy entries are plain SHA-256, so the forger can recompute them; the first keyed
    # entry covers the last legacy hash and cannot be recomputed.
    rewrite_from(session, 2, plain_sha256_as_legacy)
    report = verify(session)
    assert (report.ok, report.first_broken) == (False, 4)


def test_rotating_a_legacy_key_file_records_where_keying_begins(app: Flask) -> None:
    session = get_session()
    legacy_chain(app, session, 2)
    rotate_chain_key(session, actor="cli:test")
    assert key_file(app)["chain"]["legacy_until"] == 2
    assert verify(session).ok


def _cli_env(app: Flask) -> dict[str, str]:
    database(app).engine.dispose()
    return {
        "GATEWAY_DATABASE_URL": database(app).url,
        "GATEWAY_INSTANCE_PATH": app.instance_path,
        "GATEWAY_SECRET_KEY": "test",
    }
