"""The OpenAPI document at /api/v1/openapi.json: served without a token, extensible by domains,
and every response of the inquiry API matches the schema it documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker

from gateway.db import get_session
from gateway.openapi import register_paths, register_schemas
from tests.support.forms import (
    NOT_CONNECTED,
    UNKNOWN_CARE_UNIT,
    halsoforfragan,
)
from tests.support.intake import GET, bearer, load_directory, new_client
from tests.support.pki import install_pki

SECURED = [
    ("/api/v1/inquiries", "post"),
    ("/api/v1/inquiries/{id}", "get"),
    ("/api/v1/whoami", "get"),
]


@pytest.fixture
def token(app: Flask, instance: Path, pki_template: Path) -> str:
    install_pki(instance, pki_template)
    session = get_session()
    load_directory(session)
    return new_client(session)


def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def assert_matches(doc: dict[str, Any], path: str, method: str, response: Any) -> None:
    """Assert the response's status, content type and body are those the document gives."""
    operation = doc["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path}: {response.status_code} undocumented"
    media = documented["content"]
    assert response.mimetype in media, (response.mimetype, list(media))
    schema = {**media[response.mimetype]["schema"], "components": doc["components"]}
    body = response.get_json()
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(body)
    for name, header in documented.get("headers", {}).items():
        assert name in response.headers, name
        assert header["schema"]["type"] == "string"


# --- the document ------------------------------------------------------------------------------


def test_the_document_is_served_without_a_token(client: FlaskClient) -> None:
    doc = document(client)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert "urn:sdk.api:sendMessage" in flows["clientCredentials"]["scopes"]
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "eventIssues"} <= set(
        problem["required"]
    )


def test_every_reference_resolves(client: FlaskClient) -> None:
    doc = document(client)
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_every_schema_is_valid_json_schema(client: FlaskClient) -> None:
    doc = document(client)
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema({**schema, "components": doc["components"]})


@pytest.mark.parametrize(("path", "method"), SECURED)
def test_secured_operations_name_their_scope_and_refusals(
    client: FlaskClient, path: str, method: str
) -> None:
    operation = document(client)["paths"][path][method]
    assert list(operation["security"][0]) == ["oauth2"]
    for status in ("401", "403"):
        content = operation["responses"][status]["content"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_domains_add_their_paths_and_schemas(app: Flask, client: FlaskClient) -> None:
    register_schemas(app, {"Thing": {"type": "object"}})
    register_paths(app, {"/api/v1/things": {"get": {
        "operationId": "things", "responses": {"200": {
            "description": "ok",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
        }},
    }}})
    doc = document(client)
    assert "/api/v1/things" in doc["paths"] and "/api/v1/inquiries" in doc["paths"]
    assert "Thing" in doc["components"]["schemas"]


# --- responses match the document ---------------------------------------------------------------


def test_intake_responses_match(client: FlaskClient, token: str) -> None:
    doc = document(client)
    data = halsoforfragan()

    def post(body: bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", bearer(token))
        kwargs.setdefault("content_type", "application/xml")
        return client.post("/api/v1/inquiries", data=body, **kwargs)

    cases = [
        post(data),  # 201
        post(data),  # 200
        post(b"<nej"),  # 400
        post(data, headers={}),  # 401
        post(halsoforfragan(organisation="0203:lund.se", funktionsadress="sdk:x:0203:lund.se")),
        post(halsoforfragan(vardcentral=UNKNOWN_CARE_UNIT, uppgiftslamnare=UNKNOWN_CARE_UNIT)),
        post(data.replace(b"<bakgrund>", b"<bakgrund>Annan ")),  # 409
        post(b"<" * (12 * 1024 * 1024 + 1)),  # 413
        post(data, content_type="text/plain"),  # 415
        post(halsoforfragan(vardcentral=NOT_CONNECTED, uppgiftslamnare=NOT_CONNECTED)),  # 422
        post(halsoforfragan(personnummer="191212121213")),  # 422
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [201, 200, 400, 401, 403, 404, 409, 413, 415, 422, 422]
    for response in cases:
        assert_matches(doc, "/api/v1/inquiries", "post", response)


def test_status_responses_match(client: FlaskClient, token: str) -> None:
    doc = document(client)
    inquiry_id = client.post(
        "/api/v1/inquiries", data=halsoforfragan(), content_type="application/xml",
        headers=bearer(token),
    ).get_json()["id"]
    send_only = new_client(get_session(), scopes=("urn:sdk.api:sendMessage",))
    cases = [
        client.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(token)),
        client.get(f"/api/v1/inquiries/{inquiry_id}"),
        client.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(send_only)),
        client.get("/api/v1/inquiries/nej", headers=bearer(token)),
    ]
    assert [r.status_code for r in cases] == [200, 401, 403, 404]
    for response in cases:
        assert_matches(doc, "/api/v1/inquiries/{id}", "get", response)
    legs = cases[0].get_json()["legs"]
    assert all(dt.datetime.fromisoformat(leg["at"]).tzinfo for leg in legs)


def test_whoami_responses_match(client: FlaskClient, token: str) -> None:
    doc = document(client)
    get_only = new_client(get_session(), scopes=(GET,))
    for response in (client.get("/api/v1/whoami", headers=bearer(get_only)),
                     client.get("/api/v1/whoami")):
        assert_matches(doc, "/api/v1/whoami", "get", response)
