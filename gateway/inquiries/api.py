"""The gateway's inquiry API (DESIGN 5.4): POST /api/v1/inquiries and GET /api/v1/inquiries/{id}."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from flask import Blueprint, Response, abort, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from forms.xmlsafe import DEFAULT_MAX_BYTES
from gateway import codes
from gateway.audit.reads import record_read
from gateway.auth.models import ApiClient
from gateway.auth.oauth import require_token
from gateway.bodies import TooLarge, spool
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError
from gateway.inquiries.access import Act, Party, Side, require
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import FormType, Inquiry
from gateway.inquiries.receipts import receipt_body, utc_text
from gateway.inquiries.workflow import progress, record_opened

SEND_SCOPE = "urn:sdk.api:sendMessage"
GET_SCOPE = "urn:sdk.api:getMessage"
# The forms library refuses anything larger; refusing it here spares reading it.
MAX_BODY_BYTES = DEFAULT_MAX_BYTES
XML_TYPES = ("application/xml",)

bp = Blueprint("inquiries_api", __name__)


def _limit_body(types: Any, limit: int, hint: str) -> None:
    """Raise 415 for another content type and 413 when the declared length is above limit."""
    if request.mimetype not in types:
        raise GatewayError.at(codes.UNSUPPORTED_MEDIA_TYPE, hint, status=415)
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    # A streamed body (no Content-Length) is cut at the limit without an error on the first
    # read, so read one byte more than allowed and refuse if it arrives.
    request.max_content_length = limit + 1


def _body(types: Any, limit: int, hint: str) -> bytes:
    """Return the request body; raise 415 for another content type and 413 above limit bytes."""
    _limit_body(types, limit, hint)
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        abort(413)
    if len(data) > limit:
        abort(413)
    return data


def xml_body(what: str = "hälsoförfrågan") -> bytes:
    """Return the XML request body (415 for another content type, 413 when too large)."""
    return _body(XML_TYPES, MAX_BODY_BYTES,
                 f"Skicka {what} som XML med Content-Type: application/xml.")


@bp.post("/api/v1/inquiries")
@require_token(SEND_SCOPE)
def create_inquiry() -> Response:
    """Take in a hälsoförfrågan: 201 with the signed receipt, 200 for a repeat of the same send."""
    return create(FormType.HALSOFORFRAGAN, "hälsoförfrågan")


def create(form_type: FormType, what: str) -> Response:
    """Take in a form of the type through the shared intake: 201 with `Location` and the signed
    receipt, 200 with the same body for a repeat of the same send."""
    data = xml_body(what)
    session = get_session()
    result = submit(
        session, data, submitter=Submitter.from_client(g.api_client), channel="api", now=utcnow(),
        form_type=form_type,
    )
    body = result.body()
    session.commit()
    response = jsonify(body)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = result.location
    return response


def client_inquiry(inquiry_id: str, client: ApiClient, act: Act,
                   form_type: FormType = FormType.HALSOFORFRAGAN) -> Inquiry:
    """Return the inquiry of the form type when the client may do the act on it (the access
    service decides: 404 when unknown, of another type or not the client's, 403 when the act
    is the other side's; audited)."""
    return require(get_session(), Party.client(client), inquiry_id, act, channel="api",
                   form_type=form_type)



def status_body(inquiry: Inquiry) -> dict[str, Any]:
    """Return where the inquiry stands (DESIGN 5.4): no personal data."""
    state = progress(get_session(), inquiry)
    return {
        "id": inquiry.id,
        "reference": inquiry.reference,
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
    """Return the inquiry's status, whose turn it is, its deadline and legs; the care unit's
    first read records `opened` (as a REKO's first look at the web page does)."""
    return read(inquiry_id, FormType.HALSOFORFRAGAN, status_body)


def read(inquiry_id: str, form_type: FormType,
         body_of: Callable[[Inquiry], dict[str, Any]]) -> Response:
    """Return `body_of` the inquiry of the form type to a client on either side; the care
    unit's first read records `opened`; the read is audited."""
    client: ApiClient = g.api_client
    inquiry = client_inquiry(inquiry_id, client, Act.READ, form_type)
    session = get_session()
    actor = f"client:{client.client_id}"
    if Side.CARE_UNIT in Party.client(client).sides(inquiry):
        record_opened(session, inquiry, actor=actor, at=utcnow())
        session.flush()
    body = body_of(inquiry)
    record_read(session, actor=actor, action="inquiry.read", object_type="inquiry",
                object_id=inquiry.id, purpose="följa förfrågan", channel="api")
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

_REFERENCE = {
    "type": "string", "pattern": "^HF-[0-9]{4}-[0-9]{6}$",
    "description": "the short reference both sides quote, numbered per year at intake",
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
        "required": ["id", "reference", "status", "deadline", "flags", "receipt",
                     "receipt_signature", "receipt_certificate"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "reference": _REFERENCE,
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
        "required": ["id", "reference", "status", "turn", "deadline", "legs", "flags",
                     "care_unit", "routed_to"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "reference": _REFERENCE,
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


def intake_operation(operation_id: str, summary: str, rules: str) -> dict[str, Any]:
    """Return the OpenAPI operation of a form type's intake (POST of its XML): the responses
    are the shared intake's; `rules` names the form type's rule codes."""
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    intake = json_response("Kvittens", {"$ref": "#/components/schemas/IntakeResponse"})
    created = {**intake, "headers": {"Location": {"schema": {"type": "string"}}}}
    return {
        "operationId": operation_id,
        "summary": summary,
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
            "422": problem(f"Schemat, en regel ({rules}) eller katalogen säger nej"),
            "503": problem("Kvittensnyckeln saknas (RECEIPT_KEY_MISSING)"),
        },
    }


def openapi_paths() -> dict[str, Any]:
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    return {
        "/api/v1/inquiries": {
            "post": intake_operation("createInquiry",
                                     "Skicka en hälsoförfrågan (XML enligt DESIGN 5.1)", "C1–C7"),
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


# --- answers, registration, closing and re-routing ------------------------------------------

ANSWER_PATH = "/api/v1/inquiries/<inquiry_id>/answer"
PDF_TYPES = ("application/pdf",)
# P1's limit; one byte more is read to tell "at the limit" from "above it".
MAX_PDF_BYTES = 30 * 1024 * 1024


def pdf_body(what: str = "svaret", limit: int = MAX_PDF_BYTES) -> IO[bytes]:
    """Return the PDF body in a spooled file (on disk when large: see gateway.bodies); the
    caller closes it. 415 for another content type, 413 above `limit` bytes."""
    _limit_body(PDF_TYPES, limit, f"Skicka {what} som PDF med Content-Type: application/pdf.")
    try:
        return spool(request.stream, limit)
    except (TooLarge, RequestEntityTooLarge):
        abort(413)


def json_object() -> dict[str, Any]:
    """Return the JSON object body ({} when empty); 400 for anything else."""
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GatewayError.at(
            codes.JSON_INVALID, "Skicka ett JSON-objekt med Content-Type: application/json.",
            status=400,
        )
    return body


@bp.post(ANSWER_PATH)
@require_token(SEND_SCOPE)
def post_answer(inquiry_id: str) -> Response:
    """Take a signed answer PDF from the care unit's client: 201, or 422 naming the P rules."""
    from gateway.inquiries.answers import accept_answer

    client: ApiClient = g.api_client
    inquiry = client_inquiry(inquiry_id, client, Act.ANSWER)
    session = get_session()
    with pdf_body() as pdf:
        answer = accept_answer(session, inquiry.id, pdf,
                               submitter=f"client:{client.client_id}", channel="api",
                               now=utcnow())
    body = {"id": inquiry.id, "sha256": answer.pdf_digest, "report": answer.report,
            "inquiry": status_body(inquiry)}
    session.commit()
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/inquiries/{inquiry.id}/answer"
    return response


@bp.get(ANSWER_PATH)
@require_token(GET_SCOPE)
def get_answer(inquiry_id: str) -> Response:
    """Return the exact signed bytes to the sender's client; `answer_delivered` the first time."""
    from gateway.inquiries.answers import deliver_answer

    client: ApiClient = g.api_client
    inquiry = client_inquiry(inquiry_id, client, Act.READ_ANSWER)
    session = get_session()
    stored = deliver_answer(session, inquiry, actor=f"client:{client.client_id}", channel="api",
                            now=utcnow())
    session.commit()
    response = Response(stored.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="svar-{inquiry.id}.pdf"'
    response.headers["ETag"] = f'"{stored.answer.pdf_digest}"'
    response.headers["X-Answer-Report-Ok"] = "true" if stored.report.ok else "false"
    return response


def _aware_time(value: Any, field_name: str) -> Any:
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if not isinstance(value, str) or parsed is None or parsed.tzinfo is None:
        detail = f"{field_name} ska vara en tid enligt ISO 8601 med tidszon."
        raise GatewayError.at(
            codes.TIME_INVALID, detail, f"/{field_name}", status=422
        )
    return parsed


@bp.post("/api/v1/inquiries/<inquiry_id>/registered")
@require_token(SEND_SCOPE)
def post_registered(inquiry_id: str) -> Response:
    """The sender registered the answer in its case system (leg `registered`)."""
    from gateway.inquiries.answers import mark_registered

    client: ApiClient = g.api_client
    inquiry = client_inquiry(inquiry_id, client, Act.REGISTER)
    body = json_object()
    at = body.get("registered_at")
    registered_at = _aware_time(at, "registered_at") if at is not None else None
    session = get_session()
    mark_registered(session, inquiry, actor=f"client:{client.client_id}", now=utcnow(),
                    registered_at=registered_at)
    session.commit()
    return jsonify(status_body(inquiry))


@bp.post("/api/v1/inquiries/<inquiry_id>/close")
@require_token(SEND_SCOPE)
def post_close(inquiry_id: str) -> Response:
    """Close without an answer with a DESIGN 5.7 reason, by the care unit's or the sender's
    client (leg `closed`)."""
    from gateway.inquiries.closing import close_inquiry, parse_reason

    client: ApiClient = g.api_client
    inquiry = client_inquiry(inquiry_id, client, Act.CLOSE)
    body = json_object()
    reason, text = parse_reason(body.get("reason"), body.get("text"))
    session = get_session()
    close_inquiry(session, inquiry, reason=reason, text=text,
                  actor=f"client:{client.client_id}", now=utcnow(),
                  sides=Party.client(client).sides(inquiry))
    session.commit()
    return jsonify(status_body(inquiry))


@bp.post("/api/v1/inquiries/<inquiry_id>/reroute")
@require_token(SEND_SCOPE)
def post_reroute(inquiry_id: str) -> Response:
    """Move the inquiry to another VC: the sender's client posts the amended hälsoförfrågan
    (application/xml) with a consent that names the new VC (200, the new signed receipt);
    either side may post `{"care_unit": HSA-id}` (JSON), refused by C4 unless the consent
    already names that VC."""
    client: ApiClient = g.api_client
    if request.mimetype in XML_TYPES:
        return _resend(inquiry_id, client)
    from gateway.inquiries.closing import reroute

    inquiry = client_inquiry(inquiry_id, client, Act.REROUTE)
    target = json_object().get("care_unit")
    if not isinstance(target, str) or not target.strip():
        detail = ("Ange vårdcentralens HSA-id i care_unit, eller (avsändaren) skicka den ändrade "
                  "hälsoförfrågan med ett samtycke för den nya vårdcentralen som "
                  "application/xml.")
        raise GatewayError.at(
            codes.CARE_UNIT_REQUIRED, detail, "/care_unit", status=422
        )
    session = get_session()
    reroute(session, inquiry, care_unit_hsa_id=target, actor=f"client:{client.client_id}",
            now=utcnow())
    session.commit()
    return jsonify(status_body(inquiry))


def _resend(inquiry_id: str, client: ApiClient) -> Response:
    """The sender's re-route with the amended form (gateway.inquiries.resend)."""
    from gateway.inquiries.resend import resend

    inquiry = client_inquiry(inquiry_id, client, Act.RESEND)
    data = xml_body()
    session = get_session()
    resend(session, inquiry, data, submitter=Submitter.from_client(client), channel="api",
           now=utcnow())
    body = receipt_body(inquiry)
    session.commit()
    response = jsonify(body)
    response.headers["Location"] = f"/api/v1/inquiries/{inquiry.id}"
    return response


RESEND_DESCRIPTION = (
    "Avsändarens klient skickar den ändrade hälsoförfrågan (Content-Type: application/xml, "
    "DESIGN 5.1): samma id, person och avsändare; ny skapad (när den skickas vidare), "
    "mottagare/vardcentral = den nya vårdcentralen och ett samtycke vars uppgiftslamnare är den; "
    "en ny samtyckes-PDF i bilaga om den finns. Den prövas som vid intag (XSD, C1–C7 mot den nya "
    "vårdcentralen) och går sedan dit: ny kvittens, ny sista svarsdag (svarstiden räknas från "
    "omdirigeringen), händelsen rerouted, den gamla vårdcentralen når den inte längre. Går även "
    "när vårdcentralen avslutat förfrågan med RELISTED: den öppnas då igen. Samma ändrade "
    "förfrågan igen ger samma svar och ändrar inget. Med JSON {\"care_unit\": HSA-id} (båda "
    "parter) vägras den med C4 om inte samtycket redan gäller den vårdcentralen."
)


def answer_openapi_paths() -> dict[str, Any]:
    """The OpenAPI description of the answer, registered, close and reroute operations."""
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    param = [{"name": "id", "in": "path", "required": True,
              "description": "hälsoförfrågans id (UUID från XML:en)",
              "schema": {"type": "string"}}]
    status = json_response("Hälsoförfrågans läge", {"$ref": "#/components/schemas/InquiryStatus"})
    common = {**AUTH_RESPONSES,
              "404": problem("Förfrågan finns inte, eller klienten är ingen part i den")}
    json_body = {"required": False, "content": {"application/json": {"schema": {
        "type": "object"}}}}
    return {
        "/api/v1/inquiries/{id}/answer": {
            "post": {
                "operationId": "postAnswer",
                "summary": "Lämna ett signerat svar (PDF) från vårdcentralens klient",
                "security": secured(SEND_SCOPE), "parameters": param,
                "requestBody": {"required": True, "content": {"application/pdf": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "201": json_response("Svaret är godkänt och sparat", {"type": "object"}),
                    **common,
                    "403": problem("Klienten är avsändarens; bara vårdcentralens klient svarar"),
                    "409": problem("Förfrågan väntar inte på svar"),
                    "413": problem("Större än 30 MB"),
                    "415": problem("Content-Type är inte application/pdf"),
                    "422": problem("En eller flera regler P1–P9 (eller C2/C7) säger nej; "
                                   "en eventIssue per regel"),
                },
            },
            "get": {
                "operationId": "getAnswer",
                "summary": "Hämta det signerade svaret (exakt de signerade byten)",
                "security": secured(GET_SCOPE), "parameters": param,
                "responses": {
                    "200": {"description": "Svaret", "content": {"application/pdf": {
                        "schema": {"type": "string", "format": "binary"}}}},
                    **common,
                    "403": problem("Klienten är vårdcentralens; bara avsändarens klient hämtar"),
                },
            },
        },
        "/api/v1/inquiries/{id}/registered": {"post": {
            "operationId": "postRegistered",
            "summary": "Svaret är registrerat i verksamhetssystemet (valfritt registered_at)",
            "security": secured(SEND_SCOPE), "parameters": param, "requestBody": json_body,
            "responses": {"200": status, **common,
                          "403": problem("Vårdcentralens klient, inte avsändarens"),
                          "409": problem("Inget svar att registrera"),
                          "422": problem("Orimlig registreringstid")},
        }},
        "/api/v1/inquiries/{id}/close": {"post": {
            "operationId": "closeInquiry",
            "summary": "Avsluta utan svar med en anledning (RELISTED, INFO_VIA_SIP, "
                       "CONSENT_WITHDRAWN, WITHDRAWN_BY_SENDER, PERSON_MOVED, "
                       "PERSON_DECEASED, DUPLICATE, OTHER med text)",
            "security": secured(SEND_SCOPE), "parameters": param, "requestBody": json_body,
            "responses": {"200": status, **common, "409": problem("Förfrågan är inte öppen"),
                          "422": problem("Okänd anledning eller text saknas")},
        }},
        "/api/v1/inquiries/{id}/reroute": {"post": {
            "operationId": "rerouteInquiry",
            "summary": "Skicka förfrågan vidare till vårdcentralen där personen nu är listad",
            "description": RESEND_DESCRIPTION,
            "security": secured(SEND_SCOPE), "parameters": param,
            "requestBody": {"required": True, "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {
                    "type": "object", "required": ["care_unit"],
                    "properties": {"care_unit": {"type": "string"}}}},
            }},
            "responses": {
                "200": {"description": "Skickad vidare. XML: den nya signerade kvittensen "
                                       "(IntakeResponse); JSON: förfrågans läge (InquiryStatus)",
                        "content": {"application/json": {"schema": {"oneOf": [
                            {"$ref": "#/components/schemas/IntakeResponse"},
                            {"$ref": "#/components/schemas/InquiryStatus"}]}}}},
                "400": problem("Dokumentet kunde inte läsas (XML)"),
                **common,
                "403": problem("XML från vårdcentralens klient (bara avsändaren skickar vidare "
                               "med nytt samtycke), eller avsändaren är inte klientens"),
                "409": problem("Förfrågan är besvarad, registrerad, avslutad av annan anledning "
                               "än RELISTED eller raderad (NOT_OPEN)"),
                "413": problem("För stort dokument"),
                "422": problem("C1–C7 mot den nya vårdcentralen (C4 när samtycket inte gäller "
                               "den), REROUTE_NOT_SAME_INQUIRY (annat id, annan person eller "
                               "avsändare), REROUTE_SAME_UNIT, RECIPIENT_AT_PEER, ej ansluten"),
            },
        }},
    }
