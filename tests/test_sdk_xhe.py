"""The XHE envelope (C3.2.2): what the builder writes, that it reads back, and that DIGG's XSD
and schematron accept an envelope built around an unencrypted payload."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from lxml import etree

from forms.errors import FormError
from forms.sdk.xhe import (
    CUSTOMIZATION_ID,
    FEDERATION_TEST,
    MESSAGE_DOCUMENT_ID,
    MESSAGE_DOCUMENT_TYPE,
    XheHeader,
    build_xhe,
    message_header,
    parse_xhe,
    read_routing,
    validate_xhe,
)
from tests.support.digg import MESSAGE_EXAMPLE, digg_xhe, needs_xmllint, sdk_path

NS = {
    "x": "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope",
    "xha": "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents",
    "xhb": "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents",
}
MALMO, SKANE = "0203:malmo.se", "0203:skane.se"
ADDRESS = "sdk:vc-kryddgarden:0203:skane.se"
PAYLOAD = b"""<m:messagePayload xmlns:m="urn:riv:infrastructure:messaging:MessageWithAttachments:3">
  <m:text xml:space="preserve">  two   spaces  </m:text>
</m:messagePayload>"""


def _payload() -> etree._Element:
    return etree.fromstring(PAYLOAD)


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def _value(root: etree._Element, path: str) -> str:
    found = root.xpath(f"string({path})", namespaces=NS)
    assert isinstance(found, str)
    return found


def test_a_message_envelope_says_what_the_profile_asks() -> None:
    created = dt.datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    header = message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS,
                            created=created)
    root = build_xhe(header, _payload())

    assert _value(root, "/x:XHE/xhb:XHEVersionID") == "1.0"
    assert _value(root, "/x:XHE/xhb:CustomizationID") == CUSTOMIZATION_ID
    assert uuid.UUID(_value(root, "/x:XHE/xha:Header/xhb:ID")).version == 4
    assert _value(root, "//xhb:CreationDateTime") == "2026-03-01T08:30:05.123Z"
    criteria = {
        _value(c, "xhb:BusinessScopeCriterionTypeCode"):
            _value(c, "xhb:BusinessScopeCriterionValue")
        for c in root.iterfind(".//xha:BusinessScopeCriterion", NS)
    }
    assert criteria == {
        "DOCUMENTID": MESSAGE_DOCUMENT_ID,
        "DOCUMENTID_SCHEME": "busdox-docid-qns",
        "PROCESSID": "bdx:noprocess",
        "PROCESSID_SCHEME": "urn:fdc:digg.se:edelivery:process",
        "FEDERATIONID": "urn:fdc:digg.se:edelivery:federation:sdk",
    }
    assert MESSAGE_DOCUMENT_ID.endswith("MessageWithAttachments:3::messagePayload##3.0"
                                        "::tm-base-ext-sigenc")
    for role, party in (("FromParty", MALMO), ("ToParty", SKANE)):
        party_id = root.find(f".//xha:{role}/xha:PartyIdentification/xhb:ID", NS)
        assert party_id is not None and party_id.text == party
        assert party_id.get("schemeID") == "iso6523-actorid-upis"
    # The profile text, not DIGG's example (MessageWithAttachments:2}Message).
    assert _value(root, "//xhb:DocumentTypeCode") == MESSAGE_DOCUMENT_TYPE == (
        "Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload"
    )
    assert _value(root, "//xhb:ContentTypeCode") == "application/xml"
    assert _value(root, "//xhb:HandlingServiceID") == ADDRESS
    assert _value(root, "//xhb:InstanceEncryptionIndicator") == "true"
    # The payload is the one element of PayloadContent: what encryption will replace.
    content = root.find(".//xha:PayloadContent", NS)
    assert content is not None and [child.tag for child in content] == [_payload().tag]


def test_an_envelope_reads_back_as_built_payload_untouched() -> None:
    header = XheHeader(sender=MALMO, recipient=SKANE, document_id="urn:doc",
                       document_type="Q{urn:x}y", encrypted=False, federation_id=FEDERATION_TEST)
    data = etree.tostring(build_xhe(header, _payload()), encoding="UTF-8")

    read = parse_xhe(data)

    assert read.header == header
    assert _c14n(read.payload) == _c14n(_payload())


@needs_xmllint
def test_digg_accepts_an_unencrypted_envelope_around_its_example_message() -> None:
    message = etree.parse(str(sdk_path(MESSAGE_EXAMPLE))).getroot()
    header = XheHeader(sender=MALMO, recipient=SKANE, document_id=MESSAGE_DOCUMENT_ID,
                       document_type=MESSAGE_DOCUMENT_TYPE, encrypted=False,
                       handling_service_id=ADDRESS)
    root = build_xhe(header, message)

    assert validate_xhe(root).valid
    assert digg_xhe(etree.tostring(root, xml_declaration=True, encoding="UTF-8")).valid


def test_an_encrypted_header_around_plain_text_is_not_finished() -> None:
    root = build_xhe(message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS),
                     _payload())
    assert validate_xhe(root).rules == ("R12-XHE",)  # signing encrypts it in place


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", "not-a-uuid", "UUID"),
        ("created", dt.datetime(2026, 1, 1), "time zone"),
        ("sender", " ", "non-empty"),
        ("handling_service_id", " sdk:x ", "extra whitespace"),
    ],
)
def test_a_header_the_profile_refuses_is_not_made(field: str, value: object, message: str) -> None:
    values: dict[str, object] = {"sender": MALMO, "recipient": SKANE, "document_id": "d",
                                 "document_type": "t", "encrypted": False, field: value}
    with pytest.raises(ValueError, match=message):
        XheHeader(**values)  # type: ignore[arg-type]


def test_routing_is_read_from_an_envelope_that_is_otherwise_broken() -> None:
    root = build_xhe(message_header(sender=MALMO, recipient=SKANE, functional_address=ADDRESS),
                     _payload())
    payloads = root.find("xha:Payloads", NS)
    assert payloads is not None
    root.remove(payloads)

    routing = read_routing(root)

    assert (routing.sender, routing.recipient) == (MALMO, SKANE)
    assert routing.envelope_id and uuid.UUID(routing.envelope_id)
    assert read_routing(etree.fromstring(b"<other/>")).sender is None
    with pytest.raises(FormError) as caught:
        parse_xhe(root)
    assert "R14-XHE" in caught.value.codes


def test_non_xml_payloads_are_refused_when_read() -> None:
    root = etree.parse(str(sdk_path("xhe/examples/XHE-NonXML-tm-base.xml"))).getroot()
    assert validate_xhe(root).valid  # DIGG's profile allows them ...
    with pytest.raises(FormError, match="inte XML"):
        parse_xhe(root)  # ... the gateway carries XML only
