"""Reading a submitted mail: the recipient's kind, and the one XML or PDF attachment it carries."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.errors import (
    InvalidBase64CharactersDefect,
    InvalidBase64PaddingDefect,
    MessageError,
)
from email.message import EmailMessage, Message
from email.parser import BytesParser

INTAKE_LOCAL_PART = "halsoforfragan"
# The intake address of each form type: its local part and the form type (inquiries.form_type).
INTAKE_LOCAL_PARTS = {INTAKE_LOCAL_PART: "halsoforfragan", "sip": "sip"}
REPLY_LOCAL_PREFIX = "svar+"
XML_TYPES = frozenset({"application/xml", "text/xml"})
TRANSFER_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
# Bounds on the MIME tree, so that a crafted message cannot make the walk expensive.
MAX_PARTS = 200
MAX_DEPTH = 10
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,100}$")


class RecipientKind(enum.StrEnum):
    INTAKE = "intake"
    # A REKO's answer to the per-inquiry reply address (answers by mail come later).
    REPLY = "reply"


@dataclass(frozen=True)
class Recipient:
    """An accepted recipient: what it is for, its domain, for a reply the token and for an
    intake the form type it takes."""

    kind: RecipientKind
    domain: str
    token: str | None = None
    form_type: str | None = None


def classify_recipient(address: str, domains: Sequence[str]) -> Recipient | None:
    """Return what the address is for, or None for an address the gateway does not serve."""
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    if not at or domain not in {d.lower() for d in domains}:
        return None
    form_type = INTAKE_LOCAL_PARTS.get(local.lower())
    if form_type is not None:
        return Recipient(RecipientKind.INTAKE, domain, form_type=form_type)
    if local[: len(REPLY_LOCAL_PREFIX)].lower() == REPLY_LOCAL_PREFIX:
        # The token is case-sensitive: it is unguessable only as written.
        token = local[len(REPLY_LOCAL_PREFIX):]
        if _TOKEN.match(token):
            return Recipient(RecipientKind.REPLY, domain, token)
    return None


class MailContentError(Exception):
    """The message cannot be taken in; `reason` (Swedish) says why, for the 5xx reply."""

    def __init__(self, code: str, reason: str) -> None:
        # Both in args: the error crosses from a parsing process back to the listener (pickle).
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


def parse_message(raw: bytes) -> EmailMessage:
    """Return the message parsed with the standard library's modern policy."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _leaves(message: Message, depth: int = 0) -> Iterator[Message]:
    """Yield the message's non-multipart parts, not descending into attached messages
    (a forwarded mail's attachments are not this mail's)."""
    if depth > MAX_DEPTH:
        raise MailContentError(
            "MAIL_TOO_DEEP", f"Meddelandet har fler än {MAX_DEPTH} nivåer av MIME-delar."
        )
    if not message.is_multipart():
        yield message
        return
    payload = message.get_payload()
    if message.get_content_maintype() == "message":
        return
    for part in payload if isinstance(payload, list) else []:
        if isinstance(part, Message):
            yield from _leaves(part, depth + 1)


@dataclass(frozen=True)
class Attachment:
    """A kind of attachment a mail must carry exactly one of: how its part is recognised (a
    content type, or a file name ending), and what a refusal says."""

    label: str
    content_types: frozenset[str]
    suffix: str
    # (code, reason) of the refusals; `several`'s reason may name the {count}.
    missing: tuple[str, str]
    several: tuple[str, str]

    def matches(self, part: Message) -> bool:
        filename = (part.get_filename() or "").lower()
        return part.get_content_type() in self.content_types or filename.endswith(self.suffix)


XML = Attachment(
    "XML", XML_TYPES, ".xml",
    missing=("MAIL_NO_XML", "Meddelandet saknar XML-bilaga: bifoga hälsoförfrågan som en fil "
                            "av typen application/xml (filnamn *.xml)."),
    several=("MAIL_SEVERAL_XML", "Meddelandet har {count} XML-bilagor: skicka exakt en "
                                 "hälsoförfrågan per meddelande."),
)
_ONE_PDF = "Bifoga exakt en signerad svarsfil (PDF, application/pdf) per meddelande."
PDF = Attachment("PDF", frozenset({"application/pdf"}), ".pdf",
                 missing=("MAIL_NO_PDF", _ONE_PDF), several=("MAIL_SEVERAL_PDF", _ONE_PDF))


def xml_attachment(raw: bytes) -> bytes:
    """Return the decoded bytes of the message's one XML attachment (a hälsoförfrågan).

    An XML part is one typed application/xml or text/xml, or named *.xml; base64 and
    quoted-printable are decoded. Raises MailContentError when there is none, more than
    one, or it cannot be decoded.
    """
    return one_attachment(raw, XML)


def pdf_attachment(raw: bytes) -> bytes:
    """Return the decoded bytes of the message's one PDF attachment (an answer by mail).

    A PDF part is typed application/pdf or named *.pdf. Raises MailContentError when there is
    none, more than one, or it cannot be decoded.
    """
    return one_attachment(raw, PDF)


def one_attachment(raw: bytes, kind: Attachment) -> bytes:
    """Return the decoded bytes of the message's one attachment of `kind`; raise
    MailContentError naming why when there is none, more than one, or it cannot be read."""
    try:
        return _decoded(_the_part(parse_message(raw), kind), kind)
    except MailContentError:
        raise
    except (MessageError, ValueError, LookupError, TypeError, AttributeError):
        # The parser is lenient, but some malformed headers still trip it.
        raise MailContentError(
            "MAIL_UNREADABLE", "Meddelandet kunde inte läsas som e-post (MIME)."
        ) from None


def _the_part(message: Message, kind: Attachment) -> Message:
    found = []
    for count, part in enumerate(_leaves(message), start=1):
        if count > MAX_PARTS:
            raise MailContentError(
                "MAIL_TOO_MANY_PARTS", f"Meddelandet har fler än {MAX_PARTS} MIME-delar."
            )
        if kind.matches(part):
            found.append(part)
    if not found:
        raise MailContentError(*kind.missing)
    if len(found) > 1:
        code, reason = kind.several
        raise MailContentError(code, reason.format(count=len(found)))
    return found[0]


def _decoded(part: Message, kind: Attachment) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding not in TRANSFER_ENCODINGS:
        raise MailContentError(
            "MAIL_ENCODING",
            f"{kind.label}-bilagan har en okänd överföringskodning ({encoding[:40]}); "
            "använd base64 eller quoted-printable.",
        )
    data = part.get_payload(decode=True)
    bad_base64 = (InvalidBase64CharactersDefect, InvalidBase64PaddingDefect)
    if any(isinstance(defect, bad_base64) for defect in part.defects):
        raise MailContentError("MAIL_ENCODING", f"{kind.label}-bilagans base64-kodning är trasig.")
    if not isinstance(data, bytes) or not data.strip():
        raise MailContentError(f"MAIL_{kind.label}_EMPTY", f"{kind.label}-bilagan är tom.")
    return data
