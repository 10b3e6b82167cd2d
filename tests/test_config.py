"""Configuration: GATEWAY_* variables parsed, bad values named, secrets generated once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway import create_app
from gateway.config import settings_from_env
from gateway.db import get_session
from gateway.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GATEWAY_ANSWER_DAYS", "thirty", "expected a whole number"),
        ("GATEWAY_ANSWER_DAYS", "0", "above 0"),
        ("GATEWAY_SMTP_RELAY", "localhost", "expected host:port"),
        ("GATEWAY_SMTP_RELAY", "relay:99999", "expected host:port"),
        ("GATEWAY_COOKIE_SECURE", "maybe", "true or false"),
        ("GATEWAY_DATABASE_URL", "mysql://x", "sqlite:/// or postgresql://"),
        ("GATEWAY_TOKEN_LIFETIME", "3600", "at most 1800"),
    ],
)
def test_bad_values_are_named(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_env({name: value})
    assert name in str(raised.value)
    assert expected in str(raised.value)


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_env({"GATEWAY_ANSWER_DAYS": "x", "GATEWAY_SMTP_RELAY": "y"})
    assert "GATEWAY_ANSWER_DAYS" in str(raised.value)
    assert "GATEWAY_SMTP_RELAY" in str(raised.value)


def test_values_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("GATEWAY_ANSWER_DAYS", "45")
    monkeypatch.setenv("GATEWAY_SMTP_DOMAINS", "Malmo.se, skane.se")
    monkeypatch.setenv("GATEWAY_TRUST_ROOTS", "/a.pem:/b.pem")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql://u@h/db")
    app = create_app()
    assert app.config["ANSWER_DAYS"] == 45
    assert app.config["SMTP_DOMAINS"] == ["malmo.se", "skane.se"]
    assert app.config["TRUST_ROOTS"] == ["/a.pem", "/b.pem"]
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
    assert app.instance_path == str(tmp_path / "inst")


def test_defaults_live_in_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    app = create_app()
    instance = tmp_path / "instance"
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'gateway.sqlite'}"
    assert app.config["TRUST_ROOTS"] == [str(instance / "pki" / "ca.pem")]
    assert app.config["CRLS"] == [str(instance / "pki" / "ca.crl")]
    assert app.config["REVOCATION_FETCH"] is False


@pytest.mark.parametrize(
    ("env", "crls"),
    [
        ({"GATEWAY_TRUST_ROOTS": "/region/ca.pem"}, []),
        ({"GATEWAY_TRUST_ROOTS": "/region/ca.pem", "GATEWAY_CRLS": "/region/ca.crl"},
         ["/region/ca.crl"]),
        ({"GATEWAY_CRLS": "/extra.crl"}, ["/extra.crl"]),
    ],
    ids=["own-root-no-crl", "own-root-own-crl", "dev-root-own-crl"],
)
def test_the_crl_default_follows_the_trust_root_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], crls: list[str]
) -> None:
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path / "inst"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert create_app().config["CRLS"] == crls


def test_online_revocation_checks_are_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("GATEWAY_REVOCATION_FETCH", "true")
    monkeypatch.setenv("GATEWAY_REVOCATION_TIMEOUT", "5")
    app = create_app()
    assert (app.config["REVOCATION_FETCH"], app.config["REVOCATION_TIMEOUT"]) == (True, 5)
    with pytest.raises(ConfigError, match="GATEWAY_REVOCATION_FETCH"):
        settings_from_env({"GATEWAY_REVOCATION_FETCH": "kanske"})


def test_secret_key_generated_once_and_private(tmp_path: Path) -> None:
    first = create_app({"INSTANCE_PATH": str(tmp_path)})
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    key_file = tmp_path / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_instance_folder_and_sqlite_files_are_private(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.app_context():
        session = get_session()
        session.execute(text("CREATE TABLE probe (n INTEGER)"))
        session.commit()
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for name in ("gateway.sqlite", "gateway.sqlite-wal", "gateway.sqlite-shm"):
        path = instance / name
        if path.exists() or name == "gateway.sqlite":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_bad_configuration_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path), "GATEWAY_SMTP_RELAY": "nope"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "GATEWAY_SMTP_RELAY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
