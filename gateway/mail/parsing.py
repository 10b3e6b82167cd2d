"""Reading a submitted mail: the recipient's kind, and the one XML attachment it must carry."""

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
    """An accepted recipient: what it is for, its domain and, for a reply, the token."""

    kind: RecipientKind
    domain: str
    token: str | None = None


def classify_recipient(address: str, domains: Sequence[str]) -> Recipient | None:
    """Return what the address is for, or None for an address the gateway does not serve."""
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    if not at or domain not in {d.lower() for d in domains}:
        return None
    if local.lower() == INTAKE_LOCAL_PART:
        return Recipient(RecipientKind.INTAKE, domain)
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


def _is_xml(part: Message) -> bool:
    filename = part.get_filename() or ""
    return part.get_content_type() in XML_TYPES or filename.lower().endswith(".xml")


def _decoded(part: Message) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding not in TRANSFER_ENCODINGS:
        raise MailContentError(
            "MAIL_ENCODING",
            f"XML-bilagan har en okänd överföringskodning ({encoding[:40]}); "
            "använd base64 eller quoted-printable.",
        )
    data = part.get_payload(decode=True)
    bad_base64 = (InvalidBase64CharactersDefect, InvalidBase64PaddingDefect)
    if any(isinstance(defect, bad_base64) for defect in part.defects):
        raise MailContentError("MAIL_ENCODING", "XML-bilagans base64-kodning är trasig.")
    if not isinstance(data, bytes) or not data.strip():
        raise MailContentError("MAIL_XML_EMPTY", "XML-bilagan är tom.")
    return data


def xml_attachment(raw: bytes) -> bytes:
    """Return the decoded bytes of the message's one XML attachment.

    An XML part is one typed application/xml or text/xml, or named *.xml; base64 and
    quoted-printable are decoded. Raises MailContentError when there is none, more than
    one, or it cannot be decoded.
    """
    try:
        return _xml_attachment(raw)
    except MailContentError:
        raise
    except (MessageError, ValueError, LookupError, TypeError, AttributeError):
        # The parser is lenient, but some malformed headers still trip it.
        raise MailContentError(
            "MAIL_UNREADABLE", "Meddelandet kunde inte läsas som e-post (MIME)."
        ) from None


def _xml_attachment(raw: bytes) -> bytes:
    message = parse_message(raw)
    found = []
    for count, part in enumerate(_leaves(message), start=1):
        if count > MAX_PARTS:
            raise MailContentError(
                "MAIL_TOO_MANY_PARTS", f"Meddelandet har fler än {MAX_PARTS} MIME-delar."
            )
        if _is_xml(part):
            found.append(part)
    if not found:
        raise MailContentError(
            "MAIL_NO_XML",
            "Meddelandet saknar XML-bilaga: bifoga hälsoförfrågan som en fil av typen "
            "application/xml (filnamn *.xml).",
        )
    if len(found) > 1:
        raise MailContentError(
            "MAIL_SEVERAL_XML",
            f"Meddelandet har {len(found)} XML-bilagor: skicka exakt en hälsoförfrågan per "
            "meddelande.",
        )
    return _decoded(found[0])


def pdf_attachment(raw: bytes) -> bytes:
    """Return the decoded bytes of the message's one PDF attachment (an answer by mail).

    A PDF part is typed application/pdf or named *.pdf. Raises MailContentError when there is
    none, more than one, or it cannot be decoded.
    """
    try:
        message = parse_message(raw)
        found = []
        for count, part in enumerate(_leaves(message), start=1):
            if count > MAX_PARTS:
                raise MailContentError(
                    "MAIL_TOO_MANY_PARTS", f"Meddelandet har fler än {MAX_PARTS} MIME-delar."
                )
            filename = (part.get_filename() or "").lower()
            if part.get_content_type() == "application/pdf" or filename.endswith(".pdf"):
                found.append(part)
    except MailContentError:
        raise
    except (MessageError, ValueError, LookupError, TypeError, AttributeError):
        raise MailContentError(
            "MAIL_UNREADABLE", "Meddelandet kunde inte läsas som e-post (MIME)."
        ) from None
    if len(found) != 1:
        raise MailContentError(
            "MAIL_NO_PDF" if not found else "MAIL_SEVERAL_PDF",
            "Bifoga exakt en signerad svarsfil (PDF, application/pdf) per meddelande.",
        )
    data = _decoded(found[0])
    if data.strip() == b"":
        raise MailContentError("MAIL_PDF_EMPTY", "PDF-bilagan är tom.")
    return data
