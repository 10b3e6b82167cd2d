"""The SDK messages of the hälsoförfrågan exchange: building them from a form (its XML and the
signed consent form) or an answer (the signed PDF), and reading those files back out.

    message = inquiry_message(form_xml, sender=malmo, recipient=kryddgarden, message_id=…,
                              created=now, consent_pdf=pdf)
    content = inquiry_content(parse_message(data))     # .form.content, .consent
    answer = answer_message(pdf, sender=kryddgarden, recipient=malmo, message_id=…,
                            ref_to_message_id=inquiry_message_id, conversation_id=…, created=now)

Both carry one document; a hälsoförfrågan's files are the form's XML and, where given, the
consent PDF; an answer's are the signed PDF and, where given, the structured answer XML. A
message from elsewhere may spread its files over several documents: the readers look at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from forms.sdk.message import (
    Attention,
    ContentFile,
    Document,
    Header,
    Identifier,
    Message,
    Person,
    Recipient,
    Reference,
    Sender,
    SubOrganization,
    functional_address_id,
    organisation_id,
)
from forms.sdk.message_rules import Finding, MessageError, make_report, rule_issue

INQUIRY_LABEL = "Hälsoförfrågan"
ANSWER_LABEL = "Svar på hälsoförfrågan"
WITHDRAWAL_LABEL = "Återkallat samtycke"
INQUIRY_DOCUMENT_ID = "halsoforfragan"
ANSWER_DOCUMENT_ID = "svar"
# A consent withdrawal between gateways (forms/withdrawal.py) travels in a document of this id.
WITHDRAWAL_DOCUMENT_ID = "samtyckesaterkallelse"
# A SIP meeting's outcome between gateways: the body of the gateway API's outcome (JSON), in a
# document of this id, refToMessageId the invitation.
OUTCOME_DOCUMENT_ID = "sipUtfall"
OUTCOME_LABEL = "Utfall av SIP-möte"
# The plan of a held SIP meeting between gateways: its PDF, in a document of this id,
# refToMessageId the invitation.
PLAN_DOCUMENT_ID = "sipPlan"
PLAN_LABEL = "SIP-plan"
# The sender's follow-ups of an invitation, by their document's id.
FOLLOW_UP_DOCUMENT_IDS = frozenset({OUTCOME_DOCUMENT_ID, PLAN_DOCUMENT_ID})
JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
PDF_TYPE = "application/pdf"
XML_TYPES = frozenset({XML_TYPE, "text/xml"})
PDF_TYPES = frozenset({PDF_TYPE})
_BODY = "/messagePayload/message/messageBody"


@dataclass(frozen=True)
class Party:
    """One end of a message as the directory knows it: the organisation and its function."""

    organisation_id: str
    functional_address: str
    organisation_name: str | None = None
    function_name: str | None = None

    def attention(
        self, persons: Sequence[Person] = (), references: Sequence[Reference] = ()
    ) -> Attention:
        return Attention(
            SubOrganization(functional_address_id(self.functional_address), self.function_name),
            tuple(persons),
            tuple(references),
        )


def new_message(
    *,
    sender: Party,
    recipient: Party,
    documents: Sequence[Document],
    message_id: str,
    created: dt.datetime,
    conversation_id: str | None = None,
    ref_to_message_id: str | None = None,
    label: str | None = None,
    confidentiality: bool = True,
    generating_system: Identifier | None = None,
    sender_persons: Sequence[Person] = (),
    sender_references: Sequence[Reference] = (),
) -> Message:
    """Return a message between two parties; a new conversation (conversation_id None) takes
    the message's own id, as B1.3.3 suggests."""
    return Message(
        Header(
            creation_date_time=created,
            message_id=message_id,
            conversation_id=conversation_id or message_id,
            confidentiality=confidentiality,
            recipient=Recipient(
                organisation_id(recipient.organisation_id),
                recipient.attention(),
                recipient.organisation_name,
            ),
            sender=Sender(
                organisation_id(sender.organisation_id),
                sender.attention(sender_persons, sender_references),
                sender.organisation_name,
            ),
            ref_to_message_id=ref_to_message_id,
            label=label,
            generating_system=generating_system,
        ),
        tuple(documents),
    )


def inquiry_message(
    form_xml: bytes,
    *,
    sender: Party,
    recipient: Party,
    message_id: str,
    created: dt.datetime,
    conversation_id: str | None = None,
    consent_pdf: bytes | None = None,
    form_file_name: str = "halsoforfragan.xml",
    consent_file_name: str = "samtycke.pdf",
    label: str = INQUIRY_LABEL,
    text: str | None = None,
    generating_system: Identifier | None = None,
    document_id: str = INQUIRY_DOCUMENT_ID,
) -> Message:
    """Return the SDK message of a form (a hälsoförfrågan, a SIP invitation: `document_id` and
    `label` name its type): its XML as a file and, where given, the signed consent form as a
    second one (and `text` as the document's text)."""
    files = [ContentFile(form_file_name, XML_TYPE, form_xml)]
    if consent_pdf is not None:
        files.append(ContentFile(consent_file_name, PDF_TYPE, consent_pdf))
    document = _document(document_id, label, files, text)
    return new_message(
        sender=sender, recipient=recipient, documents=[document], message_id=message_id,
        created=created, conversation_id=conversation_id, label=label,
        generating_system=generating_system,
    )


def answer_message(
    pdf: bytes | None,
    *,
    sender: Party,
    recipient: Party,
    message_id: str,
    ref_to_message_id: str,
    conversation_id: str,
    created: dt.datetime,
    structured_xml: bytes | None = None,
    pdf_file_name: str = "svar.pdf",
    structured_file_name: str = "svar.xml",
    label: str = ANSWER_LABEL,
    text: str | None = None,
    generating_system: Identifier | None = None,
    document_id: str = ANSWER_DOCUMENT_ID,
    structured_type: str = XML_TYPE,
) -> Message:
    """Return the SDK message of an answer: the signed PDF (and the structured answer XML, where
    given), refToMessageId the inquiry's message id, in the inquiry's conversation. A reply
    that is XML alone (a SIP invitation's sipSvar) has no PDF: `structured_xml` is its file; so
    is a SIP meeting's outcome, in the other direction (JSON, `structured_type` JSON_TYPE, in an
    OUTCOME_DOCUMENT_ID document)."""
    files = [ContentFile(pdf_file_name, PDF_TYPE, pdf)] if pdf is not None else []
    if structured_xml is not None:
        files.append(ContentFile(structured_file_name, structured_type, structured_xml))
    document = _document(document_id, label, files, text)
    return new_message(
        sender=sender, recipient=recipient, documents=[document], message_id=message_id,
        created=created, conversation_id=conversation_id, ref_to_message_id=ref_to_message_id,
        label=label, generating_system=generating_system,
    )


def withdrawal_message(
    withdrawal_xml: bytes,
    *,
    sender: Party,
    recipient: Party,
    message_id: str,
    created: dt.datetime,
) -> Message:
    """Return the SDK message of a consent withdrawal (forms/withdrawal.py) from the sender unit's
    function to the care unit's: its XML the one file of a WITHDRAWAL_DOCUMENT_ID document."""
    files = [ContentFile("samtyckesaterkallelse.xml", XML_TYPE, withdrawal_xml)]
    document = _document(WITHDRAWAL_DOCUMENT_ID, WITHDRAWAL_LABEL, files, None)
    return new_message(
        sender=sender, recipient=recipient, documents=[document], message_id=message_id,
        created=created, label=WITHDRAWAL_LABEL,
    )


def outcome_content(message: Message) -> bytes:
    """Return the outcome (JSON) of a SIP outcome message; raise MessageError (SDK_FORM_FILE,
    SDK_FILE_TYPE) unless it is the message's one file."""
    return _one_file(message, JSON_TYPE, "en fil med utfallet som JSON")


def plan_content(message: Message) -> bytes:
    """Return the plan (PDF) of a SIP plan message; raise MessageError (SDK_FORM_FILE,
    SDK_FILE_TYPE) unless it is the message's one file."""
    return _one_file(message, PDF_TYPE, "en fil med planen som PDF")


def _one_file(message: Message, content_type: str, what: str) -> bytes:
    found, _, issues = _sort_files(message, frozenset({content_type}), frozenset())
    if len(found) != 1:
        issues.append(_count_issue("SDK_FORM_FILE", found, what))
    if issues:
        raise MessageError(make_report(issues))
    return found[0][1].content


def follow_up_of(message: Message) -> str | None:
    """Return the document id of the sender's follow-up the message carries (a SIP meeting's
    outcome, OUTCOME_DOCUMENT_ID, or its plan, PLAN_DOCUMENT_ID), or None."""
    return next((document.document_id for document in message.documents
                 if document.document_id in FOLLOW_UP_DOCUMENT_IDS), None)


def _document(
    document_id: str, name: str, files: Sequence[ContentFile], text: str | None
) -> Document:
    """The one document of a message the gateway builds: its files, and a text if given."""
    return Document(document_id, name, "1", tuple(files), (text,) if text is not None else ())


@dataclass(frozen=True)
class InquiryContent:
    """The files of a hälsoförfrågan message: the form's XML and the consent PDF, if any."""

    form: ContentFile
    consent: ContentFile | None = None


@dataclass(frozen=True)
class AnswerContent:
    """The files of an answer message: the signed PDF and the structured answer, if any."""

    pdf: ContentFile
    structured: ContentFile | None = None


def media_type(content_type: str) -> str:
    """Return the media type, lower-case, without parameters ("Text/XML; q=1": text/xml)."""
    return content_type.split(";", 1)[0].strip().lower()


def is_plain(message: Message) -> bool:
    """Return whether the message is a plain one, neither a form nor an answer: it has no
    refToMessageId and no XML file (a hälsoförfrågan is an XML file), so it goes from function to
    function as it is, text and files (DIGG's own example message is one)."""
    return message.header.ref_to_message_id is None and not any(
        media_type(file.content_type) in XML_TYPES for file in message.content_files
    )


def has_pdf(message: Message) -> bool:
    """Return whether any of the message's files is a PDF (an answer's signed PDF)."""
    return any(media_type(file.content_type) in PDF_TYPES for file in message.content_files)


def inquiry_content(message: Message) -> InquiryContent:
    """Return the form and the consent form of a hälsoförfrågan message; raise MessageError
    (SDK_FORM_FILE, SDK_CONSENT_FILE, SDK_FILE_TYPE) naming every file that does not fit."""
    xml, pdf, issues = _sort_files(message, XML_TYPES, PDF_TYPES)
    if len(xml) != 1:
        issues.append(_count_issue("SDK_FORM_FILE", xml, "en fil med hälsoförfrågan som XML"))
    if len(pdf) > 1:
        issues.append(_count_issue("SDK_CONSENT_FILE", pdf, "högst en samtyckesblankett (PDF)"))
    if issues:
        raise MessageError(make_report(issues))
    return InquiryContent(xml[0][1], pdf[0][1] if pdf else None)


def answer_content(message: Message) -> AnswerContent:
    """Return the signed PDF and the structured answer of an answer message; raise MessageError
    (SDK_REF_MISSING, SDK_ANSWER_FILE, SDK_STRUCTURED_FILE, SDK_FILE_TYPE) for what does not fit."""
    pdf, xml, issues = _sort_files(message, PDF_TYPES, XML_TYPES)
    issues += _ref_issues(message)
    if len(pdf) != 1:
        issues.append(_count_issue("SDK_ANSWER_FILE", pdf, "en signerad PDF"))
    if len(xml) > 1:
        issues.append(_count_issue("SDK_STRUCTURED_FILE", xml, "högst ett strukturerat svar (XML)"))
    if issues:
        raise MessageError(make_report(issues))
    return AnswerContent(pdf[0][1], xml[0][1] if xml else None)


def _ref_issues(message: Message) -> list[Finding]:
    if message.header.ref_to_message_id is not None:
        return []
    return [rule_issue("SDK_REF_MISSING", "Ett svar ska ange refToMessageId: förfrågans messageId.",
                       path="/messagePayload/message/messageHeader")]


def is_withdrawal(message: Message) -> bool:
    """Return whether the message carries a consent withdrawal (a WITHDRAWAL_DOCUMENT_ID
    document) rather than a hälsoförfrågan."""
    return message.header.ref_to_message_id is None and any(
        document.document_id == WITHDRAWAL_DOCUMENT_ID for document in message.documents
    )


def xml_content(message: Message, what: str = "återkallelsen som XML", *,
                reply: bool = False) -> ContentFile:
    """Return the one XML file of a message that carries nothing else (a consent withdrawal, a
    reply that is XML alone: `reply` requires refToMessageId); raise MessageError
    (SDK_REF_MISSING, SDK_FORM_FILE, SDK_FILE_TYPE) naming every file that does not fit."""
    xml, _, issues = _sort_files(message, XML_TYPES, frozenset())
    if reply:
        issues += _ref_issues(message)
    if len(xml) != 1:
        issues.append(_count_issue("SDK_FORM_FILE", xml, f"en fil med {what}"))
    if issues:
        raise MessageError(make_report(issues))
    return xml[0][1]


_Found = list[tuple[str, ContentFile]]


def _sort_files(
    message: Message, main: frozenset[str], extra: frozenset[str]
) -> tuple[_Found, _Found, list[Finding]]:
    """Return the files of type `main` and of type `extra` with their paths, and an issue for
    each file of any other type."""
    mains: _Found = []
    extras: _Found = []
    issues: list[Finding] = []
    for path, file in file_paths(message):
        kind = media_type(file.content_type)
        if kind in main:
            mains.append((path, file))
        elif kind in extra:
            extras.append((path, file))
        else:
            issues.append(rule_issue(
                "SDK_FILE_TYPE",
                f"Filtypen tas inte emot här; tillåtna är {', '.join(sorted(main | extra))}.",
                path=f"{path}/contentType",
            ))
    return mains, extras, issues


def _count_issue(code: str, found: _Found, expected: str) -> Finding:
    """An issue for the wrong number of files of a kind, at the second one if there are more."""
    detail = f"Meddelandet ska ha {expected}; det har {len(found)}."
    return rule_issue(code, detail, path=found[1][0] if len(found) > 1 else _BODY)


def file_paths(message: Message) -> list[tuple[str, ContentFile]]:
    """Return each content file with the element path it has in the built message (as
    forms.xmlsafe.element_path writes it: an index only where siblings share the name)."""
    found = []
    several = len(message.documents) > 1
    for d, document in enumerate(message.documents):
        doc = f"{_BODY}/documents" + (f"[{d + 1}]" if several else "")
        files = document.content_files
        for f, file in enumerate(files):
            found.append((f"{doc}/ContentFiles" + (f"[{f + 1}]" if len(files) > 1 else ""), file))
    return found
