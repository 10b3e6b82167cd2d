"""Validation of the SDK message (messagePayload): the XSD, DIGG's message schematron in code and
B1.3.3's rules beyond both, every problem with its code, path and line in one bounded report.

Three layers, run together so that one pass names every problem:

- `SV`: the project's XSD `schemas/sdk-message-3.xsd`, which accepts what DIGG's XSD accepts.
- DIGG's schematron (`message/schematron/MessageConstraints.xml`): each of its eleven patterns
  is one rule here, with the pattern's id as its code, the same context and the same test
  (XPath string values, XML whitespace, anchored regular expressions). The schematron is
  XSLT 2.0 with abstract patterns and has no compiled form, so it cannot be run as published;
  the tests evaluate its expressions with Saxon and compare.
- `SDK_*`: what B1.3.3 requires and neither the XSD nor the schematron checks (the size limit,
  the organisation id format, a document with content, real base64), and the equalities
  between the message and its XHE envelope (`envelope_issues`).

Every code has a `Rule` with the Meddelandekvittens reason (C3.2.4: SV or BV) and B1.3.3's
detail code, so a receipt can be written from a report (`MessageReport.receipt_reasons`).
Details never quote values: labels, names and references may be personal data.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from forms.errors import TITLES, FormError, FormIssue
from forms.identifiers import IdentifierError, check_organisation_id
from forms.schemas import (
    SDK_MESSAGE_XSD,
    XSD_DEFAULT_TITLE,
    XSD_TITLES,
    attribute_step,
    load_schema,
    redact_schema_message,
    schema_error_elements,
)
from forms.sdk.receipt import NOT_APPLICABLE, DetailCode, Reason, ReasonCode
from forms.sdk.validation import MAX_PROBLEMS
from forms.xmlsafe import MIB, Limits, element_path, parse_xml

NS = "urn:riv:infrastructure:messaging:MessageWithAttachments:3"
ORGANISATION_ROOT = "iso6523-actorid-upis"
FUNCTIONAL_ADDRESS_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"
# B1.3.3 4.3.3.3: "Meddelandet inklusive bifogade filer får ej överstiga 30 MB".
MAX_MESSAGE_BYTES = 30 * MIB
# What a message needs beside its one large file's base64: the header and the documents, with
# room to spare (a built answer message is about 2 KB without its PDF).
MESSAGE_OVERHEAD = 64 * 1024
MAX_LABEL = 256
# The deepest element of the format is at level 8 (…/attention/person/personId/root); the rest
# leaves room for other namespaces' extension elements. Base64 files need huge text nodes.
MESSAGE_LIMITS = Limits(
    max_bytes=MAX_MESSAGE_BYTES, max_depth=32, max_elements=20_000, huge_text=True
)



def largest_file(overhead: int = MESSAGE_OVERHEAD) -> int:
    """Return the largest file (decoded bytes) one message can carry within MAX_MESSAGE_BYTES:
    its base64 is a third larger."""
    return (MAX_MESSAGE_BYTES - overhead) // 4 * 3


_T = f"{{{NS}}}"
# XPath's normalize-space() and regular expressions know only these four as whitespace.
_XML_NON_SPACE = re.compile(r"[^ \t\r\n]")
_XML_SPACE = re.compile(r"[ \t\r\n]+")
# DIGG's patterns as XPath reads them: anchored at the ends of the whole string, and "." any
# character but a line break. Copied from MessageConstraints.xml; keep them in step.
_TIMESTAMP = re.compile(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[^\n\r][0-9]{1,3}Z\Z"
)
_UUID = re.compile(
    r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
_BASE64_START = re.compile(r"[a-zA-Z0-9+/]")


@dataclass(frozen=True)
class Rule:
    """One validation rule: its code, the receipt's reason (Orsakskod) and B1.3.3's detail code
    (Detaljkod), a Swedish title and where the rule is written."""

    code: str
    reason: ReasonCode
    detail_code: DetailCode
    title: str
    source: str


_SCHEMATRON = "DIGG MessageConstraints.xml"
_SV, _BV, _D = ReasonCode.SV, ReasonCode.BV, DetailCode
_RULES = (
    Rule("SV", _SV, _D.STRUCTURE, "Meddelandet följer inte schemat för SDK-meddelanden",
         "DIGG infrastructure_messaging_MessageWithAttachments_3.0.xsd"),
    *(
        Rule(code, _SV, _D.STRUCTURE, TITLES[code], "forms.xmlsafe")
        for code in ("XML_EMPTY", "XML_SYNTAX", "XML_DTD", "XML_PI", "XML_ENCODING",
                     "XML_TOO_LARGE", "XML_TOO_DEEP", "XML_TOO_MANY_ELEMENTS")
    ),
    Rule("verifyNonEmptyElements", _BV, _D.INVARIANT, "Ett element är tomt", _SCHEMATRON),
    Rule("conversationIdMustExist", _BV, _D.INVARIANT,
         "conversationId ska finnas exakt en gång", _SCHEMATRON),
    Rule("recipientIdvalue", _BV, _D.INVARIANT,
         f"Mottagarens organisations-id ska ha root {ORGANISATION_ROOT}", _SCHEMATRON),
    Rule("senderIdvalue", _BV, _D.INVARIANT,
         f"Avsändarens organisations-id ska ha root {ORGANISATION_ROOT}", _SCHEMATRON),
    Rule("creationDateTime", _BV, _D.INVARIANT,
         "Tidsstämpeln ska vara i UTC med bråkdelar av sekund (ÅÅÅÅ-MM-DDThh:mm:ss.sssZ)",
         _SCHEMATRON),
    Rule("MessageId", _BV, _D.INVARIANT, "messageId är inte ett UUID", _SCHEMATRON),
    Rule("conversationId", _BV, _D.INVARIANT, "conversationId är inte ett UUID",
         _SCHEMATRON),
    Rule("refToMessageId", _BV, _D.INVARIANT, "refToMessageId är inte ett UUID",
         _SCHEMATRON),
    # B1.3.3 4.3.2 gives this one the detail code structure.
    Rule("subjectlabel", _BV, _D.STRUCTURE,
         f"Meddelandets rubrik är längre än {MAX_LABEL} tecken", _SCHEMATRON),
    Rule("contentFiles", _BV, _D.INVARIANT, "Filens innehåll är inte base64", _SCHEMATRON),
    Rule("subOrgRoot", _BV, _D.INVARIANT,
         f"Funktionsadressen ska ha root {FUNCTIONAL_ADDRESS_ROOT}", _SCHEMATRON),
    Rule("SDK_CHARACTERS", _SV, _D.STRUCTURE,
         "Texten innehåller tecken som inte kan skrivas i XML", "XML 1.0 (building a message)"),
    Rule("SDK_SIZE", _BV, _D.TOO_LONG, "Meddelandet är större än 30 MB",
         "B1.3.3 4.3.3.3 and 5.3"),
    Rule("SDK_ORGANISATION_ID", _BV, _D.INVARIANT,
         "Organisations-id ska vara 0203:<domän> eller 0007:<organisationsnummer>",
         "B1.3.3 4.3.2.1 and 4.3.2.2 (checked programmatically)"),
    Rule("SDK_DOCUMENT_EMPTY", _BV, _D.INVARIANT,
         "Dokumentet har varken text eller fil", "B1.3.3 4.3.3.1"),
    Rule("SDK_BASE64", _BV, _D.INVARIANT,
         "Filens innehåll är inte giltig base64 (RFC 4648)", "B1.3.3 4.3.3.3"),
    Rule("SDK_FORM_FILE", _BV, _D.INVARIANT,
         "Meddelandet ska ha exakt en hälsoförfrågan (XML)", "DESIGN 5.4 and 7.2"),
    Rule("SDK_CONSENT_FILE", _BV, _D.INVARIANT,
         "Meddelandet har mer än en samtyckesblankett (PDF)", "DESIGN 7.2"),
    Rule("SDK_ANSWER_FILE", _BV, _D.INVARIANT,
         "Svaret ska ha exakt en signerad PDF", "DESIGN 5.3 and 5.4"),
    Rule("SDK_STRUCTURED_FILE", _BV, _D.INVARIANT,
         "Svaret har mer än ett strukturerat svar (XML)", "DESIGN 5.3"),
    Rule("SDK_REF_MISSING", _BV, _D.INVARIANT,
         "Svaret anger inte vilket meddelande det besvarar (refToMessageId)", "DESIGN 5.4"),
    # B1.3.3 5.3 row 8: a file type the recipient does not take is REJECTED BV not-supported.
    Rule("SDK_FILE_TYPE", _BV, _D.NOT_SUPPORTED, "Filtypen tas inte emot",
         "B1.3.3 4.3.3.3 and 5.3"),
    Rule("JSON_TYPE", _SV, _D.STRUCTURE, "Fel typ av värde", "DIGG sdk-api-restful.yml"),
    Rule("JSON_REQUIRED", _SV, _D.STRUCTURE, "Obligatoriskt fält saknas",
         "DIGG sdk-api-restful.yml and the XSD"),
    Rule("JSON_UNKNOWN", _SV, _D.STRUCTURE,
         "Fältet finns inte i SDK-meddelandet och kan inte föras vidare",
         "DIGG sdk-api-restful.yml and the XSD"),
    Rule("JSON_READ_ONLY", _SV, _D.STRUCTURE,
         "Fältet sätts av meddelandetjänsten, inte av klienten", "B1.4.2 Informationsobjekt"),
    Rule("SDK_XHE_ID", _BV, _D.INVARIANT,
         "messageId är inte samma som kuvertets ID", "B1.3.3 4.3.2"),
    Rule("SDK_XHE_SENDER", _BV, _D.SECURITY,
         "Avsändarens organisations-id är inte samma som kuvertets FromParty", "B1.3.3 4.3.2.2"),
    Rule("SDK_XHE_RECIPIENT", _BV, _D.SECURITY,
         "Mottagarens organisations-id är inte samma som kuvertets ToParty", "B1.3.3 4.3.2.1"),
    Rule("SDK_XHE_HANDLING_SERVICE", _BV, _D.SECURITY,
         "Mottagarens funktionsadress är inte samma som kuvertets HandlingServiceID",
         "B1.3.3 3.2 and 4.3.2.3"),
)
RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
# The codes of DIGG's schematron patterns, in the order of MessageConstraints.xml.
SCHEMATRON_CODES = tuple(r.code for r in _RULES if r.source == _SCHEMATRON)


@dataclass(frozen=True)
class MessageReport:
    """Every problem found in a message, the first MAX_PROBLEMS of them listed; the verdict
    is derived: a message is valid when nothing was found."""

    issues: tuple[FormIssue, ...] = ()
    total: int = 0

    @property
    def valid(self) -> bool:
        return self.total == 0

    @property
    def truncated(self) -> bool:
        """True when more problems were found than are listed."""
        return self.total > len(self.issues)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.issues)

    def receipt_reasons(self) -> tuple[Reason, ...]:
        """Return one LineResponse of a Meddelandekvittens per listed issue: its rule's reason
        and detail code, a text that starts with the rule's code, and the element's path (NA
        where there is none)."""
        reasons = []
        for found in self.issues:
            rule = RULES.get(found.code, RULES["SV"])
            text = f"{found.code}: {found.title}" + (f". {found.detail}" if found.detail else "")
            reasons.append(
                Reason(rule.reason, text, rule.detail_code, found.path or NOT_APPLICABLE)
            )
        return tuple(reasons)


class MessageError(FormError):
    """An SDK message that cannot be accepted (or built); `report` holds every problem."""

    def __init__(self, report: MessageReport) -> None:
        super().__init__(report.issues)
        self.report = report

    def __reduce__(self) -> tuple[type[MessageError], tuple[MessageReport]]:  # type: ignore[override]
        return (MessageError, (self.report,))


@dataclass(frozen=True)
class Finding:
    """A problem found, before it is reported: the path of its element is worked out only for
    the problems a report lists, so that a message with thousands of faults costs no more than
    one with fifty."""

    code: str
    detail: str = ""
    element: etree._Element | None = field(default=None, compare=False)
    path: str = ""
    line: int | None = None
    title: str | None = None
    # Appended to the element's path (an attribute: "/@name").
    step: str = ""

    def issue(self) -> FormIssue:
        path = element_path(self.element) + self.step if self.element is not None else self.path
        title = self.title or RULES[self.code].title
        return FormIssue(self.code, title, self.detail, self.line, path)


def rule_issue(
    code: str, detail: str = "", element: etree._Element | None = None, *, path: str = ""
) -> Finding:
    """Return a finding of rule `code` at `element` (its line; its path when reported) or at
    `path`."""
    line = element.sourceline if element is not None else None
    return Finding(code, detail, element, path, line)


def make_report(found: Iterable[Finding | FormIssue]) -> MessageReport:
    """Return the report of the findings in document order (by line where the document was
    parsed, by position in the tree where it was built), the first MAX_PROBLEMS listed."""
    findings = [
        f if isinstance(f, Finding) else Finding(f.code, f.detail, None, f.path, f.line, f.title)
        for f in found
    ]
    elements = [f.element for f in findings if f.element is not None]
    positions: dict[etree._Element, int] = {}
    if elements:
        positions = {e: n for n, e in enumerate(elements[0].getroottree().iter(etree.Element))}
    # Placed by line, then by position; what has no element comes first where it has no line
    # either (the JSON's problems, the size), last on its line where it has one (XSD errors
    # past the listed ones).
    last = len(positions)
    findings.sort(key=lambda f: (
        f.line or 0,
        positions[f.element] if f.element is not None else (last if f.line else -1),
    ))
    return MessageReport(tuple(f.issue() for f in findings[:MAX_PROBLEMS]), len(findings))


def size_issues(size: int) -> list[Finding]:
    """Return the SDK_SIZE issue if a message of `size` bytes is over the limit."""
    if size <= MAX_MESSAGE_BYTES:
        return []
    return [
        rule_issue(
            "SDK_SIZE",
            f"Meddelandet är {size} byte; högst {MAX_MESSAGE_BYTES} byte får skickas.",
            path="/messagePayload",
        )
    ]


def read_payload(data: bytes) -> tuple[etree._Element | None, list[Finding | FormIssue]]:
    """Return the parsed tree of `data` (None if it cannot be parsed) and the problems that
    stopped it: the size limit first, then unsafe or malformed XML (forms.xmlsafe)."""
    too_large: list[Finding | FormIssue] = [*size_issues(len(data))]
    if too_large:
        return None, too_large
    try:
        return parse_xml(data, limits=MESSAGE_LIMITS), []
    except FormError as exc:
        return None, list(exc.issues)


def tree_findings(root: etree._Element) -> list[Finding]:
    """Return every problem of the message tree: XSD, DIGG's schematron rules, B1.3.3's."""
    return [*_schema_issues(root), *_schematron_issues(root), *_specification_issues(root)]


# --- the XSD --------------------------------------------------------------------------------


def _schema_issues(root: etree._Element) -> Iterator[Finding]:
    # libxml2 reports in document order, so an error past the first MAX_PROBLEMS is never
    # listed and its element need not be found.
    schema = load_schema(SDK_MESSAGE_XSD)
    for entry, element in schema_error_elements(schema, root, limit=MAX_PROBLEMS):
        yield Finding(
            "SV",
            redact_schema_message(entry.message, NS),
            element,
            "",
            entry.line or None,
            XSD_TITLES.get(entry.type_name, XSD_DEFAULT_TITLE),
            attribute_step(entry),
        )


# --- DIGG's schematron ----------------------------------------------------------------------


def _string_value(element: etree._Element) -> str:
    """Return the XPath string value: the element's text and all its descendants' text."""
    if len(element) == 0:
        return element.text or ""
    return "".join(element.itertext())


def _blank(text: str | None) -> bool:
    return text is None or _XML_NON_SPACE.search(text) is None


def _local(element: etree._Element, name: str) -> bool:
    return element.tag == _T + name


def _parent_is(element: etree._Element, *names: str) -> bool:
    """True when the element's ancestors, nearest first, are `names` in the message namespace."""
    node: etree._Element | None = element
    for name in names:
        node = node.getparent() if node is not None else None
        if node is None or node.tag != _T + name:
            return False
    return True


def _schematron_issues(root: etree._Element) -> list[Finding]:
    issues = list(_empty_elements(root))
    for element in root.iter(etree.Element):
        issues.extend(_element_rules(element))
    return issues


def _empty_elements(root: etree._Element) -> Iterator[Finding]:
    """verifyNonEmptyElements: every element inside a messagePayload has a non-blank string
    value (normalize-space(.)); containers are blank when all they hold is blank."""
    blank: dict[etree._Element, bool] = {}
    for event, element in etree.iterwalk(root, events=("end",)):
        del event
        blank[element] = _blank(element.text) and all(
            blank[child] and _blank(child.tail) for child in element.iterchildren(etree.Element)
        )
    for element in root.iter(etree.Element):
        if blank[element] and any(_local(a, "messagePayload") for a in element.iterancestors()):
            yield rule_issue(
                "verifyNonEmptyElements",
                f"Elementet {etree.QName(element).localname} finns men är tomt; "
                "element som tas med ska ha ett värde.",
                element,
            )


def _element_rules(element: etree._Element) -> Iterator[Finding]:
    """The schematron's other ten patterns, each at its context."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(_T):
        return
    name = tag[len(_T):]
    if name == "messageHeader":
        count = sum(1 for _ in element.iterchildren(_T + "conversationId"))
        if count != 1:
            yield rule_issue(
                "conversationIdMustExist",
                f"messageHeader har {count} conversationId. Ett nytt meddelande kan ha samma "
                "UUID som messageId.",
                element,
            )
    elif name == "root":
        yield from _root_rules(element)
    elif name == "creationDateTime" and not _TIMESTAMP.search(_string_value(element)):
        yield rule_issue(
            "creationDateTime",
            "Tidsstämpeln ska ha formen ÅÅÅÅ-MM-DDThh:mm:ss.sssZ (1–3 decimaler, UTC).",
            element,
        )
    elif name in ("messageId", "conversationId", "refToMessageId"):
        if not _UUID.search(_string_value(element)):
            code = "MessageId" if name == "messageId" else name
            yield rule_issue(code, f"{name} ska vara ett UUID (RFC 4122).", element)
    elif name == "label" and _parent_is(element, "messageHeader"):
        length = len(_string_value(element))
        if length > MAX_LABEL:
            yield rule_issue(
                "subjectlabel", f"Rubriken har {length} tecken; högst {MAX_LABEL}.", element
            )
    elif (
        name == "content"
        and _parent_is(element, "ContentFiles")
        and not _BASE64_START.match(_string_value(element))
    ):
        yield rule_issue(
            "contentFiles", "Innehållet ska vara filen kodad i base64 (RFC 4648).", element
        )


def _root_rules(element: etree._Element) -> Iterator[Finding]:
    value = _string_value(element)
    if _parent_is(element, "recipientID") and value != ORGANISATION_ROOT:
        yield rule_issue("recipientIdvalue", f"root ska vara {ORGANISATION_ROOT}.", element)
    if _parent_is(element, "senderID") and value != ORGANISATION_ROOT:
        yield rule_issue("senderIdvalue", f"root ska vara {ORGANISATION_ROOT}.", element)
    if _parent_is(element, "organizationId", "subOrganization") and (
        value != FUNCTIONAL_ADDRESS_ROOT
    ):
        yield rule_issue("subOrgRoot", f"root ska vara {FUNCTIONAL_ADDRESS_ROOT}.", element)


# --- B1.3.3 beyond the schematron -----------------------------------------------------------


def _specification_issues(root: etree._Element) -> Iterator[Finding]:
    for element in root.iter(_T + "extension", _T + "documents", _T + "content"):
        name = element.tag[len(_T):]
        if name == "extension" and (
            _parent_is(element, "senderID") or _parent_is(element, "recipientID")
        ):
            yield from _organisation_id(element)
        elif name == "documents" and not any(
            True for _ in element.iterchildren(_T + "ContentFiles", _T + "ContentText")
        ):
            yield rule_issue(
                "SDK_DOCUMENT_EMPTY",
                "Ett dokument ska ha minst en text (ContentText) eller en fil (ContentFiles).",
                element,
            )
        elif name == "content" and _parent_is(element, "ContentFiles"):
            yield from _base64(element)


def _organisation_id(element: etree._Element) -> Iterator[Finding]:
    value = _string_value(element)
    if _blank(value):
        return  # verifyNonEmptyElements names it
    try:
        check_organisation_id(value)
    except IdentifierError as exc:
        yield rule_issue("SDK_ORGANISATION_ID", exc.detail, element)


def _base64(element: etree._Element) -> Iterator[Finding]:
    value = _string_value(element)
    # Only where DIGG's looser test (the first character) passes, so one fault is named once.
    if not _BASE64_START.match(value):
        return
    try:
        decode_base64(value)
    except ValueError:
        yield rule_issue(
            "SDK_BASE64",
            "Innehållet ska vara base64 enligt RFC 4648: tecknen A–Z, a–z, 0–9, + och /, "
            "utfyllnad med = i slutet; radbrytningar och blanksteg tillåts.",
            element,
        )


def decode_base64(text: str) -> bytes:
    """Return the bytes of RFC 4648 base64 `text`, ignoring XML whitespace (line breaks);
    raise ValueError if it is not base64 (alphabet, padding, nothing after the padding)."""
    # Substring tests run at memory speed; a regular expression over 30 MB takes seconds.
    if any(space in text for space in " \t\r\n"):
        text = _XML_SPACE.sub("", text)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


# --- the envelope ---------------------------------------------------------------------------


def envelope_issues(
    *,
    message_id: str,
    sender_id: str,
    recipient_id: str,
    recipient_address: str,
    xhe_id: str,
    from_party: str,
    to_party: str,
    handling_service_id: str,
) -> list[FormIssue]:
    """Return the problems between a valid message's header and its XHE envelope (B1.3.3:
    messageId = XHE ID, senderID = FromParty, recipientID = ToParty, the recipient's functional
    address = HandlingServiceID); DIGG's schematron declares such checks but asserts none."""
    header = "/messagePayload/message/messageHeader"
    checks = (
        ("SDK_XHE_ID", message_id, xhe_id, f"{header}/messageId"),
        ("SDK_XHE_SENDER", sender_id, from_party, f"{header}/sender/senderID/extension"),
        ("SDK_XHE_RECIPIENT", recipient_id, to_party, f"{header}/recipient/recipientID/extension"),
        (
            "SDK_XHE_HANDLING_SERVICE",
            recipient_address,
            handling_service_id,
            f"{header}/recipient/attention/subOrganization/organizationId/extension",
        ),
    )
    return [
        rule_issue(code, path=path).issue()
        for code, ours, theirs, path in checks
        # UUIDs compare without case (RFC 4122); the other values are compared exactly.
        if (ours.lower() != theirs.lower() if code == "SDK_XHE_ID" else ours != theirs)
    ]
