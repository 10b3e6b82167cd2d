"""`gateway users`: add, list, otp, password, (de)activate, run for real on a real database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role, User
from gateway.auth.users import totp_secret
from gateway.cli import _register, cli
from gateway.db import database, get_session
from tests.support.factories import CoordinatorFactory, SenderUnitFactory

PASSWORD = "ett långt lösenord"


@pytest.fixture
def env(committing_app: Flask, instance: Path) -> dict[str, str]:
    """The environment a `gateway` command reads, pointing at committing_app's database."""
    SenderUnitFactory()
    CoordinatorFactory(hsa_id="SE2321000255-P001", name="Anna Rekosson")
    get_session().commit()
    return {
        "GATEWAY_DATABASE_URL": committing_app.config["DATABASE_URL"],
        "GATEWAY_INSTANCE_PATH": str(instance),
        "GATEWAY_SECRET_KEY": "test-secret-key",
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    _register()
    return CliRunner().invoke(cli, ["users", *args], input=stdin, env=env)


def users_in(app: Flask) -> list[User]:
    with database(app).transaction() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def user_count(app: Flask) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def add_case_worker(env: dict[str, str], username: str = "anna") -> Result:
    return run(
        env,
        "add",
        "--username",
        username,
        "--role",
        "case_worker",
        "--unit",
        "EBB Öster",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "case_worker", "--unit", "EBB Öster"], "kort\n", "för kort"),
        (["--role", "case_worker", "--unit", "EBB Öster"], "", "Inget lösenord"),
        (["--role", "case_worker", "--unit", "EBB Öster"], "\n", "Inget lösenord"),
        (["--role", "chef", "--unit", "EBB Öster"], PASSWORD, "Okänd roll"),
        (["--role", "case_worker", "--unit", "EBB Väster"], PASSWORD, "finns inte i katalogen"),
        (["--role", "case_worker", "--unit", "EBB\x00"], PASSWORD, "finns inte i katalogen"),
        (["--role", "case_worker"], PASSWORD, "måste höra till en enhet"),
        (["--role", "coordinator"], PASSWORD, "måste ha ett HSA-id"),
        (
            ["--role", "coordinator", "--hsa-id", "SE2321000255-P999"],
            PASSWORD,
            "Ingen rehabkoordinator",
        ),
        (["--role", "statistician", "--unit", "EBB Öster"], PASSWORD, "Bara handläggare"),
        (["--role", "auditor", "--display-name", "A\x00B"], PASSWORD, "styrtecken"),
    ],
    ids=[
        "short-password",
        "empty-stdin",
        "blank-line",
        "bad-role",
        "unknown-unit",
        "nul-unit",
        "no-unit",
        "no-hsa-id",
        "unknown-coordinator",
        "unit-for-other-role",
        "nul-name",
    ],
)
def test_add_refuses_bad_input(
    committing_app: Flask, env: dict[str, str], args: list[str], stdin: str, message: str
) -> None:
    result = run(env, "add", "--username", "anna", *args, "--password-stdin", stdin=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert user_count(committing_app) == 0


@pytest.mark.parametrize("username", ["", "a", "Anna Andersson", "x" * 101, "-anna", "anna\x00"])
def test_add_refuses_bad_usernames(
    committing_app: Flask, env: dict[str, str], username: str
) -> None:
    result = run(
        env, "add", "--username", username, "--role", "auditor", "--password-stdin", stdin=PASSWORD
    )
    assert result.exit_code != 0
    assert "Ogiltigt användarnamn" in result.output
    assert user_count(committing_app) == 0


def test_add_refuses_a_taken_username(committing_app: Flask, env: dict[str, str]) -> None:
    assert add_case_worker(env).exit_code == 0
    result = run(
        env, "add", "--username", "ANNA", "--role", "auditor", "--password-stdin", stdin=PASSWORD
    )
    assert result.exit_code != 0
    assert "upptaget" in result.output
    assert [u.role for u in users_in(committing_app)] == [Role.CASE_WORKER]


def test_add_requires_password_stdin(committing_app: Flask, env: dict[str, str]) -> None:
    result = run(env, "add", "--username", "anna", "--role", "auditor", stdin=PASSWORD)
    assert result.exit_code == 2
    assert "--password-stdin" in result.output
    assert user_count(committing_app) == 0


def test_bad_configuration_value_is_named(env: dict[str, str]) -> None:
    result = run({**env, "GATEWAY_LOGIN_MAX_FAILURES": "many"}, "list")
    assert result.exit_code == 2
    assert "GATEWAY_LOGIN_MAX_FAILURES" in result.output
    assert "Traceback" not in result.output


def test_database_not_upgraded_is_a_message(tmp_path: Path, env: dict[str, str]) -> None:
    empty = {**env, "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"}
    result = run(empty, "list")
    assert result.exit_code == 1
    assert "gateway db upgrade" in result.output


def test_unknown_user_for_otp_password_and_deactivate(env: dict[str, str]) -> None:
    for args in (["otp"], ["deactivate"], ["activate"], ["password", "--password-stdin"]):
        result = run(env, *args, "--username", "ingen", stdin=PASSWORD)
        assert result.exit_code == 1, args
        assert "finns inte" in result.output


# --- success ----------------------------------------------------------------------------------


def test_add_case_worker_prints_an_enrolment_uri(
    committing_app: Flask, env: dict[str, str]
) -> None:
    result = add_case_worker(env)
    assert result.exit_code == 0, result.output
    secret_line = next(
        line for line in result.output.splitlines() if line.startswith("TOTP secret:")
    )
    secret = secret_line.split(":", 1)[1].strip()
    uri = next(line for line in result.output.splitlines() if "otpauth://" in line).split(": ", 1)[
        1
    ]
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/Kryddgården Gateway:anna"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Kryddgården Gateway"]
    assert PASSWORD not in result.output
    [user] = users_in(committing_app)
    assert totp_secret(user) == secret
    assert user.sender_unit_id is not None
    assert user.password_hash.startswith("$argon2id$")
    PasswordHasher().verify(user.password_hash, PASSWORD)
    with database(committing_app).transaction() as session:
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "user.create"))
        )
    assert [(e.actor, e.object_id) for e in entries] == [("cli:users add", "anna")]


def test_add_by_functional_address(committing_app: Flask, env: dict[str, str]) -> None:
    result = run(
        env,
        "add",
        "--username",
        "bo",
        "--role",
        "handläggare",
        "--unit",
        "sdk:ebb-oster:0203:malmo.se",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert result.exit_code == 0, result.output
    [user] = users_in(committing_app)
    assert user.role == Role.CASE_WORKER
    assert user.sender_unit_id is not None


def test_add_coordinator_binds_the_reko(committing_app: Flask, env: dict[str, str]) -> None:
    result = run(
        env,
        "add",
        "--username",
        "reko1",
        "--role",
        "reko",
        "--hsa-id",
        "SE2321000255-P001",
        "--display-name",
        "Anna Rekosson",
        "--password-stdin",
        stdin=PASSWORD + "\r\n",
    )
    assert result.exit_code == 0, result.output
    [user] = users_in(committing_app)
    assert user.role == Role.COORDINATOR
    assert user.coordinator_id is not None
    assert user.hsa_id == "SE2321000255-P001"
    PasswordHasher().verify(user.password_hash, PASSWORD)


def test_list_shows_no_secrets(committing_app: Flask, env: dict[str, str]) -> None:
    add_case_worker(env)
    [user] = users_in(committing_app)
    for args in (["list"], ["list", "--json"]):
        result = run(env, *args)
        assert result.exit_code == 0
        assert "anna" in result.output
        assert totp_secret(user) not in result.output
        assert "argon2" not in result.output
    rows: list[dict[str, Any]] = json.loads(run(env, "list", "--json").output)
    assert rows == [
        {
            "username": "anna",
            "display_name": "",
            "role": "case_worker",
            "unit": "EBB Öster",
            "hsa_id": None,
            "phone": None,
            "email": None,
            "active": True,
        }
    ]


def test_otp_prints_the_current_code(committing_app: Flask, env: dict[str, str]) -> None:
    add_case_worker(env)
    [user] = users_in(committing_app)
    result = run(env, "otp", "--username", "anna")
    assert result.exit_code == 0
    totp = pyotp.TOTP(totp_secret(user))
    now = time.time()
    assert result.output.strip() in {totp.at(now - 30), totp.at(now)}


def test_password_and_activation(committing_app: Flask, env: dict[str, str]) -> None:
    add_case_worker(env)
    new_password = "ett annat långt lösenord"
    assert (
        run(env, "password", "--username", "anna", "--password-stdin", stdin="kort").exit_code == 1
    )
    result = run(env, "password", "--username", "anna", "--password-stdin", stdin=new_password)
    assert result.exit_code == 0, result.output
    [user] = users_in(committing_app)
    PasswordHasher().verify(user.password_hash, new_password)
    assert run(env, "deactivate", "--username", "anna").exit_code == 0
    assert users_in(committing_app)[0].active is False
    assert run(env, "activate", "--username", "anna").exit_code == 0
    assert users_in(committing_app)[0].active is True


def test_contact_is_set_on_add_and_changed_by_the_admin(
    committing_app: Flask, env: dict[str, str]
) -> None:
    refused = run(env, "add", "--username", "karin", "--role", "case_worker", "--unit",
                  "EBB Öster", "--phone", "inte ett nummer", "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert refused.exit_code == 1 and "Telefonnumret eller e-postadressen" in refused.output
    assert user_count(committing_app) == 0
    added = run(env, "add", "--username", "karin", "--role", "case_worker", "--unit",
                "EBB Öster", "--phone", "040-34 20 00", "--email", "karin.ek@malmo.se",
                "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    [user] = users_in(committing_app)
    assert (user.phone, user.email) == ("040-34 20 00", "karin.ek@malmo.se")
    assert run(env, "contact", "--username", "karin", "--email", "fel").exit_code == 1
    changed = run(env, "contact", "--username", "karin", "--phone", "")
    assert changed.exit_code == 0, changed.output
    [user] = users_in(committing_app)
    assert (user.phone, user.email) == (None, "karin.ek@malmo.se")
