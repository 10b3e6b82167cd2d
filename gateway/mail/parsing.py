"""Reading a submitted mail: the recipient's kind, and the one XML or PDF attachment it carries."""

from __future__ import annotations

import binascii
import enum
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.message import Message
from email.parser import BytesHeaderParser
from typing import IO

from gateway.bodies import Base64Decoder, NotBase64, spooled_file

INTAKE_LOCAL_PART = "halsoforfragan"
# The intake address of each form type: its local part and the form type (inquiries.form_type).
INTAKE_LOCAL_PARTS = {INTAKE_LOCAL_PART: "halsoforfragan", "sip": "sip"}
REPLY_LOCAL_PREFIX = "svar+"
XML_TYPES = frozenset({"application/xml", "text/xml"})
TRANSFER_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
# Bounds on the MIME tree, so that a crafted message cannot make the walk expensive.
MAX_PARTS = 200
MAX_DEPTH = 10
# A part's headers together, and a line read at a time (SMTP's lines are 1,000 at most).
MAX_HEADER_BYTES = 256 * 1024
MAX_LINE = 64 * 1024
# A body is decoded in pieces of about this size.
BODY_CHUNK = 256 * 1024
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
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


def xml_attachment(source: bytes | IO[bytes]) -> bytes:
    """Return the decoded bytes of the message's one XML attachment (a hälsoförfrågan).

    An XML part is one typed application/xml or text/xml, or named *.xml; base64 and
    quoted-printable are decoded. Raises MailContentError when there is none, more than
    one, or it cannot be decoded.
    """
    with attachment_file(source, XML) as found:
        return found.read()


def pdf_attachment(source: bytes | IO[bytes]) -> bytes:
    """Return the decoded bytes of the message's one PDF attachment (an answer by mail).

    A PDF part is typed application/pdf or named *.pdf. Raises MailContentError when there is
    none, more than one, or it cannot be decoded.
    """
    with attachment_file(source, PDF) as found:
        return found.read()


def attachment_file(source: bytes | IO[bytes], kind: Attachment) -> IO[bytes]:
    """Return the decoded bytes of the message's one attachment of `kind` in a spooled file
    (on disk when large; the caller closes it), at its start; raise MailContentError naming
    why when there is none, more than one, or it cannot be read.

    The message is read line by line from `source` (a mail on disk stays there): headers are
    parsed a part at a time, and only the attachment's body is decoded, into the file.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    stream.seek(0)
    walk = _Walk(_Lines(stream), kind)
    try:
        walk.entity(depth=0, boundaries=())
        return walk.result()
    except MailContentError:
        walk.close()
        raise
    except (MessageError, ValueError, LookupError, TypeError, AttributeError):
        walk.close()
        # The header parser is lenient, but some malformed headers still trip it.
        raise MailContentError(
            "MAIL_UNREADABLE", "Meddelandet kunde inte läsas som e-post (MIME)."
        ) from None
    except BaseException:
        walk.close()
        raise


class _Lines:
    """A binary stream's lines (each with its line ending), a line longer than MAX_LINE in
    pieces; one line can be put back."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.back: bytes | None = None
        self.at_start = True  # the next piece begins a line

    def next(self) -> tuple[bytes, bool]:
        """Return the next piece and whether it begins a line; b"" at the end."""
        if self.back is not None:
            line, self.back = self.back, None
            return line, True
        begins = self.at_start
        line = self.stream.readline(MAX_LINE)
        self.at_start = line.endswith(b"\n")
        return line, begins

    def put_back(self, line: bytes) -> None:
        self.back = line


class _Walk:
    """One pass over a message: counts the leaves, finds the attachments of one kind and
    decodes the first into a spooled file."""

    def __init__(self, lines: _Lines, kind: Attachment) -> None:
        self.lines = lines
        self.kind = kind
        self.leaves = 0
        self.matches = 0
        self.out: IO[bytes] | None = None
        self.failure: MailContentError | None = None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()

    def result(self) -> IO[bytes]:
        if not self.matches:
            raise MailContentError(*self.kind.missing)
        if self.matches > 1:
            code, reason = self.kind.several
            raise MailContentError(code, reason.format(count=self.matches))
        if self.failure is not None:
            raise self.failure
        if self.out is None or not _has_content(self.out):
            label = self.kind.label
            raise MailContentError(f"MAIL_{label}_EMPTY", f"{label}-bilagan är tom.")
        out, self.out = self.out, None
        out.seek(0)
        return out

    # -- the tree ---------------------------------------------------------------------------

    def entity(self, depth: int, boundaries: tuple[bytes, ...]) -> bytes | None:
        """Read one entity (headers and body); return the boundary line that ended it
        (None at the end of the message)."""
        if depth > MAX_DEPTH:
            raise MailContentError(
                "MAIL_TOO_DEEP", f"Meddelandet har fler än {MAX_DEPTH} nivåer av MIME-delar."
            )
        headers = self.headers(boundaries)
        boundary = headers.get_param("boundary") if headers.get_content_maintype() == (
            "multipart") else None
        if isinstance(boundary, str) and boundary:
            return self.multipart(depth, boundaries, boundary.encode("utf-8", "surrogateescape"))
        if headers.get_content_maintype() == "message":
            return self.body(boundaries, None)  # an attached mail's parts are not this mail's
        self.leaves += 1
        if self.leaves > MAX_PARTS:
            raise MailContentError(
                "MAIL_TOO_MANY_PARTS", f"Meddelandet har fler än {MAX_PARTS} MIME-delar."
            )
        if not self.kind.matches(headers):
            return self.body(boundaries, None)
        self.matches += 1
        if self.matches > 1:
            return self.body(boundaries, None)
        return self.body(boundaries, self.decoder(headers))

    def headers(self, boundaries: tuple[bytes, ...]) -> Message:
        """Parse the entity's header lines: up to the blank line, or the first line that is no
        header or a boundary line (which is left for the body)."""
        block = bytearray()
        while True:
            line, begins = self.lines.next()
            if not line:
                break
            if begins and self.is_boundary(line, boundaries):
                self.lines.put_back(line)
                break
            if begins and line in (b"\r\n", b"\n"):
                break
            if begins and not _HEADER_LINE.match(line) and not (block and line[:1] in b" \t"):
                self.lines.put_back(line)
                break
            block += line
            if len(block) > MAX_HEADER_BYTES:
                raise MailContentError(
                    "MAIL_UNREADABLE", "Meddelandet kunde inte läsas som e-post (MIME)."
                )
        return BytesHeaderParser(policy=policy.default).parsebytes(bytes(block))

    @staticmethod
    def is_boundary(line: bytes, boundaries: tuple[bytes, ...]) -> bool:
        if not line.startswith(b"--"):
            return False
        text = line.rstrip(b"\r\n").rstrip(b" \t")
        return any(text in (b"--" + b, b"--" + b + b"--") for b in boundaries)

    def multipart(self, depth: int, boundaries: tuple[bytes, ...], boundary: bytes) -> bytes | None:
        inner = (*boundaries, boundary)
        opening, closing = b"--" + boundary, b"--" + boundary + b"--"
        ended = self.body(inner, None)  # the preamble
        while ended is not None:
            text = ended.rstrip(b"\r\n").rstrip(b" \t")
            if text == closing:
                return self.body(boundaries, None)  # the epilogue
            if text != opening:
                return ended  # an enclosing multipart's boundary ends this one too
            ended = self.entity(depth + 1, inner)
        return None

    # -- bodies -----------------------------------------------------------------------------

    def decoder(self, headers: Message) -> _BodyDecoder | None:
        encoding = str(headers.get("Content-Transfer-Encoding", "7bit")).strip().lower()
        if encoding not in TRANSFER_ENCODINGS:
            self.failure = MailContentError(
                "MAIL_ENCODING",
                f"{self.kind.label}-bilagan har en okänd överföringskodning ({encoding[:40]}); "
                "använd base64 eller quoted-printable.",
            )
            return None
        self.out = spooled_file()
        return _BodyDecoder(encoding, self.out)

    def body(self, boundaries: tuple[bytes, ...], decoder: _BodyDecoder | None) -> bytes | None:
        """Read a body up to the next boundary line (returned) or the end (None), decoding it
        into the attachment's file when a decoder is given."""
        while True:
            line, begins = self.lines.next()
            if not line or (begins and self.is_boundary(line, boundaries)):
                break
            if decoder is not None:
                decoder.line(line)
        if decoder is not None:
            try:
                decoder.finish()
            except NotBase64:
                self.failure = MailContentError(
                    "MAIL_ENCODING", f"{self.kind.label}-bilagans base64-kodning är trasig."
                )
        return line or None


class _BodyDecoder:
    """Decodes one body, given line by line, into a file. The line ending before a boundary
    belongs to the boundary, so each line's ending is written only once the next line comes."""

    def __init__(self, encoding: str, out: IO[bytes]) -> None:
        self.encoding = encoding
        self.out = out
        self.base64 = Base64Decoder(out) if encoding == "base64" else None
        self.buffer = bytearray()
        self.held = b""  # the last line's ending, not yet written
        self.broken = False

    def line(self, line: bytes) -> None:
        """Take the next line; once broken (not base64), the rest is only read past."""
        if self.broken:
            return
        if self.base64 is not None:
            self.buffer += line
        else:
            ending = line[len(line.rstrip(b"\r\n")):]
            self.buffer += self.held + line[: len(line) - len(ending)]
            self.held = ending
        if len(self.buffer) >= BODY_CHUNK:
            try:
                self.flush(final=False)
            except NotBase64:
                self.broken = True

    def flush(self, final: bool) -> None:
        piece = bytes(self.buffer)
        self.buffer.clear()
        if self.base64 is not None:
            self.base64.feed(piece)
            return
        if self.encoding == "quoted-printable":
            # Whole lines only, so that a soft line break ("=" at a line's end) is seen whole.
            cut = piece.rfind(b"\n") + 1
            if not final and cut < len(piece):
                self.buffer += piece[cut:]
                piece = piece[:cut]
            piece = binascii.a2b_qp(piece)
        self.out.write(piece)

    def finish(self) -> None:
        """Write what is left; raise NotBase64 when a base64 body was not base64."""
        if self.broken:
            raise NotBase64("not base64")
        self.flush(final=True)
        if self.base64 is not None:
            self.base64.finish()


def _has_content(file: IO[bytes]) -> bool:
    """Whether the file holds anything but whitespace (it is left at its start)."""
    file.seek(0)
    try:
        while piece := file.read(BODY_CHUNK):
            if piece.strip():
                return True
        return False
    finally:
        file.seek(0)
