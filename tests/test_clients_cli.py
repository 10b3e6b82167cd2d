"""`gateway clients add|list|revoke`: refusals with clear messages, then the happy paths."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES
from gateway.auth.clients_cli import clients_group
from gateway.auth.models import ApiClient
from gateway.db import database, get_session
from gateway.directory.models import FunctionalAddress, Organisation
from tests.support.factories import FunctionalAddressFactory, OrganisationFactory

MALMO = "0203:malmo.se"
EBB = "sdk:ebb-oster:0203:malmo.se"
SKANE_REKO = "sdk:reko-kryddgarden:0203:skane.se"


class Gateway:
    """Runs `gateway clients …` against the committing app's database, as an operator would."""

    def __init__(self, app: Flask, instance: Path) -> None:
        self.app = app
        self.env = {
            "GATEWAY_INSTANCE_PATH": str(instance),
            "GATEWAY_DATABASE_URL": app.config["DATABASE_URL"],
            "GATEWAY_SECRET_KEY": "test-secret-key",
        }

    def __call__(self, *args: str, **env: str) -> Result:
        result = CliRunner().invoke(clients_group, list(args), env={**self.env, **env})
        # Refusals exit through sys.exit with a message, never through an exception.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        return result

    def add(self, *args: str) -> dict[str, str]:
        result = self("add", "--organisation", MALMO, "--json", *args)
        assert result.exit_code == 0, result.output
        created: dict[str, str] = json.loads(result.stdout)
        return created

    def count(self, model: Any) -> int:
        with database(self.app).transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def audit(self) -> list[tuple[str, str, str]]:
        with database(self.app).transaction() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            return [(r.actor, r.action, r.object_id) for r in rows]


@pytest.fixture
def gateway(committing_app: Flask, instance: Path) -> Gateway:
    return Gateway(committing_app, instance)


@pytest.fixture
def malmo(gateway: Gateway) -> None:
    FunctionalAddressFactory(address=EBB, organisation=OrganisationFactory(id=MALMO,
                                                                            name="Malmö stad"))
    FunctionalAddressFactory(address=SKANE_REKO)
    get_session().commit()


def http(app: Flask, method: str, path: str, **kwargs: Any) -> Any:
    # A context of its own, as in production: its session ends with the request, so the
    # next command does not wait for a SQLite write lock the test's context still holds.
    with app.app_context():
        return app.test_client().open(path, method=method, **kwargs)


def token_response(app: Flask, client_id: str, secret: str) -> Any:
    auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return http(app, "POST", "/oauth/token", data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {auth}"})


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "organisation",
    ["malmo.se", "0203:", "0203:malmo", "0203:malmö.se", "0007:12345", "0007:212000112X",
     "9999:malmo.se", " ", "0203:malmo.se;drop"],
)
def test_bad_organisation_id_is_refused(gateway: Gateway, organisation: str) -> None:
    result = gateway("add", "--organisation", organisation, "--organisation-name", "X",
                     "--functional-address", EBB, "--create-address")
    assert result.exit_code != 0
    assert "INVALID_ORGANISATION_ID" in result.stderr
    assert "0203:<domän>" in result.stderr
    assert gateway.count(ApiClient) == gateway.count(Organisation) == 0


def test_unknown_organisation_needs_a_name(gateway: Gateway) -> None:
    result = gateway("add", "--organisation", MALMO, "--functional-address", EBB)
    assert result.exit_code != 0
    assert "ORGANISATION_NOT_FOUND" in result.stderr
    assert "--organisation-name" in result.stderr
    assert gateway.count(Organisation) == 0


@pytest.mark.parametrize("scope", ["urn:sdk.api:sendMessagez", "admin", "urn:sdk.api:"])
def test_bad_scope_is_refused_and_leaves_nothing(gateway: Gateway, malmo: None, scope: str) -> None:
    result = gateway("add", "--organisation", MALMO, "--functional-address", EBB,
                     "--scope", "urn:sdk.api:getMessage", "--scope", scope)
    assert result.exit_code != 0
    assert "INVALID_SCOPE" in result.stderr
    assert scope in result.stderr
    assert gateway.count(ApiClient) == 0


def test_add_with_jwks_registers_public_keys_and_refuses_private_ones(
    gateway: Gateway, malmo: None, tmp_path: Path
) -> None:
    key = RSAKey.generate_key(2048)
    public = tmp_path / "public.jwks"
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    private = tmp_path / "private.jwks"
    private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    refused = gateway("add", "--organisation", MALMO, "--functional-address", EBB,
                      "--jwks", str(private))
    assert refused.exit_code == 2
    assert "INVALID_JWKS" in refused.stderr and "privat nyckelmaterial" in refused.stderr
    assert gateway.count(ApiClient) == 0
    created = gateway.add("--functional-address", EBB, "--jwks", str(public))
    listed = json.loads(gateway("list", "--json").stdout)
    assert [c["private_key_jwt"] for c in listed if c["client_id"] == created["client_id"]] == [
        True]


def test_address_of_another_organisation_is_refused(gateway: Gateway, malmo: None) -> None:
    result = gateway("add", "--organisation", MALMO, "--functional-address", EBB,
                     "--functional-address", SKANE_REKO)
    assert result.exit_code != 0
    assert "ADDRESS_OF_OTHER_ORGANISATION" in result.stderr
    assert f"{SKANE_REKO} tillhör 0203:skane.se" in result.stderr
    assert gateway.count(ApiClient) == 0


def test_missing_address_needs_create_flag(gateway: Gateway, malmo: None) -> None:
    ama = "sdk:ama:0203:malmo.se"
    result = gateway("add", "--organisation", MALMO, "--functional-address", ama)
    assert result.exit_code != 0
    assert "ADDRESS_NOT_FOUND" in result.stderr
    assert "--create-address" in result.stderr
    assert gateway.count(FunctionalAddress) == 2


@pytest.mark.parametrize(
    "address", ["sdk:ama:0203:skane.se", "no spaces allowed", "ama", "x" * 250]
)
def test_created_address_must_be_the_organisations(
    gateway: Gateway, malmo: None, address: str
) -> None:
    result = gateway("add", "--organisation", MALMO, "--functional-address", address,
                     "--create-address")
    assert result.exit_code != 0
    assert "INVALID_FUNCTIONAL_ADDRESS" in result.stderr
    assert gateway.count(FunctionalAddress) == 2
    assert gateway.count(ApiClient) == 0


def test_options_are_required(gateway: Gateway) -> None:
    result = gateway("add", "--organisation", MALMO)
    assert result.exit_code == 2
    assert "--functional-address" in result.output


def test_bad_configuration_value_is_a_message(gateway: Gateway, malmo: None) -> None:
    result = gateway("list", GATEWAY_TOKEN_LIFETIME="an hour")
    assert result.exit_code == 2
    assert "GATEWAY_TOKEN_LIFETIME" in result.output


def test_revoking_an_unknown_client_is_refused(gateway: Gateway) -> None:
    result = gateway("revoke", "gw-nobody")
    assert result.exit_code != 0
    assert "CLIENT_NOT_FOUND" in result.stderr


# --- add, list, revoke ------------------------------------------------------------------------


def test_add_prints_only_id_and_secret_and_the_secret_works(gateway: Gateway, malmo: None) -> None:
    created = gateway.add("--functional-address", EBB)
    assert set(created) == {"client_id", "client_secret"}
    assert created["client_id"].startswith("gw-")
    response = token_response(gateway.app, created["client_id"], created["client_secret"])
    assert response.status_code == 200
    assert response.get_json()["scope"].split() == list(SDK_SCOPES)
    with database(gateway.app).transaction() as session:
        stored = session.scalars(select(ApiClient)).one()
        assert created["client_secret"] not in stored.secret_hash
        # A keyed hash (HMAC-SHA-256 under the vault's key), not a password hash: 64 hex digits.
        assert stored.secret_hash.startswith("hmac-sha256$")
        assert len(stored.secret_hash) == len("hmac-sha256$") + 64
    assert gateway.audit()[0] == ("cli:clients add", "api_client.create", created["client_id"])


def test_add_creates_organisation_and_address_when_told(gateway: Gateway) -> None:
    created = gateway.add("--organisation-name", "Malmö stad", "--functional-address", EBB,
                          "--create-address", "--scope", "urn:sdk.api:sendMessage")
    with database(gateway.app).transaction() as session:
        assert session.get(Organisation, MALMO).name == "Malmö stad"  # type: ignore[union-attr]
        client = session.scalars(select(ApiClient)).one()
        assert [a.address for a in client.functional_addresses] == [EBB]
        assert client.scopes == "urn:sdk.api:sendMessage"
    assert [a for _, a, _ in gateway.audit()] == [
        "organisation.create", "functional_address.create", "api_client.create"
    ]
    assert created["client_id"] == gateway.audit()[-1][2]


def test_add_without_json_explains_itself(gateway: Gateway, malmo: None) -> None:
    result = gateway("add", "--organisation", "0203:Malmo.se", "--functional-address", EBB)
    assert result.exit_code == 0, result.output
    assert "client_secret:" in result.stdout
    assert "shown only now" in result.stdout


def test_list_shows_clients_without_secrets(gateway: Gateway, malmo: None) -> None:
    assert gateway("list").stdout.strip() == "no API clients"
    created = gateway.add("--functional-address", EBB)
    human = gateway("list").stdout
    assert created["client_id"] in human and "active" in human
    listed = json.loads(gateway("list", "--json").stdout)
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert listed[0]["functional_addresses"] == [EBB]
    assert listed[0]["organisation"] == MALMO
    for output in (human, json.dumps(listed)):
        assert created["client_secret"] not in output
        assert "argon2" not in output


def test_revoke_stops_tokens_and_is_idempotent(gateway: Gateway, malmo: None) -> None:
    created = gateway.add("--functional-address", EBB)
    token = token_response(gateway.app, created["client_id"], created["client_secret"])
    bearer = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    assert http(gateway.app, "GET", "/api/v1/whoami", headers=bearer).status_code == 200

    result = gateway("revoke", created["client_id"])
    assert result.exit_code == 0 and "revoked" in result.stdout
    assert http(gateway.app, "GET", "/api/v1/whoami", headers=bearer).status_code == 401
    again = token_response(gateway.app, created["client_id"], created["client_secret"])
    assert again.status_code == 401
    assert "revoked" in gateway("list").stdout

    twice = gateway("revoke", created["client_id"])
    assert twice.exit_code == 0 and "already revoked" in twice.stdout
    revokes = [e for e in gateway.audit() if e[1] == "api_client.revoke"]
    assert revokes == [("cli:clients revoke", "api_client.revoke", created["client_id"])]
