"""A case system on the SDK message API (/v1), end to end as B1.4.2 describes it, on SQLite and
PostgreSQL: tokens in each spelling of the send scope, its own messageId, two content files
(the hälsoförfrågan and the signed consent form, which the REKO can download), header values
back exactly as sent, an answer that stays NEW after a full read, DELETE and a repeat."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import create_client
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.closing import purge
from gateway.inquiries.models import Inquiry, SdkMessage
from tests.conftest import AppMaker
from tests.support.forms import (
    CONSENT_PDF,
    EBB_OSTER,
    KRYDDGARDEN_ADDRESS,
    MALMO,
    SKANE,
    halsoforfragan,
)
from tests.support.intake import bearer, load_directory, new_client, post_xml
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA, signed_answer
from tests.support.sdk import FA_ROOT, MESSAGES, answer_body, form_id
from tests.support.web import logged_in_browser

A = "data.attributes"
SCOPES = "urn:sdk.api:getMessage urn:sdk.api:getMessageByFilter urn:sdk.api:deleteMessage"
CONSENT = b"%PDF-1.4\n% signerad samtyckesblankett (test)\n%%EOF\n"
OWN_ID = "3d0f6a52-8c1b-4b7e-9f3a-1e2d3c4b5a69"
CONVERSATION = "8a1f0c3e-5b7d-4e2a-9c6f-0d1e2f3a4b5c"
ANSWER_ID = "c4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _token(http: Any, client_id: str, secret: str, send_scope: str) -> str:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials",
                              "scope": f"{send_scope} {SCOPES}"},
        headers={"Authorization": "Basic " + _b64(f"{client_id}:{secret}".encode())},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["expires_in"] <= 1800
    return str(response.get_json()["access_token"])


def _sent_attributes(xml: bytes, created: str) -> dict[str, Any]:
    return {
        "messageId": OWN_ID,
        "conversationId": CONVERSATION,
        "creationDateTime": created,
        "confidentiality": False,
        "generatingSystem": {"root": "urn:oid:1.2.752.1", "extension": "Procapita 9.1"},
        "label": "Hälsoförfrågan om Tolvan",
        "sender": MALMO,
        "recipient": SKANE,
        "senderAttention": {
            "subOrganization": {"root": FA_ROOT, "extension": EBB_OSTER},
            "attentionPerson": [{"root": "urn:malmo:handlaggare", "extension": "sara.h",
                                 "label": "Sara Handläggare"}],
        },
        "recipientAttention": {"subOrganization": {"root": FA_ROOT,
                                                   "extension": KRYDDGARDEN_ADDRESS}},
        "digitalDocument": [{
            "documentId": "halsoforfragan",
            "documentName": "Hälsoförfrågan",
            "contentFiles": [
                {"fileName": "halsoforfragan.xml", "contentType": "application/xml",
                 "content": _b64(xml)},
                {"fileName": "samtycke.pdf", "contentType": "application/pdf",
                 "content": _b64(CONSENT)},
            ],
        }],
    }


def test_a_case_system_round_trip(make_app: AppMaker, installed_pki: TestPki) -> None:
    app = make_app()
    http = app.test_client()
    with app.app_context():
        session = get_session()
        load_directory(session)
        model, secret = create_client(
            session, organisation=MALMO, functional_addresses=[EBB_OSTER],
            scopes=["urn:sdk.api:sendMessages", *SCOPES.split()], actor="cli:test",
        )
        session.commit()
        client_id = model.client_id
        vc = new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
        reko = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    # B1.4.2 spells the scope sendMessages, DIGG's OpenAPI file sendMessage: both send.
    b142 = _token(http, client_id, secret, "urn:sdk.api:sendMessages")
    openapi = _token(http, client_id, secret, "urn:sdk.api:sendMessage")

    xml = halsoforfragan()
    inquiry_id = form_id(xml)
    created = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)).strftime(
        "%Y-%m-%dT%H:%M:%S.250Z")
    sent = _sent_attributes(xml, created)
    response = http.post(MESSAGES, json={"data": {"type": "messages", "attributes": sent}},
                         headers=bearer(b142))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["id"] == OWN_ID
    assert response.headers["Location"].endswith(f"{MESSAGES}/{OWN_ID}")
    # The same message with the other spelling's token: the same result, nothing new.
    again = http.post(MESSAGES, json={"data": {"type": "messages", "attributes": sent}},
                      headers=bearer(openapi))
    assert again.status_code == 201
    assert again.get_json()["meta"] == response.get_json()["meta"]

    # Read back: every header value as sent, both files.
    got = http.get(f"{MESSAGES}/{OWN_ID}", headers=bearer(openapi)).get_json()["data"]
    attrs = got["attributes"]
    assert attrs["messageStatus"] == "ACCEPTED"
    for key in ("messageId", "conversationId", "creationDateTime", "confidentiality",
                "generatingSystem", "label", "sender", "recipient"):
        assert attrs[key] == sent[key], key
    assert attrs["senderAttention"]["attentionPerson"] == sent["senderAttention"][
        "attentionPerson"]
    files = attrs["digitalDocument"][0]["contentFiles"]
    assert [(f["contentType"], base64.b64decode(f["content"])) for f in files] == [
        ("application/xml", xml), ("application/pdf", CONSENT)]
    # The care unit's system sees the same header values, as NEW.
    incoming = http.get(f"{MESSAGES}/{OWN_ID}", headers=bearer(vc)).get_json()["data"]
    assert incoming["attributes"]["messageStatus"] == "NEW"
    assert incoming["attributes"]["creationDateTime"] == created

    # The REKO's page offers the signed consent form; the download is audited.
    page = reko.get(f"/inkorg/{inquiry_id}")
    assert page.status_code == 200
    assert "Signerat samtycke" in page.get_data(as_text=True)
    download = reko.get(f"/inkorg/{inquiry_id}/samtycke.pdf")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.data == CONSENT

    # The care unit answers over the SDK API with its own messageId.
    with app.app_context():
        pdf = signed_answer(installed_pki, inquiry_id)
        reads = get_session().scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "consent.read", AuditEntry.object_id == inquiry_id))
        assert reads == 1
    answered = http.post(MESSAGES, json=answer_body(OWN_ID, pdf, ANSWER_ID),
                         headers=bearer(vc))
    assert answered.status_code == 201, answered.get_json()
    assert answered.get_json()["data"]["id"] == ANSWER_ID

    # The answer reaches the case system as NEW and stays NEW after a full read.
    def new_ids() -> list[str]:
        listed = http.get(f"{MESSAGES}?filter[messageStatus]=NEW", headers=bearer(b142))
        return [m["id"] for m in listed.get_json()["data"]]

    assert new_ids() == [ANSWER_ID]
    full = http.get(f"{MESSAGES}/{ANSWER_ID}", headers=bearer(b142)).get_json()["data"]
    assert full["attributes"]["refToMessageId"] == OWN_ID
    assert full["attributes"]["conversationId"] == CONVERSATION
    (answer_file,) = full["attributes"]["digitalDocument"][0]["contentFiles"]
    assert base64.b64decode(answer_file["content"]) == pdf
    assert full["attributes"]["messageStatus"] == "NEW"
    assert new_ids() == [ANSWER_ID]

    # DELETE: gone from the case system's view; a repeat of the deleted message is 409.
    for message_id in (ANSWER_ID, OWN_ID):
        deleted = http.delete(f"{MESSAGES}/{message_id}", headers=bearer(b142))
        assert deleted.status_code == 202 and deleted.data == b""
    assert new_ids() == []
    assert http.get(f"{MESSAGES}/{ANSWER_ID}", headers=bearer(b142)).status_code == 404
    assert http.delete(f"{MESSAGES}/{ANSWER_ID}", headers=bearer(b142)).status_code == 404
    repeat = http.post(MESSAGES, json={"data": {"type": "messages", "attributes": sent}},
                       headers=bearer(b142))
    assert repeat.status_code == 409
    assert repeat.get_json()["code"] == "MESSAGE_DELETED"
    # The care unit's view is its own.
    mine = http.get(MESSAGES, headers=bearer(vc)).get_json()["data"]
    assert {m["id"]: m["attributes"]["messageStatus"] for m in mine} == {
        OWN_ID: "NEW", ANSWER_ID: "ACCEPTED"}


@dataclass
class Parties:
    app: Flask
    http: FlaskClient
    ebb: str  # EBB Öster's case system, every scope
    vc: str  # Vårdcentralen Kryddgården's system


@pytest.fixture
def parties(make_app: AppMaker, installed_pki: TestPki) -> Parties:
    app = make_app()
    with app.app_context():
        session = get_session()
        load_directory(session)
        ebb = new_client(session)
        vc = new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
    return Parties(app, app.test_client(), ebb, vc)


def test_a_form_from_another_channel_has_its_sdk_message_built_and_stored(
    parties: Parties,
) -> None:
    app, http, ebb, vc = parties.app, parties.http, parties.ebb, parties.vc
    with app.app_context():
        reko = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    xml = halsoforfragan()
    inquiry_id = form_id(xml)
    assert post_xml(http, xml, ebb).status_code == 201
    with app.app_context():
        (row,) = get_session().scalars(select(SdkMessage)).all()
        assert (row.message_id, row.kind, row.channel) == (inquiry_id, "inquiry", "api")
        assert row.content is not None and b"halsoforfragan" not in row.content  # sealed
    got = http.get(f"{MESSAGES}/{inquiry_id}", headers=bearer(vc)).get_json()["data"]
    attrs = got["attributes"]
    assert attrs["messageStatus"] == "NEW"
    assert attrs["senderAttention"]["subOrganization"]["extension"] == EBB_OSTER
    files = attrs["digitalDocument"][0]["contentFiles"]
    assert [(f["contentType"], base64.b64decode(f["content"])) for f in files] == [
        ("application/xml", xml), ("application/pdf", CONSENT_PDF)]
    download = reko.get(f"/inkorg/{inquiry_id}/samtycke.pdf")
    assert download.status_code == 200 and download.data == CONSENT_PDF


def test_a_purged_inquiry_keeps_its_message_id_but_not_its_content(parties: Parties) -> None:
    app, http, ebb = parties.app, parties.http, parties.ebb
    xml = halsoforfragan()
    sent = _sent_attributes(xml, "2026-01-02T03:04:05.678Z")
    assert http.post(MESSAGES, json={"data": {"type": "messages", "attributes": sent}},
                     headers=bearer(ebb)).status_code == 201
    with app.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, form_id(xml))
        assert inquiry is not None
        purge(session, inquiry, dt.datetime.now(dt.UTC))
        session.commit()
        (row,) = session.scalars(select(SdkMessage)).all()
        assert row.content is None and row.message_id == OWN_ID
    got = http.get(f"{MESSAGES}/{OWN_ID}", headers=bearer(ebb))
    assert got.status_code == 200
    attrs = got.get_json()["data"]["attributes"]
    assert attrs["messageId"] == OWN_ID and attrs["conversationId"] == CONVERSATION
    assert "contentFiles" not in attrs["digitalDocument"][0]
