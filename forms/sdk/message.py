"""The SDK message (messagePayload, MessageWithAttachments:3, B1.3.3): typed, frozen dataclasses,
a deterministic builder and a validating parser.

Field names follow DIGG's XSD, which the message services validate against, where B1.3.3's
prose differs: `message` (prose `Message`), `recipient_id`/`sender_id` for `recipientID`/
`senderID` (prose `recipientId`/`senderId`), `content_files`/`content_texts` for `ContentFiles`/
`ContentText`. Identifiers keep their `root` (IIType), so a wrong root from any source is named
by DIGG's rule (recipientIdvalue, senderIdvalue, subOrgRoot) rather than replaced.

    message = parse_message(data)          # MessageError lists every problem (bounded)
    data = build_message(message)          # refuses, the same way, what it cannot build valid
    report = check_message(data)           # the verdict without the model

Elements from other namespaces (the XSD's extension points) are validated but not kept in the
model; store the received bytes where they must survive.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field

from lxml import etree

from forms.errors import FormIssue
from forms.sdk.message_rules import (
    FUNCTIONAL_ADDRESS_ROOT,
    NS,
    ORGANISATION_ROOT,
    Finding,
    MessageError,
    MessageReport,
    decode_base64,
    envelope_issues,
    make_report,
    read_payload,
    rule_issue,
    size_issues,
    tree_findings,
)
from forms.xmlsafe import NOT_XML_CHARACTER

_T = f"{{{NS}}}"
PREFIX = "tns"  # as in B1.3.3's examples
_XML_SPACE = re.compile(r"[ \t\r\n]+")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,3})Z"
)


@dataclass(frozen=True)
class Identifier:
    """IIType: an identifier (`extension`) in a code system (`root`)."""

    root: str
    extension: str


def organisation_id(extension: str) -> Identifier:
    """Return an organisation identifier, e.g. 0203:malmo.se, with root iso6523-actorid-upis."""
    return Identifier(ORGANISATION_ROOT, extension)


def functional_address_id(extension: str) -> Identifier:
    """Return a functional address identifier, e.g. sdk:ebb-oster:0203:malmo.se."""
    return Identifier(FUNCTIONAL_ADDRESS_ROOT, extension)


@dataclass(frozen=True)
class Person:
    """AttentionPersonType: a person referred to (JSON: attentionPerson); personal data stays
    out of repr."""

    person_id: Identifier | None = field(default=None, repr=False)
    label: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SubOrganization:
    """The functional address (organizationId) and its name."""

    organization_id: Identifier
    label: str | None = None


@dataclass(frozen=True)
class Reference:
    """ReferenceType: a case number, diary number or personnummer (JSON: referenceId)."""

    reference_id: Identifier = field(repr=False)
    label: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Attention:
    """AttentionDataType: the functional address, persons referred to and references."""

    sub_organization: SubOrganization
    person: tuple[Person, ...] = ()
    reference: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Recipient:
    """RecipientType: the receiving organisation (`recipientID`) and its function."""

    recipient_id: Identifier
    attention: Attention
    label: str | None = None


@dataclass(frozen=True)
class Sender:
    """SenderType: the sending organisation (`senderID`); DIGG's XSD makes `attention`
    optional, B1.3.3's prose requires it."""

    sender_id: Identifier
    attention: Attention | None = None
    label: str | None = None


@dataclass(frozen=True)
class Header:
    """MessageHeaderType. `creation_date_time` is kept in UTC, to the millisecond (SDK writes
    no finer); an aware datetime in another zone is converted, a naive one refused."""

    creation_date_time: dt.datetime
    message_id: str
    conversation_id: str
    confidentiality: bool
    recipient: Recipient
    sender: Sender
    ref_to_message_id: str | None = None
    label: str | None = None
    generating_system: Identifier | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "creation_date_time", utc_millis(self.creation_date_time))


@dataclass(frozen=True)
class ContentFile:
    """ContentAsBase64: a file, held decoded."""

    file_name: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class Document:
    """DigitalDocumentType: files and texts (Markdown, B1.3.3 4.3.3.2)."""

    document_id: str
    document_name: str | None = None
    index: str | None = None
    content_files: tuple[ContentFile, ...] = ()
    content_texts: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Message:
    """messagePayload/message: the header and one or more documents."""

    header: Header
    documents: tuple[Document, ...]

    @property
    def message_id(self) -> str:
        return self.header.message_id

    @property
    def sender_organisation(self) -> str:
        return self.header.sender.sender_id.extension

    @property
    def recipient_organisation(self) -> str:
        return self.header.recipient.recipient_id.extension

    @property
    def sender_address(self) -> str | None:
        """The sender's functional address, if the message names one."""
        attention = self.header.sender.attention
        return attention.sub_organization.organization_id.extension if attention else None

    @property
    def recipient_address(self) -> str:
        return self.header.recipient.attention.sub_organization.organization_id.extension

    @property
    def content_files(self) -> tuple[ContentFile, ...]:
        """Every file of every document, in order."""
        return tuple(f for d in self.documents for f in d.content_files)

    def envelope_issues(
        self, *, xhe_id: str, from_party: str, to_party: str, handling_service_id: str
    ) -> list[FormIssue]:
        """Return the problems between this message and its XHE envelope's header values."""
        return envelope_issues(
            message_id=self.message_id,
            sender_id=self.sender_organisation,
            recipient_id=self.recipient_organisation,
            recipient_address=self.recipient_address,
            xhe_id=xhe_id,
            from_party=from_party,
            to_party=to_party,
            handling_service_id=handling_service_id,
        )


def utc_millis(moment: dt.datetime) -> dt.datetime:
    """Return `moment` in UTC truncated to the millisecond; raise ValueError if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("creationDateTime needs a time zone (SDK writes UTC)")
    utc = moment.astimezone(dt.UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def timestamp_text(moment: dt.datetime) -> str:
    """Return `moment` as SDK writes it: UTC with milliseconds, e.g. 2022-10-13T18:10:39.843Z."""
    t = utc_millis(moment)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> dt.datetime:
    """Return the UTC datetime of a timestamp that passed the creationDateTime rule and the XSD
    (1–3 decimals, Z; 24:00:00 is the next midnight, as xs:dateTime allows)."""
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        raise ValueError("not an SDK timestamp")
    year, month, day, hour, minute, second = (int(g) for g in found.groups()[:6])
    millis = int(found.group(7).ljust(3, "0"))
    extra = dt.timedelta(0)
    if hour == 24:
        hour, extra = 0, dt.timedelta(days=1)
    return dt.datetime(year, month, day, hour, minute, second, millis * 1000, dt.UTC) + extra


# --- reading --------------------------------------------------------------------------------


def check_message(data: bytes) -> MessageReport:
    """Return the report of every problem in the message `data` (valid when none)."""
    root, found = read_payload(data)
    if root is not None:
        found = list(tree_findings(root))
    return make_report(found)


def parse_message(data: bytes) -> Message:
    """Return the message in `data`; raise MessageError naming every problem found."""
    root, found = read_payload(data)
    if root is not None:
        found = list(tree_findings(root))
    if found or root is None:
        raise MessageError(make_report(found))
    return message_from_tree(root)


def message_from_tree(root: etree._Element) -> Message:
    """Return the message of a tree that passed `tree_findings` without a problem."""
    message = _child(root, "message")
    body = _child(message, "messageBody")
    return Message(
        header=_header(_child(message, "messageHeader")),
        documents=tuple(_document(d) for d in body.iterchildren(_T + "documents")),
    )


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(_T + name)
    if found is None:  # the XSD guarantees it; a guard against drift between XSD and code
        raise MessageError(make_report([rule_issue("SV", f"{name} saknas.", parent)]))
    return found


def _text(parent: etree._Element, name: str) -> str | None:
    found = parent.find(_T + name)
    return None if found is None else (found.text or "")


def _required(parent: etree._Element, name: str) -> str:
    return _child(parent, name).text or ""


def _identifier(element: etree._Element | None) -> Identifier | None:
    if element is None:
        return None
    return Identifier(_required(element, "root"), _required(element, "extension"))


def _required_identifier(parent: etree._Element, name: str) -> Identifier:
    element = _child(parent, name)
    return Identifier(_required(element, "root"), _required(element, "extension"))


def _header(el: etree._Element) -> Header:
    recipient = _child(el, "recipient")
    sender = _child(el, "sender")
    sender_attention = sender.find(_T + "attention")
    return Header(
        creation_date_time=parse_timestamp(_required(el, "creationDateTime")),
        message_id=_required(el, "messageId"),
        conversation_id=_required(el, "conversationId"),
        ref_to_message_id=_text(el, "refToMessageId"),
        label=_text(el, "label"),
        confidentiality=_XML_SPACE.sub("", _required(el, "confidentiality")) in ("true", "1"),
        generating_system=_identifier(el.find(_T + "generatingSystem")),
        recipient=Recipient(
            recipient_id=_required_identifier(recipient, "recipientID"),
            attention=_attention(_child(recipient, "attention")),
            label=_text(recipient, "label"),
        ),
        sender=Sender(
            sender_id=_required_identifier(sender, "senderID"),
            attention=_attention(sender_attention) if sender_attention is not None else None,
            label=_text(sender, "label"),
        ),
    )


def _attention(el: etree._Element) -> Attention:
    sub = _child(el, "subOrganization")
    return Attention(
        sub_organization=SubOrganization(
            _required_identifier(sub, "organizationId"), _text(sub, "label")
        ),
        person=tuple(
            Person(_identifier(p.find(_T + "personId")), _text(p, "label"))
            for p in el.iterchildren(_T + "person")
        ),
        reference=tuple(
            Reference(_required_identifier(r, "referenceId"), _text(r, "label"))
            for r in el.iterchildren(_T + "reference")
        ),
    )


def _document(el: etree._Element) -> Document:
    return Document(
        document_id=_required(el, "documentID"),
        document_name=_text(el, "documentName"),
        index=_text(el, "index"),
        content_files=tuple(
            ContentFile(
                _required(f, "fileName"),
                _required(f, "contentType"),
                decode_base64(_required(f, "content")),
            )
            for f in el.iterchildren(_T + "ContentFiles")
        ),
        content_texts=tuple(
            _required(t, "characterSequence") for t in el.iterchildren(_T + "ContentText")
        ),
    )


# --- building -------------------------------------------------------------------------------


def build_message(message: Message) -> bytes:
    """Return the message as canonical XML (UTF-8, prefix tns, indented; the same model gives
    the same bytes); raise MessageError naming every rule the message breaks."""
    builder = TreeBuilder()
    root = builder.payload(message)
    found = builder.findings + tree_findings(root)
    if found:
        raise MessageError(make_report(found))
    data = serialize(root)
    too_large = size_issues(len(data))
    if too_large:
        raise MessageError(make_report(too_large))
    return data


def serialize(root: etree._Element) -> bytes:
    """Return the tree as the builder writes it."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class TreeBuilder:
    """Builds the messagePayload tree of a model; a text that XML cannot carry is noted in
    `findings` (SDK_CHARACTERS, at its element) and written with U+FFFD in place of each
    offending character (so that it is not also found empty)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def element(
        self, parent: etree._Element, name: str, text: str | None = None, *, ascii: bool = False
    ) -> etree._Element:
        """Append element `name` (with `text`) to `parent` and return it; `ascii` text (base64
        written here) is not searched for characters XML cannot carry."""
        element = etree.SubElement(parent, _T + name)
        if text is not None:
            if not ascii and _not_xml(text):
                self.findings.append(rule_issue(
                    "SDK_CHARACTERS",
                    "Styrtecken och liknande kan inte skickas i ett SDK-meddelande.",
                    element,
                ))
                text = NOT_XML_CHARACTER.sub("\ufffd", text)
            element.text = text
        return element

    def optional(self, parent: etree._Element, name: str, text: str | None) -> None:
        if text is not None:
            self.element(parent, name, text)

    def identifier(self, parent: etree._Element, name: str, value: Identifier) -> None:
        element = self.element(parent, name)
        self.element(element, "root", value.root)
        self.element(element, "extension", value.extension)

    def payload(self, message: Message) -> etree._Element:
        root = etree.Element(_T + "messagePayload", nsmap={PREFIX: NS})
        body = self.element(root, "message")
        self.header(self.element(body, "messageHeader"), message.header)
        documents = self.element(body, "messageBody")
        for document in message.documents:
            self.document(self.element(documents, "documents"), document)
        return root

    def header(self, el: etree._Element, header: Header) -> None:
        self.element(el, "creationDateTime", timestamp_text(header.creation_date_time))
        self.element(el, "messageId", header.message_id)
        self.element(el, "conversationId", header.conversation_id)
        self.optional(el, "refToMessageId", header.ref_to_message_id)
        self.optional(el, "label", header.label)
        self.element(el, "confidentiality", "true" if header.confidentiality else "false")
        if header.generating_system is not None:
            self.identifier(el, "generatingSystem", header.generating_system)
        recipient = self.element(el, "recipient")
        self.identifier(recipient, "recipientID", header.recipient.recipient_id)
        self.optional(recipient, "label", header.recipient.label)
        self.attention(self.element(recipient, "attention"), header.recipient.attention)
        sender = self.element(el, "sender")
        self.identifier(sender, "senderID", header.sender.sender_id)
        self.optional(sender, "label", header.sender.label)
        if header.sender.attention is not None:
            self.attention(self.element(sender, "attention"), header.sender.attention)

    def attention(self, el: etree._Element, attention: Attention) -> None:
        for person in attention.person:
            person_el = self.element(el, "person")
            if person.person_id is not None:
                self.identifier(person_el, "personId", person.person_id)
            self.optional(person_el, "label", person.label)
        sub = self.element(el, "subOrganization")
        self.identifier(sub, "organizationId", attention.sub_organization.organization_id)
        self.optional(sub, "label", attention.sub_organization.label)
        for reference in attention.reference:
            reference_el = self.element(el, "reference")
            self.identifier(reference_el, "referenceId", reference.reference_id)
            self.optional(reference_el, "label", reference.label)

    def document(self, el: etree._Element, document: Document) -> None:
        self.element(el, "documentID", document.document_id)
        self.optional(el, "documentName", document.document_name)
        self.optional(el, "index", document.index)
        for file in document.content_files:
            file_el = self.element(el, "ContentFiles")
            self.element(file_el, "fileName", file.file_name)
            self.element(file_el, "contentType", file.content_type)
            self.element(file_el, "content", base64_text(file.content), ascii=True)
        for text in document.content_texts:
            self.element(self.element(el, "ContentText"), "characterSequence", text)


# The ASCII characters XML 1.0 can carry; for ASCII text (base64 from JSON), deleting these
# and finding anything left runs at memory speed, where a regular expression takes seconds.
_XML_ASCII = bytes([9, 10, 13, *range(0x20, 0x80)])


def _not_xml(text: str) -> bool:
    """True when `text` has a character XML 1.0 cannot carry."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _XML_ASCII))
    return NOT_XML_CHARACTER.search(text) is not None


def base64_text(content: bytes) -> str:
    """Return `content` in base64 (RFC 4648, one line)."""
    return base64.b64encode(content).decode("ascii")
