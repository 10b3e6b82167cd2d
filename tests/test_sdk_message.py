"""The SDK message library: the model, the builder and the parser, the bounded report, the
hardened parsing of 30 MB messages, and the hälsoförfrågan and answer messages with their files.

Agreement with DIGG's own validators is in test_sdk_message_agreement.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import time
from pathlib import Path

import pytest

from forms.sdk.content import (
    Party,
    answer_content,
    answer_message,
    inquiry_content,
    inquiry_message,
    media_type,
)
from forms.sdk.message import (
    Attention,
    ContentFile,
    Document,
    Header,
    Identifier,
    Message,
    Person,
    SubOrganization,
    build_message,
    check_message,
    functional_address_id,
    parse_message,
    parse_timestamp,
    timestamp_text,
)
from forms.sdk.message_rules import MAX_MESSAGE_BYTES, RULES, SCHEMATRON_CODES, MessageError
from forms.sdk.receipt import DetailCode, ReasonCode
from forms.sdk.validation import MAX_PROBLEMS
from tests.support import digg
from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE, halsoforfragan
from tests.support.sdk_messages import CREATED, PDF, full_message, small_message

HEADER = "/messagePayload/message/messageHeader"
BODY = "/messagePayload/message/messageBody"
MALMO_EBB = Party(MALMO, EBB_OSTER, "Malmö stad", "EBB Öster")
SKANE_VC = Party(SKANE, KRYDDGARDEN_ADDRESS, "Region Skåne", "Vårdcentralen Kryddgården")
INQUIRY_ID = "2f6b1c1e-0d4b-4a57-9b3c-7e6f1a2b3c4d"
ANSWER_ID = "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def _refused(message: Message) -> list[tuple[str, str]]:
    with pytest.raises(MessageError) as refused:
        build_message(message)
    return [(i.code, i.path) for i in refused.value.report.issues]


# --- the model, the builder, the parser -----------------------------------------------------


def test_a_full_message_is_written_as_sdk_writes_it_and_read_back_unchanged() -> None:
    message = full_message()
    data = build_message(message)
    assert data == build_message(full_message())  # deterministic
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<tns:messagePayload")
    assert b"<tns:creationDateTime>2024-09-02T08:15:30.125Z</tns:creationDateTime>" in data
    assert b"<tns:recipientID>" in data and b"<tns:ContentFiles>" in data
    assert parse_message(data) == message


def test_creation_time_is_kept_in_utc_to_the_millisecond() -> None:
    stockholm = dt.timezone(dt.timedelta(hours=2))
    header = small_message(
        creation_date_time=dt.datetime(2024, 9, 2, 10, 15, 30, 125999, tzinfo=stockholm)
    ).header
    assert header.creation_date_time == dt.datetime(2024, 9, 2, 8, 15, 30, 125000, tzinfo=dt.UTC)
    assert timestamp_text(header.creation_date_time) == "2024-09-02T08:15:30.125Z"
    with pytest.raises(ValueError, match="time zone"):
        small_message(creation_date_time=dt.datetime(2024, 9, 2, 8, 15))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2019-08-15T17:52:58.1Z", dt.datetime(2019, 8, 15, 17, 52, 58, 100000, tzinfo=dt.UTC)),
        ("2022-10-13T18:10:39.843Z", dt.datetime(2022, 10, 13, 18, 10, 39, 843000, tzinfo=dt.UTC)),
        ("2022-12-31T24:00:00.00Z", dt.datetime(2023, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_sdk_timestamps_are_read_as_the_instant_they_name(text: str, moment: dt.datetime) -> None:
    assert parse_timestamp(text) == moment
    data = build_message(small_message()).replace(b"2024-09-02T08:15:30.125Z", text.encode())
    assert parse_message(data).header.creation_date_time == moment


def test_the_builder_refuses_a_message_naming_every_rule_it_breaks() -> None:
    message = small_message(
        message_id="inte-ett-uuid",
        conversation_id="",
        ref_to_message_id="x",
        label="r" * 257,
    )
    message = dataclasses.replace(message, documents=(Document("tom"),))
    assert _refused(message) == [
        ("MessageId", f"{HEADER}/messageId"),
        ("verifyNonEmptyElements", f"{HEADER}/conversationId"),
        ("conversationId", f"{HEADER}/conversationId"),
        ("refToMessageId", f"{HEADER}/refToMessageId"),
        ("subjectlabel", f"{HEADER}/label"),
        ("SDK_DOCUMENT_EMPTY", f"{BODY}/documents"),
    ]


def test_text_that_xml_cannot_carry_is_refused_with_its_place() -> None:
    message = small_message(label="Rubrik\x01med styrtecken")
    assert _refused(message) == [("SDK_CHARACTERS", f"{HEADER}/label")]


def test_an_empty_file_cannot_travel_in_a_message() -> None:
    file = ContentFile("tom.txt", "text/plain", b"")
    message = _files(small_message(), file)
    content = f"{BODY}/documents/ContentFiles/content"
    assert _refused(message) == [("verifyNonEmptyElements", content), ("contentFiles", content)]


def test_a_report_lists_the_first_fifty_problems_and_counts_them_all() -> None:
    persons = tuple(Person(None, " ") for _ in range(60))
    attention = Attention(SubOrganization(functional_address_id(EBB_OSTER)), persons)
    header = dataclasses.replace(small_message().header, sender=dataclasses.replace(
        small_message().header.sender, attention=attention))
    with pytest.raises(MessageError) as refused:
        build_message(Message(header, small_message().documents))
    report = refused.value.report
    assert report.total == 120  # each blank person and its blank label
    assert len(report.issues) == MAX_PROBLEMS and report.truncated and not report.valid


def test_a_refusal_survives_pickling_with_its_report() -> None:
    with pytest.raises(MessageError) as refused:
        build_message(small_message(message_id="x"))
    copy = pickle.loads(pickle.dumps(refused.value))
    assert copy.report == refused.value.report and copy.codes == ("MessageId",)


def test_every_rule_has_a_receipt_reason_and_the_schematron_its_eleven_patterns() -> None:
    assert SCHEMATRON_CODES == (
        "verifyNonEmptyElements", "conversationIdMustExist", "recipientIdvalue", "senderIdvalue",
        "creationDateTime", "MessageId", "conversationId", "refToMessageId", "subjectlabel",
        "contentFiles", "subOrgRoot",
    )
    assert {r.reason for r in RULES.values()} == {ReasonCode.SV, ReasonCode.BV}
    assert RULES["SDK_SIZE"].detail_code is DetailCode.TOO_LONG
    assert RULES["SDK_FILE_TYPE"].detail_code is DetailCode.NOT_SUPPORTED
    assert all(RULES[c].reason is ReasonCode.BV
               and RULES[c].detail_code in (DetailCode.INVARIANT, DetailCode.STRUCTURE)
               for c in SCHEMATRON_CODES)


def test_elements_of_other_namespaces_are_accepted_and_left_out_of_the_model() -> None:
    data = build_message(small_message()).replace(
        b"</tns:messageHeader>",
        b'<x:note xmlns:x="urn:example:extension">kept in the bytes</x:note></tns:messageHeader>',
    )
    assert check_message(data).valid
    assert parse_message(data) == small_message()


def test_the_envelope_must_name_the_message_and_its_parties() -> None:
    message = full_message()
    same = {
        "xhe_id": message.message_id.upper(),
        "from_party": message.sender_organisation,
        "to_party": message.recipient_organisation,
        "handling_service_id": message.recipient_address,
    }
    assert message.envelope_issues(**same) == []
    wrong = {key: "0203:annan.se" for key in same}
    assert [(i.code, i.path) for i in message.envelope_issues(**wrong)] == [
        ("SDK_XHE_ID", f"{HEADER}/messageId"),
        ("SDK_XHE_SENDER", f"{HEADER}/sender/senderID/extension"),
        ("SDK_XHE_RECIPIENT", f"{HEADER}/recipient/recipientID/extension"),
        ("SDK_XHE_HANDLING_SERVICE",
         f"{HEADER}/recipient/attention/subOrganization/organizationId/extension"),
    ]


# --- size, and parsing that is safe at 30 MB ------------------------------------------------


def _with_file(size: int) -> Message:
    file = ContentFile("stor.pdf", "application/pdf", b"%PDF-" + b"\x00" * (size - 5))
    return dataclasses.replace(small_message(), documents=(Document("1", content_files=(file,)),))


def test_a_message_just_under_30_mb_is_built_and_read() -> None:
    message = _with_file(22 * 1024 * 1024)
    data = build_message(message)
    assert 29 * 1024 * 1024 < len(data) <= MAX_MESSAGE_BYTES
    started = time.monotonic()
    assert parse_message(data) == message
    assert time.monotonic() - started < 30  # a bound against pathological slowness, not a benchmark


def test_a_message_over_30_mb_is_refused_before_it_is_parsed() -> None:
    assert _refused(_with_file(23 * 1024 * 1024)) == [("SDK_SIZE", "/messagePayload")]
    report = check_message(b"<" * (MAX_MESSAGE_BYTES + 1))
    assert report.codes == ("SDK_SIZE",)
    assert report.receipt_reasons()[0].detail == DetailCode.TOO_LONG


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e "x">]><m>&e;</m>', "XML_DTD"),
        (b"<m><unclosed></m>", "XML_SYNTAX"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><m/>', "XML_ENCODING"),
        (b"<m><?pi x?></m>", "XML_PI"),
        (b"  ", "XML_EMPTY"),
        (b"<a>" * 40 + b"</a>" * 40, "XML_TOO_DEEP"),
    ],
)
def test_unsafe_or_broken_xml_is_refused_with_a_code(data: bytes, code: str) -> None:
    report = check_message(data)
    assert report.codes == (code,)
    assert report.receipt_reasons()[0].code is ReasonCode.SV


def test_a_flood_of_tiny_elements_is_stopped_while_parsing() -> None:
    data = b"<m>" + b"<a/>" * (7 * 1024 * 1024) + b"</m>"  # 28 MiB, seven million elements
    started = time.monotonic()
    report = check_message(data)
    assert report.codes == ("XML_TOO_MANY_ELEMENTS",)
    # Stopped within the first chunks instead of building seven million elements.
    assert time.monotonic() - started < 5


# --- the hälsoförfrågan and the answer ------------------------------------------------------


def _inquiry(consent: bytes | None = PDF) -> Message:
    return inquiry_message(
        halsoforfragan(), sender=MALMO_EBB, recipient=SKANE_VC, message_id=INQUIRY_ID,
        created=CREATED, consent_pdf=consent,
    )


def _answer(**changes: object) -> Message:
    values: dict[str, object] = {
        "sender": SKANE_VC, "recipient": MALMO_EBB, "message_id": ANSWER_ID,
        "ref_to_message_id": INQUIRY_ID, "conversation_id": INQUIRY_ID, "created": CREATED,
    }
    values.update(changes)
    return answer_message(PDF, **values)  # type: ignore[arg-type]


def test_a_halsoforfragan_travels_with_its_consent_form_and_comes_back_out() -> None:
    form = halsoforfragan()
    message = inquiry_message(
        form, sender=MALMO_EBB, recipient=SKANE_VC, message_id=INQUIRY_ID, created=CREATED,
        consent_pdf=PDF, text="Hälsoförfrågan från EBB Öster",
    )
    read = parse_message(build_message(message))
    assert read == message
    content = inquiry_content(read)
    assert content.form.content == form and content.form.content_type == "application/xml"
    assert content.consent is not None and content.consent.content == PDF
    header = read.header
    assert (header.message_id, header.conversation_id, header.ref_to_message_id) == (
        INQUIRY_ID, INQUIRY_ID, None)
    assert (read.sender_organisation, read.sender_address) == (MALMO, EBB_OSTER)
    assert (read.recipient_organisation, read.recipient_address) == (SKANE, KRYDDGARDEN_ADDRESS)
    assert header.confidentiality is True
    assert inquiry_content(_inquiry(consent=None)).consent is None


def test_an_answer_refers_to_the_inquiry_and_carries_the_signed_pdf() -> None:
    structured = b"<halsoforfraganSvar/>"
    read = parse_message(build_message(_answer(structured_xml=structured)))
    assert read.header.ref_to_message_id == INQUIRY_ID
    assert read.header.conversation_id == INQUIRY_ID
    content = answer_content(read)
    assert content.pdf.content == PDF
    assert content.structured is not None and content.structured.content == structured


def test_what_the_gateway_builds_digg_accepts(tmp_path: Path) -> None:
    built = {
        "inquiry": build_message(_inquiry()),
        "inquiry without consent": build_message(_inquiry(consent=None)),
        "answer": build_message(_answer(structured_xml=b"<svar/>")),
        "full": build_message(full_message()),
    }
    paths = {}
    for name, data in built.items():
        paths[tmp_path / f"{name}.xml"] = name
        (tmp_path / f"{name}.xml").write_bytes(data)
    lint = digg.lint_messages(paths)
    failures = digg.message_schematron().failures_of(paths)
    assert all(r.valid for r in lint.values()), [r.output for r in lint.values()]
    assert not any(failures.values())


def _files(message: Message, *files: ContentFile) -> Message:
    return dataclasses.replace(message, documents=(Document("1", content_files=files),))


XML = ContentFile("f.xml", "text/xml; charset=utf-8", b"<x/>")
CONSENT = ContentFile("s.pdf", "application/pdf", PDF)
PNG = ContentFile("bild.png", "image/png", b"\x89PNG")
FILES = f"{BODY}/documents/ContentFiles"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ((CONSENT,), [("SDK_FORM_FILE", BODY)]),
        ((XML, XML), [("SDK_FORM_FILE", f"{FILES}[2]")]),
        ((XML, CONSENT, CONSENT), [("SDK_CONSENT_FILE", f"{FILES}[3]")]),
        ((XML, PNG), [("SDK_FILE_TYPE", f"{FILES}[2]/contentType")]),
        ((PNG,), [("SDK_FILE_TYPE", f"{FILES}/contentType"), ("SDK_FORM_FILE", BODY)]),
    ],
)
def test_an_inquiry_message_must_carry_one_form_and_at_most_one_consent(
    files: tuple[ContentFile, ...], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(MessageError) as refused:
        inquiry_content(_files(_inquiry(), *files))
    assert [(i.code, i.path) for i in refused.value.report.issues] == expected


def test_an_answer_message_must_refer_and_carry_one_pdf() -> None:
    no_ref = dataclasses.replace(
        _answer(), header=dataclasses.replace(_answer().header, ref_to_message_id=None)
    )
    with pytest.raises(MessageError) as refused:
        answer_content(_files(no_ref, XML))
    assert refused.value.codes == ("SDK_REF_MISSING", "SDK_ANSWER_FILE")
    assert RULES["SDK_FILE_TYPE"].reason is ReasonCode.BV


def test_files_spread_over_documents_are_all_read() -> None:
    message = dataclasses.replace(_inquiry(consent=None), documents=(
        Document("text", content_texts=("Se bilagorna",)),
        Document("form", content_files=(XML,)),
        Document("consent", content_files=(CONSENT,)),
    ))
    content = inquiry_content(parse_message(build_message(message)))
    assert (content.form, content.consent) == (XML, CONSENT)


def test_media_types_are_compared_without_parameters_or_case() -> None:
    assert media_type(" Text/XML ; charset=UTF-8") == "text/xml"


def test_header_identifiers_keep_their_roots() -> None:
    header = full_message().header
    assert header.generating_system == Identifier("urn:kryddgarden:gateway", "test")
    assert isinstance(header, Header)


def test_thousands_of_faults_cost_no_more_than_listing_fifty() -> None:
    """Thousands of empty persons and overlong labels: every one counted, fifty listed, and
    no walk of the tree per fault (paths are found only for the listed ones)."""
    empty = b"<tns:person><tns:label/></tns:person>" * 3000
    long = (b"<tns:person><tns:label>" + b"x" * 257 + b"</tns:label></tns:person>") * 3000
    data = build_message(small_message()).replace(
        b"<tns:subOrganization>", empty + long + b"<tns:subOrganization>", 1
    )
    started = time.monotonic()
    report = check_message(data)
    elapsed = time.monotonic() - started
    # Each empty person and its label (schematron); each long label (XSD).
    assert report.total == 3000 * 2 + 3000
    assert len(report.issues) == MAX_PROBLEMS
    assert report.issues[0].path == f"{HEADER}/recipient/attention/person[1]"
    assert report.issues[1].path == f"{HEADER}/recipient/attention/person[1]/label"
    assert elapsed < 10  # a bound against quadratic work, not a benchmark
