"""Answers sent as SDK messages: `refToMessageId` names the inquiry, the one content file is the
signed PDF, and the one answer service (`accept_answer`, channel "sdk") decides; idempotent by
messageId.

The answer's messageId is the one the care unit's client chose (`messageId`, or `data.id`), or
else the derived one (`answer_message_id`); it is kept in `SdkEnvelope` with kind "answer".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import codes
from gateway.auth.models import ApiClient
from gateway.errors import GatewayError
from gateway.inquiries.access import Act, Party, Verdict, decide, find_inquiry, refusal
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.models import Answer, Inquiry
from gateway.sdkapi.messages import ANSWER_KIND, INQUIRY_KIND, answer_message_id, conversation_of
from gateway.sdkapi.models import SdkEnvelope
from gateway.sdkapi.problems import SDK_BAD_REQUEST, bad_request
from gateway.sdkapi.reading import SentMessage
from gateway.sdkapi.service import KEEP_STATUS as SDK_KEEP_STATUS
from gateway.sdkapi.service import sdk_refusal

CHANNEL = "sdk"
# Refusals that keep their own HTTP status: 401, 403 (the sender's own client), 409 (the
# messageId names another message, or the inquiry no longer waits for an answer), 413; 5xx
# (trust roots missing) too. Every other 4xx of the answer service is DIGG's 400, with its code
# and one eventIssue per failed rule (P1–P9, C2, C7).
KEEP_STATUS = SDK_KEEP_STATUS | {403}
PATH = "data.attributes"


@dataclass(frozen=True)
class SentAnswer:
    """An accepted answer message: its messageId, the stored answer, and whether this send was
    a repeat of one already accepted (then nothing new was stored)."""

    message_id: str
    answer: Answer
    repeated: bool


def send_answer(session: Session, envelope: SentMessage, *, client: ApiClient,
                now: dt.datetime) -> SentAnswer:
    """Accept the answer message, or return the earlier result of the same message; the caller
    commits.

    Raises GatewayError: 400 for a refToMessageId that names no inquiry the client is party to
    (unknown, or not its: the same answer, audited when it exists), an envelope that disagrees
    with the inquiry, or a refused answer (one eventIssue per failed rule); 403 for the sender's
    own client (audited); 409 for a messageId already used by another message or other bytes,
    or an inquiry no longer waiting for an answer.
    """
    inquiry = _answerable_inquiry(session, envelope, client)
    conversation = _check_envelope(session, envelope, inquiry)
    inquiry_id = inquiry.id
    message_id = _chosen_id(envelope, inquiry_id)
    digest = hashlib.sha256(envelope.content).hexdigest()
    earlier = _earlier(session, message_id, inquiry_id, digest)
    if earlier is not None:
        return earlier
    _check_id_free(session, message_id, inquiry_id)
    try:
        answer = accept_answer(session, inquiry_id, envelope.content,
                               submitter=f"client:{client.client_id}", channel=CHANNEL, now=now)
    except GatewayError as error:
        if error.code == "NOT_AWAITING_ANSWER":
            # A concurrent send of this very message may have won the race: then it is a repeat.
            session.rollback()
            earlier = _earlier(session, message_id, inquiry_id, digest)
            if earlier is not None:
                return earlier
        raise sdk_refusal(error, KEEP_STATUS) from None
    _keep_envelope(session, message_id, inquiry_id, conversation, envelope.label)
    return SentAnswer(message_id, answer, repeated=False)


def _conflict(detail: str) -> GatewayError:
    return GatewayError.at(
        codes.MESSAGE_ID_CONFLICT, detail, f"{PATH}.messageId", status=409,
        extra={"type": SDK_BAD_REQUEST, "code": codes.MESSAGE_ID_CONFLICT.code},
    )


def _answerable_inquiry(session: Session, envelope: SentMessage, client: ApiClient) -> Inquiry:
    """Return the inquiry refToMessageId names when the client may answer it (the access
    service decides; see KEEP_STATUS for the 403)."""
    ref = envelope.ref_to_message_id or ""
    decision = decide(Party.client(client), find_inquiry(session, ref), Act.ANSWER,
                      channel=CHANNEL)
    if decision.verdict is Verdict.FORBIDDEN:
        raise refusal(decision, Act.ANSWER)
    if decision.inquiry is None or not decision.allowed:
        raise bad_request(
            codes.REF_UNKNOWN,
            f"refToMessageId {ref} är inte en hälsoförfrågan i gatewayen; ange "
            "förfrågans messageId.",
            f"{PATH}.refToMessageId",
        )
    return decision.inquiry


def _conversation(session: Session, inquiry: Inquiry) -> str:
    own = session.scalars(select(SdkEnvelope).where(
        SdkEnvelope.inquiry_id == inquiry.id, SdkEnvelope.kind == INQUIRY_KIND
    )).one_or_none()
    return conversation_of(inquiry, own)


def _check_envelope(session: Session, envelope: SentMessage, inquiry: Inquiry) -> str:
    """Refuse an envelope that says something else than the inquiry it answers: the answer goes
    from the care unit's address to the sender's, in the inquiry's conversation (returned)."""
    care_unit, sender_unit = inquiry.care_unit, inquiry.sender_unit
    if envelope.sender.lower() != care_unit.organisation_id:
        raise bad_request(
            codes.SENDER_MISMATCH,
            f"sender är {envelope.sender} men vårdcentralen hör till "
            f"{care_unit.organisation_id}.",
            f"{PATH}.sender",
        )
    if envelope.sender_address != inquiry.routed_to:
        raise bad_request(
            codes.SENDER_MISMATCH,
            f"senderAttention är {envelope.sender_address} men förfrågan gick till "
            f"{inquiry.routed_to}.",
            f"{PATH}.senderAttention.subOrganization.extension",
        )
    if envelope.recipient.lower() != sender_unit.organisation_id:
        raise bad_request(
            codes.RECIPIENT_MISMATCH,
            f"recipient är {envelope.recipient} men förfrågan kom från "
            f"{sender_unit.organisation_id}.",
            f"{PATH}.recipient",
        )
    if envelope.recipient_address is not None and envelope.recipient_address != inquiry.reply_to:
        raise bad_request(
            codes.RECIPIENT_MISMATCH,
            f"recipientAttention är {envelope.recipient_address} men svaret ska "
            f"till {inquiry.reply_to}.",
            f"{PATH}.recipientAttention.subOrganization.extension",
        )
    expected = _conversation(session, inquiry)
    if envelope.conversation_id is not None and envelope.conversation_id != expected:
        raise bad_request(
            codes.CONVERSATION_MISMATCH,
            f"conversationId är {envelope.conversation_id} men förfrågans "
            f"konversation är {expected}.",
            f"{PATH}.conversationId",
        )
    return expected


def _chosen_id(envelope: SentMessage, inquiry_id: str) -> str:
    """Return the answer's messageId: the client's (messageId and data.id must agree), else the
    derived one."""
    if envelope.message_id and envelope.resource_id and envelope.message_id != envelope.resource_id:
        raise bad_request(
            codes.MESSAGE_ID_MISMATCH,
            f"data.id är {envelope.resource_id} men messageId är "
            f"{envelope.message_id}; de ska vara samma.",
            "data.id",
        )
    return envelope.message_id or envelope.resource_id or answer_message_id(inquiry_id)


def _earlier(session: Session, message_id: str, inquiry_id: str,
             digest: str) -> SentAnswer | None:
    """Return the earlier acceptance of this same message (same id, inquiry and bytes), None
    when the id is unused, and raise 409 when it names another message."""
    kept = session.get(SdkEnvelope, message_id)
    if kept is None:
        return None
    answer = session.scalars(
        select(Answer).where(Answer.inquiry_id == kept.inquiry_id)
    ).one_or_none()
    if (kept.kind == ANSWER_KIND and kept.inquiry_id == inquiry_id and answer is not None
            and answer.pdf_digest == digest):
        return SentAnswer(message_id, answer, repeated=True)
    raise _conflict(f"Ett annat meddelande har redan messageId {message_id}; ett nytt "
                    "meddelande behöver ett nytt id.")


def _check_id_free(session: Session, message_id: str, inquiry_id: str) -> None:
    """Refuse an id that is an inquiry's, or another inquiry's answer's derived id."""
    taken = session.get(Inquiry, message_id) is not None
    owner = answer_message_id(message_id)
    if taken or (owner != inquiry_id and session.get(Inquiry, owner) is not None):
        raise _conflict(f"messageId {message_id} är redan ett annat meddelandes id; välj ett "
                        "nytt UUID.")


def _keep_envelope(session: Session, message_id: str, inquiry_id: str, conversation: str,
                   label: str) -> None:
    try:
        with session.begin_nested():
            session.add(SdkEnvelope(message_id=message_id, inquiry_id=inquiry_id,
                                    kind=ANSWER_KIND, conversation_id=conversation, label=label))
    except IntegrityError:
        # A concurrent message took this id first; this answer is not stored either.
        session.rollback()
        raise _conflict(f"Ett annat meddelande har redan messageId {message_id}.") from None
