"""SIP replies as SDK messages (DESIGN 5.8 over 5.4): the VC's client sends a message with
refToMessageId = the invitation's messageId and the sipSvar as its one content file; the same
SIP service takes it as on /api/v1/sip/{id}/reply, and the sender's client sees each reply as an
incoming message. SQLite and PostgreSQL; bad input first."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES
from gateway.db import get_session
from gateway.inquiries.models import SdkMessage
from tests.conftest import AppMaker
from tests.support.forms import EBB_NORR
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import Parties, leg_kinds, parties, signed_answer
from tests.support.sdk import MESSAGES, answer_body, attention, form_id, message_body, pdf_file
from tests.support.sip import sip_kallelse, sip_svar

A = "data.attributes"
SDK_BAD_REQUEST = "urn:problem-type:sdk:badRequest"
REPLY_LABEL = "Svar på SIP-kallelse"


def xml_file(xml: bytes, name: str = "sipSvar.xml") -> dict[str, Any]:
    return {"fileName": name, "contentType": "application/xml",
            "content": base64.b64encode(xml).decode("ascii")}


def reply_body(ref: str, xml: bytes, message_id: str | None = None,
               **attributes: Any) -> dict[str, Any]:
    """A sendMessage body from Kryddgården's address to EBB Öster's, refToMessageId `ref`, the
    sipSvar `xml` its one file (`digitalDocument` overrides the files)."""
    attributes.setdefault("digitalDocument", [{"documentId": "svar", "documentName": REPLY_LABEL,
                                               "contentFiles": [xml_file(xml)]}])
    return answer_body(ref, b"", message_id, label=REPLY_LABEL, **attributes)


@dataclass
class World:
    """The sender's client sends invitations; Kryddgården's client replies over the SDK API."""

    app: Flask
    pki: TestPki
    http: FlaskClient
    tokens: Parties

    def invite(self) -> str:
        """Send an invitation over the SDK API as EBB Öster; return its messageId (its id)."""
        xml = sip_kallelse()
        response = self.http.post(MESSAGES, json=message_body(xml, label="SIP-kallelse"),
                                  headers=bearer(self.tokens.sender))
        assert response.status_code == 201, response.get_data(as_text=True)
        return form_id(xml)

    def send(self, body: dict[str, Any], token: str | None = None) -> Any:
        return self.http.post(MESSAGES, json=body, headers=bearer(token or self.tokens.reko))

    def reply(self, sip_id: str, token: str | None = None, message_id: str | None = None,
              **overrides: Any) -> Any:
        return self.send(reply_body(sip_id, sip_svar(sip_id, **overrides), message_id), token)

    def listed(self, token: str) -> dict[str, dict[str, Any]]:
        response = self.http.get(MESSAGES, headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        return {m["id"]: m["attributes"] for m in response.get_json()["data"]}


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties(tuple(SDK_SCOPES))
    return World(app, installed_pki, app.test_client(), tokens)


def problem(response: Any, status: int) -> tuple[list[str], dict[str, Any]]:
    """Return the problem's issue codes and body, after checking its status and shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    return [i["typeCode"] for i in body["eventIssues"]], body


def replies() -> int:
    return get_session().scalar(select(func.count()).select_from(SdkMessage).where(
        SdkMessage.kind == "reply")) or 0


def nothing_replied(world: World, sip_id: str) -> None:
    with world.app.app_context():
        assert "replied" not in leg_kinds(sip_id)
        assert replies() == 0


# --- refusals: nothing stored -------------------------------------------------------------------

def test_a_reply_naming_another_invitation_is_refused(world: World) -> None:
    sip_id, other = world.invite(), world.invite()
    codes, body = problem(world.send(reply_body(sip_id, sip_svar(other))), 400)
    assert codes == ["SIP_REPLY_OTHER"] and body["type"] == SDK_BAD_REQUEST
    assert body["eventIssues"][0]["in"] == "/sipSvar/kallelse"
    nothing_replied(world, sip_id)


def test_only_the_vcs_client_replies(world: World) -> None:
    sip_id = world.invite()
    # The sender's own client knows the invitation: 403, audited; another VC's: as unknown.
    codes, _ = problem(world.reply(sip_id, token=world.tokens.sender), 403)
    assert codes == ["NOT_PARTY"]
    codes, _ = problem(world.reply(sip_id, token=world.tokens.other_vc), 400)
    assert codes == ["REF_UNKNOWN"]
    codes, _ = problem(world.send(reply_body(str(uuid.uuid4()), sip_svar(sip_id))), 400)
    assert codes == ["REF_UNKNOWN"]
    nothing_replied(world, sip_id)
    with world.app.app_context():
        denied = get_session().scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == sip_id, AuditEntry.outcome == "denied")).all()
        assert denied == ["sip.reply", "sip.reply"]


@pytest.mark.parametrize(("overrides", "code"), [
    pytest.param({"beslut": "KANSKE"}, "XSD", id="unknown decision"),
    pytest.param({"beslut": "NYTT_FORSLAG"}, "SVAR_NY_TID", id="new proposal without a time"),
    pytest.param({"ny_tid": "2026-12-20T10:00:00+01:00"}, "SVAR_NY_TID",
                 id="a time without a new proposal"),
])
def test_a_bad_sip_svar_is_refused_naming_why(world: World, overrides: dict[str, Any],
                                              code: str) -> None:
    sip_id = world.invite()
    codes, body = problem(world.reply(sip_id, **overrides), 400)
    assert code in codes and body["type"] == SDK_BAD_REQUEST
    assert all(issue["in"].startswith("/sipSvar") for issue in body["eventIssues"])
    nothing_replied(world, sip_id)


def test_a_file_that_is_no_sip_svar_is_refused(world: World) -> None:
    sip_id = world.invite()
    codes, _ = problem(world.send(reply_body(sip_id, b"<sipSvar>")), 400)
    assert codes == ["XML_SYNTAX"]
    # A signed PDF is a hälsoförfrågan's answer, not part of a SIP reply.
    pdf = signed_answer(world.pki, sip_id)
    with_pdf = [{"documentId": "svar", "contentFiles": [pdf_file(pdf), xml_file(sip_svar(sip_id))]}]
    codes, body = problem(world.send(reply_body(sip_id, b"", digitalDocument=with_pdf)), 400)
    assert codes == ["SDK_FILE_TYPE"] and body["code"] == "SDK_MESSAGE_INVALID"
    # One sipSvar, not two; and a file of a type a reply has not: every one named.
    two = [{"documentId": "svar", "contentFiles": [
        xml_file(sip_svar(sip_id)), xml_file(sip_svar(sip_id), "b.xml"),
        {"fileName": "a.txt", "contentType": "text/plain", "content": "YQ=="}]}]
    codes, body = problem(world.send(reply_body(sip_id, b"", digitalDocument=two)), 400)
    assert sorted(codes) == ["SDK_FILE_TYPE", "SDK_FORM_FILE"]
    nothing_replied(world, sip_id)


def test_an_envelope_that_disagrees_with_the_invitation_is_refused(world: World) -> None:
    sip_id = world.invite()
    body = reply_body(sip_id, sip_svar(sip_id), recipientAttention=attention(EBB_NORR))
    codes, problem_body = problem(world.send(body), 400)
    assert codes == ["RECIPIENT_MISMATCH"]
    assert problem_body["eventIssues"][0]["in"] == f"{A}.recipientAttention.subOrganization" \
                                                   ".extension"
    nothing_replied(world, sip_id)


def test_a_hälsoförfrågan_is_not_answered_with_a_sip_svar(world: World) -> None:
    from tests.support.forms import halsoforfragan

    xml = halsoforfragan()
    sent = world.http.post(MESSAGES, json=message_body(xml), headers=bearer(world.tokens.sender))
    assert sent.status_code == 201
    inquiry_id = form_id(xml)
    codes, _ = problem(world.send(reply_body(inquiry_id, sip_svar(inquiry_id))), 400)
    assert codes == ["SDK_ANSWER_FILE"]
    with world.app.app_context():
        assert "answered" not in leg_kinds(inquiry_id)


# --- accepted -------------------------------------------------------------------------------------

def test_a_reply_over_the_sdk_api_reaches_the_senders_client(world: World) -> None:
    sip_id = world.invite()
    data = sip_svar(sip_id)
    sent = world.send(reply_body(sip_id, data))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    document = sent.get_json()
    assert document["meta"]["reply"] == {"decision": "KOMMER"}
    # Without a messageId of its own the message is the sipSvar's id; the same again: a repeat.
    reply_id = form_id(data)
    assert document["data"]["id"] == reply_id
    again = world.send(reply_body(sip_id, data))
    assert again.status_code == 201 and again.get_json()["data"]["id"] == reply_id
    # Where the invitation stands, on the gateway API.
    state = world.http.get(f"/api/v1/sip/{sip_id}", headers=bearer(world.tokens.sender))
    assert (state.get_json()["status"], state.get_json()["turn"]) == ("replied", "sender")

    seen = world.listed(world.tokens.sender)
    assert seen[reply_id]["messageStatus"] == "NEW"
    assert seen[reply_id]["refToMessageId"] == sip_id
    assert seen[reply_id]["label"] == REPLY_LABEL
    assert world.listed(world.tokens.reko)[reply_id]["messageStatus"] == "ACCEPTED"
    fetched = world.http.get(f"{MESSAGES}/{reply_id}", headers=bearer(world.tokens.sender))
    assert fetched.status_code == 200
    (doc,) = fetched.get_json()["data"]["attributes"]["digitalDocument"]
    (file,) = doc["contentFiles"]
    assert base64.b64decode(file["content"]) == data
    with world.app.app_context():
        assert leg_kinds(sip_id) == ["submitted", "received", "routed", "replied"]
        reads = get_session().scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == sip_id, AuditEntry.action == "sip.reply.read")).all()
        assert len(reads) == 1


def test_a_new_proposal_is_a_second_reply_message_and_other_channels_show_too(
        world: World) -> None:
    sip_id = world.invite()
    first = world.reply(sip_id, message_id=str(uuid.uuid4()), beslut="KOMMER_INTE")
    assert first.status_code == 201
    first_id = first.get_json()["data"]["id"]
    # The same messageId with other content is another message: 409.
    clash = world.reply(sip_id, message_id=first_id, beslut="KOMMER")
    assert problem(clash, 409)[1]["code"] == "MESSAGE_ID_CONFLICT"
    proposal = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid="2026-12-20T10:00:00+01:00")
    assert proposal.status_code == 201
    assert proposal.get_json()["meta"]["reply"] == {"decision": "NYTT_FORSLAG"}
    # A reply on the gateway API is a message to the sender's SDK client as well.
    over_api = sip_svar(sip_id)
    response = world.http.post(f"/api/v1/sip/{sip_id}/reply", data=over_api,
                               content_type="application/xml",
                               headers=bearer(world.tokens.reko))
    assert response.status_code == 201
    seen = world.listed(world.tokens.sender)
    replies_seen = [m for m, a in seen.items() if a.get("refToMessageId") == sip_id]
    assert len(replies_seen) == 3 and first_id in replies_seen and form_id(over_api) in seen
    # After the outcome no reply is taken.
    held = world.http.post(f"/api/v1/sip/{sip_id}/outcome",
                           json={"held_on": stockholm_today().isoformat()},
                           headers=bearer(world.tokens.sender))
    assert held.status_code == 200
    assert problem(world.reply(sip_id), 409)[0] == ["SIP_CLOSED"]
    with world.app.app_context():
        assert leg_kinds(sip_id).count("replied") == 3
        assert replies() == 3
