"""The SDK message of every hälsoförfrågan and answer, stored sealed (`SdkMessage`): the client's
own over the SDK API, or one built with forms.sdk.content for a form or answer that came another
way (gateway API, web, mail), so that the SDK API always shows a message's real header values.

Ids: a message built here has the form's id (an inquiry) or the derived `answer_message_id` (an
answer); a client's own messageId is kept as it chose it, linked to the inquiry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.formtypes import kind_named, parse_form
from forms.sdk.content import (
    PDF_TYPES,
    Party,
    answer_message,
    inquiry_content,
    inquiry_message,
    media_type,
)
from forms.sdk.message import Message, build_message, parse_message
from forms.sdk.message_rules import MessageError
from gateway import codes
from gateway.db import Rows, insert_unless_taken
from gateway.errors import GatewayError
from gateway.inquiries.models import Inquiry, SdkMessage
from gateway.vault.service import get_vault

log = logging.getLogger(__name__)

_MESSAGES = cast(Table, SdkMessage.__table__)

INQUIRY_KIND = "inquiry"
ANSWER_KIND = "answer"
# A SIP invitation's reply (a sipSvar as its one file): several per invitation.
REPLY_KIND = "reply"
# A plain message: neither a form nor an answer (forms.sdk.content.is_plain), of no inquiry.
PLAIN_KIND = "message"
CLIENT_CHANNEL = "sdk"
# XOR mask from an inquiry's id to its answer's derived message id (and back: XOR is its own
# inverse, so a lookup needs no scan). Zero in the version nibble and the variant bits, so the
# derived id of a version 4 UUID is one too.
_ANSWER_MASK = uuid.UUID("5a5a5a5a-5a5a-0a5a-1a5a-5a5a5a5a5a5a").int
# An answer's stored message leaves its signed PDF out (the answer row holds it, sealed): up to
# 30 MB is then not sealed and stored twice. This stands in for it; `with_answer_pdf` puts the
# PDF back when the message is shown.
ANSWER_PDF_LEFT_OUT = b"gateway: the signed PDF is kept with the answer"


class NamedUnit(Protocol):
    """A unit as a message's party names it: its organisation and its name."""

    @property
    def organisation_id(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class ClientMessage:
    """An SDK message as a client sent it: its messageId and conversation, the canonical XML,
    and the digest of what was sent (for repeats)."""

    message_id: str
    conversation_id: str
    xml: bytes
    digest: str


def answer_message_id(inquiry_id: str) -> str:
    """Return the derived message id of the inquiry's answer; applied to a derived id, return
    the inquiry's id. Raises ValueError for a text that is not a UUID."""
    return str(uuid.UUID(int=uuid.UUID(inquiry_id).int ^ _ANSWER_MASK))


def in_milliseconds(moment: dt.datetime) -> dt.datetime:
    """Return the moment as an SDK message carries it (whole milliseconds): what travels to a
    peer gateway is then recorded at the same time on both sides (DESIGN 7.2 step 7)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _context(message_id: str) -> str:
    return f"sdk_messages.content:{message_id}"


def stored_message(session: Session, inquiry_id: str, kind: str) -> SdkMessage | None:
    """Return the stored SDK message of the inquiry (kind inquiry) or of its answer."""
    return session.scalars(select(SdkMessage).where(
        SdkMessage.inquiry_id == inquiry_id, SdkMessage.kind == kind
    )).one_or_none()


def open_message(row: SdkMessage) -> Message | None:
    """Return the stored message opened from the vault, None when its content was purged."""
    if row.content is None:
        return None
    return parse_message(get_vault().open(row.content, _context(row.message_id)))


def conversation_of(session: Session, inquiry: Inquiry) -> str:
    """Return the inquiry's conversation: its message's, else the inquiry's own id."""
    row = stored_message(session, inquiry.id, INQUIRY_KIND)
    return row.conversation_id if row is not None else inquiry.id


def inquiry_message_id(session: Session, inquiry: Inquiry) -> str:
    """Return the messageId of the inquiry's message: the client's own, else the form's id."""
    row = stored_message(session, inquiry.id, INQUIRY_KIND)
    return row.message_id if row is not None else inquiry.id


def message_id_conflict(message_id: str) -> GatewayError:
    """Return the 409 for a messageId that is already another message's."""
    return GatewayError.at(
        codes.MESSAGE_ID_CONFLICT,
        f"Ett annat meddelande har redan messageId {message_id}; ett nytt meddelande behöver "
        "ett nytt id.",
        "data.attributes.messageId", status=409,
    )


def store(session: Session, *, inquiry_id: str | None, kind: str, channel: str,
          message: ClientMessage, now: dt.datetime,
          addresses: tuple[str, str] | None = None) -> SdkMessage:
    """Store the message sealed (a plain one with its sender's and recipient's `addresses`);
    raise GatewayError 409 MESSAGE_ID_CONFLICT when its messageId is already another message's
    (the caller's transaction stays usable)."""
    row = SdkMessage(**_values(inquiry_id, kind, channel, message, now, addresses))
    # ON CONFLICT DO NOTHING (its messageId, or a message of that kind for the inquiry) rather
    # than a savepoint: the transaction stays usable, in one statement instead of three.
    stored = insert_unless_taken(session, row)
    if stored is None:
        raise message_id_conflict(message.message_id)
    return stored


def message_rows(*, inquiry_id: str, kind: str, channel: str, message: ClientMessage | None,
                 now: dt.datetime) -> Rows:
    """The row `store` writes, for gateway.db.insert_with to write with its inquiry (none for
    no message); left out where its messageId is taken: `message_id_conflict` when it wrote
    none."""
    if message is None:
        return Rows(_MESSAGES, ())
    return Rows(_MESSAGES, (_values(inquiry_id, kind, channel, message, now, None),),
                skip_taken=True)


def _values(inquiry_id: str | None, kind: str, channel: str, message: ClientMessage,
            now: dt.datetime, addresses: tuple[str, str] | None) -> dict[str, Any]:
    sender_address, recipient_address = addresses or (None, None)
    return {
        "message_id": message.message_id, "inquiry_id": inquiry_id, "kind": kind,
        "channel": channel, "sender_address": sender_address,
        "recipient_address": recipient_address, "conversation_id": message.conversation_id,
        "digest": message.digest,
        "content": get_vault().seal(message.xml, _context(message.message_id)),
        "created_at": now,
    }


def reseal(row: SdkMessage, message: ClientMessage) -> None:
    """Replace the stored message's content (same messageId): the inquiry was sent on."""
    row.content = get_vault().seal(message.xml, _context(row.message_id))
    row.digest = message.digest


def _party(organisation_id: str, address: str, name: str) -> Party:
    return Party(organisation_id, address, None, name)


def _built(message: Message) -> ClientMessage | None:
    """Return the built message ready to store, None (logged) if the builder refuses it: the
    form was accepted, and the SDK view then shows what the inquiry itself says."""
    try:
        xml = build_message(message)
    except MessageError as error:
        log.warning("sdk message not built for %s: %s", message.message_id,
                    ",".join(i.code for i in error.report.issues))
        return None
    return ClientMessage(message.message_id, message.header.conversation_id, xml,
                         hashlib.sha256(xml).hexdigest())


def received_message(message: Message) -> ClientMessage:
    """Return a message received from a peer gateway ready to store, as it came: its messageId,
    conversation and label kept; an answer's signed PDF left out (ANSWER_PDF_LEFT_OUT), since
    the answer row holds it."""
    if message.header.ref_to_message_id is not None:
        message = with_answer_pdf(message, ANSWER_PDF_LEFT_OUT)
    xml = build_message(message)
    return ClientMessage(message.message_id.lower(), message.header.conversation_id.lower(), xml,
                         hashlib.sha256(xml).hexdigest())


def build_inquiry_message(inquiry: Inquiry, form_xml: bytes, consent: tuple[str, bytes] | None,
                          now: dt.datetime, form_file_name: str | None = None, *,
                          message_id: str | None = None, earlier: Message | None = None,
                          units: tuple[NamedUnit, NamedUnit] | None = None,
                          ) -> ClientMessage | None:
    """Return the SDK message of an inquiry that came another way: from the sender's function
    to the care unit's, the form's XML (`form_file_name`, else named by its form type) and the
    consent PDF (the form's bilaga) as files, its document and label its form type's; its
    messageId the inquiry's id unless given. A re-route passes the `earlier` message, whose
    conversation, label and generating system it keeps. `units`: the inquiry's sender unit and
    care unit where the caller has them (the intake, from the directory's cache), else the
    inquiry's own."""
    from gateway.inquiries.formtypes import handling_for

    handling = handling_for(inquiry.form_type)
    header = earlier.header if earlier is not None else None
    sender: NamedUnit
    care_unit: NamedUnit
    sender, care_unit = units if units is not None else (inquiry.sender_unit, inquiry.care_unit)
    message = inquiry_message(
        form_xml,
        sender=_party(sender.organisation_id, inquiry.reply_to, sender.name),
        recipient=_party(care_unit.organisation_id, inquiry.routed_to, care_unit.name),
        message_id=message_id or inquiry.id, created=now,
        form_file_name=form_file_name or f"{handling.document_id}.xml",
        conversation_id=header.conversation_id if header else None,
        label=(header.label if header and header.label else handling.label),
        document_id=handling.document_id,
        generating_system=header.generating_system if header else None,
        consent_pdf=consent[1] if consent else None,
        consent_file_name=(consent[0] if consent and consent[0] else "samtycke.pdf"),
    )
    return _built(message)


def build_answer_message(session: Session, inquiry: Inquiry, structured: bytes | None,
                         now: dt.datetime, *, pdf: bytes | None = ANSWER_PDF_LEFT_OUT,
                         message_id: str | None = None) -> ClientMessage | None:
    """Return the SDK message of an answer that came another way: from the care unit's
    function to the sender's, refToMessageId the inquiry's message, in its conversation; its
    signed PDF left out (ANSWER_PDF_LEFT_OUT). A reply that is XML alone (a SIP invitation's
    sipSvar) has no PDF (`pdf` None, the XML as `structured`) and its own `message_id`."""
    sender, care_unit = inquiry.sender_unit, inquiry.care_unit
    message = answer_message(
        pdf,
        sender=_party(care_unit.organisation_id, inquiry.routed_to, care_unit.name),
        recipient=_party(sender.organisation_id, inquiry.reply_to, sender.name),
        message_id=message_id or answer_message_id(inquiry.id),
        ref_to_message_id=inquiry_message_id(session, inquiry),
        conversation_id=conversation_of(session, inquiry), created=now,
        structured_xml=structured, label=kind_named(inquiry.form_type).reply_label,
    )
    return _built(message)


def with_answer_pdf(message: Message, pdf: bytes) -> Message:
    """Return the answer message with `pdf` as the content of its PDF file(s) (the stored
    message has ANSWER_PDF_LEFT_OUT there)."""
    documents = tuple(
        dataclasses.replace(document, content_files=tuple(
            dataclasses.replace(file, content=pdf)
            if media_type(file.content_type) in PDF_TYPES else file
            for file in document.content_files
        ))
        for document in message.documents
    )
    return dataclasses.replace(message, documents=documents)


def message_owner(session: Session, message_id: str) -> SdkMessage | None:
    """Return the stored message with this id, if any."""
    return session.get(SdkMessage, message_id.strip().lower())


def consent_file(session: Session, inquiry: Inquiry) -> tuple[str, bytes] | None:
    """Return the signed consent form (file name, PDF): the second file of the inquiry's
    message (as its sender sent it, or the form's bilaga in a message built here), else the
    form's bilaga; None when there is none or the content has been purged."""
    row = stored_message(session, inquiry.id, INQUIRY_KIND)
    message = open_message(row) if row is not None else None
    consent = inquiry_content(message).consent if message is not None else None
    if consent is not None:
        return consent.file_name, consent.content
    if inquiry.content is None:
        return None
    try:
        _, form = parse_form(get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}"),
                             kind=kind_named(inquiry.form_type))
    except FormError:  # valid when stored; a schema change must not break the page
        return None
    bilaga = form.samtycke.bilaga
    return (bilaga.filnamn or "samtycke.pdf", bilaga.innehall) if bilaga is not None else None
