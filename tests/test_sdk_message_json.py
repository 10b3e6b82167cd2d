"""The SDK message API's JSON (DIGG's sdk-api-restful.yml) and the message: DIGG's OpenAPI
examples map to a valid message, every problem of a body is named at its JSON path with the code
the XML rules give, the service's defaults are said, and message → JSON → message is lossless."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms.sdk.jsonapi import json_path, message_attributes, read_create_message
from forms.sdk.message import Message, build_message, check_message, parse_message
from forms.sdk.message_rules import MessageError
from forms.sdk.validation import MAX_PROBLEMS
from tests.support import digg
from tests.support.sdk_messages import CREATED, full_message, messages, small_message

NOW = dt.datetime(2024, 9, 2, 12, 0, 0, 250000, tzinfo=dt.UTC)
A = "data.attributes"
DOC = f"{A}.digitalDocument[0]"
NEW_ID = "11111111-2222-4333-8444-555555555555"


def _read(body: Any, **kwargs: Any) -> Any:
    return read_create_message(body, now=NOW, new_id=lambda: NEW_ID, **kwargs)


def _problems(body: Any) -> list[tuple[str, str]]:
    with pytest.raises(MessageError) as refused:
        _read(body)
    return [(i.code, i.path) for i in refused.value.report.issues]


def _body(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": "messages", "attributes": attributes}}


def _without_labels(message: Message) -> Message:
    """The message as the JSON can carry it: without the organisations' names, which it has
    no place for, and with a label (messageHeader/label), which it requires."""
    header = message.header
    return dataclasses.replace(message, header=dataclasses.replace(
        header,
        label=header.label if header.label is not None else "Rubrik",
        recipient=dataclasses.replace(header.recipient, label=None),
        sender=dataclasses.replace(header.sender, label=None),
    ))


# --- DIGG's OpenAPI examples ----------------------------------------------------------------


def test_digg_openapi_examples_make_a_valid_message(tmp_path: Path) -> None:
    body = digg.openapi_example_body()
    attributes = body["data"]["attributes"]
    created = _read(body)
    header = created.message.header
    assert header.message_id == attributes["messageId"] == "ff325210-0690-42fe-b86f-95ecab821223"
    assert header.creation_date_time == dt.datetime(2019, 8, 15, 17, 52, 58, 100000, tzinfo=dt.UTC)
    assert header.ref_to_message_id == attributes["refToMessageId"]
    assert created.defaulted == frozenset()
    assert created.message.recipient_address == "sdk:inkorg:0203:digg.se"
    assert created.message.sender_address == "sdk:utkorg:0203:inera.se"
    assert [p.label for p in header.recipient.attention.person] == ["Anna Andersson"]
    [file] = created.message.content_files
    assert (file.file_name, file.content_type) == ("hal.jpeg", "image/jpeg")
    assert file.content.startswith(b"\xff\xd8\xff")  # a JPEG
    assert parse_message(created.xml) == created.message
    path = tmp_path / "openapi.xml"
    path.write_bytes(created.xml)
    assert digg.lint_messages([path])[path].valid
    assert not digg.message_schematron().failures(path)
    # And back: the message's JSON is DIGG's example, with the status and events left out and
    # the time written as SDK writes it (the same instant, to the millisecond).
    assert message_attributes(created.message) == {
        **attributes, "creationDateTime": "2019-08-15T17:52:58.100Z"}


def test_the_json_of_a_message_reads_back_as_the_same_message() -> None:
    message = _without_labels(full_message())
    created = _read(_body(message_attributes(message)))
    assert created.message == message
    assert created.xml == build_message(message)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_message_to_json_to_message_is_lossless(message: Message) -> None:
    message = _without_labels(message)
    body = json.loads(json.dumps(_body(message_attributes(message))))
    assert _read(body).message == message


# --- what the service sets, and what it keeps ------------------------------------------------


def test_what_the_client_leaves_out_is_set_and_said() -> None:
    attributes = message_attributes(_without_labels(small_message()))
    for key in ("creationDateTime", "messageId", "conversationId"):
        del attributes[key]
    created = _read(_body(attributes))
    header = created.message.header
    assert created.defaulted == {"creationDateTime", "messageId", "conversationId"}
    assert (header.message_id, header.conversation_id) == (NEW_ID, NEW_ID)
    assert header.creation_date_time == NOW
    answer = _read(_body(attributes), conversation_id="0c0f7a7e-1d3a-4c4e-8b1e-6f8e2b9d4a22")
    assert answer.message.header.conversation_id == "0c0f7a7e-1d3a-4c4e-8b1e-6f8e2b9d4a22"


def test_what_the_client_gives_is_kept() -> None:
    attributes = message_attributes(full_message())
    attributes["creationDateTime"] = "2019-08-15T17:52:58.1Z"
    attributes["confidentiality"] = False
    created = _read(_body(attributes))
    header = created.message.header
    assert header.creation_date_time == dt.datetime(2019, 8, 15, 17, 52, 58, 100000, tzinfo=dt.UTC)
    assert header.confidentiality is False
    assert header.generating_system == full_message().header.generating_system
    assert header.sender.attention == full_message().header.sender.attention
    assert created.defaulted == frozenset()


def test_a_resource_id_is_kept_apart_from_the_message() -> None:
    body = _body(message_attributes(_without_labels(small_message())))
    body["data"]["id"] = "19c7e876-ef6f-4fb0-bccb-e93e3ab6e69f"
    assert _read(body).resource_id == "19c7e876-ef6f-4fb0-bccb-e93e3ab6e69f"


# --- every problem, at its JSON path ---------------------------------------------------------


def _tf_2_4_1_body() -> dict[str, Any]:
    """DIGG's TF2.4.1 as a createMessage body: min.xml's message with TF2.4.1's two faults."""
    [minimal] = [p for p in digg.message_testdata() if p.name == "min.xml"]
    attributes = message_attributes(parse_message(minimal.read_bytes()))
    attributes["creationDateTime"] = "3 Sept. 2019"
    attributes["conversationId"] = "232cd54e-5aab-4518-b35c-d81bb053a590Ö"
    return _body(attributes)


def test_tf_2_4_1_as_json_is_refused_naming_both_faults_at_their_json_paths() -> None:
    assert _problems(_tf_2_4_1_body()) == [
        ("SV", f"{A}.creationDateTime"),
        ("creationDateTime", f"{A}.creationDateTime"),
        ("conversationId", f"{A}.conversationId"),
    ]


def _changed(path: str, value: Any) -> dict[str, Any]:
    """full_message's body with one value changed (a value of `...` removes it)."""
    message = _without_labels(full_message())
    body = _body(message_attributes(message))
    keys = path.replace("]", "").replace("[", ".").split(".")
    target: Any = body
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last: Any = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (f"{A}.messageId", "inte-ett-uuid", [("MessageId", f"{A}.messageId")]),
        (f"{A}.messageId", 17, [("JSON_TYPE", f"{A}.messageId")]),
        (f"{A}.refToMessageId", "", [("verifyNonEmptyElements", f"{A}.refToMessageId"),
                                     ("refToMessageId", f"{A}.refToMessageId")]),
        (f"{A}.creationDateTime", "2024-09-02T08:15:30Z",
         [("creationDateTime", f"{A}.creationDateTime")]),
        (f"{A}.label", "x" * 257, [("subjectlabel", f"{A}.label")]),
        (f"{A}.label", ..., [("JSON_REQUIRED", f"{A}.label")]),
        (f"{A}.confidentiality", "true", [("JSON_TYPE", f"{A}.confidentiality")]),
        (f"{A}.confidentiality", ..., [("JSON_REQUIRED", f"{A}.confidentiality")]),
        (f"{A}.sender", ..., [("JSON_REQUIRED", f"{A}.sender")]),
        (f"{A}.recipient", "0203:Malmo_stad", [("SDK_ORGANISATION_ID", f"{A}.recipient")]),
        (f"{A}.recipientAttention", ..., [("JSON_REQUIRED", f"{A}.recipientAttention")]),
        (f"{A}.recipientAttention.subOrganization.root", "fel",
         [("subOrgRoot", f"{A}.recipientAttention.subOrganization.root")]),
        (f"{A}.senderAttention.subOrganization.extension", " ",
         [("verifyNonEmptyElements", f"{A}.senderAttention.subOrganization.extension")]),
        (f"{A}.senderAttention.subOrganization", ...,
         [("JSON_REQUIRED", f"{A}.senderAttention.subOrganization")]),
        (f"{A}.senderAttention.attentionPerson[1].root", ...,
         [("JSON_REQUIRED", f"{A}.senderAttention.attentionPerson[1].root")]),
        (f"{A}.recipientAttention.referenceId[0].label", "r" * 257,
         [("SV", f"{A}.recipientAttention.referenceId[0].label")]),
        (f"{A}.recipientAttention.referenceId[0]", "dnr",
         [("JSON_TYPE", f"{A}.recipientAttention.referenceId[0]")]),
        (f"{A}.generatingSystem.label", "B1.4.2:s exempel har den",
         [("JSON_UNKNOWN", f"{A}.generatingSystem.label")]),
        (f"{A}.messageStatus", "NEW", [("JSON_READ_ONLY", f"{A}.messageStatus")]),
        (f"{A}.digitalDocument", [], [("JSON_REQUIRED", f"{A}.digitalDocument")]),
        (f"{A}.digitalDocument", {}, [("JSON_TYPE", f"{A}.digitalDocument")]),
        (f"{DOC}.contentFiles[1].content", "A!!!",
         [("SDK_BASE64", f"{DOC}.contentFiles[1].content")]),
        (f"{DOC}.contentFiles[0].content", "=",
         [("contentFiles", f"{DOC}.contentFiles[0].content")]),
        (f"{DOC}.contentFiles[0].fileName", ...,
         [("JSON_REQUIRED", f"{DOC}.contentFiles[0].fileName")]),
        (f"{DOC}.contentFiles[0]", None, [("JSON_REQUIRED", f"{DOC}.contentFiles[0]")]),
        (f"{DOC}.contentTextBody[1]", "\u0007",
         [("SDK_CHARACTERS", f"{DOC}.contentTextBody[1]")]),
        (f"{A}.digitalDocument[1].contentTextBody", ...,
         [("SDK_DOCUMENT_EMPTY", f"{A}.digitalDocument[1]")]),
        (f"{A}.digitalDocument[1].documentId", ...,
         [("JSON_REQUIRED", f"{A}.digitalDocument[1].documentId")]),
        ("data.type", "message", [("JSON_TYPE", "data.type")]),
        ("data.id", "nej", [("JSON_TYPE", "data.id")]),
        ("data.attributes", [], [("JSON_TYPE", "data.attributes")]),
        ("data", ..., [("JSON_REQUIRED", "data")]),
    ],
)
def test_each_problem_is_named_once_at_its_json_path(
    path: str, value: Any, expected: list[tuple[str, str]]
) -> None:
    assert _problems(_changed(path, value)) == expected


def test_every_problem_of_a_body_is_named() -> None:
    body = _tf_2_4_1_body()
    attributes = body["data"]["attributes"]
    attributes["messageId"] = "x"
    attributes["sender"] = "habo.se"
    attributes["recipientAttention"]["subOrganization"]["root"] = "fel"
    attributes["events"] = []
    attributes["digitalDocument"][0]["contentFiles"] = [{"fileName": "a.pdf"}]
    codes = [code for code, _ in _problems(body)]
    assert codes == [
        "JSON_READ_ONLY", "JSON_REQUIRED", "JSON_REQUIRED", "SV", "creationDateTime",
        "MessageId", "conversationId", "subOrgRoot", "SDK_ORGANISATION_ID",
    ]


def test_a_body_with_thousands_of_problems_lists_fifty_and_counts_all() -> None:
    attributes = message_attributes(_without_labels(small_message()))
    attributes["digitalDocument"] = [{"documentId": " ", "contentTextBody": ["Hej"]}] * 2000
    with pytest.raises(MessageError) as refused:
        _read(_body(attributes))
    report = refused.value.report
    assert report.total == 2000 and len(report.issues) == MAX_PROBLEMS
    assert report.issues[0].path == f"{A}.digitalDocument[0].documentId"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([
    "", "data", "data.attributes", f"{A}.digitalDocument", f"{DOC}", f"{DOC}.contentFiles",
    f"{A}.recipientAttention", f"{A}.senderAttention.attentionPerson", f"{A}.generatingSystem",
]), json_values)
def test_any_json_anywhere_is_refused_or_read_never_crashes(path: str, value: Any) -> None:
    body = value if not path else _changed(path, value)
    try:
        created = _read(copy.deepcopy(body))
    except MessageError as refused:
        assert refused.report.total >= 1
        # Every problem at a JSON path (never an element path, never nowhere).
        assert all(i.path and not i.path.startswith("/") for i in refused.report.issues)
    else:
        assert check_message(created.xml).valid


# --- XML paths to JSON paths -----------------------------------------------------------------

H = "/messagePayload/message/messageHeader"


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("/messagePayload", "data"),
        ("/messagePayload/message", A),
        (f"{H}/messageId", f"{A}.messageId"),
        (f"{H}/recipient/recipientID/extension", f"{A}.recipient"),
        (f"{H}/sender/label", f"{A}.sender"),
        (f"{H}/generatingSystem/root", f"{A}.generatingSystem.root"),
        (f"{H}/recipient/attention", f"{A}.recipientAttention"),
        (f"{H}/sender/attention/subOrganization/organizationId/root",
         f"{A}.senderAttention.subOrganization.root"),
        (f"{H}/sender/attention/person[2]/personId/extension",
         f"{A}.senderAttention.attentionPerson[1].extension"),
        (f"{H}/sender/attention/person/label", f"{A}.senderAttention.attentionPerson[0].label"),
        (f"{H}/recipient/attention/reference[3]", f"{A}.recipientAttention.referenceId[2]"),
        ("/messagePayload/message/messageBody/documents[2]/ContentFiles/content",
         f"{A}.digitalDocument[1].contentFiles[0].content"),
        ("/messagePayload/message/messageBody/documents/ContentText[2]/characterSequence",
         f"{A}.digitalDocument[0].contentTextBody[1]"),
        ("/messagePayload/message/messageBody/documents/documentID",
         f"{A}.digitalDocument[0].documentId"),
    ],
)
def test_element_paths_become_json_paths(xml: str, expected: str) -> None:
    assert json_path(xml) == expected


def test_documents_can_be_listed_without_their_texts_or_files() -> None:
    message = full_message()
    assert "digitalDocument" not in message_attributes(message, documents=False)
    [first, second] = message_attributes(message, files=False)["digitalDocument"]
    assert "contentFiles" not in first and first["contentTextBody"]
    assert "contentTextBody" not in message_attributes(message, texts=False)["digitalDocument"][0]
    assert second == {"documentId": "kopia", "index": "2", "contentTextBody": ["Bara text"]}
    assert message_attributes(small_message())["creationDateTime"] == "2024-09-02T08:15:30.125Z"
    assert CREATED.microsecond == 125000
