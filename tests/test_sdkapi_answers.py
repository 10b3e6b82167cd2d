"""Answers as SDK messages (/v1/sdk/messages with refToMessageId and the signed PDF) on SQLite
and PostgreSQL: refusals first, then the round trip over the SDK API only, idempotency by
messageId, filters and delete for answers, and agreement with the gateway API."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.bodies import LARGE_STRING
from gateway.db import get_session
from gateway.inquiries.models import SdkMessage
from gateway.inquiries.sdk_messages import answer_message_id
from tests.conftest import AppMaker
from tests.support.forms import (
    EBB_NORR,
    EBB_OSTER,
    KRYDDGARDEN_ADDRESS,
    MALMO,
    SKANE,
    halsoforfragan,
)
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pdfs import TestPki, plain_pdf, sign
from tests.support.reko import (
    ANNA,
    HUSIE_ADDRESS,
    leg_kinds,
    post_answer,
    signed_answer,
)
from tests.support.sdk import (
    MESSAGES,
    answer_body,
    attention,
    form_id,
    message_body,
    pdf_file,
)

A = "data.attributes"
SDK_BAD_REQUEST = "urn:problem-type:sdk:badRequest"


@dataclass
class World:
    app: Flask
    http: FlaskClient
    ebb: str  # EBB Öster's case system: sends the inquiry, receives the answer
    vc: str  # Vårdcentralen Kryddgården's REKO system: receives the inquiry, answers
    husie: str  # another care unit's system
    pki: TestPki

    def inquiry(self) -> str:
        """Send a hälsoförfrågan over the SDK API as EBB; return its messageId."""
        xml = halsoforfragan()
        response = self.http.post(MESSAGES, json=message_body(xml), headers=bearer(self.ebb))
        assert response.status_code == 201, response.get_data(as_text=True)
        return form_id(xml)

    def answer(self, inquiry_id: str, pdf: bytes, token: str | None = None,
               message_id: str | None = None, **attributes: Any) -> Any:
        return self.http.post(MESSAGES, json=answer_body(inquiry_id, pdf, message_id,
                                                         **attributes),
                              headers=bearer(token or self.vc))

    def get(self, path: str, token: str | None = None) -> Any:
        return self.http.get(path, headers=bearer(token or self.ebb))

    def listed(self, token: str | None = None, **filters: str) -> dict[str, str]:
        """Return {messageId: messageStatus} of the client's messages passing `filters`."""
        query = {f"filter[{k}]": v for k, v in filters.items()}
        response = self.http.get(MESSAGES, query_string=query, headers=bearer(token or self.ebb))
        assert response.status_code == 200, response.get_json()
        return {m["id"]: m["attributes"]["messageStatus"] for m in response.get_json()["data"]}


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        session = get_session()
        load_directory(session)
        ebb = new_client(session)
        vc = new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
        husie = new_client(session, organisation=SKANE, addresses=(HUSIE_ADDRESS,))
    return World(app, app.test_client(), ebb, vc, husie, installed_pki)


def assert_problem(response: Any, status: int, code: str, where: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail", "instance", "eventIssues"} <= set(body)
    codes = [issue["typeCode"] for issue in body["eventIssues"]]
    assert code in codes or body.get("code") == code, body
    if where is not None:
        assert any(issue.get("in") == where for issue in body["eventIssues"]), body


def answer_messages() -> int:
    session = get_session()
    return session.scalar(select(func.count()).select_from(SdkMessage).where(
        SdkMessage.kind == "answer")) or 0


def audits(action: str, object_id: str, outcome: str = "ok") -> int:
    return get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_id == object_id,
        AuditEntry.outcome == outcome)) or 0


def the_pdf(response: Any) -> bytes:
    (document,) = response.get_json()["data"]["attributes"]["digitalDocument"]
    (file,) = document["contentFiles"]
    assert file["contentType"] == "application/pdf"
    return base64.b64decode(file["content"])


# --- refusals: nothing stored ------------------------------------------------------------------

OTHER = "0b7c9a52-3f0e-4b8e-9a51-6f2d1c0e8a11"

BAD_ENVELOPES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("refToMessageId not a UUID", {"refToMessageId": "svar-1"}, 400, "refToMessageId",
     f"{A}.refToMessageId"),
    ("xml instead of the pdf", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        pdf_file(b"<svar/>", "application/xml")]}]}, 400, "SDK_ANSWER_FILE",
     f"{A}.digitalDocument"),
    ("no file", {"digitalDocument": [{"documentId": "1", "contentTextBody": ["svar"]}]}, 400,
     "SDK_ANSWER_FILE", f"{A}.digitalDocument"),
    ("not base64", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        {"fileName": "s.pdf", "contentType": "application/pdf", "content": "***"}]}]}, 400,
     "contentFiles", f"{A}.digitalDocument[0].contentFiles[0].content"),
    ("sender organisation differs", {"sender": MALMO}, 400, "SENDER_MISMATCH", f"{A}.sender"),
    ("sender address differs", {"senderAttention": attention(HUSIE_ADDRESS)}, 400,
     "SENDER_MISMATCH", f"{A}.senderAttention.subOrganization.extension"),
    ("recipient organisation differs", {"recipient": "0203:lund.se"}, 400,
     "RECIPIENT_MISMATCH", f"{A}.recipient"),
    ("recipient address differs", {"recipientAttention": attention(EBB_NORR)}, 400,
     "RECIPIENT_MISMATCH", f"{A}.recipientAttention.subOrganization.extension"),
    ("another conversation", {"conversationId": OTHER}, 400, "CONVERSATION_MISMATCH",
     f"{A}.conversationId"),
    ("data.id and messageId differ", {"messageId": str(uuid.uuid4())}, 400,
     "MESSAGE_ID_MISMATCH", "data.id"),
]


@pytest.mark.parametrize(("attributes", "status", "code", "where"),
                         [pytest.param(a, s, c, w, id=n) for n, a, s, c, w in BAD_ENVELOPES])
def test_bad_answer_envelope_is_refused_and_stores_nothing(
    world: World, attributes: dict[str, Any], status: int, code: str, where: str
) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        body = answer_body(inquiry_id, signed_answer(world.pki, inquiry_id), **attributes)
        if "messageId" in attributes:
            body["data"]["id"] = str(uuid.uuid4())  # another id than the messageId
        response = world.http.post(MESSAGES, json=body, headers=bearer(world.vc))
        assert_problem(response, status, code, where)
        assert response.get_json()["type"] == SDK_BAD_REQUEST
        assert "answered" not in leg_kinds(inquiry_id)
        assert answer_messages() == 0


def test_unsigned_answer_is_refused_naming_p2(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        response = world.answer(inquiry_id, plain_pdf(reference=inquiry_id),
                                message_id=str(uuid.uuid4()))
        assert_problem(response, 400, "P2")
        body = response.get_json()
        assert body["type"] == SDK_BAD_REQUEST and body["code"] == "ANSWER_REFUSED"
        assert "P2" in [i["typeCode"] for i in body["eventIssues"]]
        assert "answered" not in leg_kinds(inquiry_id)
        assert answer_messages() == 0
        assert world.listed() == {inquiry_id: "ACCEPTED"}


# The sender's client knows the inquiry (403); another VC's client cannot see it and gets what
# an unknown refToMessageId gets (the access service's rule).
@pytest.mark.parametrize(("who", "status", "code"),
                         [("husie", 400, "REF_UNKNOWN"), ("ebb", 403, "NOT_PARTY")])
def test_only_the_client_holding_the_vcs_address_may_answer(
    world: World, who: str, status: int, code: str
) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        response = world.answer(inquiry_id, signed_answer(world.pki, inquiry_id),
                                token=getattr(world, who), message_id=str(uuid.uuid4()))
        assert_problem(response, status, code)
        assert "answered" not in leg_kinds(inquiry_id)
        assert audits("answer.submit", inquiry_id, outcome="denied") == 1
        assert answer_messages() == 0


def test_unknown_ref_is_a_bad_request(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = signed_answer(world.pki, inquiry_id)
        assert_problem(world.answer(OTHER, pdf), 400, "REF_UNKNOWN", f"{A}.refToMessageId")
        # An answer's own id is not a message that can be answered.
        assert world.answer(inquiry_id, pdf).status_code == 201
        assert_problem(world.answer(answer_message_id(inquiry_id), pdf), 400, "REF_UNKNOWN")


# --- the round trip ------------------------------------------------------------------------


def test_round_trip_over_the_sdk_api_only(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        assert world.listed(world.vc) == {inquiry_id: "NEW"}
        pdf = signed_answer(world.pki, inquiry_id)
        answer_id = str(uuid.uuid4())
        sent = world.answer(inquiry_id, pdf, message_id=answer_id, label="Svar om Tolvan")
        assert sent.status_code == 201, sent.get_data(as_text=True)
        body = sent.get_json()
        attrs = body["data"]["attributes"]
        assert body["data"]["id"] == attrs["messageId"] == answer_id
        assert attrs["refToMessageId"] == inquiry_id
        assert attrs["messageStatus"] == "ACCEPTED"
        assert attrs["conversationId"] == inquiry_id
        assert "digitalDocument" not in attrs
        assert body["meta"]["answer"]["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert body["meta"]["answer"]["report"]["ok"] is True
        assert sent.headers["Location"].endswith(f"{MESSAGES}/{answer_id}")

        # The sender's function sees it as NEW; the care unit sees what it sent as ACCEPTED.
        assert world.listed(messageStatus="NEW") == {answer_id: "NEW"}
        assert world.listed(world.vc) == {inquiry_id: "NEW", answer_id: "ACCEPTED"}
        assert world.listed(world.husie) == {}
        listed = world.get(MESSAGES).get_json()["data"]
        assert [m["id"] for m in listed] == [inquiry_id, answer_id]
        seen = listed[1]["attributes"]
        assert seen["refToMessageId"] == inquiry_id and seen["label"] == "Svar om Tolvan"
        assert (seen["sender"], seen["recipient"]) == (SKANE, MALMO)
        assert seen["senderAttention"]["subOrganization"]["extension"] == KRYDDGARDEN_ADDRESS
        assert seen["recipientAttention"]["subOrganization"]["extension"] == EBB_OSTER
        assert "answer_delivered" not in leg_kinds(inquiry_id)

        # The sender fetches the exact signed bytes; the first fetch delivers it.
        fetched = world.get(f"{MESSAGES}/{answer_id}")
        assert fetched.status_code == 200
        assert the_pdf(fetched) == pdf
        # Reading is no status: the answer stays NEW until the recipient deletes it.
        assert fetched.get_json()["data"]["attributes"]["messageStatus"] == "NEW"
        assert world.listed(messageStatus="NEW") == {answer_id: "NEW"}
        assert world.listed() == {inquiry_id: "ACCEPTED", answer_id: "NEW"}
        assert the_pdf(world.get(f"{MESSAGES}/{answer_id}")) == pdf
        assert leg_kinds(inquiry_id).count("answer_delivered") == 1
        assert leg_kinds(inquiry_id).count("answered") == 1
        # Two reads with one token: one audit entry (once per access session and activity).
        assert audits("answer.read", inquiry_id) == 1

        # The gateway API agrees: same bytes, status, still one delivery.
        api = world.http.get(f"/api/v1/inquiries/{inquiry_id}/answer", headers=bearer(world.ebb))
        assert api.get_data() == pdf
        state = world.http.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(world.ebb))
        assert state.get_json()["status"] == "answer_delivered"
        assert leg_kinds(inquiry_id).count("answer_delivered") == 1


def test_a_large_answer_is_stored_once_and_fetched_whole(world: World) -> None:
    # Its base64 is past LARGE_STRING: spooled and decoded in pieces, the PDF handed to the
    # answer service as a file; the stored SDK message leaves the PDF out (the answer has it).
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = sign(plain_pdf(reference=inquiry_id, padding=200_000),
                   world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes())
        assert len(pdf) * 4 // 3 > LARGE_STRING
        sent = world.answer(inquiry_id, pdf)
        assert sent.status_code == 201, sent.get_data(as_text=True)
        answer_id = sent.get_json()["data"]["id"]
        assert sent.get_json()["meta"]["answer"]["sha256"] == hashlib.sha256(pdf).hexdigest()
        stored = get_session().get(SdkMessage, answer_id)
        assert stored is not None and stored.content is not None
        assert len(stored.content) < 50_000
        assert the_pdf(world.get(f"{MESSAGES}/{answer_id}")) == pdf
        assert the_pdf(world.get(f"{MESSAGES}/{answer_id}", world.vc)) == pdf
        # The same body again is a repeat.
        again = world.answer(inquiry_id, pdf)
        assert again.status_code == 201, again.get_data(as_text=True)
        assert again.get_json()["data"]["id"] == answer_id


def test_the_vc_reads_back_its_answer_without_delivering_it(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = signed_answer(world.pki, inquiry_id)
        answer_id = world.answer(inquiry_id, pdf).get_json()["data"]["id"]
        own = world.get(f"{MESSAGES}/{answer_id}", world.vc)
        assert own.status_code == 200
        assert the_pdf(own) == pdf
        assert own.get_json()["data"]["attributes"]["messageStatus"] == "ACCEPTED"
        assert "answer_delivered" not in leg_kinds(inquiry_id)
        assert audits("answer.read", inquiry_id) == 1
        # Without its files nothing personal is read and nothing is delivered.
        lean = world.get(f"{MESSAGES}/{answer_id}?filter[contentFiles]=false")
        document = lean.get_json()["data"]["attributes"]["digitalDocument"][0]
        assert "contentFiles" not in document
        assert lean.get_json()["data"]["attributes"]["messageStatus"] == "NEW"
        assert "answer_delivered" not in leg_kinds(inquiry_id)
        assert_problem(world.get(f"{MESSAGES}/{answer_id}", world.husie), 404, "NOT_FOUND")


def test_an_answer_given_over_the_gateway_api_appears_in_the_sdk_view(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = signed_answer(world.pki, inquiry_id)
        assert post_answer(world.http, world.vc, inquiry_id, pdf).status_code == 201
        answer_id = answer_message_id(inquiry_id)
        assert world.listed() == {inquiry_id: "ACCEPTED", answer_id: "NEW"}
        assert world.listed(world.vc)[answer_id] == "ACCEPTED"
        # Fetched over the gateway API: delivered (a leg), still NEW in the SDK view.
        api = world.http.get(f"/api/v1/inquiries/{inquiry_id}/answer", headers=bearer(world.ebb))
        assert api.get_data() == pdf
        assert world.listed()[answer_id] == "NEW"
        assert the_pdf(world.get(f"{MESSAGES}/{answer_id}")) == pdf
        assert leg_kinds(inquiry_id).count("answer_delivered") == 1
        # A second answer over the SDK API finds the inquiry answered.
        again = world.answer(inquiry_id, signed_answer(world.pki, inquiry_id),
                             message_id=str(uuid.uuid4()))
        assert_problem(again, 409, "NOT_AWAITING_ANSWER")


# --- idempotency by messageId ---------------------------------------------------------------


def test_the_same_message_again_gives_the_same_response_and_stores_nothing(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = signed_answer(world.pki, inquiry_id)
        answer_id = str(uuid.uuid4())
        first = world.answer(inquiry_id, pdf, message_id=answer_id)
        assert first.status_code == 201
        again = world.answer(inquiry_id, pdf, message_id=answer_id)
        assert again.status_code == 201
        assert again.get_json() == first.get_json()
        assert leg_kinds(inquiry_id).count("answered") == 1
        assert answer_messages() == 1
        assert audits("answer.accepted", inquiry_id) == 1
        # Other bytes under the same messageId: a conflict; the first answer stays.
        other = world.answer(inquiry_id, signed_answer(world.pki, inquiry_id),
                             message_id=answer_id)
        assert_problem(other, 409, "MESSAGE_ID_CONFLICT")
        # Another messageId for an answered inquiry: not waiting for an answer.
        assert_problem(world.answer(inquiry_id, pdf, message_id=str(uuid.uuid4())), 409,
                       "NOT_AWAITING_ANSWER")
        assert the_pdf(world.get(f"{MESSAGES}/{answer_id}")) == pdf


def test_without_a_messageid_the_derived_id_is_used_and_repeats_are_idempotent(
    world: World,
) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        pdf = signed_answer(world.pki, inquiry_id)
        first = world.answer(inquiry_id, pdf)
        assert first.status_code == 201
        assert first.get_json()["data"]["id"] == answer_message_id(inquiry_id)
        assert world.answer(inquiry_id, pdf).get_json() == first.get_json()
        assert answer_messages() == 1


def test_a_messageid_of_another_message_is_a_conflict(world: World) -> None:
    with world.app.app_context():
        first, second = world.inquiry(), world.inquiry()
        pdf = signed_answer(world.pki, second)
        # The inquiry's own id, and another inquiry's id, are taken.
        for taken in (second, first, answer_message_id(first)):
            assert_problem(world.answer(second, pdf, message_id=taken), 409,
                           "MESSAGE_ID_CONFLICT")
        assert "answered" not in leg_kinds(second)
        assert answer_messages() == 0


# --- filters and delete ----------------------------------------------------------------------


def test_filters_and_delete_for_answer_messages(world: World) -> None:
    with world.app.app_context():
        inquiry_id = world.inquiry()
        answer_id = str(uuid.uuid4())
        assert world.answer(inquiry_id, signed_answer(world.pki, inquiry_id),
                            message_id=answer_id).status_code == 201
        by_sender = "senderAttention.subOrganization.extension"
        by_recipient = "recipientAttention.subOrganization.extension"
        assert list(world.listed(**{by_sender: KRYDDGARDEN_ADDRESS})) == [answer_id]
        assert list(world.listed(**{by_recipient: EBB_OSTER})) == [answer_id]
        assert list(world.listed(**{by_recipient: KRYDDGARDEN_ADDRESS})) == [inquiry_id]
        assert list(world.listed(world.vc, **{by_sender: KRYDDGARDEN_ADDRESS})) == [answer_id]
        future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert world.listed(creationDateTimeStart=future) == {}
        assert list(world.listed(creationDateTimeStart="2000-01-01T00:00:00Z",
                                 messageStatus="NEW")) == [answer_id]

        legs = leg_kinds(inquiry_id)
        # The sender deletes (hides) the answer, NEW being final; nothing else changes.
        assert world.http.delete(f"{MESSAGES}/{answer_id}",
                                 headers=bearer(world.ebb)).status_code == 202
        assert list(world.listed()) == [inquiry_id]
        assert_problem(world.get(f"{MESSAGES}/{answer_id}"), 404, "NOT_FOUND")
        assert answer_id in world.listed(world.vc)
        assert leg_kinds(inquiry_id) == legs
        assert audits("sdk.message.delete", inquiry_id) == 1
        # Hiding the inquiry leaves the answer in view, and the other way round.
        assert world.http.delete(f"{MESSAGES}/{inquiry_id}",
                                 headers=bearer(world.vc)).status_code == 202
        assert list(world.listed(world.vc)) == [answer_id]
        assert_problem(world.http.delete(f"{MESSAGES}/{answer_id}", headers=bearer(world.husie)),
                       404, "NOT_FOUND")
