"""The Meddelandekvittens (C3.2.4): codes defined once, what is built, that it reads back, and
that DIGG's reduced UBL XSD and schematron accept every kind we build."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from forms.errors import FormError
from forms.sdk.receipt import (
    DETAIL_MEANINGS,
    NOT_APPLICABLE,
    REASON_MEANINGS,
    RECEIPT_DOCUMENT_TYPE,
    DetailCode,
    Reason,
    ReasonCode,
    Receipt,
    ResponseCode,
    build_receipt,
    build_receipt_envelope,
    parse_receipt,
    reason_for,
    validate_receipt,
)
from forms.sdk.validation import SCHEMA, Problem
from forms.sdk.xhe import parse_xhe, validate_xhe
from tests.support.digg import digg_receipt, digg_xhe, needs_xmllint

MALMO, SKANE = "0203:malmo.se", "0203:skane.se"
XHE_ID = "7bc5576a-3f87-4cf5-a0c5-277da06fcacb"
ISSUED = dt.datetime(2026, 4, 15, 12, 0, 1, tzinfo=dt.UTC)
NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}

RECEIPTS = {
    "accepted": Receipt.accept(sender=SKANE, receiver=MALMO, reference=XHE_ID),
    "signature": Receipt.reject(sender=SKANE, receiver=MALMO, reference=XHE_ID, reasons=[
        Reason(ReasonCode.SIG, "Avsändarens signatur kunde inte verifieras.",
               DetailCode.SECURITY),
    ]),
    "unknown-address": Receipt.reject(sender=SKANE, receiver=MALMO, reference=XHE_ID, reasons=[
        Reason(ReasonCode.BV, "Okänd funktionsadress sdk:x:0203:skane.se", DetailCode.NOT_FOUND,
               "/messagePayload/message/messageHeader/recipient"),
    ]),
    "several": Receipt.reject(sender=SKANE, receiver=MALMO, reference=XHE_ID, reasons=[
        Reason(ReasonCode.SV, "Element 'x' is not expected.", DetailCode.STRUCTURE),
        Reason(ReasonCode.BV, "Meddelandet är för stort.", DetailCode.TOO_LONG),
        Reason(ReasonCode.BV, "messageId finns redan.", DetailCode.DUPLICATE),
        Reason(ReasonCode.BV, "Regel utan detaljkod."),
    ]),
}


def test_every_code_is_defined_once_with_its_meaning() -> None:
    assert [code.value for code in ResponseCode] == ["ACCEPTED", "REJECTED"]
    assert [code.value for code in ReasonCode] == ["SV", "BV", "SIG"]
    assert set(REASON_MEANINGS) == set(ReasonCode)
    assert set(DETAIL_MEANINGS) == set(DetailCode)
    assert {"not-found", "too-long", "duplicate", "security", "structure", "invariant"} <= {
        code.value for code in DetailCode
    }


@pytest.mark.parametrize("name", RECEIPTS)
def test_a_receipt_reads_back_as_built(name: str) -> None:
    receipt = RECEIPTS[name]
    data = etree.tostring(build_receipt(receipt), xml_declaration=True, encoding="UTF-8")
    assert parse_receipt(data) == receipt


def test_the_receipt_refers_to_the_xhe_and_keeps_every_reason_in_order() -> None:
    receipt = Receipt(SKANE, MALMO, XHE_ID, ResponseCode.REJECTED, RECEIPTS["several"].reasons,
                      issued=ISSUED)
    root = build_receipt(receipt)
    assert root.findtext("cac:DocumentResponse/cac:DocumentReference/cbc:ID", namespaces=NS) == (
        XHE_ID
    )
    assert root.findtext("cbc:ProfileID", namespaces=NS) == "bdx:noprocess"
    assert (root.findtext("cbc:IssueDate", namespaces=NS),
            root.findtext("cbc:IssueTime", namespaces=NS)) == ("2026-04-15", "12:00:01Z")
    lines = root.findall("cac:DocumentResponse/cac:LineResponse", NS)
    assert [line.findtext("cac:Response/cbc:ResponseCode", namespaces=NS) for line in lines] == [
        "SV", "BV", "BV", "BV"
    ]
    assert [line.findtext("cac:Response/cac:Status/cbc:StatusReasonCode", namespaces=NS)
            for line in lines] == ["structure", "too-long", "duplicate", None]
    assert lines[0].findtext("cac:LineReference/cbc:LineID", namespaces=NS) == NOT_APPLICABLE


@needs_xmllint
@pytest.mark.parametrize("name", RECEIPTS)
def test_digg_accepts_every_receipt_we_build_and_its_envelope(name: str) -> None:
    receipt = RECEIPTS[name]
    root = build_receipt(receipt)
    assert validate_receipt(root).valid
    assert digg_receipt(etree.tostring(root, xml_declaration=True, encoding="UTF-8")).valid

    envelope = build_receipt_envelope(receipt)
    assert validate_xhe(envelope).valid
    assert digg_xhe(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")).valid
    read = parse_xhe(envelope)
    assert (read.header.sender, read.header.recipient) == (SKANE, MALMO)
    assert read.header.document_type == RECEIPT_DOCUMENT_TYPE and not read.header.encrypted
    assert read.header.document_id.endswith("::2.1::tm-base-ext-sigenc")
    assert parse_receipt(read.payload) == receipt


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Receipt(SKANE, MALMO, XHE_ID, ResponseCode.ACCEPTED,
                         RECEIPTS["signature"].reasons), "ACCEPTED"),
        (lambda: Receipt(SKANE, MALMO, XHE_ID, ResponseCode.REJECTED), "REJECTED"),
        (lambda: Receipt(SKANE, MALMO, " ", ResponseCode.ACCEPTED), "reference"),
        (lambda: Receipt(SKANE, MALMO, XHE_ID, ResponseCode.ACCEPTED,
                         issued=dt.datetime(2026, 1, 1)), "time zone"),
        (lambda: Reason(ReasonCode.BV, "  "), "text"),
        (lambda: Reason(ReasonCode.BV, "x", line=""), "line"),
    ],
)
def test_a_receipt_the_specification_refuses_is_not_made(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_problems_become_receipt_lines_with_digg_codes() -> None:
    schema = reason_for(Problem(SCHEMA, "fel ordning", "/XHE/Header", 3))
    rule = reason_for(Problem("R3-XHE", "CustomizationID ska vara ...", "/XHE/CustomizationID"))
    assert (schema.code, schema.detail, schema.line) == (ReasonCode.SV, "structure", "/XHE/Header")
    assert (rule.code, rule.detail) == (ReasonCode.BV, "invariant")
    assert rule.text.startswith("R3-XHE: ")


def test_a_broken_receipt_is_refused_with_every_rule() -> None:
    root = build_receipt(RECEIPTS["signature"])
    code = root.find("cac:DocumentResponse/cac:Response/cbc:ResponseCode", NS)
    assert code is not None
    code.text = "ACCEPTED"
    profile = root.find("cbc:ProfileID", NS)
    assert profile is not None
    profile.text = "urn:other"
    with pytest.raises(FormError) as caught:
        parse_receipt(root)
    assert caught.value.codes == ("R4-APP", "R7-APP")
