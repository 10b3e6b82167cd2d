"""Reading a sendMessage body with the SDK library (forms.sdk.jsonapi): the message as the
client sent it, its canonical XML, and its content files (a hälsoförfrågan's form XML and consent
PDF, an answer's signed PDF and structured XML, or a plain message's files as they are). Every
problem is named at once (400).

The body comes from gateway.bodies.read_json: a content file's base64 longer than its threshold
is a `LargeText` (a spooled file). The message is read with a small stand-in in its place; the
real file is decoded in pieces beside it. An answer's signed PDF stays in a spooled file (the
answer service reads it once) and is left out of the message kept (ANSWER_PDF_LEFT_OUT); other
large files go back into the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from forms.sdk.content import (
    AnswerContent,
    InquiryContent,
    answer_content,
    has_pdf,
    inquiry_content,
    is_plain,
)
from forms.sdk.jsonapi import ATTRIBUTES, read_create_message
from forms.sdk.message import ContentFile, Message, build_message
from forms.sdk.message_rules import (
    MAX_MESSAGE_BYTES,
    Finding,
    MessageError,
    make_report,
    rule_issue,
)
from gateway import codes
from gateway.bodies import LargeText, NotBase64, spooled_file
from gateway.inquiries.sdk_messages import ANSWER_PDF_LEFT_OUT, with_answer_pdf
from gateway.sdkapi.problems import bad_request, message_refusal


@dataclass(frozen=True)
class SentMessage:
    """A sendMessage body read: the message (with the service's defaults where the client left
    a header field out, see `defaulted`), its XML, and its content files."""

    message: Message
    xml: bytes
    resource_id: str | None
    defaulted: frozenset[str]
    # SHA-256 of the body as sent (canonical JSON): the same messageId again with another
    # digest is another message.
    digest: str
    inquiry: InquiryContent | None = None
    # An answer's files; its PDF is in `pdf` (the message and XML have ANSWER_PDF_LEFT_OUT). A
    # reply without a PDF (a SIP invitation's sipSvar) has neither: its file is in `message`.
    answer: AnswerContent | None = None
    pdf: IO[bytes] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Close the answer's spooled PDF (if any)."""
        if self.pdf is not None:
            self.pdf.close()

    @property
    def is_answer(self) -> bool:
        return self.message.header.ref_to_message_id is not None

    @property
    def is_plain(self) -> bool:
        """Whether it is a plain message (forms.sdk.content.is_plain): no form, no answer."""
        return not self.is_answer and self.inquiry is None

    @property
    def ref_to_message_id(self) -> str | None:
        ref = self.message.header.ref_to_message_id
        return ref.lower() if ref else None

    @property
    def message_id(self) -> str | None:
        """The client's own messageId (or data.id), None when it gave neither."""
        if "messageId" not in self.defaulted:
            return self.message.header.message_id.lower()
        return self.resource_id.lower() if self.resource_id else None

    @property
    def conversation_id(self) -> str | None:
        """The client's conversationId, None when it gave none."""
        if "conversationId" in self.defaulted:
            return None
        return self.message.header.conversation_id.lower()

    @property
    def label(self) -> str:
        return self.message.header.label or ""

    @property
    def sender(self) -> str:
        return self.message.sender_organisation

    @property
    def recipient(self) -> str:
        return self.message.recipient_organisation

    @property
    def sender_address(self) -> str:
        return self.message.sender_address or ""

    @property
    def recipient_address(self) -> str:
        return self.message.recipient_address

    @property
    def content(self) -> bytes:
        """The form's XML (an answer's signed PDF is in `pdf`)."""
        assert self.inquiry is not None
        return self.inquiry.form.content

    def settled(self, *, message_id: str, conversation_id: str) -> SentMessage:
        """Return the message with the ids the service settled on where the client gave none
        (a form's id, an answer's derived id, the answered inquiry's conversation); what the
        client gave is never replaced."""
        header = self.message.header
        changed = dataclasses.replace(
            header,
            message_id=header.message_id if "messageId" not in self.defaulted
            else (self.resource_id or message_id),
            conversation_id=header.conversation_id if "conversationId" not in self.defaulted
            else conversation_id,
        )
        if changed == header:
            return self
        message = dataclasses.replace(self.message, header=changed)
        return dataclasses.replace(self, message=message, xml=build_message(message))


# What a large content file's base64 stands in with while the message is read ("saknas").
_STAND_IN = "c2FrbmFz"


@dataclass
class _SetAside:
    """The large content files of a body: each decoded into a spooled file, by its place
    (document, file); the problems of those that are not base64."""

    files: dict[tuple[int, int], IO[bytes]] = field(default_factory=dict)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    issues: list[Finding] = field(default_factory=list)

    def close(self) -> None:
        for file in self.files.values():
            file.close()

    def content(self, place: tuple[int, int]) -> bytes:
        file = self.files[place]
        file.seek(0)
        return file.read()


def _set_aside(body: Any) -> tuple[Any, _SetAside]:
    """Return the body with a stand-in for each large content file, and those files decoded;
    any other large string becomes its text (a content file is the only long value there is)."""
    aside = _SetAside()
    places: dict[int, tuple[int, int]] = {}  # id of a content file's LargeText: its place
    for d, document in enumerate(_items(_member(_member(body, "data"), "attributes"),
                                        "digitalDocument")):
        for f, file in enumerate(_items(document, "contentFiles")):
            content = _member(file, "content")
            if isinstance(content, LargeText):
                places[id(content)] = (d, f)

    def small(value: LargeText) -> Any:
        place = places.get(id(value))
        if place is None:
            return b"".join(value.chunks()).decode("utf-8", "replace")
        _decode_aside(value, place, aside)
        return _STAND_IN

    return _large_replaced(body, small), aside


def _member(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _items(value: Any, key: str) -> list[Any]:
    found = _member(value, key)
    return found if isinstance(found, list) else []


def _decode_aside(text: LargeText, place: tuple[int, int], aside: _SetAside) -> None:
    d, f = place
    where = f"{ATTRIBUTES}.digitalDocument[{d}].contentFiles[{f}].content"
    try:
        file = text.decode_base64_file()
    except NotBase64:
        aside.issues.append(rule_issue(
            "SDK_BASE64",
            "Innehållet ska vara base64 enligt RFC 4648: tecknen A–Z, a–z, 0–9, + och /, "
            "utfyllnad med = i slutet; radbrytningar och blanksteg tillåts.",
            path=where,
        ))
        return
    decoded = file.seek(0, 2)
    file.seek(0)
    aside.files[place] = file
    # The message as it will be built holds the file's base64 where the stand-in was.
    aside.sizes[place] = 4 * -(-decoded // 3) - len(_STAND_IN)


def _large_replaced(value: Any, replace: Callable[[LargeText], Any]) -> Any:
    """Return the JSON value with replace(text) for each LargeText in it."""
    if isinstance(value, dict):
        return {key: _large_replaced(item, replace) for key, item in value.items()}
    if isinstance(value, list):
        return [_large_replaced(item, replace) for item in value]
    return replace(value) if isinstance(value, LargeText) else value


def _text_digest(text: LargeText) -> str:
    digest = hashlib.sha256()
    for piece in text.chunks():
        digest.update(piece)
    return f"sha256:{digest.hexdigest()}"


def _digest(body: Any) -> str:
    """SHA-256 of the body as sent (canonical JSON, a large string by its own digest)."""
    plain = _large_replaced(body, _text_digest)
    return hashlib.sha256(
        json.dumps(plain, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()


def _with_files(message: Message, files: dict[tuple[int, int], bytes]) -> Message:
    """Return the message with the content of the files at the given places replaced."""
    documents = tuple(
        dataclasses.replace(document, content_files=tuple(
            dataclasses.replace(file, content=files[(d, f)]) if (d, f) in files else file
            for f, file in enumerate(document.content_files)
        ))
        for d, document in enumerate(message.documents)
    )
    return dataclasses.replace(message, documents=documents)


def _pdf_place(message: Message, pdf: ContentFile) -> tuple[int, int]:
    for d, document in enumerate(message.documents):
        for f, file in enumerate(document.content_files):
            if file is pdf:
                return d, f
    raise LookupError("the answer's PDF is not among the message's files")


def _spooled(data: bytes) -> IO[bytes]:
    file = spooled_file()  # the message's
    file.write(data)
    file.seek(0)
    return file


def read_message(body: Any, now: dt.datetime) -> SentMessage:
    """Return the message of a createMessage body; raise GatewayError 400 naming every problem
    at its JSON path (DIGG's codes), or naming the content files that do not fit. The caller
    closes the message (an answer's PDF is in a spooled file)."""
    small, aside = _set_aside(body)
    try:
        return _read(small, aside, _digest(body), now)
    finally:
        aside.close()


def _read(body: Any, aside: _SetAside, digest: str, now: dt.datetime) -> SentMessage:
    extra: list[Finding] = list(aside.issues)
    try:
        try:
            created = read_create_message(body, now=now)
        except MessageError as error:
            if not extra:
                raise
            raise MessageError(make_report([*error.report.issues, *extra])) from None
        size = len(created.xml) + sum(aside.sizes.values())
        if size > MAX_MESSAGE_BYTES:
            extra.append(rule_issue(
                "SDK_SIZE", f"Meddelandet är {size} byte; högst {MAX_MESSAGE_BYTES} byte får "
                "skickas.", path=f"{ATTRIBUTES}.digitalDocument"))
        if extra:
            raise MessageError(make_report(extra))
        message = created.message
        read = (created.resource_id, created.defaulted, digest)
        if message.header.ref_to_message_id is not None and has_pdf(message):
            answer = answer_content(message)
            place = _pdf_place(message, answer.pdf)
            pdf = aside.files.pop(place, None) or _spooled(answer.pdf.content)
            others = {p: aside.content(p) for p in aside.files}
            message = with_answer_pdf(_with_files(message, others), ANSWER_PDF_LEFT_OUT)
            sent = SentMessage(message, build_message(message), *read,
                               answer=answer_content(message), pdf=pdf)
        else:
            if aside.files:
                message = _with_files(message, {p: aside.content(p) for p in aside.files})
                xml = build_message(message)
            else:
                xml = created.xml
            # A reply without a PDF (a sipSvar) is read by the service, which knows the form
            # type it answers (and refuses it for one answered with a signed PDF).
            form = message.header.ref_to_message_id is None and not is_plain(message)
            sent = SentMessage(message, xml, *read,
                               inquiry=inquiry_content(message) if form else None)
    except MessageError as error:
        raise message_refusal(error, now) from None
    given = "messageId" not in sent.defaulted
    if given and sent.resource_id and sent.resource_id.lower() != sent.message.message_id.lower():
        sent.close()
        raise bad_request(
            codes.MESSAGE_ID_MISMATCH,
            f"data.id är {sent.resource_id} men messageId är {sent.message.message_id}; de ska "
            "vara samma.",
            "data.id",
        )
    return sent
