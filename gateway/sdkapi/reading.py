"""Reading a sendMessage body with the SDK library (forms.sdk.jsonapi): the message as the
client sent it, its canonical XML, and its content files (a hälsoförfrågan's form XML and consent
PDF, or an answer's signed PDF and structured XML). Every problem is named at once (400)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from forms.sdk.content import AnswerContent, InquiryContent, answer_content, inquiry_content
from forms.sdk.jsonapi import read_create_message
from forms.sdk.message import Message, build_message
from forms.sdk.message_rules import MessageError
from gateway import codes
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
    answer: AnswerContent | None = None

    @property
    def is_answer(self) -> bool:
        return self.message.header.ref_to_message_id is not None

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
        """The main file: the form's XML, or the answer's signed PDF."""
        if self.answer is not None:
            return self.answer.pdf.content
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


def read_message(body: Any, now: dt.datetime) -> SentMessage:
    """Return the message of a createMessage body; raise GatewayError 400 naming every problem
    at its JSON path (DIGG's codes), or naming the content files that do not fit."""
    try:
        created = read_create_message(body, now=now)
        message = created.message
        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).hexdigest()
        read = (created.message, created.xml, created.resource_id, created.defaulted, digest)
        if message.header.ref_to_message_id is not None:
            sent = SentMessage(*read, answer=answer_content(message))
        else:
            sent = SentMessage(*read, inquiry=inquiry_content(message))
    except MessageError as error:
        raise message_refusal(error, now) from None
    given = "messageId" not in sent.defaulted
    if given and sent.resource_id and sent.resource_id.lower() != sent.message.message_id.lower():
        raise bad_request(
            codes.MESSAGE_ID_MISMATCH,
            f"data.id är {sent.resource_id} men messageId är {sent.message.message_id}; de ska "
            "vara samma.",
            "data.id",
        )
    return sent
