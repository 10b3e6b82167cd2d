"""The SDK message API (/v1/sdk/messages, DIGG's contract) on SQLite and PostgreSQL: bad
envelopes refused with 400 and eventIssues leaving nothing behind, the same intake as the
gateway API, each filter, getMessageById with the form, delete rules and scopes."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.bodies import LARGE_STRING
from gateway.db import get_session
from gateway.inquiries.models import Inquiry, Leg
from gateway.sdkapi.messages import MessageStatus, may_delete
from gateway.sdkapi.models import SdkDeletion
from tests.support import digg
from tests.support.forms import (
    AMA,
    EBB_NORR,
    EBB_OSTER,
    KRYDDGARDEN_ADDRESS,
    MALMO,
    ROSENGARD,
    ROSENGARD_ADDRESS,
    SKANE,
    halsoforfragan,
    nth_personnummer,
)
from tests.support.intake import (
    DELETE,
    FILTER,
    GET,
    SEND,
    bearer,
    counts,
    load_directory,
    new_client,
    post_xml,
)
from tests.support.pki import install_pki
from tests.support.sdk import MESSAGES, attention, form_id, message_body, xml_message_body

OTHER_ID = "0b7c9a52-3f0e-4b8e-9a51-6f2d1c0e8a11"


@dataclass
class World:
    http: FlaskClient
    ebb: str  # EBB Öster's case system, every scope
    ama: str  # AMA's, every scope
    vc: str  # Vårdcentralen Kryddgården's REKO system
    rosengard: str  # another care unit's system

    def send(self, xml: bytes, token: str | None = None, **attributes: Any) -> Any:
        return self.http.post(MESSAGES, json=message_body(xml, **attributes),
                              headers=bearer(token or self.ebb))

    def get(self, path: str, token: str | None = None) -> Any:
        return self.http.get(path, headers=bearer(token or self.ebb))

    def listed(self, token: str | None = None, **filters: str) -> list[str]:
        query = {f"filter[{k}]": v for k, v in filters.items()}
        response = self.http.get(MESSAGES, query_string=query, headers=bearer(token or self.ebb))
        assert response.status_code == 200, response.get_json()
        return [m["id"] for m in response.get_json()["data"]]


@pytest.fixture
def world(app: Flask, client: FlaskClient, instance: Path, pki_template: Path) -> World:
    install_pki(instance, pki_template)
    session = get_session()
    load_directory(session)
    return World(
        http=client,
        ebb=new_client(session),
        ama=new_client(session, addresses=(AMA,)),
        vc=new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,)),
        rosengard=new_client(session, organisation=SKANE, addresses=(ROSENGARD_ADDRESS,)),
    )


def assert_problem(response: Any, status: int, code: str, where: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "eventIssues"} <= set(body)
    codes = [i["typeCode"] for i in body["eventIssues"]]
    assert code in codes or body.get("code") == code or body["type"].endswith(code), body
    if where is not None:
        assert any(i.get("in") == where for i in body["eventIssues"]), body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def xml_file(xml: bytes, content_type: str = "application/xml") -> dict[str, Any]:
    return {"fileName": "f.xml", "contentType": content_type, "content": b64(xml)}


# --- bad envelopes: each refused with 400, nothing stored ---------------------------------------

XML = halsoforfragan()
A = "data.attributes"

BAD_ENVELOPES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("no confidentiality", {"confidentiality": None}, "JSON_REQUIRED", f"{A}.confidentiality"),
    ("confidentiality text", {"confidentiality": "ja"}, "JSON_TYPE", f"{A}.confidentiality"),
    ("no label", {"label": None}, "JSON_REQUIRED", f"{A}.label"),
    ("label too long", {"label": "x" * 257}, "subjectlabel", f"{A}.label"),
    ("empty label", {"label": ""}, "verifyNonEmptyElements", f"{A}.label"),
    ("no sender", {"sender": None}, "JSON_REQUIRED", f"{A}.sender"),
    ("no recipient", {"recipient": None}, "JSON_REQUIRED", f"{A}.recipient"),
    ("no senderAttention", {"senderAttention": None}, "SENDER_MISMATCH",
     f"{A}.senderAttention.subOrganization.extension"),
    ("senderAttention without extension", {"senderAttention": {"subOrganization": {}}},
     "JSON_REQUIRED", f"{A}.senderAttention.subOrganization.extension"),
    ("wrong functional address root", {"recipientAttention": {"subOrganization": {
        "root": "urn:fel", "extension": KRYDDGARDEN_ADDRESS}}},
     "subOrgRoot", f"{A}.recipientAttention.subOrganization.root"),
    ("status set by client", {"messageStatus": "NEW"}, "JSON_READ_ONLY", f"{A}.messageStatus"),
    ("messageId not a UUID", {"messageId": "abc"}, "MessageId", f"{A}.messageId"),
    ("conversationId not a UUID", {"conversationId": "1"}, "conversationId",
     f"{A}.conversationId"),
    ("creationDateTime not UTC", {"creationDateTime": "2024-05-01T10:00:00+02:00"},
     "creationDateTime", f"{A}.creationDateTime"),
    ("sender organisation differs", {"sender": "0203:lund.se"}, "SENDER_MISMATCH",
     f"{A}.sender"),
    ("sender address differs", {"senderAttention": attention(EBB_NORR)}, "SENDER_MISMATCH",
     f"{A}.senderAttention.subOrganization.extension"),
    ("recipient organisation differs", {"recipient": "0203:lund.se"}, "RECIPIENT_MISMATCH",
     f"{A}.recipient"),
    ("recipient address differs", {"recipientAttention": attention(ROSENGARD_ADDRESS)},
     "RECIPIENT_MISMATCH", f"{A}.recipientAttention.subOrganization.extension"),
    ("no digitalDocument", {"digitalDocument": None}, "JSON_REQUIRED", f"{A}.digitalDocument"),
    ("empty digitalDocument", {"digitalDocument": []}, "JSON_REQUIRED", f"{A}.digitalDocument"),
    ("two forms", {"digitalDocument": [{"documentId": "1",
                                        "contentFiles": [xml_file(XML), xml_file(XML)]}]},
     "SDK_FORM_FILE", f"{A}.digitalDocument[0].contentFiles[1]"),
    ("xml and a pdf as two forms", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        xml_file(XML), xml_file(b"%PDF-1.4", "application/pdf"),
        xml_file(b"%PDF-1.4", "application/pdf")]}]},
     "SDK_CONSENT_FILE", f"{A}.digitalDocument[0].contentFiles[2]"),
    ("a file of another type", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        xml_file(XML), xml_file(b"hej", "text/plain")]}]},
     "SDK_FILE_TYPE", f"{A}.digitalDocument[0].contentFiles[1].contentType"),
    ("not base64", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        {"fileName": "f.xml", "contentType": "application/xml", "content": "***"}]}]},
     "contentFiles", f"{A}.digitalDocument[0].contentFiles[0].content"),
    ("files not a list", {"digitalDocument": [{"documentId": "1", "contentFiles": "x"}]},
     "JSON_TYPE", f"{A}.digitalDocument[0].contentFiles"),
    ("form not XML", {"digitalDocument": [{"documentId": "1", "contentFiles": [
        xml_file(b"hello")]}]}, "XML_INVALID", None),
]


@pytest.mark.parametrize(("attributes", "code", "where"),
                         [pytest.param(a, c, w, id=n) for n, a, c, w in BAD_ENVELOPES])
def test_bad_envelope_is_refused_and_stores_nothing(
    world: World, attributes: dict[str, Any], code: str, where: str | None
) -> None:
    before = counts(get_session())
    response = world.send(XML, **attributes)
    assert_problem(response, 400, code, where)
    after = counts(get_session())
    assert (after.inquiries, after.legs, after.jobs) == (before.inquiries, before.legs, before.jobs)


def test_every_problem_is_named_with_its_json_path_and_time(world: World) -> None:
    response = world.send(XML, label="", creationDateTime="igår", messageId="abc",
                          recipientAttention={"subOrganization": {
                              "root": "urn:fel", "extension": KRYDDGARDEN_ADDRESS}})
    assert_problem(response, 400, "SDK_MESSAGE_INVALID")
    body = response.get_json()
    assert body["type"] == "urn:problem-type:sdk:badRequest"
    named = {(i["typeCode"], i["in"]) for i in body["eventIssues"]}
    assert {("verifyNonEmptyElements", f"{A}.label"),
            ("creationDateTime", f"{A}.creationDateTime"),
            ("MessageId", f"{A}.messageId"),
            ("subOrgRoot", f"{A}.recipientAttention.subOrganization.root")} <= named
    for issue in body["eventIssues"]:
        assert issue["title"] and issue["detail"]
        assert dt.datetime.fromisoformat(issue["dateTime"]).tzinfo is not None
    assert counts(get_session()).inquiries == 0


def test_a_body_with_many_problems_lists_fifty_and_counts_all(world: World) -> None:
    persons = [f"person {n}" for n in range(80)]  # each not an object: one problem each
    response = world.send(XML, senderAttention={**attention(EBB_OSTER),
                                                "attentionPerson": persons})
    assert_problem(response, 400, "SDK_MESSAGE_INVALID")
    body = response.get_json()
    assert len(body["eventIssues"]) == 50
    assert body["eventIssueCount"] == 80


def _with_consent(xml: bytes, consent: str) -> list[dict[str, Any]]:
    """The digitalDocument of a hälsoförfrågan with `consent` (base64) as its consent PDF."""
    return [{"documentId": "1", "documentName": "Hälsoförfrågan", "contentFiles": [
        {"fileName": "halsoforfragan.xml", "contentType": "application/xml",
         "content": base64.b64encode(xml).decode("ascii")},
        {"fileName": "samtycke.pdf", "contentType": "application/pdf", "content": consent},
    ]}]


def test_a_large_consent_file_is_read_in_pieces_and_kept_whole(world: World) -> None:
    # Past LARGE_STRING a file's base64 is spooled while the body is read and decoded in
    # pieces beside the message (gateway.bodies); line breaks in it are allowed (B1.3.3).
    xml = halsoforfragan()
    consent = b"%PDF-1.4\n" + bytes(range(256)) * 800 + b"\n%%EOF\n"
    encoded = base64.encodebytes(consent).decode("ascii")
    assert len(encoded) > LARGE_STRING
    sent = world.send(xml, digitalDocument=_with_consent(xml, encoded))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    got = world.get(f"{MESSAGES}/{form_id(xml)}", world.vc)
    files = got.get_json()["data"]["attributes"]["digitalDocument"][0]["contentFiles"]
    assert [base64.b64decode(file["content"]) for file in files] == [xml, consent]
    # The same body again is the same message, not a conflict.
    again = world.send(xml, digitalDocument=_with_consent(xml, encoded))
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.get_json()["data"]["id"] == form_id(xml)
    assert counts(get_session()).inquiries == 1


def test_a_large_file_that_is_not_base64_is_named_at_its_place(world: World) -> None:
    xml = halsoforfragan()
    response = world.send(xml, label="",
                          digitalDocument=_with_consent(xml, "QUJD" * 20_000 + "!AAA"))
    assert_problem(response, 400, "SDK_MESSAGE_INVALID")
    named = {(i["typeCode"], i["in"]) for i in response.get_json()["eventIssues"]}
    assert {("SDK_BASE64", f"{A}.digitalDocument[0].contentFiles[1].content"),
            ("verifyNonEmptyElements", f"{A}.label")} <= named
    assert counts(get_session()).inquiries == 0


def test_digg_error_testdata_as_api_bodies_are_refused_naming_every_problem(
    world: World,
) -> None:
    expected = {
        # A bad date and a conversationId that is no UUID: both named.
        "TF2.4.1.xml": {f"{A}.creationDateTime", f"{A}.conversationId"},
        # An organisation id in a code system not allowed: the JSON has no place for that root
        # (the API sets iso6523-actorid-upis), so what is refused is the rest: a plain message
        # from DIGG's test organisation, which is not the client's.
        "TF2.4.2.xml": {f"{A}.sender"},
        "min.xml": {f"{A}.sender"},
    }
    for path in digg.message_testdata():
        body = xml_message_body(path.read_bytes())
        response = world.http.post(MESSAGES, json=body, headers=bearer(world.ebb))
        assert response.status_code == 400, path.name
        named = {i.get("in") for i in response.get_json()["eventIssues"]}
        assert expected[path.name] <= named, (path.name, response.get_json())
    assert counts(get_session()).inquiries == 0


@pytest.mark.parametrize(("body", "code"), [
    pytest.param([], "JSON_TYPE", id="array"),
    pytest.param({"data": []}, "JSON_TYPE", id="data-array"),
    pytest.param({"data": {"type": "people", "attributes": {}}}, "JSON_TYPE", id="wrong-type"),
    pytest.param({"data": {"type": "messages"}}, "JSON_REQUIRED", id="no-attributes"),
    pytest.param({"data": {"id": "x", "attributes": {}}}, "JSON_TYPE", id="bad-attributes"),
])
def test_malformed_json_api_body(world: World, body: Any, code: str) -> None:
    response = world.http.post(MESSAGES, json=body, headers=bearer(world.ebb))
    assert_problem(response, 400, code)


def test_not_json_and_wrong_content_type(world: World) -> None:
    headers = bearer(world.ebb)
    not_json = world.http.post(MESSAGES, data=b"{", headers=headers,
                               content_type="application/json")
    assert_problem(not_json, 400, "JSON_INVALID")
    as_xml = world.http.post(MESSAGES, data=XML, headers=headers, content_type="application/xml")
    assert_problem(as_xml, 400, "UNSUPPORTED_MEDIA_TYPE")


def test_intake_refusals_become_sdk_bad_requests_with_rule_codes(world: World) -> None:
    expired = halsoforfragan(giltigt_till=(dt.date.today() - dt.timedelta(days=2)).isoformat())
    response = world.send(expired)
    assert_problem(response, 400, "C2")
    assert response.get_json()["type"] == "urn:problem-type:sdk:badRequest"
    # A sender that is not the client's: DIGG's 400 "avsändare", not 403.
    foreign = halsoforfragan(funktionsadress=EBB_NORR)
    response = world.send(foreign, senderAttention=attention(EBB_NORR))
    assert_problem(response, 400, "SENDER_NOT_ALLOWED")
    assert counts(get_session()).inquiries == 0


def test_tokens_and_scopes(world: World) -> None:
    session = get_session()
    get_only = new_client(session, scopes=(GET,))
    assert_problem(world.http.post(MESSAGES, json=message_body(XML)), 401, "TOKEN_MISSING")
    assert_problem(world.send(XML, token=get_only), 403, "INSUFFICIENT_SCOPE")
    assert_problem(world.get(MESSAGES, token=get_only), 403, "INSUFFICIENT_SCOPE")
    assert_problem(world.http.delete(f"{MESSAGES}/{OTHER_ID}", headers=bearer(get_only)),
                   403, "INSUFFICIENT_SCOPE")
    send_only = new_client(session, scopes=(SEND,))
    assert_problem(world.get(f"{MESSAGES}/{OTHER_ID}", token=send_only), 403,
                   "INSUFFICIENT_SCOPE")


# --- the happy path ---------------------------------------------------------------------------


def test_send_goes_through_the_intake_and_messageid_is_the_form_id(world: World) -> None:
    xml = halsoforfragan()
    response = world.send(xml)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    inquiry_id = form_id(xml)
    assert body["data"]["id"] == inquiry_id
    assert body["data"]["attributes"]["messageId"] == inquiry_id
    assert body["data"]["attributes"]["messageStatus"] == "ACCEPTED"
    assert "digitalDocument" not in body["data"]["attributes"]
    assert body["meta"]["receipt"]["receipt"]["inquiry_id"] == inquiry_id
    assert response.headers["Location"].endswith(f"{MESSAGES}/{inquiry_id}")
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None and inquiry.channel == "sdk"
    # The same message again: the same answer, nothing new.
    again = world.send(xml)
    assert again.status_code == 201
    assert again.get_json()["meta"]["receipt"] == body["meta"]["receipt"]
    assert counts(get_session()).inquiries == 1
    # The same id over the gateway API with the same XML is the same inquiry.
    assert post_xml(world.http, xml, world.ebb).status_code == 200


def test_same_id_other_content_is_a_conflict_as_on_the_gateway_api(world: World) -> None:
    xml = halsoforfragan()
    assert world.send(xml).status_code == 201
    other = halsoforfragan(id=form_id(xml), bakgrund="Något helt annat.")
    # The messageId (here the form's id) is already another content's.
    assert_problem(world.send(other), 409, "MESSAGE_ID_CONFLICT", f"{A}.messageId")
    # Under a new messageId the form's id still names other content: the intake's 409.
    assert_problem(world.send(other, messageId=OTHER_ID), 409, "ID_CONFLICT")
    assert post_xml(world.http, other, world.ebb).status_code == 409
    assert counts(get_session()).inquiries == 1


def test_the_clients_own_message_id_is_kept_and_linked_to_the_form(world: World) -> None:
    xml = halsoforfragan()
    inquiry_id = form_id(xml)
    own = "6f1c2f44-0c1e-4d7e-9a0b-3c5d7e9f1a2b"
    response = world.send(xml, messageId=own)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["id"] == own
    assert response.headers["Location"].endswith(f"{MESSAGES}/{own}")
    assert response.get_json()["meta"]["receipt"]["receipt"]["inquiry_id"] == inquiry_id
    # The message is found by its own id; the form's id names the inquiry, not a message.
    assert world.get(f"{MESSAGES}/{own}").get_json()["data"]["attributes"]["messageId"] == own
    assert_problem(world.get(f"{MESSAGES}/{inquiry_id}"), 404, "NOT_FOUND")
    assert world.listed() == [own]
    assert world.listed(world.vc) == [own]
    state = world.http.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(world.ebb))
    assert state.status_code == 200
    # The same message again: the same result.
    again = world.send(xml, messageId=own)
    assert again.status_code == 201
    assert again.get_json()["meta"] == response.get_json()["meta"]
    # The same form under another messageId, or the messageId for other content: 409.
    assert_problem(world.send(xml, messageId=OTHER_ID), 409, "MESSAGE_ID_CONFLICT",
                   f"{A}.messageId")
    assert_problem(world.send(halsoforfragan(personnummer=nth_personnummer(5)), messageId=own),
                   409, "MESSAGE_ID_CONFLICT", f"{A}.messageId")
    assert counts(get_session()).inquiries == 1


def test_get_by_id_returns_the_form_and_is_audited(world: World) -> None:
    xml = halsoforfragan()
    conversation = "a8480ada-6a1f-44a3-a960-9acaf4efcdcd"
    world.send(xml, conversationId=conversation, label="Förfrågan om Tolvan")
    inquiry_id = form_id(xml)
    for token, status in ((world.ebb, "ACCEPTED"), (world.vc, "NEW")):
        response = world.get(f"{MESSAGES}/{inquiry_id}", token)
        assert response.status_code == 200
        attrs = response.get_json()["data"]["attributes"]
        assert attrs["messageStatus"] == status
        assert attrs["conversationId"] == conversation
        assert attrs["label"] == "Förfrågan om Tolvan"
        assert attrs["sender"] == MALMO and attrs["recipient"] == SKANE
        assert attrs["senderAttention"]["subOrganization"]["extension"] == EBB_OSTER
        assert attrs["recipientAttention"]["subOrganization"]["extension"] == KRYDDGARDEN_ADDRESS
        (file,) = attrs["digitalDocument"][0]["contentFiles"]
        assert file["contentType"] == "application/xml"
        assert base64.b64decode(file["content"]) == xml
    reads = get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "inquiry.read", AuditEntry.object_id == inquiry_id))
    assert reads == 2
    # Files can be left out; then nothing personal is read.
    lean = world.get(f"{MESSAGES}/{inquiry_id}?filter[contentFiles]=false")
    assert "contentFiles" not in lean.get_json()["data"]["attributes"]["digitalDocument"][0]


def test_get_by_id_refusals(world: World) -> None:
    xml = halsoforfragan()
    world.send(xml)
    inquiry_id = form_id(xml)
    assert_problem(world.get(f"{MESSAGES}/{inquiry_id}", world.ama), 404, "NOT_FOUND")
    assert_problem(world.get(f"{MESSAGES}/{inquiry_id}", world.rosengard), 404, "NOT_FOUND")
    assert_problem(world.get(f"{MESSAGES}/{OTHER_ID}"), 404, "NOT_FOUND")
    assert_problem(world.get(f"{MESSAGES}/not-a-uuid"), 404, "NOT_FOUND")
    assert_problem(world.get(f"{MESSAGES}/{inquiry_id}?filter[contentFiles]=maybe"), 400,
                   "FILTER_INVALID")
    assert_problem(world.get(f"{MESSAGES}/{inquiry_id}?filter[x]=1"), 400, "FILTER_UNKNOWN")


# --- filters ----------------------------------------------------------------------------------


def _two_inquiries(world: World) -> tuple[str, str]:
    first = halsoforfragan(personnummer=nth_personnummer(1))
    second = halsoforfragan(personnummer=nth_personnummer(2), vardcentral=ROSENGARD,
                            uppgiftslamnare=ROSENGARD,
                            vardcentral_namn="Vårdcentralen Rosengård")
    assert world.send(first).status_code == 201
    response = world.send(second, recipientAttention=attention(ROSENGARD_ADDRESS))
    assert response.status_code == 201, response.get_json()
    return form_id(first), form_id(second)


def test_list_and_each_filter(world: World) -> None:
    first, second = _two_inquiries(world)
    assert world.listed() == [first, second]
    listed = world.get(MESSAGES).get_json()["data"]
    assert all("digitalDocument" not in m["attributes"] for m in listed)
    assert world.listed(**{"recipientAttention.subOrganization.extension":
                           ROSENGARD_ADDRESS}) == [second]
    assert world.listed(**{"senderAttention.subOrganization.extension": EBB_OSTER}) == [
        first, second]
    assert world.listed(**{"senderAttention.subOrganization.extension": AMA}) == []
    assert world.listed(messageStatus="ACCEPTED") == [first, second]
    assert world.listed(messageStatus="NEW") == []
    assert world.listed(messageStatus="NEW,ACCEPTED") == [first, second]
    # The care unit sees only what was routed to it, as NEW.
    assert world.listed(world.vc) == [first]
    assert world.listed(world.vc, messageStatus="NEW") == [first]
    assert world.listed(world.rosengard) == [second]
    assert world.listed(world.ama) == []
    # Dates, combined with the rest.
    past = "2000-01-01T00:00:00Z"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert world.listed(creationDateTimeStart=past, creationDateTimeStop=future) == [
        first, second]
    assert world.listed(creationDateTimeStart=future) == []
    assert world.listed(creationDateTimeStop=past) == []
    assert world.listed(creationDateTimeStart=past, messageStatus="ACCEPTED", **{
        "recipientAttention.subOrganization.extension": KRYDDGARDEN_ADDRESS}) == [first]


def test_list_pages_with_links(world: World) -> None:
    first, second = _two_inquiries(world)
    third = halsoforfragan(personnummer=nth_personnummer(3))
    assert world.send(third).status_code == 201
    status = "filter[messageStatus]=ACCEPTED"
    one = world.get(f"{MESSAGES}?{status}&page[size]=2").get_json()
    assert [m["id"] for m in one["data"]] == [first, second]
    assert one["meta"]["totalCount"] == 3
    assert one["meta"]["page"] == {"number": 1, "size": 2, "last": 2}
    assert "prev" not in one["links"]
    two = world.get(one["links"]["next"]).get_json()
    assert [m["id"] for m in two["data"]] == [form_id(third)]
    assert "next" not in two["links"]
    assert "filter%5BmessageStatus%5D=ACCEPTED" in two["links"]["self"]
    assert world.get(two["links"]["prev"]).get_json()["data"] == one["data"]
    assert world.get(one["links"]["last"]).get_json()["data"] == two["data"]
    beyond = world.get(f"{MESSAGES}?page[number]=9&page[size]=2").get_json()
    assert beyond["data"] == [] and beyond["links"]["prev"].endswith("page%5Bsize%5D=2")


@pytest.mark.parametrize(("query", "code", "where"), [
    ("filter=x", "FILTER_UNKNOWN", "filter"),
    ("filter[colour]=red", "FILTER_UNKNOWN", "filter[colour]"),
    ("page=2", "FILTER_UNKNOWN", "page"),
    ("page[number]=0", "PAGE_INVALID", "page[number]"),
    ("page[size]=x", "PAGE_INVALID", "page[size]"),
    ("page[size]=1001", "PAGE_INVALID", "page[size]"),
    ("page[number]=1&page[number]=2", "FILTER_REPEATED", "page[number]"),
    ("filter[messageStatus]=READ", "FILTER_INVALID", "filter[messageStatus]"),
    ("filter[messageStatus]=NEW&filter[messageStatus]=ACCEPTED", "FILTER_REPEATED", None),
    ("filter[creationDateTimeStart]=yesterday", "FILTER_INVALID",
     "filter[creationDateTimeStart]"),
    ("filter[creationDateTimeStart]=2024-05-01T00:00:00", "FILTER_INVALID",
     "filter[creationDateTimeStart]"),
    ("filter[creationDateTimeStart]=2024-05-01T02:00:00%2B02:00", "FILTER_INVALID",
     "filter[creationDateTimeStart]"),
    ("filter[creationDateTimeStart]=2024-05-02T00:00:00Z"
     "&filter[creationDateTimeStop]=2024-05-01T00:00:00Z", "FILTER_INVALID",
     "filter[creationDateTimeStop]"),
])
def test_bad_filters(world: World, query: str, code: str, where: str | None) -> None:
    assert_problem(world.get(f"{MESSAGES}?{query}"), 400, code, where)


# --- delete -----------------------------------------------------------------------------------


def test_delete_hides_the_message_from_that_client_only(world: World) -> None:
    first, second = _two_inquiries(world)
    session = get_session()
    legs_before = session.scalar(select(func.count()).select_from(Leg))
    response = world.http.delete(f"{MESSAGES}/{first}", headers=bearer(world.ebb))
    assert response.status_code == 202
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert world.listed() == [second]
    assert_problem(world.get(f"{MESSAGES}/{first}"), 404, "NOT_FOUND")
    assert_problem(world.http.delete(f"{MESSAGES}/{first}", headers=bearer(world.ebb)),
                   404, "NOT_FOUND")
    # The care unit still has it; the inquiry, its legs and statistics stay.
    assert world.listed(world.vc) == [first]
    session = get_session()
    assert session.get(Inquiry, first) is not None
    assert session.scalar(select(func.count()).select_from(Leg)) == legs_before
    assert session.scalar(select(func.count()).select_from(SdkDeletion)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "sdk.message.delete", AuditEntry.object_id == first)) == 1
    # The care unit may delete its incoming copy (NEW is final) too.
    assert world.http.delete(f"{MESSAGES}/{first}", headers=bearer(world.vc)).status_code == 202
    assert world.listed(world.vc) == []


def test_repeat_after_delete_is_a_conflict_not_a_dead_link(world: World) -> None:
    xml = halsoforfragan()
    assert world.send(xml).status_code == 201
    message_id = form_id(xml)
    assert world.http.delete(f"{MESSAGES}/{message_id}",
                             headers=bearer(world.ebb)).status_code == 202
    again = world.send(xml)
    assert_problem(again, 409, "MESSAGE_DELETED")
    assert "Location" not in again.headers
    assert get_session().scalar(select(func.count()).select_from(Inquiry)) == 1


def test_delete_refusals(world: World) -> None:
    first, _ = _two_inquiries(world)
    assert_problem(world.http.delete(f"{MESSAGES}/{first}", headers=bearer(world.ama)),
                   404, "NOT_FOUND")
    assert_problem(world.http.delete(f"{MESSAGES}/{first}", headers=bearer(world.rosengard)),
                   404, "NOT_FOUND")
    assert_problem(world.http.delete(f"{MESSAGES}/nonsense", headers=bearer(world.ebb)),
                   404, "NOT_FOUND")
    assert world.listed() != []


@pytest.mark.parametrize("status", list(MessageStatus))
def test_only_final_statuses_may_be_deleted(status: MessageStatus) -> None:
    final = {MessageStatus.NEW, MessageStatus.ACCEPTED, MessageStatus.MESSAGE_EXCHANGE_ERROR}
    assert may_delete(status) is (status in final)


def test_scopes_used_are_the_sdk_ones() -> None:
    from gateway.sdkapi import api

    assert (api.SEND, api.GET, api.FILTER, api.DELETE) == (SEND, GET, FILTER, DELETE)


# --- plain messages (no form, no answer) ------------------------------------------------------


def _ours(body: dict[str, Any], *, recipient: str = KRYDDGARDEN_ADDRESS) -> dict[str, Any]:
    """Return a DIGG message body sent from EBB Öster's function to `recipient` at Region
    Skåne, every other value as DIGG wrote it."""
    attributes = body["data"]["attributes"]
    attributes.update(sender=MALMO, recipient=SKANE, senderAttention=attention(EBB_OSTER),
                      recipientAttention=attention(recipient))
    return body


def _digg_example() -> dict[str, Any]:
    return _ours(xml_message_body(digg.sdk_path(digg.MESSAGE_EXAMPLE).read_bytes()))


def test_diggs_example_message_with_our_parties_goes_from_function_to_function(
    world: World,
) -> None:
    body = _digg_example()
    message_id = body["data"]["attributes"]["messageId"]
    sent = world.http.post(MESSAGES, json=body, headers=bearer(world.ebb))
    assert sent.status_code == 201, sent.get_json()
    assert sent.headers["Location"].endswith(f"{MESSAGES}/{message_id}")
    assert sent.get_json()["data"]["attributes"]["messageStatus"] == "ACCEPTED"
    # The same message again is the same message.
    assert world.http.post(MESSAGES, json=body, headers=bearer(world.ebb)).status_code == 201
    assert world.listed(world.vc, messageStatus="NEW") == [message_id]
    assert world.listed(world.ebb, messageStatus="ACCEPTED") == [message_id]
    # The recipient reads it as DIGG wrote it; reading changes no status.
    for _ in range(2):
        read = world.get(f"{MESSAGES}/{message_id}", world.vc)
        assert read.status_code == 200
        got = read.get_json()["data"]["attributes"]
        assert got["messageStatus"] == "NEW"
        assert got["label"] == "En rubrik"
        assert got["confidentiality"] is False
        assert got["creationDateTime"] == "2022-10-13T18:10:39.843Z"
        assert got["generatingSystem"]["extension"] == "SDK Test MessageService"
        assert got["digitalDocument"][0]["contentTextBody"] == ["Anslut till SDK!"]
    session = get_session()
    # Two reads with one token: one audit entry (once per access session, gateway.audit.reads).
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "sdk.message.read", AuditEntry.object_id == message_id)) == 1
    assert counts(session).inquiries == 0
    # Neither another VC's system nor another unit's sees it; the attempt is audited.
    for other in (world.rosengard, world.ama):
        assert_problem(world.get(f"{MESSAGES}/{message_id}", other), 404, "NOT_FOUND")
        assert world.listed(other) == []
    assert get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.outcome == "denied", AuditEntry.object_id == message_id)) == 2
    # Deleting hides it from the recipient only.
    assert world.http.delete(f"{MESSAGES}/{message_id}",
                             headers=bearer(world.vc)).status_code == 202
    assert world.listed(world.vc) == []
    assert world.listed(world.ebb) == [message_id]


def test_diggs_openapi_example_with_its_file_goes_through_whole(world: World) -> None:
    body = _ours(digg.openapi_example_body())
    # Its refToMessageId names a message of DIGG's; without it, it is a plain message.
    file = body["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0]
    del body["data"]["attributes"]["refToMessageId"]
    sent = world.http.post(MESSAGES, json=body, headers=bearer(world.ebb))
    assert sent.status_code == 201, sent.get_json()
    message_id = body["data"]["attributes"]["messageId"]
    got = world.get(f"{MESSAGES}/{message_id}", world.vc).get_json()["data"]["attributes"]
    [kept] = got["digitalDocument"][0]["contentFiles"]
    assert (kept["fileName"], kept["contentType"]) == ("hal.jpeg", "image/jpeg")
    assert base64.b64decode(kept["content"]) == base64.b64decode(file["content"])


def test_a_plain_message_id_used_for_other_content_is_a_conflict(world: World) -> None:
    body = _digg_example()
    assert world.http.post(MESSAGES, json=body, headers=bearer(world.ebb)).status_code == 201
    body["data"]["attributes"]["label"] = "En annan rubrik"
    assert_problem(world.http.post(MESSAGES, json=body, headers=bearer(world.ebb)),
                   409, "MESSAGE_ID_CONFLICT")
    # Nor may a form take a plain message's id.
    taken = body["data"]["attributes"]["messageId"]
    assert_problem(world.send(halsoforfragan(), messageId=taken), 409, "MESSAGE_ID_CONFLICT")
    assert counts(get_session()).inquiries == 0


def _stored_messages() -> int:
    from gateway.inquiries.models import SdkMessage

    return get_session().scalar(select(func.count()).select_from(SdkMessage)) or 0


def test_plain_message_refusals_name_the_place_and_store_nothing(world: World) -> None:
    unknown = _ours(_digg_example(), recipient="sdk:finns-inte:0203:skane.se")
    assert_problem(world.http.post(MESSAGES, json=unknown, headers=bearer(world.ebb)), 400,
                   "RECIPIENT_UNKNOWN", f"{A}.recipientAttention.subOrganization.extension")
    wrong_org = _digg_example()
    wrong_org["data"]["attributes"]["recipient"] = MALMO
    assert_problem(world.http.post(MESSAGES, json=wrong_org, headers=bearer(world.ebb)), 400,
                   "RECIPIENT_MISMATCH", f"{A}.recipient")
    # From an address that is not the client's (AMA's system sending as EBB Öster).
    assert_problem(world.http.post(MESSAGES, json=_digg_example(), headers=bearer(world.ama)),
                   400, "SENDER_MISMATCH", f"{A}.senderAttention.subOrganization.extension")
    # To an organisation that another gateway serves: not carried across (yet).
    from gateway.directory.models import Organisation

    session = get_session()
    skane = session.get(Organisation, SKANE)
    assert skane is not None
    skane.endpoint = "https://ap.skane.example/ap/v1/envelopes"
    session.commit()
    assert_problem(world.http.post(MESSAGES, json=_digg_example(), headers=bearer(world.ebb)),
                   400, "RECIPIENT_AT_PEER")
    assert _stored_messages() == 0


def test_plain_messages_are_purged_with_the_retention_time(world: World) -> None:
    from gateway.inquiries.retention import purge_expired

    body = _digg_example()
    message_id = body["data"]["attributes"]["messageId"]
    assert world.http.post(MESSAGES, json=body, headers=bearer(world.ebb)).status_code == 201
    session = get_session()
    purge_expired(session, dt.datetime.now(dt.UTC) + dt.timedelta(days=181), 180)
    session.commit()
    got = world.get(f"{MESSAGES}/{message_id}", world.vc)
    assert got.status_code == 200
    attributes = got.get_json()["data"]["attributes"]
    assert "digitalDocument" not in attributes and "label" not in attributes
    assert attributes["messageStatus"] == "NEW"
    assert get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "sdk.message.purged", AuditEntry.object_id == message_id)) == 1
