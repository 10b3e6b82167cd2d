"""The gateway's inquiry API (DESIGN 5.4): POST /api/v1/inquiries and GET /api/v1/inquiries/{id}."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from forms.xmlsafe import DEFAULT_MAX_BYTES
from gateway.audit.service import record, record_denied
from gateway.auth.clients import client_holds_address
from gateway.auth.models import ApiClient
from gateway.auth.oauth import require_token
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError, not_found
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Inquiry
from gateway.inquiries.receipts import utc_text
from gateway.inquiries.workflow import progress

SEND_SCOPE = "urn:sdk.api:sendMessage"
GET_SCOPE = "urn:sdk.api:getMessage"
# The forms library refuses anything larger; refusing it here spares reading it.
MAX_BODY_BYTES = DEFAULT_MAX_BYTES
XML_TYPES = ("application/xml",)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

bp = Blueprint("inquiries_api", __name__)


def _xml_body() -> bytes:
    """Return the request body; raise 415 for another content type and 413 above the limit."""
    if request.mimetype not in XML_TYPES:
        raise GatewayError(
            "UNSUPPORTED_MEDIA_TYPE", "Fel innehållstyp",
            "Skicka hälsoförfrågan som XML med Content-Type: application/xml.", status=415,
        )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        abort(413)
    # A streamed body (no Content-Length) is cut at the limit without an error on the first
    # read, so read one byte more than allowed and refuse if it arrives.
    request.max_content_length = MAX_BODY_BYTES + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        abort(413)
    if len(data) > MAX_BODY_BYTES:
        abort(413)
    return data


@bp.post("/api/v1/inquiries")
@require_token(SEND_SCOPE)
def create_inquiry() -> Response:
    """Take in a hälsoförfrågan: 201 with the signed receipt, 200 for a repeat of the same send."""
    data = _xml_body()
    session = get_session()
    result = submit(
        session, data, submitter=Submitter.from_client(g.api_client), channel="api", now=utcnow()
    )
    body = result.body()
    session.commit()
    response = jsonify(body)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = result.location
    return response


def _visible_inquiry(inquiry_id: str, client: ApiClient) -> Inquiry:
    """Return the inquiry if the client sent it or receives it; else 404 (audited as denied
    when it exists, so that probing shows in the log)."""
    inquiry = get_session().get(Inquiry, inquiry_id.lower()) if _UUID.match(inquiry_id) else None
    if inquiry is None:
        raise not_found("Hälsoförfrågan")
    if not (
        client_holds_address(client, inquiry.reply_to)
        or client_holds_address(client, inquiry.routed_to)
    ):
        record_denied(actor=f"client:{client.client_id}", action="inquiry.read",
                      object_type="inquiry", object_id=inquiry.id,
                      detail={"reason": "not_party"})
        raise not_found("Hälsoförfrågan")
    return inquiry


def status_body(inquiry: Inquiry) -> dict[str, Any]:
    """Return where the inquiry stands (DESIGN 5.4): no personal data."""
    state = progress(get_session(), inquiry)
    return {
        "id": inquiry.id,
        "status": state.status.value,
        "turn": state.turn.value,
        "deadline": state.deadline.isoformat(),
        "legs": [{"kind": leg.kind.value, "at": utc_text(leg.at)} for leg in state.legs],
        "flags": list(inquiry.flags or []),
        "care_unit": inquiry.care_unit.hsa_id,
        "routed_to": inquiry.routed_to,
        "repeat_of": inquiry.repeat_of,
    }


@bp.get("/api/v1/inquiries/<inquiry_id>")
@require_token(GET_SCOPE)
def get_inquiry(inquiry_id: str) -> Response:
    """Return the inquiry's status, whose turn it is, its deadline and legs."""
    client: ApiClient = g.api_client
    inquiry = _visible_inquiry(inquiry_id, client)
    body = status_body(inquiry)
    session = get_session()
    record(session, actor=f"client:{client.client_id}", action="inquiry.read",
           object_type="inquiry", object_id=inquiry.id, detail={"channel": "api"})
    session.commit()
    return jsonify(body)


# --- the OpenAPI description of these two operations -------------------------------------------

_FLAG = {
    "type": "object",
    "required": ["code", "title"],
    "properties": {
        "code": {"type": "string", "enum": ["REPEAT", "NO_ACTIVE_REKO"]},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "inquiry": {"type": "string", "description": "the earlier inquiry (REPEAT)"},
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "InquiryFlag": _FLAG,
    "Receipt": {
        "type": "object",
        "description": "The signed receipt: canonical JSON (sorted keys, UTF-8, no whitespace) "
                       "of exactly these fields is what receipt_signature signs.",
        "required": ["version", "inquiry_id", "received_at", "routed_to", "care_unit",
                     "deadline", "content_sha256", "flags", "issuer"],
        "properties": {
            "version": {"type": "integer"},
            "inquiry_id": {"type": "string", "format": "uuid"},
            "received_at": {"type": "string", "format": "date-time"},
            "routed_to": {"type": "string"},
            "care_unit": {"type": "string"},
            "deadline": {"type": "string", "format": "date"},
            "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "flags": {"type": "array", "items": {"$ref": "#/components/schemas/InquiryFlag"}},
            "issuer": {"type": "string"},
        },
    },
    "IntakeResponse": {
        "type": "object",
        "required": ["id", "status", "deadline", "flags", "receipt", "receipt_signature",
                     "receipt_certificate"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["received"]},
            "deadline": {"type": "string", "format": "date"},
            "flags": {"type": "array", "items": {"$ref": "#/components/schemas/InquiryFlag"}},
            "receipt": {"$ref": "#/components/schemas/Receipt"},
            "receipt_signature": {
                "type": "string", "contentEncoding": "base64",
                "description": "detached CMS signature (DER) over the canonical receipt",
            },
            "receipt_certificate": {"type": "string", "description": "the signer, PEM"},
        },
    },
    "InquiryStatus": {
        "type": "object",
        "required": ["id", "status", "turn", "deadline", "legs", "flags", "care_unit",
                     "routed_to"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [
                "received", "opened", "answered", "answer_delivered", "registered", "closed",
            ]},
            "turn": {"type": "string", "enum": ["care_unit", "sender", "none"]},
            "deadline": {"type": "string", "format": "date"},
            "legs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "at"],
                    "properties": {
                        "kind": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "flags": {"type": "array", "items": {"$ref": "#/components/schemas/InquiryFlag"}},
            "care_unit": {"type": "string"},
            "routed_to": {"type": "string"},
            "repeat_of": {"type": ["string", "null"]},
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    intake = json_response("Kvittens", {"$ref": "#/components/schemas/IntakeResponse"})
    created = {**intake, "headers": {"Location": {"schema": {"type": "string"}}}}
    return {
        "/api/v1/inquiries": {
            "post": {
                "operationId": "createInquiry",
                "summary": "Skicka en hälsoförfrågan (XML enligt DESIGN 5.1)",
                "security": secured(SEND_SCOPE),
                "requestBody": {
                    "required": True,
                    "content": {"application/xml": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "201": {**created, "description": "Mottagen; kvittensen är signerad"},
                    "200": {**created, "description": "Samma id och innehåll igen: samma svar"},
                    "400": problem("Dokumentet kunde inte läsas (XML, DTD, kodning, namnrymd)"),
                    **AUTH_RESPONSES,
                    "404": problem("Vårdcentralen finns inte i katalogen"),
                    "409": problem("Samma id med annat innehåll (ID_CONFLICT)"),
                    "413": problem("För stort dokument"),
                    "415": problem("Content-Type är inte application/xml"),
                    "422": problem("Schemat, en regel (C1–C7) eller katalogen säger nej"),
                    "503": problem("Kvittensnyckeln saknas (RECEIPT_KEY_MISSING)"),
                },
            }
        },
        "/api/v1/inquiries/{id}": {
            "get": {
                "operationId": "getInquiry",
                "summary": "Status, vems tur det är, sista svarsdag och händelser",
                "security": secured(GET_SCOPE),
                "parameters": [{
                    "name": "id", "in": "path", "required": True,
                    "description": "hälsoförfrågans id (UUID från XML:en)",
                    "schema": {"type": "string"},
                }],
                "responses": {
                    "200": json_response(
                        "Hälsoförfrågans läge", {"$ref": "#/components/schemas/InquiryStatus"}
                    ),
                    **AUTH_RESPONSES,
                    "404": problem(
                        "Finns inte, eller klienten är varken avsändare eller mottagare"
                    ),
                },
            }
        },
    }


