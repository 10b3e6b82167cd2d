"""Reading a sendMessage body (JSON:API, DIGG's createMessage): the SDK header fields and the one
content file: the hälsoförfrågan XML, or for an answer (`refToMessageId` set) the signed PDF.
Every refusal is a 400 naming the JSON path."""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from forms.xmlsafe import DEFAULT_MAX_BYTES
from gateway import codes
from gateway.bodies import SPOOL_IN_MEMORY, LargeText, NotBase64
from gateway.codes import Code
from gateway.errors import GatewayError

SDK_BAD_REQUEST = "urn:problem-type:sdk:badRequest"
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})
PDF_CONTENT_TYPES = frozenset({"application/pdf"})
MAX_LABEL = 256
MAX_ADDRESS = 256
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Base64 of the largest XML the forms library reads, and a little slack for line breaks.
MAX_BASE64 = DEFAULT_MAX_BYTES * 4 // 3 + 1024
# P1: an answer PDF is at most 30 MB (the SDK maximum); its base64, with the same slack.
MAX_PDF_BYTES = 30 * 1024 * 1024
MAX_PDF_BASE64 = MAX_PDF_BYTES * 4 // 3 + 1024


def bad_request(code: Code, detail: str, location: str = "") -> GatewayError:
    """Return a 400 in SDK's problem type, with one eventIssue naming where."""
    return GatewayError.at(code, detail, location,
                           extra={"type": SDK_BAD_REQUEST, "code": code.code})


@dataclass(frozen=True)
class Envelope:
    """What a sendMessage body says, and its one content file: the form's XML, or the answer's
    signed PDF when `ref_to_message_id` is set."""

    resource_id: str | None
    message_id: str | None
    conversation_id: str | None
    label: str
    sender: str
    recipient: str
    sender_address: str
    recipient_address: str | None
    # The form's XML; empty for an answer, whose signed PDF is in `pdf`.
    content: bytes
    ref_to_message_id: str | None = None
    # The answer's PDF in a spooled file (on disk when large): read once, by the answer service.
    pdf: IO[bytes] | None = None

    @property
    def is_answer(self) -> bool:
        return self.ref_to_message_id is not None

    def close(self) -> None:
        """Close the answer's spooled file (if any)."""
        if self.pdf is not None:
            self.pdf.close()


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(codes.SDK_STRUCTURE, f"{path} ska vara ett objekt.", path)
    return value


def _string(attrs: dict[str, Any], key: str, path: str, *, required: bool,
            max_length: int = MAX_ADDRESS) -> str | None:
    value = attrs.get(key)
    where = f"{path}.{key}"
    if value is None:
        if required:
            raise bad_request(codes.SDK_REQUIRED, f"{where} saknas.", where)
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise bad_request(
            codes.SDK_INVALID, f"{where} ska vara en text med 1–{max_length} tecken.", where,
        )
    return value.strip()


def _uuid(attrs: dict[str, Any], key: str, path: str) -> str | None:
    value = _string(attrs, key, path, required=False, max_length=36)
    if value is not None and not UUID.match(value):
        where = f"{path}.{key}"
        raise bad_request(codes.SDK_INVALID, f"{where} ska vara ett UUID.", where)
    return value.lower() if value else None


def _address(attrs: dict[str, Any], key: str, path: str, *, required: bool) -> str | None:
    where = f"{path}.{key}"
    if attrs.get(key) is None and not required:
        return None
    attention = _object(attrs.get(key), where)
    organisation = _object(attention.get("subOrganization"), f"{where}.subOrganization")
    return _string(organisation, "extension", f"{where}.subOrganization", required=True)


@dataclass(frozen=True)
class _FileRule:
    """What the one content file must be."""

    types: frozenset[str]
    max_base64: int
    missing: str  # the refusal's detail when there is no file
    count: str  # the detail when there is not exactly one; {n} is how many there are
    wrong_type: str  # the detail when the type is wrong; {given} is the type given
    too_large: tuple[Code, str]  # the refusal and its detail when it is too large


FORM_FILE = _FileRule(
    XML_CONTENT_TYPES, MAX_BASE64,
    "digitalDocument ska innehålla hälsoförfrågan som en fil (contentType application/xml, "
    "base64).",
    "Meddelandet ska ha exakt en fil, hälsoförfrågan som XML; det har {n}.",
    "contentType ska vara application/xml, inte {given}.",
    (codes.FORM_FILE_TOO_LARGE, f"Hälsoförfrågan får vara högst {DEFAULT_MAX_BYTES} byte."),
)
ANSWER_FILE = _FileRule(
    PDF_CONTENT_TYPES, MAX_PDF_BASE64,
    "digitalDocument ska innehålla svaret som en fil: den signerade PDF:en (contentType "
    "application/pdf, base64).",
    "Svaret ska ha exakt en fil, den signerade PDF:en; det har {n}.",
    "contentType ska vara application/pdf, inte {given}.",
    (codes.ANSWER_FILE_TOO_LARGE, f"Svarets PDF får vara högst {MAX_PDF_BYTES} byte."),
)


def _content_file(attrs: dict[str, Any], path: str, rule: _FileRule) -> tuple[Any, str]:
    """Return the one content file's content (base64, not yet decoded) and its JSON path;
    refuse anything else."""
    where = f"{path}.digitalDocument"
    documents = attrs.get("digitalDocument")
    if not isinstance(documents, list) or not documents:
        missing = codes.SDK_NO_ANSWER if rule is ANSWER_FILE else codes.SDK_NO_FORM
        raise bad_request(missing, rule.missing, where)
    files: list[tuple[str, dict[str, Any]]] = []
    for d, document in enumerate(documents):
        doc = _object(document, f"{where}[{d}]")
        listed = doc.get("contentFiles") or []
        if not isinstance(listed, list):
            raise bad_request(
                codes.SDK_STRUCTURE, f"{where}[{d}].contentFiles ska vara en lista.",
                f"{where}[{d}].contentFiles",
            )
        for f, item in enumerate(listed):
            place = f"{where}[{d}].contentFiles[{f}]"
            files.append((place, _object(item, place)))
    if len(files) != 1:
        raise bad_request(codes.SDK_FILE_COUNT, rule.count.format(n=len(files)), where)
    file_path, file = files[0]
    content_type = _string(file, "contentType", file_path, required=True) or ""
    if content_type.split(";")[0].strip().lower() not in rule.types:
        wrong = codes.SDK_CONTENT_NOT_PDF if rule is ANSWER_FILE else codes.SDK_CONTENT_TYPE
        raise bad_request(wrong, rule.wrong_type.format(given=repr(content_type[:60])),
                          f"{file_path}.contentType")
    return file.get("content"), f"{file_path}.content"


def _pdf_file(content: Any, where: str) -> IO[bytes]:
    """Return the answer's PDF in a spooled file: decoded in pieces when the body was large."""
    if isinstance(content, LargeText) and len(content) <= ANSWER_FILE.max_base64:
        try:
            return content.decode_base64_file()
        except NotBase64:
            raise bad_request(codes.SDK_BASE64, "content ska vara base64 (RFC 4648).",
                              where) from None
    decoded = _decode(content, where, ANSWER_FILE)
    file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the envelope's
    file.write(decoded)
    file.seek(0)
    return file


def _decode(content: Any, where: str, rule: _FileRule) -> bytes:
    if not isinstance(content, str | LargeText) or not content:
        raise bad_request(
            codes.SDK_FILE_CONTENT_REQUIRED, "content ska vara filen i base64.", where,
        )
    if len(content) > rule.max_base64:
        code, detail = rule.too_large
        raise bad_request(code, detail, where)
    try:
        if isinstance(content, LargeText):
            # Decoded in pieces from its spooled file (gateway/bodies.py).
            return content.decode_base64()
        return base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(codes.SDK_BASE64, "content ska vara base64 (RFC 4648).", where) from None


def read_envelope(body: Any) -> Envelope:
    """Return the envelope of a createMessage body; raise GatewayError 400 naming the path."""
    data = _object(_object(body, "body").get("data"), "data")
    kind = data.get("type")
    if kind is not None and kind != "messages":
        raise bad_request(codes.SDK_INVALID, "data.type ska vara \"messages\".", "data.type")
    attrs = _object(data.get("attributes"), "data.attributes")
    path = "data.attributes"
    if attrs.get("messageStatus") is not None:
        raise bad_request(
            codes.SDK_INVALID, "messageStatus sätts av meddelandetjänsten, inte av klienten.",
            f"{path}.messageStatus",
        )
    if not isinstance(attrs.get("confidentiality"), bool):
        raise bad_request(
            codes.SDK_REQUIRED, f"{path}.confidentiality ska vara true eller false.",
            f"{path}.confidentiality",
        )
    resource_id = data.get("id")
    if resource_id is not None and not (isinstance(resource_id, str) and UUID.match(resource_id)):
        raise bad_request(codes.SDK_INVALID, "data.id ska vara ett UUID.", "data.id")
    # An answer names the message it answers (B1.4.2: refToMessageId, set by the sender).
    ref_to = _uuid(attrs, "refToMessageId", path)
    content, where = _content_file(attrs, path, ANSWER_FILE if ref_to else FORM_FILE)
    return Envelope(
        resource_id=resource_id.lower() if resource_id else None,
        message_id=_uuid(attrs, "messageId", path),
        conversation_id=_uuid(attrs, "conversationId", path),
        label=_string(attrs, "label", path, required=True, max_length=MAX_LABEL) or "",
        sender=_string(attrs, "sender", path, required=True) or "",
        recipient=_string(attrs, "recipient", path, required=True) or "",
        sender_address=_address(attrs, "senderAttention", path, required=True) or "",
        recipient_address=_address(attrs, "recipientAttention", path, required=False),
        content=b"" if ref_to else _decode(content, where, FORM_FILE),
        ref_to_message_id=ref_to,
        pdf=_pdf_file(content, where) if ref_to else None,
    )
