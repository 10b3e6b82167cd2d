"""The SDK message view onto inquiries and answers: which messages a client sees, their status
(B1.4.2) and their JSON:API shape. The status mapping lives here and nowhere else.

A hälsoförfrågan is one SDK message: the one its client sent over the SDK API (its own
messageId, kept linked to the form's `id`), or the one the gateway built when the form came
another way (messageId = the form's `id`); both are stored (gateway.inquiries.sdk_messages) and
every header value shown comes from the stored message. Seen from the sending function's address
(the form's `funktionsadress`) it is outgoing; seen from the care unit's address it was routed
to, it is incoming. Its accepted answer is a second message, from the care unit's address to the
sender's, with `refToMessageId` = the inquiry's messageId and the signed PDF as its content file;
its messageId is the one its sender chose over the SDK API, else the derived id
`answer_message_id(inquiry id)`. A message whose stored content is gone (purged, or from before
messages were stored) is shown from what the inquiry itself says.

A SIP invitation is a message the same way; each reply of the VC (a sipSvar, several while the
meeting is ahead) is one more message from the care unit's address to the sender's, with
`refToMessageId` = the invitation's messageId and the sipSvar as its one file: the messageId its
sender chose over the SDK API, else the sipSvar's id. Replies have the answer's statuses.

Status mapping (B1.4.2, "Meddelandestatus koder"):

| view     | message                 | status   | why                                             |
|----------|-------------------------|----------|-------------------------------------------------|
| outgoing | the hälsoförfrågan      | ACCEPTED | the intake validated, routed and stored it for  |
|          |                         |          | the recipient function and signed a receipt:    |
|          |                         |          | that is the meddelandekvittens; refused sends   |
|          |                         |          | never exist. To a peer gateway's VC (DESIGN 7)  |
|          |                         |          | the status is its envelope's: SCHEDULED …       |
|          |                         |          | ACCEPTED, REJECTED, MESSAGE_EXCHANGE_ERROR      |
| incoming | the hälsoförfrågan      | NEW      | received, receipted, ready to be fetched        |
| outgoing | the answer              | ACCEPTED | the gateway checked consent (C2, C7) and P1–P9  |
|          |                         |          | and stored it for the sender's function; a      |
|          |                         |          | refused answer never exists                     |
| incoming | the answer              | NEW      | accepted and ready to be fetched; it stays NEW  |
|          |                         |          | until the recipient deletes it (B1.4.2: reading |
|          |                         |          | does not change the status; the fetch is the    |
|          |                         |          | answer_delivered leg, not a status)             |

A plain message (no form, no answer: `PlainMessage`) goes from its sender's function to one
served here and has the same two statuses: ACCEPTED seen from the sender's address once stored,
NEW seen from the recipient's until it deletes it.

Every status the gateway gives is final, so a client may always delete (hide) its messages;
the rule is still checked here (`may_delete`) for the statuses that are not.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from forms.formtypes import kind_named
from forms.sdk.jsonapi import message_attributes
from forms.sdk.message import Message as SdkPayload
from forms.sdk.statuses import MessageStatus
from gateway.auth.models import ApiClient
from gateway.federation.models import FederationEnvelope
from gateway.inquiries.access import Party, Side, plain_sides
from gateway.inquiries.answers import StoredAnswer
from gateway.inquiries.formtypes import handling_for
from gateway.inquiries.models import Answer, Inquiry, SdkMessage
from gateway.inquiries.sdk_messages import (
    ANSWER_KIND,
    INQUIRY_KIND,
    PLAIN_KIND,
    REPLY_KIND,
    answer_message_id,
    open_message,
    with_answer_pdf,
)
from gateway.sdkapi.models import SdkDeletion
from gateway.vault.service import get_vault

API_VERSION = "sdk api 1.0.0"
FUNCTIONAL_ADDRESS_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"
ANSWER_DOCUMENT_ID = "svar"
XML_TYPE = "application/xml"
PDF_TYPE = "application/pdf"


# B1.4.2: "Endast meddelanden med slutlig status kan raderas: NEW, ACCEPTED,
# MESSAGE_EXCHANGE_ERROR".
DELETABLE = frozenset({MessageStatus.NEW, MessageStatus.ACCEPTED,
                       MessageStatus.MESSAGE_EXCHANGE_ERROR})


class Direction(enum.StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


def may_delete(status: MessageStatus) -> bool:
    """Return whether a message in `status` may be deleted (only final statuses)."""
    return status in DELETABLE


def status_for(direction: Direction) -> MessageStatus:
    """Return the SDK status of a message seen from `direction` (see the module table): an
    outgoing message to an organisation served here is ACCEPTED once stored; an incoming one is
    NEW until its recipient deletes it."""
    return MessageStatus.ACCEPTED if direction is Direction.OUTGOING else MessageStatus.NEW


@dataclass(frozen=True)
class Message:
    """One message as one client sees it: the inquiry itself, its answer when `answer` is set,
    or a SIP invitation's reply when `reply` is (then `stored` is the reply's stored message).
    `stored` is that message's stored SDK message, `inquiry_stored` the inquiry's."""

    inquiry: Inquiry
    direction: Direction
    stored: SdkMessage | None
    answer: Answer | None = None
    inquiry_stored: SdkMessage | None = None
    # The status of the XHE envelope that carries it to a peer gateway (DESIGN 7.3), if any.
    exchange: str | None = None
    reply: bool = False

    @property
    def is_answer(self) -> bool:
        """Whether it answers the inquiry (an answer, or a SIP invitation's reply)."""
        return self.answer is not None or self.reply

    @property
    def kind(self) -> str:
        if self.reply:
            return REPLY_KIND
        return ANSWER_KIND if self.is_answer else INQUIRY_KIND

    @property
    def id(self) -> str:
        if self.stored is not None:
            return self.stored.message_id
        return answer_message_id(self.inquiry.id) if self.is_answer else self.inquiry.id

    @property
    def ref_to(self) -> str | None:
        if not self.is_answer:
            return None
        return self.inquiry_stored.message_id if self.inquiry_stored else self.inquiry.id

    @property
    def status(self) -> MessageStatus:
        if self.exchange is not None and self.direction is Direction.OUTGOING:
            return MessageStatus(self.exchange)
        return status_for(self.direction)

    @property
    def created(self) -> dt.datetime:
        """When the gateway received it (what the date filters and the order use)."""
        if self.reply and self.stored is not None:
            return self.stored.created_at
        return self.answer.accepted_at if self.answer is not None else self.inquiry.created_at

    @property
    def sender_address(self) -> str:
        return self.inquiry.routed_to if self.is_answer else self.inquiry.reply_to

    @property
    def recipient_address(self) -> str:
        return self.inquiry.reply_to if self.is_answer else self.inquiry.routed_to

    @property
    def conversation_id(self) -> str:
        if self.stored is not None:
            return self.stored.conversation_id
        return self.inquiry_stored.conversation_id if self.inquiry_stored else self.inquiry.id

    @cached_property
    def payload(self) -> SdkPayload | None:
        """The stored SDK message opened from the vault, None when there is none to open."""
        return open_message(self.stored) if self.stored is not None else None

    @property
    def label(self) -> str:
        if self.payload is not None and self.payload.header.label is not None:
            return self.payload.header.label
        kind = kind_named(self.inquiry.form_type)
        return kind.reply_label if self.is_answer else kind.label


@dataclass(frozen=True)
class PlainMessage:
    """A plain message as one client sees it: from the function at its sender address (the
    client holding it sees it outgoing) to the one at its recipient address (incoming)."""

    stored: SdkMessage
    direction: Direction
    inquiry: None = None
    answer: None = None
    is_answer = False
    kind = PLAIN_KIND
    ref_to = None

    @property
    def id(self) -> str:
        return self.stored.message_id

    @property
    def status(self) -> MessageStatus:
        return status_for(self.direction)

    @property
    def created(self) -> dt.datetime:
        return self.stored.created_at

    @property
    def sender_address(self) -> str:
        return self.stored.sender_address or ""

    @property
    def recipient_address(self) -> str:
        return self.stored.recipient_address or ""

    @property
    def conversation_id(self) -> str:
        return self.stored.conversation_id

    @cached_property
    def payload(self) -> SdkPayload | None:
        return open_message(self.stored)

    @property
    def label(self) -> str:
        return self.payload.header.label or "" if self.payload is not None else ""


AnyMessage = Message | PlainMessage


def plain_direction(party: Party, row: SdkMessage) -> Direction | None:
    """Return how the party sees the plain message: outgoing from an address it holds, incoming
    to one, None when it holds neither (a client holding both sees what it sent)."""
    return _direction(plain_sides(party, row))


def _plain_messages(session: Session, client: ApiClient) -> list[PlainMessage]:
    party = Party.client(client)
    addresses = sorted(party.addresses)
    rows = session.scalars(select(SdkMessage).where(
        SdkMessage.kind == PLAIN_KIND,
        or_(SdkMessage.sender_address.in_(addresses), SdkMessage.recipient_address.in_(addresses)),
    ))
    found = [PlainMessage(row, d) for row in rows if (d := plain_direction(party, row)) is not None]
    hidden = _hidden(session, client, [m.id for m in found])
    return [m for m in found if m.id not in hidden]


def _direction(sides: frozenset[Side]) -> Direction | None:
    # A client holding both ends sees its own inquiry as the sender.
    if Side.SENDER in sides:
        return Direction.OUTGOING
    if Side.CARE_UNIT in sides:
        return Direction.INCOMING
    return None


def _answer_direction(sides: frozenset[Side]) -> Direction | None:
    # The answer goes the other way; a client holding both ends sees it as the recipient.
    if Side.SENDER in sides:
        return Direction.INCOMING
    if Side.CARE_UNIT in sides:
        return Direction.OUTGOING
    return None


def _hidden(session: Session, client: ApiClient, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    return set(session.scalars(
        select(SdkDeletion.message_id).where(
            SdkDeletion.api_client_id == client.id, SdkDeletion.message_id.in_(ids)
        )
    ))


def _stored(session: Session, ids: Sequence[str]) -> dict[tuple[str, str], list[SdkMessage]]:
    """Return the inquiries' stored messages by (inquiry, kind): one inquiry message and one
    answer message each at most, a SIP invitation's replies oldest first."""
    found: dict[tuple[str, str], list[SdkMessage]] = {}
    if not ids:
        return found
    rows = session.scalars(select(SdkMessage).where(SdkMessage.inquiry_id.in_(ids))
                           .order_by(SdkMessage.created_at, SdkMessage.message_id))
    for row in rows:
        if row.inquiry_id is not None:
            found.setdefault((row.inquiry_id, row.kind), []).append(row)
    return found


def _one(stored: dict[tuple[str, str], list[SdkMessage]], inquiry_id: str,
         kind: str) -> SdkMessage | None:
    rows = stored.get((inquiry_id, kind))
    return rows[0] if rows else None


def _answers(session: Session, ids: Sequence[str]) -> dict[str, Answer]:
    if not ids:
        return {}
    rows = session.scalars(select(Answer).where(Answer.inquiry_id.in_(ids)))
    return {row.inquiry_id: row for row in rows}


def _exchanges(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Return the statuses of the envelopes that carry these messages to peer gateways."""
    if not ids:
        return {}
    rows = session.execute(select(FederationEnvelope.message_id, FederationEnvelope.status).where(
        FederationEnvelope.direction == "out", FederationEnvelope.kind == "message",
        FederationEnvelope.message_id.in_(ids),
    ))
    return {str(message_id): str(status) for message_id, status in rows}


def _messages(session: Session, client: ApiClient, inquiries: Iterable[Inquiry]) -> list[Message]:
    """Return the inquiries' messages the client sees (the access service says which sides of
    each it is on): each inquiry and its answer, if any."""
    party = Party.client(client)
    sided = [(i, party.sides(i)) for i in inquiries]
    seen = [(i, d, sides) for i, sides in sided if (d := _direction(sides)) is not None]
    ids = [i.id for i, _, _ in seen]
    stored = _stored(session, ids)
    answers = _answers(session, ids)
    found: list[Message] = []
    for inquiry, inquiry_direction, sides in seen:
        own = _one(stored, inquiry.id, INQUIRY_KIND)
        found.append(Message(inquiry, inquiry_direction, own))
        answer = answers.get(inquiry.id)
        direction = _answer_direction(sides)
        if answer is not None and direction is not None:
            found.append(Message(inquiry, direction, _one(stored, inquiry.id, ANSWER_KIND),
                                 answer=answer, inquiry_stored=own))
        if direction is not None:
            found.extend(Message(inquiry, direction, row, inquiry_stored=own, reply=True)
                         for row in stored.get((inquiry.id, REPLY_KIND), []))
    hidden = _hidden(session, client, [m.id for m in found])
    # To a peer gateway a message travels under the form's id (an inquiry) or the derived
    # answer id, whatever messageId the client chose (DESIGN 7.3); a reply under its own.
    exchanges = _exchanges(session, [_peer_id(m) for m in found])
    return [dataclasses.replace(m, exchange=exchanges[_peer_id(m)])
            if _peer_id(m) in exchanges else m
            for m in found if m.id not in hidden]


def _peer_id(message: Message) -> str:
    if message.reply and message.stored is not None:
        return message.stored.message_id
    inquiry_id = message.inquiry.id
    return answer_message_id(inquiry_id) if message.is_answer else inquiry_id


def visible_messages(session: Session, client: ApiClient) -> list[AnyMessage]:
    """Return every message the client sees (inquiries sent from or routed to its addresses and
    their answers, plain messages from or to them; not deleted by it), oldest first."""
    party = Party.client(client)
    if not party.addresses:
        return []
    inquiries = session.scalars(
        select(Inquiry)
        .where(party.visible())
        .options(selectinload(Inquiry.sender_unit), selectinload(Inquiry.care_unit))
        .order_by(Inquiry.created_at, Inquiry.id)
    )
    found: list[AnyMessage] = [*_messages(session, client, inquiries),
                               *_plain_messages(session, client)]
    return sorted(found, key=lambda m: (m.created, m.id))


def message_inquiry(session: Session, message_id: str) -> Inquiry | None:
    """Return the inquiry a message id belongs to, or None: the id is a stored message's (an
    inquiry's or an answer's), or an inquiry's or a derived answer id of a message not stored."""
    wanted = message_id.lower()
    row = session.get(SdkMessage, wanted)
    if row is not None:
        return session.get(Inquiry, row.inquiry_id) if row.inquiry_id is not None else None
    return session.get(Inquiry, wanted) or _answered_inquiry(session, wanted)


def inquiry_message(session: Session, client: ApiClient, inquiry: Inquiry,
                    message_id: str) -> Message | None:
    """Return the inquiry's message with that id as the client sees it, or None (not the
    client's, no such answer, or deleted from its view)."""
    wanted = message_id.lower()
    found = [m for m in _messages(session, client, [inquiry]) if m.id == wanted]
    return found[0] if found else None


def visible_message(session: Session, client: ApiClient, message_id: str) -> AnyMessage | None:
    """Return the message if the client sees it, else None (see `message_inquiry`)."""
    plain = plain_message(session, client, message_id)
    if plain is not None:
        return plain
    inquiry = message_inquiry(session, message_id)
    return inquiry_message(session, client, inquiry, message_id) if inquiry else None


def plain_row(session: Session, message_id: str) -> SdkMessage | None:
    """Return the stored plain message with this id, if any."""
    row = session.get(SdkMessage, message_id.strip().lower())
    return row if row is not None and row.kind == PLAIN_KIND else None


def plain_message(session: Session, client: ApiClient, message_id: str) -> PlainMessage | None:
    """Return the plain message as the client sees it, None when it is none the client sees."""
    row = plain_row(session, message_id)
    direction = plain_direction(Party.client(client), row) if row is not None else None
    if row is None or direction is None:
        return None
    hidden = _hidden(session, client, [row.message_id])
    return PlainMessage(row, direction) if not hidden else None


def _answered_inquiry(session: Session, message_id: str) -> Inquiry | None:
    """Return the inquiry whose answer may carry this derived message id, or None."""
    try:
        return session.get(Inquiry, answer_message_id(message_id))
    except ValueError:
        return None


def utc_text(moment: dt.datetime) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds and Z, as SDK writes them."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _attention(address: str, label: str) -> dict[str, Any]:
    return {"subOrganization": {
        "root": FUNCTIONAL_ADDRESS_ROOT, "extension": address, "label": label,
    }}


def attributes(message: AnyMessage, *, documents: bool, text: bool = True, files: bool = True,
               stored: StoredAnswer | None = None) -> dict[str, Any]:
    """Return the message's JSON:API attributes; its documents only when `documents`.

    A stored message is shown as it was sent: every header value (confidentiality,
    creationDateTime, generatingSystem, attentionPerson, labels) and its files, as the sender
    gave them. Without one (purged, or never stored), the message is shown from the inquiry:
    an answer's files then come from `stored` (the caller opened and audited them).
    """
    if message.payload is not None:
        payload = message.payload
        if message.is_answer and documents and files and stored is not None:
            # The stored answer message leaves its PDF out: the answer's own is put back.
            payload = with_answer_pdf(payload, stored.pdf)
        return {
            "messageStatus": message.status.value,
            **message_attributes(payload, documents=documents, texts=text, files=files),
        }
    if isinstance(message, PlainMessage):
        return _purged_plain(message)
    inquiry = message.inquiry
    sender_unit, care_unit = inquiry.sender_unit, inquiry.care_unit
    body: dict[str, Any] = {
        "messageStatus": message.status.value,
        "creationDateTime": utc_text(message.created),
        "messageId": message.id,
        "conversationId": message.conversation_id,
    }
    if message.is_answer:
        body["refToMessageId"] = message.ref_to
        sender = (inquiry.routed_to, care_unit.name, care_unit.organisation_id)
        recipient = (inquiry.reply_to, sender_unit.name, sender_unit.organisation_id)
    else:
        sender = (inquiry.reply_to, sender_unit.name, sender_unit.organisation_id)
        recipient = (inquiry.routed_to, care_unit.name, care_unit.organisation_id)
    body.update({
        "confidentiality": True,
        "recipientAttention": _attention(recipient[0], recipient[1]),
        "senderAttention": _attention(sender[0], sender[1]),
        "sender": sender[2],
        "recipient": recipient[2],
        "label": message.label,
    })
    if documents:
        body["digitalDocument"] = [
            _answer_document(inquiry, stored, text=text, files=files) if message.is_answer
            else _form_document(inquiry, text=text, files=files)
        ]
    return body


def _purged_plain(message: PlainMessage) -> dict[str, Any]:
    """Return what is left of a plain message whose content has been purged: its ids, time and
    addresses (the organisations and labels went with the content)."""
    return {
        "messageStatus": message.status.value,
        "creationDateTime": utc_text(message.created),
        "messageId": message.id,
        "conversationId": message.conversation_id,
        "recipientAttention": {"subOrganization": {
            "root": FUNCTIONAL_ADDRESS_ROOT, "extension": message.recipient_address}},
        "senderAttention": {"subOrganization": {
            "root": FUNCTIONAL_ADDRESS_ROOT, "extension": message.sender_address}},
    }


def form_label(inquiry: Inquiry) -> str:
    """The label of a form's message when its own says none: its form type's Swedish name."""
    return handling_for(inquiry.form_type).label


def _form_document(inquiry: Inquiry, *, text: bool, files: bool) -> dict[str, Any]:
    handling = handling_for(inquiry.form_type)
    document: dict[str, Any] = {
        "documentId": handling.document_id, "documentName": handling.label, "index": "1",
    }
    if text:
        document["contentTextBody"] = [f"{handling.label} {inquiry.id}"]
    if files and inquiry.content is not None:
        xml = get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}")
        document["contentFiles"] = [{
            "fileName": f"{handling.document_id}-{inquiry.id}.xml",
            "contentType": XML_TYPE,
            "content": base64.b64encode(xml).decode("ascii"),
        }]
    return document


def _answer_document(inquiry: Inquiry, stored: StoredAnswer | None, *, text: bool,
                     files: bool) -> dict[str, Any]:
    label = kind_named(inquiry.form_type).reply_label
    document: dict[str, Any] = {
        "documentId": ANSWER_DOCUMENT_ID, "documentName": label, "index": "1",
    }
    if text:
        document["contentTextBody"] = [f"{label} {inquiry.id}"]
    if files and stored is not None:
        listed = [{
            "fileName": f"svar-{inquiry.id}.pdf",
            "contentType": PDF_TYPE,
            "content": base64.b64encode(stored.pdf).decode("ascii"),
        }]
        if stored.structured is not None:
            listed.append({
                "fileName": f"svar-{inquiry.id}.xml",
                "contentType": XML_TYPE,
                "content": base64.b64encode(stored.structured).decode("ascii"),
            })
        document["contentFiles"] = listed
    return document


def resource(message: AnyMessage, **kwargs: Any) -> dict[str, Any]:
    """Return the JSON:API resource object of the message."""
    return {"type": "messages", "id": message.id, "attributes": attributes(message, **kwargs)}
