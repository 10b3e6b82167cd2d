"""The gateway's SIP API (DESIGN 5.8): POST /api/v1/sip, GET /api/v1/sip/{id}, POST .../reply,
POST .../outcome and POST .../plan. Thin: intake, access, the reply, the outcome and the plan are
the shared services'."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from gateway.auth.models import ApiClient
from gateway.auth.oauth import require_token
from gateway.db import get_session, utcnow
from gateway.inquiries import sip
from gateway.inquiries.access import Act
from gateway.inquiries.api import (
    GET_SCOPE,
    SEND_SCOPE,
    client_inquiry,
    create,
    intake_operation,
    json_object,
    pdf_body,
    read,
    status_body,
    xml_body,
)
from gateway.inquiries.models import FormType, Inquiry, SipCancelReason
from gateway.inquiries.receipts import utc_text

bp = Blueprint("sip_api", __name__)
_WHAT = "SIP-kallelse"


def sip_body(inquiry: Inquiry) -> dict[str, Any]:
    """Return where the invitation stands: the inquiry's status body (status, turn, legs; the
    deadline is the reply due date) and the meeting. No personal data."""
    meeting = sip.meeting_of(get_session(), inquiry)
    return {
        **status_body(inquiry),
        "meeting": {
            "starts_at": utc_text(meeting.starts_at),
            "length_minutes": meeting.length_minutes,
            "reply_due": meeting.reply_due.isoformat(),
            "decision": meeting.decision,
            "proposed_at": utc_text(meeting.proposed_at) if meeting.proposed_at else None,
            "held_on": meeting.held_on.isoformat() if meeting.held_on else None,
            "cancelled_on": meeting.cancelled_on.isoformat() if meeting.cancelled_on else None,
            "cancel_reason": meeting.cancel_reason,
            "reko_attended": meeting.reko_attended,
        },
    }


@bp.post("/api/v1/sip")
@require_token(SEND_SCOPE)
def create_sip() -> Response:
    """Take in a SIP invitation: 201 with the signed receipt, 200 for a repeat of the same send."""
    return create(FormType.SIP, _WHAT)


@bp.get("/api/v1/sip/<sip_id>")
@require_token(GET_SCOPE)
def get_sip(sip_id: str) -> Response:
    """Return the invitation's status, whose turn it is, its legs and the meeting."""
    return read(sip_id, FormType.SIP, sip_body)


@bp.post("/api/v1/sip/<sip_id>/reply")
@require_token(SEND_SCOPE)
def post_reply(sip_id: str) -> Response:
    """Take the VC's reply (sipSvar XML) from the care unit's client: 201 for a new reply, 200
    for a repeat of the same."""
    client: ApiClient = g.api_client
    inquiry = client_inquiry(sip_id, client, Act.REPLY, FormType.SIP)
    data = xml_body("SIP-svaret")
    session = get_session()
    created = sip.reply(session, inquiry, data, actor=f"client:{client.client_id}",
                        channel="api", now=utcnow()).created
    body = sip_body(inquiry)
    session.commit()
    response = jsonify(body)
    response.status_code = 201 if created else 200
    return response


@bp.post("/api/v1/sip/<sip_id>/outcome")
@require_token(SEND_SCOPE)
def post_outcome(sip_id: str) -> Response:
    """Record the outcome from the sender's client: held on a date, or cancelled with a
    reason (leg `held` or `cancelled`)."""
    client: ApiClient = g.api_client
    inquiry = client_inquiry(sip_id, client, Act.OUTCOME, FormType.SIP)
    body = json_object()
    session = get_session()
    sip.record_outcome(session, inquiry, body, actor=f"client:{client.client_id}", now=utcnow())
    result = sip_body(inquiry)
    session.commit()
    return jsonify(result)


@bp.post("/api/v1/sip/<sip_id>/plan")
@require_token(SEND_SCOPE)
def post_plan(sip_id: str) -> Response:
    """Share the plan of the held meeting with the VC (a PDF) from the sender's client: 201
    (leg `plan_shared`); 409 before the meeting is recorded as held, 422 for a refused file."""
    client: ApiClient = g.api_client
    inquiry = client_inquiry(sip_id, client, Act.SHARE_PLAN, FormType.SIP)
    with pdf_body("planen", sip.MAX_PLAN_BYTES) as upload:
        pdf = upload.read()  # a plan is at most MAX_PLAN_BYTES: checked and sealed whole
    session = get_session()
    sip.share_plan(session, inquiry, pdf, actor=f"client:{client.client_id}", channel="api",
                   now=utcnow())
    body = sip_body(inquiry)
    session.commit()
    response = jsonify(body)
    response.status_code = 201
    return response


# --- the OpenAPI description ------------------------------------------------------------------

OPENAPI_SCHEMAS: dict[str, Any] = {
    "SipStatus": {
        "allOf": [
            {"$ref": "#/components/schemas/InquiryStatus"},
            {
                "type": "object",
                "required": ["meeting"],
                "properties": {
                    "status": {"type": "string", "enum": [
                        "received", "opened", "replied", "held", "cancelled"]},
                    "meeting": {
                        "type": "object",
                        "required": ["starts_at", "length_minutes", "reply_due"],
                        "properties": {
                            "starts_at": {"type": "string", "format": "date-time"},
                            "length_minutes": {"type": "integer"},
                            "reply_due": {"type": "string", "format": "date"},
                            "decision": {"type": ["string", "null"], "enum": [
                                "KOMMER", "KOMMER_INTE", "NYTT_FORSLAG", None]},
                            "proposed_at": {"type": ["string", "null"], "format": "date-time"},
                            "held_on": {"type": ["string", "null"], "format": "date"},
                            "cancelled_on": {"type": ["string", "null"], "format": "date"},
                            "cancel_reason": {"type": ["string", "null"]},
                            "reko_attended": {"type": ["boolean", "null"]},
                        },
                    },
                },
            },
        ],
    },
    "SipOutcome": {
        "type": "object",
        "description": "Exactly one of held_on and cancelled.",
        "properties": {
            "held_on": {"type": "string", "format": "date"},
            "cancelled": {"type": "string", "enum": [r.value for r in SipCancelReason]},
            "reko_attended": {"type": "boolean"},
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    param = [{"name": "id", "in": "path", "required": True,
              "description": "SIP-kallelsens id (UUID från XML:en)",
              "schema": {"type": "string"}}]
    status = json_response("SIP-kallelsens läge", {"$ref": "#/components/schemas/SipStatus"})
    common = {**AUTH_RESPONSES,
              "404": problem("Kallelsen finns inte, eller klienten är ingen part i den")}
    xml = {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}}
    return {
        "/api/v1/sip": {"post": intake_operation(
            "createSip", "Skicka en SIP-kallelse (XML sipKallelse enligt DESIGN 5.8)",
            "S1–S4, C1–C7")},
        "/api/v1/sip/{id}": {"get": {
            "operationId": "getSip",
            "summary": "Status, vems tur det är, händelser och mötet",
            "security": secured(GET_SCOPE), "parameters": param,
            "responses": {"200": status, **common},
        }},
        "/api/v1/sip/{id}/reply": {"post": {
            "operationId": "replySip",
            "summary": "Vårdcentralens svar (XML sipSvar): KOMMER, KOMMER_INTE eller "
                       "NYTT_FORSLAG med nyTid",
            "security": secured(SEND_SCOPE), "parameters": param, "requestBody": xml,
            "responses": {
                "201": {**status, "description": "Svaret är sparat"},
                "200": {**status, "description": "Samma svar igen: inget ändrat"},
                "400": problem("Dokumentet kunde inte läsas"),
                **common,
                "403": problem("Klienten är avsändarens; bara vårdcentralens klient svarar"),
                "409": problem("Mötet är redan hållet eller inställt, eller samma svars-id "
                               "med annat innehåll"),
                "415": problem("Content-Type är inte application/xml"),
                "422": problem("Schemat, SVAR_NY_TID eller en annan kallelse (SIP_REPLY_OTHER)"),
            },
        }},
        "/api/v1/sip/{id}/outcome": {"post": {
            "operationId": "recordSipOutcome",
            "summary": "Utfallet: hållet ett datum eller inställt med anledning",
            "security": secured(SEND_SCOPE), "parameters": param,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/SipOutcome"}}}},
            "responses": {
                "200": status, **common,
                "403": problem("Klienten är vårdcentralens; bara avsändarens klient"),
                "409": problem("Utfallet är redan registrerat (SIP_CLOSED)"),
                "422": problem("Ogiltigt utfall (SIP_OUTCOME_INVALID)"),
            },
        }},
        "/api/v1/sip/{id}/plan": {"post": {
            "operationId": "shareSipPlan",
            "summary": "Dela planen från det hållna mötet med vårdcentralen (PDF, högst 10 MB)",
            "security": secured(SEND_SCOPE), "parameters": param,
            "requestBody": {"required": True, "content": {"application/pdf": {"schema": {
                "type": "string", "format": "binary"}}}},
            "responses": {
                "201": {**status, "description": "Planen är delad"}, **common,
                "403": problem("Klienten är vårdcentralens; bara avsändarens klient"),
                "409": problem("Mötet är inte registrerat som hållet (SIP_NOT_HELD)"),
                "413": problem("Filen är större än 10 MB"),
                "415": problem("Content-Type är inte application/pdf"),
                "422": problem("Filen är ingen PDF som kan tas emot (SIP_PLAN_INVALID)"),
            },
        }},
    }
