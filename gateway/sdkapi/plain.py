"""Plain SDK messages (neither a form nor an answer, such as DIGG's own example message) from a
client's functional address to one served here: checked, stored sealed, seen by both ends."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import codes
from gateway.audit.service import record
from gateway.auth.models import ApiClient
from gateway.directory.models import FunctionalAddress
from gateway.inquiries.models import SdkMessage
from gateway.inquiries.sdk_messages import PLAIN_KIND, ClientMessage, store
from gateway.sdkapi.problems import bad_request, message_id_conflict
from gateway.sdkapi.reading import SentMessage

CHANNEL = "sdk"
PATH = "data.attributes"


def _check_sender(sent: SentMessage, client: ApiClient) -> None:
    """Refuse a message that does not come from the client's organisation and own address."""
    if sent.sender.lower() != client.organisation_id:
        raise bad_request(
            codes.SENDER_NOT_CLIENT,
            f"sender är {sent.sender} men klienten hör till {client.organisation_id}.",
            f"{PATH}.sender",
        )
    if sent.sender_address not in {a.address for a in client.functional_addresses}:
        raise bad_request(
            codes.SENDER_NOT_CLIENT,
            f"senderAttention är {sent.sender_address or 'tom'}, som inte är klientens "
            "funktionsadress.",
            f"{PATH}.senderAttention.subOrganization.extension",
        )


def _check_recipient(session: Session, sent: SentMessage) -> str:
    """Return the recipient's functional address: one in the directory, of the recipient
    organisation, served here; refuse anything else."""
    where = f"{PATH}.recipientAttention.subOrganization.extension"
    wanted = sent.recipient_address
    known = session.scalars(
        select(FunctionalAddress).where(FunctionalAddress.address == wanted)
    ).one_or_none() if wanted else None
    if known is None:
        raise bad_request(
            codes.RECIPIENT_UNKNOWN,
            f"Funktionsadressen {wanted or '(ingen)'} finns inte i katalogen; ett meddelande "
            "utan formulär ska ha en känd mottagande funktionsadress.",
            where,
        )
    if known.organisation_id != sent.recipient.lower():
        raise bad_request(
            codes.RECIPIENT_MISMATCH,
            f"recipient är {sent.recipient} men {known.address} hör till "
            f"{known.organisation_id}.",
            f"{PATH}.recipient",
        )
    if known.organisation.endpoint is not None:
        raise bad_request(
            codes.RECIPIENT_AT_PEER,
            f"{known.organisation_id} nås genom en annan gateway; dit går ännu bara "
            "hälsoförfrågningar och svar.",
            where,
        )
    return known.address


def send_plain(session: Session, sent: SentMessage, *, client: ApiClient,
               now: dt.datetime) -> str:
    """Store a plain message from the client's function to one served here; return its
    messageId (the client's own, else a new one). The same messageId with the same content
    again is the same message; with other content, 409. The caller commits."""
    _check_sender(sent, client)
    recipient = _check_recipient(session, sent)
    message_id = sent.message_id or str(uuid.uuid4())
    earlier = session.get(SdkMessage, message_id)
    if earlier is not None:
        if earlier.kind != PLAIN_KIND or earlier.digest != sent.digest:
            raise message_id_conflict(message_id)
        return message_id
    settled = sent.settled(message_id=message_id, conversation_id=message_id)
    kept = ClientMessage(message_id, settled.message.header.conversation_id.lower(), settled.xml,
                         sent.digest)
    store(session, inquiry_id=None, kind=PLAIN_KIND, channel=CHANNEL, message=kept, now=now,
          addresses=(sent.sender_address, recipient))
    record(session, actor=f"client:{client.client_id}", action="sdk.message.send",
           object_type="sdk_message", object_id=message_id,
           detail={"channel": CHANNEL, "kind": PLAIN_KIND, "recipient": recipient})
    return message_id
