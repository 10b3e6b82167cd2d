"""The XHE envelope of DIGG's profile (C3.2.2): build it around a payload, check it, read it back.

The payload goes into `xha:PayloadContent` as its only element, so that XML Encryption can
replace that element by `xenc:EncryptedData` (signing does that; forms never imports it).
The checks mirror DIGG's XHE XSD and schematron (R1-XHE ... R14-XHE), and follow the
profile text where DIGG's published rules miss what it says (see `validate_xhe`).
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from lxml import etree

from forms.sdk.validation import (
    Content,
    Findings,
    Node,
    Profile,
    Text,
    ValidationReport,
    check_empty,
    check_structure,
    children_named,
    normalize_space,
    unreadable,
)
from forms.xmlsafe import DEFAULT_LIMITS, Limits, element_path, parse_xml

NS_X = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope"
NS_XHA = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents"
NS_XHB = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NSMAP = {"x": NS_X, "xha": NS_XHA, "xhb": NS_XHB}

XHE_VERSION = "1.0"
CUSTOMIZATION_ID = "urn:fdc:digg.se:edelivery:xhe:1"
PARTY_SCHEME = "iso6523-actorid-upis"
# Code lists (C3.2.7): the document identifier scheme, the one process, the federations.
DOCUMENT_ID_SCHEME = "busdox-docid-qns"
PROCESS_ID = "bdx:noprocess"
PROCESS_ID_SCHEME = "urn:fdc:digg.se:edelivery:process"
FEDERATION_SDK = "urn:fdc:digg.se:edelivery:federation:sdk"
FEDERATION_TEST = "urn:fdc:digg.se:edelivery:federation:test"
# Transportmodell Utökad Bas: signed by the sender, payload encrypted to the recipient.
TRANSPORT_SIGENC = "tm-base-ext-sigenc"
CONTENT_TYPE_XML = "application/xml"

MESSAGE_NS = "urn:riv:infrastructure:messaging:MessageWithAttachments:3"
MESSAGE_DOCUMENT_ID = f"{MESSAGE_NS}::messagePayload##3.0::{TRANSPORT_SIGENC}"
# C3.2.2: the payload root as an EQName. DIGG's example says `MessageWithAttachments:2}Message`;
# the profile text and the SDK message 3.0 say this.
MESSAGE_DOCUMENT_TYPE = f"Q{{{MESSAGE_NS}}}messagePayload"

_X, _XHA, _XHB = f"{{{NS_X}}}", f"{{{NS_XHA}}}", f"{{{NS_XHB}}}"
ENCRYPTED_DATA = f"{{{NS_XENC}}}EncryptedData"
SIGNATURE = f"{{{NS_DS}}}Signature"


class Criterion(enum.StrEnum):
    """The five BusinessScopeCriterion type codes, each given exactly once (R4-R8)."""

    DOCUMENTID = "DOCUMENTID"
    DOCUMENTID_SCHEME = "DOCUMENTID_SCHEME"
    PROCESSID = "PROCESSID"
    PROCESSID_SCHEME = "PROCESSID_SCHEME"
    FEDERATIONID = "FEDERATIONID"


_CRITERION_RULES = {
    Criterion.DOCUMENTID: "R4-XHE",
    Criterion.DOCUMENTID_SCHEME: "R5-XHE",
    Criterion.PROCESSID: "R6-XHE",
    Criterion.PROCESSID_SCHEME: "R7-XHE",
    Criterion.FEDERATIONID: "R8-XHE",
}


def new_envelope_id() -> str:
    """Return a new XHE Header/ID: a random UUID, as the profile requires."""
    return str(uuid.uuid4())


def utc_now() -> dt.datetime:
    """Return the time now in UTC to the millisecond, as an envelope states it."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class XheHeader:
    """What the envelope says about its payload: who to whom, what, and whether encrypted.

    `sender` and `recipient` are organisation ids (0203:malmo.se); `handling_service_id` is
    the recipient's functional address. Raises ValueError for values the profile refuses.
    """

    sender: str
    recipient: str
    document_id: str
    document_type: str
    encrypted: bool
    handling_service_id: str | None = None
    federation_id: str = FEDERATION_SDK
    id: str = field(default_factory=new_envelope_id)
    created: dt.datetime = field(default_factory=utc_now)
    document_id_scheme: str = DOCUMENT_ID_SCHEME
    process_id: str = PROCESS_ID
    process_id_scheme: str = PROCESS_ID_SCHEME
    content_type: str = CONTENT_TYPE_XML

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.id)
        except ValueError:
            raise ValueError(f"the XHE ID must be a UUID: {self.id!r}") from None
        if self.created.tzinfo is None:
            raise ValueError("the XHE creation time must carry a time zone")
        for name in ("sender", "recipient", "document_id", "document_type", "federation_id",
                     "document_id_scheme", "process_id", "process_id_scheme", "content_type",
                     "handling_service_id"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or value != normalize_space(value)):
                raise ValueError(f"{name} must be non-empty without extra whitespace: {value!r}")

    @property
    def criteria(self) -> dict[Criterion, str]:
        return {
            Criterion.DOCUMENTID: self.document_id,
            Criterion.DOCUMENTID_SCHEME: self.document_id_scheme,
            Criterion.PROCESSID: self.process_id,
            Criterion.PROCESSID_SCHEME: self.process_id_scheme,
            Criterion.FEDERATIONID: self.federation_id,
        }


def message_header(
    *,
    sender: str,
    recipient: str,
    functional_address: str,
    federation_id: str = FEDERATION_SDK,
    envelope_id: str | None = None,
    created: dt.datetime | None = None,
) -> XheHeader:
    """Return the header of an SDK message (messagePayload 3.0) to be encrypted and signed."""
    return XheHeader(
        sender=sender,
        recipient=recipient,
        document_id=MESSAGE_DOCUMENT_ID,
        document_type=MESSAGE_DOCUMENT_TYPE,
        encrypted=True,
        handling_service_id=functional_address,
        federation_id=federation_id,
        id=envelope_id or new_envelope_id(),
        created=created or utc_now(),
    )


@dataclass(frozen=True)
class Xhe:
    """A checked envelope: its header and the payload element (EncryptedData when encrypted)."""

    header: XheHeader
    payload: etree._Element


@dataclass(frozen=True)
class Routing:
    """What a receiver reads before anything is checked: whose key verifies the envelope."""

    envelope_id: str | None
    sender: str | None
    recipient: str | None


def build_xhe(header: XheHeader, payload: etree._Element) -> etree._Element:
    """Return a new XHE element around a copy of payload (the payload's root element).

    With `header.encrypted` the indicator says true already: the envelope is not finished
    until signing has encrypted the payload element in place and signed the whole.
    """
    root = etree.Element(f"{_X}XHE", nsmap=NSMAP)
    add_text(root, f"{_XHB}XHEVersionID", XHE_VERSION)
    add_text(root, f"{_XHB}CustomizationID", CUSTOMIZATION_ID)
    head = etree.SubElement(root, f"{_XHA}Header")
    add_text(head, f"{_XHB}ID", header.id)
    add_text(head, f"{_XHB}CreationDateTime", format_datetime(header.created))
    scope = etree.SubElement(head, f"{_XHA}BusinessScope")
    for code, value in header.criteria.items():
        criterion = etree.SubElement(scope, f"{_XHA}BusinessScopeCriterion")
        add_text(criterion, f"{_XHB}BusinessScopeCriterionTypeCode", code.value)
        add_text(criterion, f"{_XHB}BusinessScopeCriterionValue", value)
    for role, party in (("FromParty", header.sender), ("ToParty", header.recipient)):
        identification = etree.SubElement(
            etree.SubElement(head, f"{_XHA}{role}"), f"{_XHA}PartyIdentification"
        )
        add_text(identification, f"{_XHB}ID", party).set("schemeID", PARTY_SCHEME)
    item = etree.SubElement(etree.SubElement(root, f"{_XHA}Payloads"), f"{_XHA}Payload")
    add_text(item, f"{_XHB}DocumentTypeCode", header.document_type)
    add_text(item, f"{_XHB}ContentTypeCode", header.content_type)
    if header.handling_service_id is not None:
        add_text(item, f"{_XHB}HandlingServiceID", header.handling_service_id)
    add_text(item, f"{_XHB}InstanceEncryptionIndicator", "true" if header.encrypted else "false")
    content = etree.SubElement(item, f"{_XHA}PayloadContent")
    # Indent the envelope only: whitespace inside the payload is the payload's own.
    etree.indent(root)
    content.append(copy.deepcopy(payload))
    return root


def format_datetime(moment: dt.datetime) -> str:
    """Return moment in UTC with milliseconds and Z (2022-01-30T17:52:58.123Z)."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_xhe(document: bytes | etree._Element, *, limits: Limits = DEFAULT_LIMITS) -> Xhe:
    """Return the envelope's header and payload; raise FormError naming every problem.

    Bytes are parsed with the hardened parser; an element is used as it is (a verified
    envelope's tree). The document must pass `validate_xhe`.
    """
    root = parse_xml(document, limits=limits) if isinstance(document, bytes) else document
    validate_xhe(root).raise_for_problems()
    head = _child(root, f"{_XHA}Header")
    item = _child(_child(root, f"{_XHA}Payloads"), f"{_XHA}Payload")
    criteria = {
        Criterion(normalize_space(_text(c, f"{_XHB}BusinessScopeCriterionTypeCode"))):
            normalize_space(_text(c, f"{_XHB}BusinessScopeCriterionValue"))
        for c in children_named(head, f"{_XHA}BusinessScope", f"{_XHA}BusinessScopeCriterion")
    }
    handling = item.find(f"{_XHB}HandlingServiceID")
    header = XheHeader(
        sender=_party(head, "FromParty"),
        recipient=_party(head, "ToParty"),
        document_id=criteria[Criterion.DOCUMENTID],
        document_id_scheme=criteria[Criterion.DOCUMENTID_SCHEME],
        process_id=criteria[Criterion.PROCESSID],
        process_id_scheme=criteria[Criterion.PROCESSID_SCHEME],
        federation_id=criteria[Criterion.FEDERATIONID],
        document_type=normalize_space(_text(item, f"{_XHB}DocumentTypeCode")),
        content_type=normalize_space(_text(item, f"{_XHB}ContentTypeCode")),
        handling_service_id=normalize_space(handling.text) if handling is not None else None,
        encrypted=_indicator(item) is True,
        id=_envelope_id(head),
        created=_created(head),
    )
    payload = next(
        (el for el in _child(item, f"{_XHA}PayloadContent") if isinstance(el.tag, str)), None
    )
    if payload is None:
        raise unreadable(
            "Nyttolasten är inte XML; bara XML tas emot.", "/XHE/Payloads/Payload/PayloadContent"
        )
    return Xhe(header, payload)


def read_routing(root: etree._Element) -> Routing:
    """Return the envelope id and the parties as written, without checking anything else.

    A receiver needs FromParty to choose the certificate that verifies the signature before
    the envelope may be trusted; every value may be None.
    """
    head = root.find(f"{_XHA}Header") if root.tag == f"{_X}XHE" else None

    def value(*path: str) -> str | None:
        found = next(children_named(head, *path), None)
        text = normalize_space(found.text) if found is not None else ""
        return text or None

    return Routing(
        envelope_id=value(f"{_XHB}ID"),
        sender=value(f"{_XHA}FromParty", f"{_XHA}PartyIdentification", f"{_XHB}ID"),
        recipient=value(f"{_XHA}ToParty", f"{_XHA}PartyIdentification", f"{_XHB}ID"),
    )


# --- checks ---------------------------------------------------------------------------------

_IDENTIFIER = frozenset({"schemeID", "schemeName", "schemeAgencyID", "schemeAgencyName",
                         "schemeVersionID", "schemeDataURI", "schemeURI"})
_CODE = frozenset({"listID", "listAgencyID", "listAgencyName", "listName", "listVersionID",
                   "name", "languageID", "listURI", "listSchemeURI"})
_TEXT = frozenset({"languageID", "languageLocaleID"})


def _party_model(role: str) -> Node:
    identification = Node(f"{_XHA}PartyIdentification", children=(
        Node(f"{_XHB}ID", attributes=_IDENTIFIER),
    ))
    return Node(f"{_XHA}{role}", children=(identification,))


# The profile's syntax mapping (C3.2.2 2.2): elements, order (as in the XHE 1.0 XSD) and
# the profile's cardinalities.
XHE_MODEL = Node(f"{_X}XHE", children=(
    Node(f"{_XHB}XHEVersionID", attributes=_IDENTIFIER),
    Node(f"{_XHB}CustomizationID", attributes=_IDENTIFIER),
    Node(f"{_XHA}Header", children=(
        Node(f"{_XHB}ID", attributes=_IDENTIFIER),
        Node(f"{_XHB}CreationDateTime", text=Text.DATETIME),
        Node(f"{_XHA}BusinessScope", children=(
            Node(f"{_XHA}BusinessScopeCriterion", min=5, max=5, children=(
                Node(f"{_XHB}BusinessScopeCriterionTypeCode", attributes=_CODE),
                Node(f"{_XHB}BusinessScopeCriterionValue", attributes=_TEXT),
            )),
        )),
        _party_model("FromParty"),
        _party_model("ToParty"),
    )),
    Node(f"{_XHA}Payloads", children=(
        Node(f"{_XHA}Payload", children=(
            Node(f"{_XHB}DocumentTypeCode", attributes=_CODE),
            Node(f"{_XHB}ContentTypeCode", attributes=_CODE),
            Node(f"{_XHB}HandlingServiceID", min=0, attributes=_IDENTIFIER),
            Node(f"{_XHB}InstanceEncryptionIndicator", text=Text.BOOLEAN),
            Node(f"{_XHA}PayloadContent", content=Content.ANY),
        )),
    )),
    Node(SIGNATURE, min=0, max=None, content=Content.OPAQUE, attributes=frozenset({"Id"})),
))
XHE_PROFILE = Profile(unknown="R1-XHE", cardinality="R14-XHE")


def validate_xhe(root: etree._Element) -> ValidationReport:
    """Return every problem of root as an XHE of DIGG's profile (at most MAX_PROBLEMS).

    Agrees with DIGG's XHE XSD plus schematron, except where the profile text is stricter
    than DIGG's published rules, which it follows: R11 checks ToParty (DIGG's checks
    FromParty twice); R1 allows only the elements the syntax mapping names (DIGG's list
    misses Header/UUID, Payload/ID, ValidationVersionID and PayloadExternalReference);
    exactly five BusinessScopeCriterion (R14); and blank attributes are refused (R2). The
    ds:Signature is left to the verifier.
    """
    out = Findings()
    if check_structure(root, XHE_MODEL, XHE_PROFILE, out):
        check_empty(root, "R2-XHE", out, skip=_exempt_from_r2)
        _check_values(root, out)
    return out.report("XHE")


def _exempt_from_r2(element: etree._Element) -> bool:
    if etree.QName(element).namespace in (NS_XENC, NS_DS):
        return True
    return any(a.tag == f"{_XHA}PayloadContent" for a in element.iterancestors())


def _check_values(root: etree._Element, out: Findings) -> None:
    for element in root.iterchildren(f"{_XHB}CustomizationID"):
        if normalize_space(element.text) != CUSTOMIZATION_ID:
            out.add("R3-XHE", f"CustomizationID ska vara {CUSTOMIZATION_ID}.", element)
    codes = {
        normalize_space(code.text)
        for code in children_named(root, f"{_XHA}Header", f"{_XHA}BusinessScope",
                                   f"{_XHA}BusinessScopeCriterion",
                                   f"{_XHB}BusinessScopeCriterionTypeCode")
    }
    for criterion, rule in _CRITERION_RULES.items():
        if criterion.value not in codes:
            out.add(rule, f"Ett BusinessScopeCriterion med koden {criterion.value} saknas.",
                    root)
    for element in root.iterchildren(f"{_XHB}XHEVersionID"):
        if normalize_space(element.text) != XHE_VERSION:
            out.add("R9-XHE", f"XHEVersionID ska vara {XHE_VERSION}.", element)
    for role, rule in (("FromParty", "R10-XHE"), ("ToParty", "R11-XHE")):
        for element in children_named(root, f"{_XHA}Header", f"{_XHA}{role}",
                                      f"{_XHA}PartyIdentification", f"{_XHB}ID"):
            if normalize_space(element.get("schemeID")) != PARTY_SCHEME:
                out.add(rule, f"ID för {role} ska ha schemeID '{PARTY_SCHEME}'.", element)
    for item in children_named(root, f"{_XHA}Payloads", f"{_XHA}Payload"):
        _check_encryption(item, out)


def _check_encryption(item: etree._Element, out: Findings) -> None:
    encrypted = _indicator(item)
    has_cipher = any(
        True for _ in children_named(item, f"{_XHA}PayloadContent", ENCRYPTED_DATA)
    )
    if encrypted is True and not has_cipher:
        out.add("R12-XHE", "PayloadContent ska innehålla EncryptedData när "
                           "InstanceEncryptionIndicator är true.", item)
    elif encrypted is False and has_cipher:
        out.add("R13-XHE", "PayloadContent får inte innehålla EncryptedData när "
                           "InstanceEncryptionIndicator är false.", item)


def _indicator(item: etree._Element) -> bool | None:
    """Return the indicator as xs:boolean reads it; None when absent or not a boolean."""
    element = item.find(f"{_XHB}InstanceEncryptionIndicator")
    value = (element.text or "").strip(" \t\r\n") if element is not None else ""
    return {"true": True, "1": True, "false": False, "0": False}.get(value)


# --- reading a checked envelope -------------------------------------------------------------


def add_text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """Append and return a new element tag holding text."""
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def _child(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:  # validate_xhe has ruled this out
        raise unreadable(f"{etree.QName(tag).localname} saknas", element_path(parent))
    return found


def _text(parent: etree._Element, tag: str) -> str:
    return _child(parent, tag).text or ""


def _party(head: etree._Element, role: str) -> str:
    identification = _child(_child(head, f"{_XHA}{role}"), f"{_XHA}PartyIdentification")
    return normalize_space(_text(identification, f"{_XHB}ID"))


def _envelope_id(head: etree._Element) -> str:
    value = normalize_space(_text(head, f"{_XHB}ID"))
    try:
        uuid.UUID(value)
    except ValueError:
        raise unreadable(f"XHE-id är inte ett UUID: {value[:60]!r}", "/XHE/Header/ID") from None
    return value


def _created(head: etree._Element) -> dt.datetime:
    """Return CreationDateTime (checked as xs:dateTime); without a zone it is taken as UTC."""
    value = _text(head, f"{_XHB}CreationDateTime").strip()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise unreadable(
            f"CreationDateTime kan inte läsas: {value[:60]!r}", "/XHE/Header/CreationDateTime"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
