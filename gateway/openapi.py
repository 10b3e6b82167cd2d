"""The OpenAPI 3.1 document of the gateway's own API, served at GET /api/v1/openapi.json.

Each domain adds its paths (and schemas) from its init_app with `register_paths` and
`register_schemas`; the document is put together when it is asked for, so the order in which
domains register does not matter.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

PATHS_KEY = "gateway.openapi.paths"
SCHEMAS_KEY = "gateway.openapi.schemas"
SECURITY_SCHEME = "oauth2"

SCOPES = {
    "urn:sdk.api:sendMessage": "skicka meddelanden och hälsoförfrågningar",
    "urn:sdk.api:sendMessages": "samma behörighet, stavad som i B1.4.2",
    "urn:sdk.api:getMessage": "hämta ett meddelande eller en hälsoförfrågan",
    "urn:sdk.api:getMessageByFilter": "söka meddelanden",
    "urn:sdk.api:deleteMessage": "ta bort meddelanden",
    "urn:kryddgarden:stats": "läsa svarstidsstatistiken (bara sammanställningar)",
}

PROBLEM_TYPE = "application/problem+json"

_SCHEMAS: dict[str, Any] = {
    "EventIssue": {
        "type": "object",
        "description": "One finding, as SDK's eventIssues: a rule code and where it was found.",
        "required": ["typeCode", "title"],
        "properties": {
            "typeCode": {"type": "string", "description": "rule or error code, e.g. C2, XSD"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "in": {"type": "string", "description": "element path and line, e.g. /x/y, rad 3"},
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 7807 problem details with SDK's eventIssues.",
        "required": ["type", "title", "status", "detail", "instance", "eventIssues"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "eventIssues": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/EventIssue"},
            },
        },
        "additionalProperties": True,
    },
    "Whoami": {
        "type": "object",
        "required": ["client_id", "organisation", "functional_addresses", "scopes"],
        "properties": {
            "client_id": {"type": "string"},
            "organisation": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
            "functional_addresses": {"type": "array", "items": {"type": "string"}},
            "scopes": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def problem(description: str) -> dict[str, Any]:
    """Return an OpenAPI response object for a problem+json refusal."""
    return {
        "description": description,
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Return an OpenAPI response object with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def secured(*scopes: str) -> list[dict[str, list[str]]]:
    """Return an operation's security requirement: a bearer token with `scopes`."""
    return [{SECURITY_SCHEME: list(scopes)}]


# The refusals every bearer-protected operation can give.
AUTH_RESPONSES: dict[str, Any] = {
    "401": problem("Token saknas, är ogiltig, spärrad eller har gått ut"),
    "403": problem("Token saknar behörighet (scope) eller avsändaren är inte klientens"),
}

_BASE_PATHS: dict[str, Any] = {
    "/api/v1/whoami": {
        "get": {
            "operationId": "whoami",
            "summary": "Vilken klient token tillhör och vad den får göra",
            "security": secured(),
            "responses": {
                "200": json_response("Klienten", {"$ref": "#/components/schemas/Whoami"}),
                **AUTH_RESPONSES,
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "Detta dokument",
            "security": [],
            "responses": {"200": json_response("OpenAPI 3.1", {"type": "object"})},
        }
    },
}


def register_paths(app: Flask, paths: dict[str, Any]) -> None:
    """Add path items to the app's document; an operation already there is replaced."""
    registered: dict[str, Any] = app.extensions.setdefault(PATHS_KEY, {})
    for path, item in paths.items():
        registered.setdefault(path, {}).update(copy.deepcopy(item))


def register_schemas(app: Flask, schemas: dict[str, Any]) -> None:
    """Add component schemas (referenced as #/components/schemas/<name>)."""
    app.extensions.setdefault(SCHEMAS_KEY, {}).update(copy.deepcopy(schemas))


def document(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of everything registered on app."""
    paths = copy.deepcopy(_BASE_PATHS)
    for path, item in app.extensions.get(PATHS_KEY, {}).items():
        paths.setdefault(path, {}).update(copy.deepcopy(item))
    schemas = {**copy.deepcopy(_SCHEMAS), **copy.deepcopy(app.extensions.get(SCHEMAS_KEY, {}))}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kryddgården Gateway API",
            "version": "1",
            "description": (
                "Gatewayens eget API för hälsoförfrågningar (DESIGN 5.4). Åtkomst med "
                "OAuth2 client credentials: hämta en token från /oauth/token och skicka den "
                "som Authorization: Bearer. Alla fel är application/problem+json (RFC 7807) "
                "med eventIssues."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": "Bearer-token från OAuth2 client credentials "
                                   "(client_secret_basic).",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES}
                    },
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(document(current_app._get_current_object()))  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Serve the document; idempotent, so any domain may call it."""
    if "openapi" not in app.blueprints:
        app.register_blueprint(bp)
