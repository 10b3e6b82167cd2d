"""The Meddelandekvittens (C3.2.4): a UBL 2.1 ApplicationResponse, built, checked and read back,
and the unencrypted XHE that carries it.

Codes: the response code (Kvittenskod, C3.2.4 4.1), the reason code (Orsakskod, 4.2) and
the SDK message's detail codes (Detaljkod, B1.3.3 5.3), each defined once with its meaning.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from forms.sdk.validation import (
    Findings,
    Node,
    Problem,
    Profile,
    Text,
    ValidationReport,
    check_empty,
    check_structure,
    children_named,
    normalize_space,
    unreadable,
)
from forms.sdk.xhe import (
    FEDERATION_SDK,
    NS_DS,
    NS_XENC,
    TRANSPORT_SIGENC,
    XheHeader,
    add_text,
    build_xhe,
    new_envelope_id,
    utc_now,
)
from forms.xmlsafe import DEFAULT_LIMITS, Limits, parse_xml

NS_APP = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NSMAP = {None: NS_APP, "cac": NS_CAC, "cbc": NS_CBC}

CUSTOMIZATION_ID = "urn:fdc:digg.se:edelivery:messagetype:response:1"
# C3.2.4 3.1.b: the process is fixed.
PROFILE_ID = "bdx:noprocess"
ENDPOINT_SCHEME = "iso6523-actorid-upis"
# LineID when no XPath can point at the fault (C3.2.4 3.1.g).
NOT_APPLICABLE = "NA"
# The code list (C3.2.7 1.3), written as it stands there ("##fdc:", without "urn:").
RECEIPT_DOCUMENT_ID = (
    f"{NS_APP}::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1"
    f"::{TRANSPORT_SIGENC}"
)
RECEIPT_DOCUMENT_TYPE = f"Q{{{NS_APP}}}ApplicationResponse"

_APP, _CAC, _CBC = f"{{{NS_APP}}}", f"{{{NS_CAC}}}", f"{{{NS_CBC}}}"


class ResponseCode(enum.StrEnum):
    """Kvittenskod (C3.2.4 4.1)."""

    ACCEPTED = "ACCEPTED"  # Accepteras: no fault that stops the message was found
    REJECTED = "REJECTED"  # Accepteras ej: a fault stops it; at least one reason follows


class ReasonCode(enum.StrEnum):
    """Orsakskod (C3.2.4 4.2): the kind of fault."""

    SV = "SV"  # Nyttolast ej följsamt – schemavalideringsfel (the message's XSD)
    BV = "BV"  # Nyttolast ej följsamt – valideringsregel, fatalt fel (schematron, other rules)
    SIG = "SIG"  # Signaturen inte korrekt


REASON_MEANINGS: dict[ReasonCode, str] = {
    ReasonCode.SV: "Nyttolast ej följsamt – schemavalideringsfel",
    ReasonCode.BV: "Nyttolast ej följsamt – valideringsregel (fatalt fel)",
    ReasonCode.SIG: "Signaturen inte korrekt",
}


class DetailCode(enum.StrEnum):
    """Detaljkod (StatusReasonCode) for SDK messages (B1.3.3 5.3, with the reason it goes with)."""

    STRUCTURE = "structure"  # SV: the structure (XSD) is wrong, or the message is corrupt
    FORBIDDEN = "forbidden"  # BV: harmful content found in the payload
    TOO_LONG = "too-long"  # BV: the message is larger than allowed (30 MB)
    INVARIANT = "invariant"  # BV: a logical rule or code list is not followed (schematron)
    DUPLICATE = "duplicate"  # BV: the messageId is not unique
    MULTIPLE_MATCHES = "multiple-matches"  # BV: the messageId matches more than one message
    NOT_SUPPORTED = "not-supported"  # BV: file type, or a reply to a REJECTED message
    NOT_FOUND = "not-found"  # BV: the functional address does not exist or is wrong
    SECURITY = "security"  # SIG/BV: sender signature, sender or encryption wrong


DETAIL_MEANINGS: dict[DetailCode, str] = {
    DetailCode.STRUCTURE: "Meddelandets struktur (XSD) är felaktig eller korrupt",
    DetailCode.FORBIDDEN: "Skadlig kod i nyttolasten",
    DetailCode.TOO_LONG: "Meddelandet är större än tillåtet",
    DetailCode.INVARIANT: "Logiska regler eller kodverk följs inte",
    DetailCode.DUPLICATE: "MessageId är inte unikt",
    DetailCode.MULTIPLE_MATCHES: "MessageId matchar flera meddelanden",
    DetailCode.NOT_SUPPORTED: "Stöds inte (filtyp, eller svar på ett avvisat meddelande)",
    DetailCode.NOT_FOUND: "Funktionsadressen finns inte eller är felaktig",
    DetailCode.SECURITY: "Avsändarens signatur, avsändaren eller krypteringen är felaktig",
}


def _non_blank(name: str, value: str | None) -> None:
    if value is not None and not normalize_space(value):
        raise ValueError(f"{name} must not be blank")


@dataclass(frozen=True)
class Reason:
    """One LineResponse: why the message was refused, and where (an XPath, or NA)."""

    code: ReasonCode
    text: str
    detail: str | None = None
    line: str = NOT_APPLICABLE

    def __post_init__(self) -> None:
        for name in ("text", "detail", "line"):
            _non_blank(name, getattr(self, name))


def new_receipt_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Receipt:
    """A Meddelandekvittens: `sender` acknowledges to `receiver` the XHE with id `reference`.

    ACCEPTED carries no reasons and REJECTED at least one (R7-APP, R8-APP); raises ValueError.
    """

    sender: str
    receiver: str
    reference: str
    code: ResponseCode
    reasons: tuple[Reason, ...] = ()
    id: str = field(default_factory=new_receipt_id)
    # Written to the second (IssueTime), so a receipt read back equals the one built.
    issued: dt.datetime = field(default_factory=lambda: utc_now().replace(microsecond=0))

    def __post_init__(self) -> None:
        for name in ("sender", "receiver", "reference", "id"):
            _non_blank(name, getattr(self, name))
        if self.issued.tzinfo is None:
            raise ValueError("the receipt's issue time must carry a time zone")
        if self.code is ResponseCode.ACCEPTED and self.reasons:
            raise ValueError("an ACCEPTED receipt carries no reasons")
        if self.code is ResponseCode.REJECTED and not self.reasons:
            raise ValueError("a REJECTED receipt needs at least one reason")

    @classmethod
    def accept(cls, *, sender: str, receiver: str, reference: str) -> Receipt:
        return cls(sender, receiver, reference, ResponseCode.ACCEPTED)

    @classmethod
    def reject(
        cls, *, sender: str, receiver: str, reference: str, reasons: Iterable[Reason]
    ) -> Receipt:
        return cls(sender, receiver, reference, ResponseCode.REJECTED, tuple(reasons))


def reason_for(problem: Problem) -> Reason:
    """Return the receipt line for a validation problem of a received document.

    What a schema refuses is SV/structure, a broken rule BV/invariant; the text starts with
    the rule id, the line is the element's path.
    """
    if problem.schema:
        return Reason(ReasonCode.SV, f"{problem.rule}: {problem.message}",
                      DetailCode.STRUCTURE, problem.path or NOT_APPLICABLE)
    return Reason(ReasonCode.BV, f"{problem.rule}: {problem.message}", DetailCode.INVARIANT,
                  problem.path or NOT_APPLICABLE)


# --- building -------------------------------------------------------------------------------


def build_receipt(receipt: Receipt) -> etree._Element:
    """Return the ApplicationResponse element of receipt."""
    root = etree.Element(f"{_APP}ApplicationResponse", nsmap=NSMAP)
    issued = receipt.issued.astimezone(dt.UTC)
    add_text(root, f"{_CBC}CustomizationID", CUSTOMIZATION_ID)
    add_text(root, f"{_CBC}ProfileID", PROFILE_ID)
    add_text(root, f"{_CBC}ID", receipt.id)
    add_text(root, f"{_CBC}IssueDate", issued.strftime("%Y-%m-%d"))
    add_text(root, f"{_CBC}IssueTime", issued.strftime("%H:%M:%SZ"))
    for role, party in (("SenderParty", receipt.sender), ("ReceiverParty", receipt.receiver)):
        endpoint = add_text(etree.SubElement(root, f"{_CAC}{role}"), f"{_CBC}EndpointID", party)
        endpoint.set("schemeID", ENDPOINT_SCHEME)
    response = etree.SubElement(root, f"{_CAC}DocumentResponse")
    add_text(etree.SubElement(response, f"{_CAC}Response"), f"{_CBC}ResponseCode", receipt.code)
    add_text(etree.SubElement(response, f"{_CAC}DocumentReference"), f"{_CBC}ID",
          receipt.reference)
    for reason in receipt.reasons:
        line = etree.SubElement(response, f"{_CAC}LineResponse")
        add_text(etree.SubElement(line, f"{_CAC}LineReference"), f"{_CBC}LineID", reason.line)
        answer = etree.SubElement(line, f"{_CAC}Response")
        add_text(answer, f"{_CBC}ResponseCode", reason.code)
        status = etree.SubElement(answer, f"{_CAC}Status")
        if reason.detail is not None:
            add_text(status, f"{_CBC}StatusReasonCode", reason.detail)
        add_text(status, f"{_CBC}StatusReason", reason.text)
    etree.indent(root)
    return root


def receipt_header(
    receipt: Receipt,
    *,
    federation_id: str = FEDERATION_SDK,
    handling_service_id: str | None = None,
    envelope_id: str | None = None,
    created: dt.datetime | None = None,
) -> XheHeader:
    """Return the header of the XHE carrying receipt: from its sender to its receiver, signed
    and not encrypted (Transportmodell Utökad Bas 2.11.b)."""
    return XheHeader(
        sender=receipt.sender,
        recipient=receipt.receiver,
        document_id=RECEIPT_DOCUMENT_ID,
        document_type=RECEIPT_DOCUMENT_TYPE,
        encrypted=False,
        handling_service_id=handling_service_id,
        federation_id=federation_id,
        id=envelope_id or new_envelope_id(),
        created=created or utc_now(),
    )


def build_receipt_envelope(
    receipt: Receipt,
    *,
    federation_id: str = FEDERATION_SDK,
    handling_service_id: str | None = None,
    envelope_id: str | None = None,
    created: dt.datetime | None = None,
) -> etree._Element:
    """Return the XHE (to be signed, not encrypted) carrying receipt."""
    header = receipt_header(
        receipt,
        federation_id=federation_id,
        handling_service_id=handling_service_id,
        envelope_id=envelope_id,
        created=created,
    )
    return build_xhe(header, build_receipt(receipt))


# --- reading --------------------------------------------------------------------------------


def parse_receipt(document: bytes | etree._Element, *, limits: Limits = DEFAULT_LIMITS) -> Receipt:
    """Return the receipt in document (an ApplicationResponse); raise FormError naming every
    problem when it does not pass `validate_receipt`."""
    root = parse_xml(document, limits=limits) if isinstance(document, bytes) else document
    validate_receipt(root).raise_for_problems()
    response = root.find(f"{_CAC}DocumentResponse")
    assert response is not None  # validate_receipt has ruled this out
    reasons = tuple(
        Reason(
            code=ReasonCode(normalize_space(_text(line, _CAC + "Response", _CBC + "ResponseCode"))),
            text=_text(line, _CAC + "Response", _CAC + "Status", _CBC + "StatusReason"),
            detail=_text(line, _CAC + "Response", _CAC + "Status", _CBC + "StatusReasonCode")
            or None,
            line=normalize_space(_text(line, _CAC + "LineReference", _CBC + "LineID")),
        )
        for line in response.iterchildren(f"{_CAC}LineResponse")
    )
    return Receipt(
        sender=normalize_space(_text(root, _CAC + "SenderParty", _CBC + "EndpointID")),
        receiver=normalize_space(_text(root, _CAC + "ReceiverParty", _CBC + "EndpointID")),
        reference=normalize_space(_text(response, _CAC + "DocumentReference", _CBC + "ID")),
        code=ResponseCode(normalize_space(_text(response, _CAC + "Response",
                                                _CBC + "ResponseCode"))),
        reasons=reasons,
        id=normalize_space(_text(root, _CBC + "ID")),
        issued=_issued(root),
    )


def _text(parent: etree._Element, *path: str) -> str:
    found = next(children_named(parent, *path), None)
    return (found.text or "") if found is not None else ""


def _issued(root: etree._Element) -> dt.datetime:
    """Return IssueDate + IssueTime; a time without a zone is taken as UTC."""
    date, time = _text(root, _CBC + "IssueDate").strip(), _text(root, _CBC + "IssueTime").strip()
    try:
        moment = dt.datetime.combine(dt.date.fromisoformat(date[:10]),
                                     dt.time.fromisoformat(time))
    except ValueError:
        raise unreadable(
            f"IssueDate/IssueTime kan inte läsas: {date} {time}", "/ApplicationResponse/IssueTime"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- checks ---------------------------------------------------------------------------------

_ID = frozenset({"schemeID"})  # what the reduced UBL XSD allows on identifiers


def _party_model(role: str) -> Node:
    return Node(f"{_CAC}{role}", children=(
        Node(f"{_CBC}EndpointID", attributes=_ID),
    ))


# The syntax mapping of C3.2.4 3.1 in the order of DIGG's reduced UBL 2.1 XSD.
RECEIPT_MODEL = Node(f"{_APP}ApplicationResponse", children=(
    Node(f"{_CBC}CustomizationID", schema_attributes=_ID),
    Node(f"{_CBC}ProfileID", schema_attributes=_ID),
    Node(f"{_CBC}ID", schema_attributes=_ID),
    Node(f"{_CBC}IssueDate", text=Text.DATE),
    Node(f"{_CBC}IssueTime", text=Text.TIME),
    _party_model("SenderParty"),
    _party_model("ReceiverParty"),
    Node(f"{_CAC}DocumentResponse", children=(
        Node(f"{_CAC}Response", children=(Node(f"{_CBC}ResponseCode"),)),
        Node(f"{_CAC}DocumentReference", children=(
            Node(f"{_CBC}ID", schema_attributes=_ID),
        )),
        Node(f"{_CAC}LineResponse", min=0, max=None, children=(
            Node(f"{_CAC}LineReference", children=(
                Node(f"{_CBC}LineID", schema_attributes=_ID),
            )),
            Node(f"{_CAC}Response", children=(
                Node(f"{_CBC}ResponseCode"),
                Node(f"{_CAC}Status", children=(
                    Node(f"{_CBC}StatusReasonCode", min=0),
                    Node(f"{_CBC}StatusReason"),
                )),
            )),
        )),
    )),
))
RECEIPT_PROFILE = Profile(unknown="R1-APP", cardinality="R9-APP")


def validate_receipt(root: etree._Element) -> ValidationReport:
    """Return every problem of root as a Meddelandekvittens (at most MAX_PROBLEMS).

    Agrees with DIGG's reduced UBL XSD plus its schematron (R1-APP ... R9-APP); blank
    attributes are refused too (R2-APP, as the specification's text says).
    """
    out = Findings()
    if check_structure(root, RECEIPT_MODEL, RECEIPT_PROFILE, out):
        check_empty(root, "R2-APP", out, skip=_signature_or_encryption)
        _check_values(root, out)
        _check_endpoints(root, out)
    return out.report("ApplicationResponse")


def _signature_or_encryption(element: etree._Element) -> bool:
    return etree.QName(element).namespace in (NS_XENC, NS_DS)


_REASONS = frozenset(code.value for code in ReasonCode)
_RESPONSES = frozenset(code.value for code in ResponseCode)


def _check_values(root: etree._Element, out: Findings) -> None:
    if normalize_space(_text(root, _CBC + "CustomizationID")) != CUSTOMIZATION_ID:
        out.add("R3-APP", f"CustomizationID ska vara {CUSTOMIZATION_ID}.", root)
    if normalize_space(_text(root, _CBC + "ProfileID")) != PROFILE_ID:
        out.add("R4-APP", f"ProfileID ska vara {PROFILE_ID}.", root)
    document = (_CAC + "DocumentResponse", _CAC + "Response", _CBC + "ResponseCode")
    for code in children_named(root, *document):
        if normalize_space(code.text) not in _RESPONSES:
            out.add("R5-APP", "Kvittenskoden ska vara ACCEPTED eller REJECTED.", code)
    for code in children_named(root, _CAC + "DocumentResponse", _CAC + "LineResponse",
                               _CAC + "Response", _CBC + "ResponseCode"):
        if normalize_space(code.text) not in _REASONS:
            out.add("R6-APP", "Orsakskoden ska vara SV, BV eller SIG.", code)
    has_lines = any(True for _ in root.iter(f"{_CAC}LineResponse"))
    # As DIGG's schematron: the codes are compared exactly here, not space-normalised.
    for code in children_named(root, *document):
        if code.text == ResponseCode.ACCEPTED and has_lines:
            out.add("R7-APP", "En kvittens med ACCEPTED ska inte ha några orsakskoder.", code)
        if code.text == ResponseCode.REJECTED and not has_lines:
            out.add("R8-APP", "En kvittens med REJECTED måste ha minst en orsakskod.", code)


def _check_endpoints(root: etree._Element, out: Findings) -> None:
    for role in ("SenderParty", "ReceiverParty"):
        for endpoint in children_named(root, _CAC + role, _CBC + "EndpointID"):
            if endpoint.get("schemeID") is None:
                out.add("R9-APP", f"EndpointID i {role} ska ha attributet schemeID.", endpoint)


