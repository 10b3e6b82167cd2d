"""The SDK message view onto inquiries: which messages a client sees, their status (B1.4.2) and
their JSON:API shape. The status mapping lives here and nowhere else.

A hälsoförfrågan is one SDK message whose messageId is the form's `id`. Seen from the sending
function's address (the form's `funktionsadress`) it is outgoing; seen from the care unit's
address it was routed to, it is incoming.

Status mapping (B1.4.2, "Meddelandestatus koder"):

| view     | message             | status   | why                                                 |
|----------|---------------------|----------|-----------------------------------------------------|
| outgoing | the hälsoförfrågan  | ACCEPTED | the intake validated, routed and stored it for the  |
|          |                     |          | recipient function and signed a receipt: that is    |
|          |                     |          | the meddelandekvittens; refused sends never exist   |
| incoming | the hälsoförfrågan  | NEW      | received, receipted, ready to be fetched            |

Every status the gateway gives is final, so a client may always delete (hide) its messages;
the rule is still checked here (`may_delete`) for the statuses that are not.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from gateway.auth.models import ApiClient
from gateway.inquiries.models import Inquiry
from gateway.sdkapi.models import SdkDeletion, SdkEnvelope
from gateway.vault.service import get_vault

API_VERSION = "sdk api 1.0.0"
FUNCTIONAL_ADDRESS_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"
DEFAULT_LABEL = "Hälsoförfrågan"
FORM_DOCUMENT_ID = "halsoforfragan"
XML_TYPE = "application/xml"
INQUIRY_KIND = "inquiry"


class MessageStatus(enum.StrEnum):
    """KV Meddelandestatus (B1.4.2)."""

    SCHEDULED = "SCHEDULED"
    SUBMITTED = "SUBMITTED"
    SCHEDULED_FOR_RESEND = "SCHEDULED_FOR_RESEND"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    WAITING_FOR_RECEIPT = "WAITING_FOR_RECEIPT"
    MESSAGE_EXCHANGE_ERROR = "MESSAGE_EXCHANGE_ERROR"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    RETRIEVED = "RETRIEVED"
    RECEIPT_SENT = "RECEIPT_SENT"
    NEW = "NEW"
    ERROR = "ERROR"


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
    """Return the SDK status of a hälsoförfrågan seen from `direction` (see the module table)."""
    return MessageStatus.ACCEPTED if direction is Direction.OUTGOING else MessageStatus.NEW


@dataclass(frozen=True)
class Message:
    """One message as one client sees it."""

    inquiry: Inquiry
    direction: Direction
    envelope: SdkEnvelope | None

    @property
    def id(self) -> str:
        return self.inquiry.id

    @property
    def status(self) -> MessageStatus:
        return status_for(self.direction)

    @property
    def created(self) -> dt.datetime:
        return self.inquiry.created_at

    @property
    def sender_address(self) -> str:
        return self.inquiry.reply_to

    @property
    def recipient_address(self) -> str:
        return self.inquiry.routed_to


def client_addresses(client: ApiClient) -> frozenset[str]:
    """Return the functional addresses the client holds."""
    return frozenset(a.address for a in client.functional_addresses)


def _direction(inquiry: Inquiry, addresses: frozenset[str]) -> Direction | None:
    # A client holding both ends sees its own inquiry as the sender.
    if inquiry.reply_to in addresses:
        return Direction.OUTGOING
    if inquiry.routed_to in addresses:
        return Direction.INCOMING
    return None


def _hidden(session: Session, client: ApiClient, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    return set(session.scalars(
        select(SdkDeletion.message_id).where(
            SdkDeletion.api_client_id == client.id, SdkDeletion.message_id.in_(ids)
        )
    ))


def _envelopes(session: Session, ids: Sequence[str]) -> dict[str, SdkEnvelope]:
    if not ids:
        return {}
    rows = session.scalars(select(SdkEnvelope).where(
        SdkEnvelope.inquiry_id.in_(ids), SdkEnvelope.kind == INQUIRY_KIND
    ))
    return {row.inquiry_id: row for row in rows}


def _messages(session: Session, client: ApiClient, inquiries: Iterable[Inquiry]) -> list[Message]:
    addresses = client_addresses(client)
    seen = [(i, d) for i in inquiries if (d := _direction(i, addresses)) is not None]
    ids = [i.id for i, _ in seen]
    hidden = _hidden(session, client, ids)
    envelopes = _envelopes(session, ids)
    return [Message(i, d, envelopes.get(i.id)) for i, d in seen if i.id not in hidden]


def visible_messages(session: Session, client: ApiClient) -> list[Message]:
    """Return every message the client sees (sent from or routed to its addresses, not deleted
    by it), oldest first."""
    addresses = sorted(client_addresses(client))
    if not addresses:
        return []
    inquiries = session.scalars(
        select(Inquiry)
        .where(or_(Inquiry.reply_to.in_(addresses), Inquiry.routed_to.in_(addresses)))
        .options(selectinload(Inquiry.sender_unit), selectinload(Inquiry.care_unit))
        .order_by(Inquiry.created_at, Inquiry.id)
    )
    return _messages(session, client, inquiries)


def visible_message(session: Session, client: ApiClient, message_id: str) -> Message | None:
    """Return the message if the client sees it, else None."""
    inquiry = session.get(Inquiry, message_id.lower())
    if inquiry is None:
        return None
    found = _messages(session, client, [inquiry])
    return found[0] if found else None


def utc_text(moment: dt.datetime) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds and Z, as SDK writes them."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _attention(address: str, label: str) -> dict[str, Any]:
    return {"subOrganization": {
        "root": FUNCTIONAL_ADDRESS_ROOT, "extension": address, "label": label,
    }}


def attributes(message: Message, *, documents: bool, text: bool = True,
               files: bool = True) -> dict[str, Any]:
    """Return the message's JSON:API attributes; the form's XML only when `documents`.

    No personal data outside digitalDocument: no referenceId with the personnummer.
    """
    inquiry = message.inquiry
    envelope = message.envelope
    body: dict[str, Any] = {
        "messageStatus": message.status.value,
        "creationDateTime": utc_text(message.created),
        "messageId": inquiry.id,
        "conversationId": envelope.conversation_id if envelope else inquiry.id,
        "confidentiality": True,
        "recipientAttention": _attention(inquiry.routed_to, inquiry.care_unit.name),
        "senderAttention": _attention(inquiry.reply_to, inquiry.sender_unit.name),
        "sender": inquiry.sender_unit.organisation_id,
        "recipient": inquiry.care_unit.organisation_id,
        "label": envelope.label if envelope else DEFAULT_LABEL,
    }
    if documents:
        body["digitalDocument"] = [_form_document(inquiry, text=text, files=files)]
    return body


def _form_document(inquiry: Inquiry, *, text: bool, files: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "documentId": FORM_DOCUMENT_ID, "documentName": DEFAULT_LABEL, "index": "1",
    }
    if text:
        document["contentTextBody"] = [f"Hälsoförfrågan {inquiry.id}"]
    if files and inquiry.content is not None:
        xml = get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}")
        document["contentFiles"] = [{
            "fileName": f"halsoforfragan-{inquiry.id}.xml",
            "contentType": XML_TYPE,
            "content": base64.b64encode(xml).decode("ascii"),
        }]
    return document


def resource(message: Message, **kwargs: Any) -> dict[str, Any]:
    """Return the JSON:API resource object of the message."""
    return {"type": "messages", "id": message.id, "attributes": attributes(message, **kwargs)}
