"""POST /oauth/token (client credentials) and bearer-token checks: refusals first, then success."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE as JWT_BEARER
from flask import Blueprint, Flask, g, jsonify
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import (
    SDK_SCOPES,
    client_holds_address,
    client_may_send_as,
    create_client,
    revoke_client,
)
from gateway.auth.models import ApiClient, ApiToken
from gateway.auth.oauth import require_token, token_digest
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError
from tests.support.factories import FunctionalAddressFactory, OrganisationFactory
from tests.support.statements import statements_run

MALMO = "0203:malmo.se"
EBB = "sdk:ebb-oster:0203:malmo.se"
AMA = "sdk:ama:0203:malmo.se"
SKANE_REKO = "sdk:reko-kryddgarden:0203:skane.se"
SEND, GET, FILTER, DELETE = SDK_SCOPES


@dataclass
class Registered:
    client_id: str
    secret: str
    model: ApiClient


def basic(user: str, password: str) -> dict[str, str]:
    raw = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def directory(app: Flask) -> None:
    malmo = OrganisationFactory(id=MALMO, name="Malmö stad")
    FunctionalAddressFactory(address=EBB, organisation=malmo)
    FunctionalAddressFactory(address=AMA, organisation=malmo)
    FunctionalAddressFactory(address=SKANE_REKO)
    get_session().commit()


def register(
    scopes: tuple[str, ...] | None = None, addresses: tuple[str, ...] = (EBB,),
    jwks: str | None = None,
) -> Registered:
    session = get_session()
    model, secret = create_client(
        session, organisation=MALMO, functional_addresses=list(addresses), scopes=scopes,
        jwks=jwks, actor="cli:test",
    )
    session.commit()
    return Registered(model.client_id, secret, model)


@pytest.fixture
def registered(directory: None) -> Registered:
    return register()


def get_token(client: FlaskClient, who: Registered, **form: str) -> dict[str, Any]:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", **form},
        headers=basic(who.client_id, who.secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def audit(action: str, outcome: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    return list(get_session().scalars(query))


def assert_oauth_error(response: Any, status: int, error: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert "Traceback" not in text
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


# --- the token endpoint: refusals -------------------------------------------------------------


def non_utf8_basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(b"gw-\xff\xfe:secret").decode()}


MALFORMED_BASIC = [
    pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="bad-base64"),
    pytest.param(non_utf8_basic(), id="non-utf8"),
    pytest.param({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
                 id="no-colon"),
    pytest.param(basic("", "secret"), id="empty-id"),
    pytest.param(basic("gw-x", ""), id="empty-secret"),
    pytest.param({"Authorization": "Basic"}, id="scheme-only"),
    pytest.param({"Authorization": "Bearer abc"}, id="bearer-at-token-endpoint"),
    pytest.param(basic("gw-%zz", "x%ff"), id="bad-percent-escapes"),
    pytest.param(basic("gw-" + "x" * 300, "secret"), id="oversized-id"),
    pytest.param({}, id="no-header"),
]


@pytest.mark.parametrize("headers", MALFORMED_BASIC)
def test_malformed_client_authentication_is_invalid_client(
    client: FlaskClient, registered: Registered, headers: dict[str, str]
) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_wrong_secret_is_invalid_client_and_audited(
    client: FlaskClient, registered: Registered
) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(registered.client_id, registered.secret + "x"),
    )
    assert_oauth_error(response, 401, "invalid_client")
    [entry] = audit("oauth.token", "denied")
    assert entry.actor.startswith("anonymous:")
    assert entry.object_id == registered.client_id
    assert entry.detail == {"error": "invalid_client", "reason": "wrong_secret"}
    assert get_session().scalars(select(ApiToken)).all() == []


def test_unknown_client_is_invalid_client(client: FlaskClient, registered: Registered) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic("gw-nobody", registered.secret),
    )
    assert_oauth_error(response, 401, "invalid_client")
    [entry] = audit("oauth.token", "denied")
    assert entry.detail["reason"] == "unknown_client"


def test_revoked_client_gets_no_token(client: FlaskClient, registered: Registered) -> None:
    revoke_client(get_session(), registered.client_id, actor="cli:test")
    get_session().commit()
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(registered.client_id, registered.secret),
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert audit("oauth.token", "denied")[0].detail["reason"] == "inactive_client"


BAD_REQUESTS = [
    pytest.param({}, 400, "invalid_request", id="missing-grant-type"),
    pytest.param({"grant_type": ""}, 400, "invalid_request", id="empty-grant-type"),
    pytest.param({"grant_type": "password"}, 400, "unsupported_grant_type", id="password-grant"),
    pytest.param({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type",
                 id="code-grant"),
    pytest.param({"grant_type": "client_credentials", "scope": "urn:sdk.api:everything"}, 400,
                 "invalid_scope", id="unknown-scope"),
    pytest.param({"grant_type": "client_credentials", "scope": 'a"b\\c\u00e5'}, 400,
                 "invalid_scope", id="scope-with-odd-characters"),
    pytest.param({"grant_type": "client_credentials", "client_secret": "x"}, 400,
                 "invalid_request", id="client-secret-post"),
]


@pytest.mark.parametrize(("form", "status", "error"), BAD_REQUESTS)
def test_bad_token_requests_get_rfc6749_errors(
    client: FlaskClient, registered: Registered, form: dict[str, str], status: int, error: str
) -> None:
    response = client.post(
        "/oauth/token", data=form, headers=basic(registered.client_id, registered.secret)
    )
    assert_oauth_error(response, status, error)
    assert audit("oauth.token", "denied")[-1].detail["error"] == error


def test_scope_the_client_does_not_hold_is_invalid_scope(
    client: FlaskClient, directory: None
) -> None:
    sender = register(scopes=(SEND,))
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": f"{SEND} {DELETE}"},
        headers=basic(sender.client_id, sender.secret),
    )
    assert_oauth_error(response, 400, "invalid_scope")
    [entry] = audit("oauth.token", "denied")
    # The client authenticated, so the denial is on its name.
    assert entry.actor == f"client:{sender.client_id}"
    assert entry.detail["reason"] == "scope_not_allowed"


def test_repeated_parameters_and_query_parameters_are_refused(
    client: FlaskClient, registered: Registered
) -> None:
    headers = basic(registered.client_id, registered.secret)
    twice = client.post(
        "/oauth/token", data="grant_type=client_credentials&grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded", headers=headers,
    )
    assert_oauth_error(twice, 400, "invalid_request")
    in_query = client.post("/oauth/token?grant_type=client_credentials", headers=headers)
    assert_oauth_error(in_query, 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param('{"grant_type": "client_credentials"}', "application/json", id="json"),
        pytest.param(b"grant_type=\xff\xfe", "application/x-www-form-urlencoded", id="non-utf8"),
        pytest.param(b"\x00\x01\x02", "application/octet-stream", id="binary"),
    ],
)
def test_odd_bodies_get_rfc6749_errors(
    client: FlaskClient, registered: Registered, body: Any, content_type: str
) -> None:
    response = client.post(
        "/oauth/token", data=body, content_type=content_type,
        headers=basic(registered.client_id, registered.secret),
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert response.get_json()["error"] in {"invalid_request", "unsupported_grant_type"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_than_post_are_refused(client: FlaskClient, method: str) -> None:
    response = client.open("/oauth/token", method=method)
    assert_oauth_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"


def test_token_endpoint_needs_no_csrf_token(
    client: FlaskClient, app: Flask, registered: Registered
) -> None:
    # The web forms are CSRF-protected; a machine client has no session and no form token.
    assert app.config.get("WTF_CSRF_ENABLED", True)
    get_token(client, registered)


def test_plain_http_from_afar_is_refused(
    client: FlaskClient, registered: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    # Secrets over plain HTTP only on loopback; behind nginx, GATEWAY_PROXY_HOPS says https.
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(registered.client_id, registered.secret), base_url="http://gateway.example",
    )
    assert_oauth_error(response, 400, "insecure_transport")
    over_tls = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(registered.client_id, registered.secret), base_url="https://gateway.example",
    )
    assert over_tls.status_code == 200


# --- the token endpoint: success --------------------------------------------------------------


def test_token_issued_with_basic_auth(
    app: Flask, client: FlaskClient, registered: Registered
) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(registered.client_id, registered.secret),
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["TOKEN_LIFETIME"]
    assert body["scope"].split() == list(SDK_SCOPES)
    assert "refresh_token" not in body
    [stored] = get_session().scalars(select(ApiToken)).all()
    # Only the digest is kept.
    assert stored.token_digest == token_digest(body["access_token"])
    assert body["access_token"] not in stored.token_digest
    lifetime = stored.expires_at - stored.issued_at
    assert lifetime == dt.timedelta(seconds=app.config["TOKEN_LIFETIME"])
    [issued] = audit("oauth.token_issued")
    assert issued.actor == f"client:{registered.client_id}"
    assert body["access_token"] not in str(issued.detail)


def test_token_lifetime_follows_configuration(
    app: Flask, client: FlaskClient, registered: Registered
) -> None:
    app.config["TOKEN_LIFETIME"] = 120
    assert get_token(client, registered)["expires_in"] == 120


def test_default_lifetime_is_b142s_thirty_minutes(
    app: Flask, client: FlaskClient, registered: Registered
) -> None:
    assert get_token(client, registered)["expires_in"] == 1800


@pytest.mark.parametrize("spelling", ["urn:sdk.api:sendMessages", "urn:sdk.api:sendMessage"])
def test_send_scope_in_either_spelling_may_send(
    client: FlaskClient, registered: Registered, spelling: str
) -> None:
    # B1.4.2 spells it sendMessages, DIGG's OpenAPI file sendMessage: one permission.
    body = get_token(client, registered, scope=spelling)
    assert body["scope"] == spelling
    response = client.post("/v1/sdk/messages", json={"data": None},
                           headers=bearer(body["access_token"]))
    # Past the scope check: the body is what is refused, not the token.
    assert response.status_code == 400, response.get_json()


def test_client_registered_with_b142s_spelling_holds_the_send_scope(directory: None) -> None:
    registered = register(scopes=("urn:sdk.api:sendMessages",))
    assert registered.model.scopes == SEND


def test_failed_client_authentication_is_throttled_per_client_and_address(
    app: Flask, client: FlaskClient, registered: Registered
) -> None:
    limit = app.config["LOGIN_MAX_FAILURES"]
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = limit + 1
    for _ in range(limit):
        wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=basic(registered.client_id, "fel-hemlighet"))
        assert_oauth_error(wrong, 401, "invalid_client")
    # Now even the right secret waits: the client id is throttled.
    throttled = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=basic(registered.client_id, registered.secret))
    assert_oauth_error(throttled, 429, "slow_down")
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    # So is, one failure later, any other client id tried from the same address (guessing ids).
    client.post("/oauth/token", data={"grant_type": "client_credentials"},
                headers=basic("gw-gissat-1", "x"))
    other = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic("gw-gissat", "x"))
    assert_oauth_error(other, 429, "slow_down")
    assert [e.detail["reason"] for e in audit("oauth.token", "denied")][-3:] == [
        "throttled", "unknown_client", "throttled"]


def test_a_secret_hashed_with_argon2_before_is_accepted_once_and_rehashed(
    client: FlaskClient, registered: Registered
) -> None:
    session = get_session()
    model = session.get(ApiClient, registered.model.id)
    assert model is not None
    model.secret_hash = PasswordHasher(memory_cost=1024, time_cost=1).hash(registered.secret)
    session.commit()
    assert get_token(client, registered)["token_type"] == "Bearer"
    stored = get_session().scalar(
        select(ApiClient.secret_hash).where(ApiClient.id == registered.model.id))
    assert stored is not None and stored.startswith("hmac-sha256$")
    assert get_token(client, registered)["token_type"] == "Bearer"


# --- private_key_jwt (RFC 7523, B1.4.2) ---------------------------------------------------------

TOKEN_URL = "http://localhost/oauth/token"


def jwks_of(*keys: RSAKey) -> str:
    return json.dumps({"keys": [k.as_dict(private=False) for k in keys]})


def assertion(key: RSAKey, client_id: str, **claims: Any) -> str:
    signed = private_key_jwt_sign(key, client_id, claims.pop("aud", TOKEN_URL), claims=claims)
    return signed.decode() if isinstance(signed, bytes) else signed


def jwt_token(client: FlaskClient, signed: str, **form: str) -> Any:
    return client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
        "client_assertion": signed, **form})


@pytest.fixture(scope="module")
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def test_private_key_jwt_issues_a_token_once_per_assertion(
    client: FlaskClient, directory: None, client_key: RSAKey
) -> None:
    registered = register(jwks=jwks_of(client_key))
    signed = assertion(client_key, registered.client_id)
    response = jwt_token(client, signed)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["expires_in"] <= 1800
    whoami = client.get("/api/v1/whoami", headers=bearer(body["access_token"]))
    assert whoami.status_code == 200
    # The same assertion again (its jti) is a replay. RFC 6749 5.2: 400, as no Authorization
    # header was tried.
    assert_oauth_error(jwt_token(client, signed), 400, "invalid_client")
    assert audit("oauth.token", "denied")[-1].detail["reason"] == "bad_client_assertion"


@pytest.mark.parametrize("fault", ["other key", "other audience", "no jwks registered",
                                   "lives a day", "basic too"])
def test_private_key_jwt_refusals(
    client: FlaskClient, directory: None, client_key: RSAKey, fault: str
) -> None:
    registered = register(jwks=None if fault == "no jwks registered" else jwks_of(client_key))
    key = RSAKey.generate_key(2048) if fault == "other key" else client_key
    claims: dict[str, Any] = {}
    if fault == "other audience":
        claims["aud"] = "https://annan.example/oauth/token"
    if fault == "lives a day":
        claims["exp"] = int(time.time()) + 86_400
    signed = assertion(key, registered.client_id, **claims)
    if fault == "basic too":
        response = client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": signed}, headers=basic(registered.client_id, registered.secret))
        assert_oauth_error(response, 400, "invalid_request")
        return
    assert_oauth_error(jwt_token(client, signed), 400, "invalid_client")
    assert get_session().scalars(select(ApiToken)).all() == []


@pytest.mark.parametrize(("jwks", "said"), [
    ("not json", "inte JSON"),
    ('{"keys": []}', "minst en publik nyckel"),
    ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "RSA- eller EC-nyckel"),
])
def test_a_jwks_that_is_not_public_keys_is_refused(
    directory: None, jwks: str, said: str
) -> None:
    with pytest.raises(GatewayError) as refused:
        register(jwks=jwks)
    assert refused.value.code == "INVALID_JWKS"
    assert said in refused.value.detail


def test_a_jwks_with_the_private_key_is_refused(directory: None, client_key: RSAKey) -> None:
    private = json.dumps({"keys": [client_key.as_dict(private=True)]})
    with pytest.raises(GatewayError) as refused:
        register(jwks=private)
    assert "privat nyckelmaterial" in refused.value.detail


def test_requested_subset_of_scopes_is_granted(client: FlaskClient, registered: Registered) -> None:
    body = get_token(client, registered, scope=f"{GET} {SEND}")
    assert body["scope"].split() == [SEND, GET]


def test_client_secret_may_be_form_encoded_in_basic(
    client: FlaskClient, registered: Registered
) -> None:
    # RFC 6749 2.3.1: id and secret are form-encoded before base64; ours need no escaping,
    # so an encoded "-" must still work.
    encoded_id = registered.client_id.replace("-", "%2D")
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers=basic(encoded_id, registered.secret),
    )
    assert response.status_code == 200


# --- bearer tokens: refusals ------------------------------------------------------------------


scoped = Blueprint("scoped_test", __name__)


@scoped.get("/api/v1/test/delete")
@require_token(DELETE)
def needs_delete() -> Any:
    return jsonify(client=g.api_client.client_id, scopes=sorted(g.token_scopes))


@scoped.get("/api/v1/test/send-and-get")
@require_token(SEND, GET)
def needs_send_and_get() -> Any:
    return jsonify(ok=True)


@scoped.get("/api/v1/test/addresses")
@require_token(SEND)
def needs_send() -> Any:
    return jsonify(sorted(a.address for a in g.api_client.functional_addresses))


@pytest.fixture
def api(app: Flask, client: FlaskClient) -> FlaskClient:
    # Registered before the app has served a request, as Flask requires.
    app.register_blueprint(scoped)
    return client


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["eventIssues"] and all("typeCode" in i for i in body["eventIssues"])
    return body


def test_missing_token_is_401(api: FlaskClient) -> None:
    response = api.get("/api/v1/whoami")
    assert_problem(response, 401, "TOKEN_MISSING")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gateway"'
    [entry] = audit("api.access", "denied")
    assert entry.actor.startswith("anonymous:")
    assert entry.object_id == "oauth.whoami"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer two words", "Basic abc", "Token abc", "Bearer åäö",
     "Bearer " + "a" * 600, "bearer\tabc"],
)
def test_malformed_authorization_is_401(api: FlaskClient, header: str) -> None:
    response = api.get("/api/v1/whoami", headers={"Authorization": header})
    assert_problem(response, 401, "TOKEN_MALFORMED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_unknown_token_is_401(api: FlaskClient, registered: Registered) -> None:
    response = api.get("/api/v1/whoami", headers=bearer("x" * 43))
    assert_problem(response, 401, "TOKEN_INVALID")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert audit("api.access", "denied")[0].detail["reason"] == "TOKEN_INVALID"


def test_expired_token_is_401_and_audited_on_the_client(
    api: FlaskClient, registered: Registered
) -> None:
    session = get_session()
    session.add(ApiToken(
        token_digest=token_digest("expired-token"), api_client_id=registered.model.id,
        scope=" ".join(SDK_SCOPES), issued_at=utcnow() - dt.timedelta(hours=2),
        expires_at=utcnow() - dt.timedelta(seconds=1),
    ))
    session.commit()
    response = api.get("/api/v1/whoami", headers=bearer("expired-token"))
    assert_problem(response, 401, "TOKEN_EXPIRED")
    [entry] = audit("api.access", "denied")
    assert entry.actor == f"client:{registered.client_id}"
    assert entry.detail == {"reason": "TOKEN_EXPIRED", "method": "GET"}


def test_token_of_revoked_client_stops_working(api: FlaskClient, registered: Registered) -> None:
    token = get_token(api, registered)["access_token"]
    assert api.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    revoke_client(get_session(), registered.client_id, actor="cli:test")
    get_session().commit()
    response = api.get("/api/v1/whoami", headers=bearer(token))
    assert_problem(response, 401, "TOKEN_REVOKED")


def test_missing_scope_is_403_naming_the_scope(api: FlaskClient, directory: None) -> None:
    sender = register(scopes=(SEND,))
    token = get_token(api, sender)["access_token"]
    response = api.get("/api/v1/test/delete", headers=bearer(token))
    body = assert_problem(response, 403, "INSUFFICIENT_SCOPE")
    assert [i["detail"] for i in body["eventIssues"]] == [DELETE]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    [entry] = audit("api.access", "denied")
    assert entry.actor == f"client:{sender.client_id}"
    assert entry.object_id == "scoped_test.needs_delete"


def test_every_listed_scope_is_required(api: FlaskClient, registered: Registered) -> None:
    token = get_token(api, registered, scope=SEND)["access_token"]
    response = api.get("/api/v1/test/send-and-get", headers=bearer(token))
    body = assert_problem(response, 403, "INSUFFICIENT_SCOPE")
    assert [i["detail"] for i in body["eventIssues"]] == [GET]


def test_require_token_needs_parentheses() -> None:
    with pytest.raises(TypeError):
        require_token(needs_delete)  # type: ignore[arg-type]


# --- bearer tokens: success -------------------------------------------------------------------


def test_scoped_view_sees_client_and_scopes(api: FlaskClient, registered: Registered) -> None:
    token = get_token(api, registered, scope=f"{DELETE} {GET}")["access_token"]
    response = api.get("/api/v1/test/delete", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == {"client": registered.client_id, "scopes": sorted([DELETE, GET])}
    assert audit("api.access", "denied") == []


def test_the_token_its_client_and_addresses_are_one_read(api: FlaskClient, directory: None) -> None:
    # Every API request starts with this check (issue 17: it was three reads).
    who = register(addresses=(EBB, AMA))
    token = get_token(api, who, scope=SEND)["access_token"]
    get_session().expunge_all()  # nothing of the client already at hand
    with statements_run() as statements:
        response = api.get("/api/v1/test/addresses", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == sorted([EBB, AMA])
    assert len(statements) == 1, statements


def test_whoami_tells_the_integrator_what_it_may_do(client: FlaskClient, directory: None) -> None:
    who = register(addresses=(EBB, AMA))
    token = get_token(client, who, scope=SEND)["access_token"]
    response = client.get("/api/v1/whoami", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {
        "client_id": who.client_id,
        "organisation": {"id": MALMO, "name": "Malmö stad"},
        "functional_addresses": sorted([EBB, AMA]),
        "scopes": [SEND],
    }


# --- what intake asks of a client -------------------------------------------------------------


def test_client_address_helpers(app: Flask, registered: Registered) -> None:
    model = registered.model
    assert client_holds_address(model, EBB)
    assert not client_holds_address(model, AMA)
    assert client_may_send_as(model, MALMO, EBB)
    assert client_may_send_as(model, "0203:Malmo.se", EBB)
    assert not client_may_send_as(model, MALMO, AMA)
    assert not client_may_send_as(model, "0203:skane.se", EBB)
    assert not client_may_send_as(model, "not an id", EBB)
    revoke_client(get_session(), registered.client_id, actor="cli:test")
    assert not client_may_send_as(model, MALMO, EBB)
