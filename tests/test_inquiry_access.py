"""Who may read or act on an inquiry, the same on every channel (the access service), on SQLite
and PostgreSQL: a client or user who is no party to the inquiry gets exactly what an unknown id
gets (no reply tells that the id exists), the party of the other side gets 403 where it knows
the inquiry, and every denied attempt on an existing inquiry is audited with its reason.

Before the access service these channels disagreed: another VC's client got 403 from the
answer, registered and close operations of the gateway API but 404 from reading the inquiry,
and 403 NOT_PARTY instead of the unknown reference's 400 from the SDK API; the SDK API's
getMessageById refused it without an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES
from gateway.auth.models import Role
from gateway.db import get_session
from tests.conftest import AppMaker
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import CECILIA, parties_and_inquiry
from tests.support.sdk import MESSAGES, answer_body
from tests.support.web import Browser, logged_in_browser

UNKNOWN = "00000000-0000-4000-8000-000000000000"
PDF = b"%PDF-1.7\n% not read: who may answer is decided first\n"


@dataclass
class World:
    app: Flask
    http: FlaskClient
    sender: str  # EBB Öster's client: sent the inquiry
    vc: str  # Kryddgården's client: the inquiry is routed to it
    stranger: str  # Husie's client: no party
    inquiry_id: str

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        return self.http.open(path, method=method, headers=bearer(token), **kwargs)


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens, http, inquiry_id = parties_and_inquiry(app, tuple(SDK_SCOPES))
    return World(app, http, tokens.sender, tokens.reko, tokens.other_vc, inquiry_id)


def seen(response: Any, wrote: str) -> tuple[int, str]:
    """What a client learns from a refusal: the status and the body, with the id it wrote
    itself (echoed in `instance` or a detail) left out."""
    return response.status_code, response.get_data(as_text=True).replace(wrote, "<id>")


def denials(action: str, inquiry_id: str) -> list[dict[str, Any]]:
    rows = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_id == inquiry_id,
        AuditEntry.outcome == "denied"))
    return [row.detail for row in rows]


# (method, path after the id, audit action, JSON body)
API_ACTS = [
    ("GET", "", "inquiry.read", None),
    ("POST", "/answer", "answer.submit", None),
    ("GET", "/answer", "answer.read", None),
    ("POST", "/registered", "answer.registered", {}),
    ("POST", "/close", "inquiry.close", {"reason": "DUPLICATE"}),
    ("POST", "/reroute", "inquiry.reroute", {"care_unit": "SE2321000255-K005"}),
]


@pytest.mark.parametrize(("method", "suffix", "action", "body"), API_ACTS,
                         ids=[f"{m} {s or '/'}" for m, s, _, _ in API_ACTS])
def test_gateway_api_a_stranger_gets_what_an_unknown_id_gets(
    world: World, method: str, suffix: str, action: str, body: Any
) -> None:
    with world.app.app_context():
        kwargs: dict[str, Any] = ({"data": PDF, "content_type": "application/pdf"}
                                  if suffix == "/answer" and method == "POST" else {"json": body})
        theirs = world.call(method, f"/api/v1/inquiries/{world.inquiry_id}{suffix}",
                            world.stranger, **kwargs)
        unknown = world.call(method, f"/api/v1/inquiries/{UNKNOWN}{suffix}", world.stranger,
                             **kwargs)
        assert seen(theirs, world.inquiry_id) == seen(unknown, UNKNOWN)
        assert theirs.status_code == 404
        assert denials(action, world.inquiry_id) == [{"reason": "not_party", "channel": "api"}]
        assert denials(action, UNKNOWN) == []


@pytest.mark.parametrize(("method", "suffix", "action", "who"), [
    ("POST", "/answer", "answer.submit", "sender"),
    ("GET", "/answer", "answer.read", "vc"),
    ("POST", "/registered", "answer.registered", "vc"),
])
def test_gateway_api_the_other_side_gets_403_naming_who_may(
    world: World, method: str, suffix: str, action: str, who: str
) -> None:
    with world.app.app_context():
        kwargs: dict[str, Any] = ({"data": PDF, "content_type": "application/pdf"}
                                  if method == "POST" and suffix == "/answer" else {})
        response = world.call(method, f"/api/v1/inquiries/{world.inquiry_id}{suffix}",
                              getattr(world, who), **kwargs)
        assert response.status_code == 403
        assert response.get_json()["eventIssues"][0]["typeCode"] == "NOT_PARTY"
        assert denials(action, world.inquiry_id) == [{"reason": "other_side", "channel": "api"}]


def test_sdk_api_a_stranger_gets_what_an_unknown_message_gets(world: World) -> None:
    with world.app.app_context():
        path = f"{MESSAGES}/{world.inquiry_id}"
        for method, action in (("GET", "inquiry.read"), ("DELETE", "sdk.message.delete")):
            theirs = world.call(method, path, world.stranger)
            unknown = world.call(method, f"{MESSAGES}/{UNKNOWN}", world.stranger)
            assert theirs.status_code == 404
            assert seen(theirs, world.inquiry_id) == seen(unknown, UNKNOWN)
            assert denials(action, world.inquiry_id) == [
                {"reason": "not_party", "channel": "sdk"}]
        assert world.call("GET", path, world.vc).status_code == 200


def test_sdk_api_an_answer_from_a_stranger_reads_as_an_unknown_reference(world: World) -> None:
    with world.app.app_context():
        theirs = world.http.post(MESSAGES, json=answer_body(world.inquiry_id, PDF),
                                 headers=bearer(world.stranger))
        unknown = world.http.post(MESSAGES, json=answer_body(UNKNOWN, PDF),
                                  headers=bearer(world.stranger))
        assert theirs.status_code == 400
        assert theirs.get_json()["code"] == "REF_UNKNOWN"
        assert seen(theirs, world.inquiry_id) == seen(unknown, UNKNOWN)
        own = world.http.post(MESSAGES, json=answer_body(world.inquiry_id, PDF),
                              headers=bearer(world.sender))
        assert own.status_code == 403 and own.get_json()["eventIssues"][0]["typeCode"] == (
            "NOT_PARTY")
        assert denials("answer.submit", world.inquiry_id) == [
            {"reason": "not_party", "channel": "sdk"},
            {"reason": "other_side", "channel": "sdk"},
        ]


def browser(world: World, username: str, role: Role, **kwargs: Any) -> Browser:
    with world.app.app_context():
        return logged_in_browser(world.app, username, role, **kwargs)


@pytest.mark.parametrize(("page", "action"), [
    ("/arenden/{id}", "inquiry.read"),
    ("/arende/{id}/svar.pdf", "answer.read"),
])
def test_web_a_case_worker_of_another_unit_gets_what_an_unknown_id_gets(
    world: World, page: str, action: str
) -> None:
    norr = browser(world, "nils", Role.CASE_WORKER, unit="EBB Norr")
    theirs = norr.get(page.format(id=world.inquiry_id))
    unknown = norr.get(page.format(id=UNKNOWN))
    assert theirs.status_code == unknown.status_code == 404
    assert "finns inte" in theirs.get_data(as_text=True)
    with world.app.app_context():
        assert denials(action, world.inquiry_id) == [{"reason": "not_party", "channel": "web"}]


def test_web_a_reko_of_another_vc_gets_what_an_unknown_id_gets(world: World) -> None:
    cecilia = browser(world, "cecilia", Role.COORDINATOR, hsa_id=CECILIA.hsa_id)
    assert cecilia.get(f"/inkorg/{world.inquiry_id}").status_code == 404
    assert cecilia.get(f"/inkorg/{UNKNOWN}").status_code == 404
    with world.app.app_context():
        assert denials("inquiry.read", world.inquiry_id) == [
            {"reason": "not_party", "channel": "web"}]
