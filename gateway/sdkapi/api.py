"""The SDK message API under /v1 (DIGG's sdk-api-restful.yml): thin views over the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from gateway import codes
from gateway.auth.models import ApiClient
from gateway.auth.oauth import require_token
from gateway.bodies import json_document
from gateway.db import get_session, utcnow
from gateway.sdkapi import answers, plain, service
from gateway.sdkapi.messages import API_VERSION, resource, visible_message
from gateway.sdkapi.problems import bad_request, conflict
from gateway.sdkapi.reading import SentMessage, read_message

SEND = "urn:sdk.api:sendMessage"
GET = "urn:sdk.api:getMessage"
FILTER = "urn:sdk.api:getMessageByFilter"
DELETE = "urn:sdk.api:deleteMessage"

bp = Blueprint("sdkapi", __name__, url_prefix="/v1/sdk")


def _document(data: Any, self_link: str, links: dict[str, str] | None = None,
              **meta: Any) -> Response:
    return jsonify({
        "meta": {"version": API_VERSION, **meta},
        "links": {"self": self_link, **(links or {})},
        "data": data,
    })


def _check_media_type() -> None:
    if request.mimetype not in ("application/json", "application/vnd.api+json"):
        raise bad_request(
            codes.UNSUPPORTED_MEDIA_TYPE,
            "Skicka meddelandet som JSON (Content-Type: application/json).", "Content-Type",
        )


def _read(now: dt.datetime) -> SentMessage:
    """Return the request's message; an answer's PDF is in a spooled file (close it)."""
    _check_media_type()
    # In pieces: a file's base64 goes to a spooled file, not into memory whole (bodies.py).
    with json_document(request.stream) as body:
        if body is None:
            raise bad_request(
                codes.JSON_INVALID_BODY,
                "Meddelandet ska vara ett JSON-objekt enligt createMessage.", "body",
            )
        return read_message(body, now)


@bp.post("/messages")
@require_token(SEND)
def send_message() -> Response:
    """sendMessage: 201 with the message; a hälsoförfrågan goes through the intake (its signed
    receipt in meta), an answer (refToMessageId) through the answer service (its report in
    meta), a plain message (neither) to the recipient function as it is."""
    client: ApiClient = g.api_client
    now = utcnow()
    sent = _read(now)
    session = get_session()
    try:
        if sent.is_answer:
            answered = answers.send_answer(session, sent, client=client, now=now)
            message_id = answered.message_id
            meta: dict[str, Any] = answered.meta
        elif sent.is_plain:
            message_id = plain.send_plain(session, sent, client=client, now=now)
            meta = {}
        else:
            taken = service.send(session, sent, client=client, now=now)
            message_id = taken.message_id
            meta = {"receipt": taken.result.body()}
    finally:
        sent.close()
    session.commit()
    message = visible_message(session, client, message_id)
    if message is None:
        # A repeat of a message this client has deleted: it exists, but no longer for the client.
        raise conflict(
            codes.MESSAGE_DELETED,
            f"Meddelandet {message_id} har redan tagits emot och sedan raderats av er; skicka "
            "det som ett nytt meddelande med ett nytt id.",
        )
    link = url_for("sdkapi.get_message", message_id=message_id, _external=True)
    response = _document(resource(message, documents=False), link, **meta)
    response.status_code = 201
    response.headers["Location"] = link
    return response


@bp.get("/messages")
@require_token(FILTER)
def list_messages() -> Response:
    """getMessageByFilter: the client's messages, never with their documents."""
    args = request.args.to_dict(flat=False)
    wanted = service.list_filter(args)
    page = service.page_of(args)
    messages = service.list_messages(get_session(), g.api_client, wanted)
    total = len(messages)
    shown = messages[(page.number - 1) * page.size:page.number * page.size]
    data = [resource(m, documents=False) for m in shown]
    last = page.last(total)
    links = {"first": _page_link(1, page.size), "last": _page_link(last, page.size)}
    if page.number > 1:
        links["prev"] = _page_link(min(page.number - 1, last), page.size)
    if page.number < last:
        links["next"] = _page_link(page.number + 1, page.size)
    return _document(data, _page_link(page.number, page.size), links, totalCount=total,
                     page={"number": page.number, "size": page.size, "last": last})


def _page_link(number: int, size: int) -> str:
    """Return this list's URL (its filters kept) for page `number` of `size` messages."""
    args: dict[str, Any] = {k: v for k, v in request.args.to_dict(flat=False).items()
                            if k not in (service.PAGE_NUMBER, service.PAGE_SIZE)}
    args[service.PAGE_NUMBER] = number
    args[service.PAGE_SIZE] = size
    return url_for("sdkapi.list_messages", _external=True, **args)


@bp.get("/messages/<message_id>")
@require_token(GET)
def get_message(message_id: str) -> Response:
    """getMessageById: the whole message with its content file: the form's XML, or the answer's
    signed PDF (audited; the sender's first fetch of an answer records `answer_delivered`)."""
    options = service.resource_options(request.args.to_dict(flat=False))
    session = get_session()
    client: ApiClient = g.api_client
    message = service.get_message(session, client, message_id)
    stored = None
    if options["files"]:
        message, stored = service.read_content(session, client, message, utcnow())
    data = resource(message, documents=True, stored=stored, **options)
    if options["files"]:
        session.commit()
    return _document(data, request.url)


@bp.delete("/messages/<message_id>")
@require_token(DELETE)
def delete_message(message_id: str) -> Response:
    """deleteMessageById: 202; the message leaves this client's view."""
    session = get_session()
    service.delete_message(session, g.api_client, message_id, utcnow())
    session.commit()
    accepted = Response(status=202)
    # No body, so no media type (Flask would otherwise say text/html).
    del accepted.headers["Content-Type"]
    return accepted
