"""Answers and replies sent as SDK messages: `refToMessageId` names the inquiry's message; the
access service decides once (the act is the form type's reply act, gateway.inquiries.formtypes),
and the form type says which service takes it, as on every other channel:

- a hälsoförfrågan's answer: the signed PDF (and, where given, the structured answer XML) to the
  one answer service (`accept_answer`, channel "sdk");
- a SIP invitation's reply: the sipSvar XML as its one file to `gateway.inquiries.sip.reply`.

Either stores the message as sent; idempotent by messageId. The messageId is the one the care
unit's client chose (`messageId`, or `data.id`), or else the derived one (`answer_message_id`)
for an answer, the sipSvar's id for a reply.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.sdk.content import answer_content, xml_content
from forms.sdk.message_rules import MessageError
from gateway import codes
from gateway.auth.models import ApiClient
from gateway.errors import GatewayError
from gateway.inquiries import sip
from gateway.inquiries.access import Party, Verdict, decide, find_inquiry, refusal
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.formtypes import handling_for
from gateway.inquiries.models import Answer, FormType, Inquiry, SdkMessage
from gateway.inquiries.sdk_messages import (
    ANSWER_KIND,
    CLIENT_CHANNEL,
    INQUIRY_KIND,
    REPLY_KIND,
    ClientMessage,
    answer_message_id,
    conversation_of,
    inquiry_message_id,
)
from gateway.sdkapi.problems import bad_request, conflict, message_id_conflict, message_refusal
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
_T = TypeVar("_T")


@dataclass(frozen=True)
class SentAnswer:
    """An accepted answer or reply message: its messageId, what the response's meta says of it
    (the answer's digest and report, the reply's decision), and whether this send was a repeat
    of one already taken (then nothing new was stored)."""

    message_id: str
    meta: dict[str, Any]
    repeated: bool


def send_answer(session: Session, envelope: SentMessage, *, client: ApiClient,
                now: dt.datetime) -> SentAnswer:
    """Take the answer or reply message, or return the earlier result of the same message; the
    caller commits.

    Raises GatewayError: 400 for a refToMessageId that names no inquiry the client is party to
    (unknown, or not its: the same answer, audited when it exists), an envelope that disagrees
    with the inquiry, files that are not the form type's reply, or a refused answer or reply
    (one eventIssue per problem); 403 for the sender's own client (audited); 409 for a messageId
    already used by another message or other bytes, or an inquiry no longer waiting for it.
    """
    inquiry = _answerable_inquiry(session, envelope, client)
    conversation = _check_envelope(session, envelope, inquiry)
    return _TAKERS[inquiry.form_type](session, envelope, inquiry, conversation, client, now)


def _take_answer(session: Session, envelope: SentMessage, inquiry: Inquiry, conversation: str,
                 client: ApiClient, now: dt.datetime) -> SentAnswer:
    """A hälsoförfrågan's answer: the signed PDF to the answer service."""
    if envelope.answer is None or envelope.pdf is None:
        _refuse_files(lambda: answer_content(envelope.message), now)
    assert envelope.answer is not None and envelope.pdf is not None
    inquiry_id = inquiry.id
    message_id = envelope.message_id or answer_message_id(inquiry_id)
    digest = envelope.digest
    earlier = _earlier(session, message_id, inquiry_id, digest)
    if earlier is not None:
        return earlier
    _check_id_free(session, message_id, inquiry_id)
    settled = envelope.settled(message_id=message_id, conversation_id=conversation)
    assert settled.answer is not None
    try:
        answer = accept_answer(
            session, inquiry_id, envelope.pdf,
            submitter=f"client:{client.client_id}", channel=CHANNEL, now=now,
            structured=settled.answer.structured.content if settled.answer.structured else None,
            message=ClientMessage(message_id, conversation, settled.xml, digest),
        )
    except GatewayError as error:
        if error.code == "NOT_AWAITING_ANSWER":
            # A concurrent send of this very message may have won the race: then it is a repeat.
            session.rollback()
            earlier = _earlier(session, message_id, inquiry_id, digest)
            if earlier is not None:
                return earlier
        if error.code == codes.MESSAGE_ID_CONFLICT.code:
            raise message_id_conflict(message_id) from None
        raise sdk_refusal(error, KEEP_STATUS) from None
    return SentAnswer(message_id, _answer_meta(answer), repeated=False)


def _answer_meta(answer: Answer) -> dict[str, Any]:
    return {"answer": {"sha256": answer.pdf_digest, "report": answer.report}}


def _take_reply(session: Session, envelope: SentMessage, inquiry: Inquiry, conversation: str,
                client: ApiClient, now: dt.datetime) -> SentAnswer:
    """A SIP invitation's reply: the sipSvar XML, the message's one file, to the SIP service."""
    # A signed PDF beside it (or instead) is named as a file type a reply does not have.
    data = _refuse_files(
        lambda: xml_content(envelope.message, "SIP-svaret som XML", reply=True).content, now)
    message_id = envelope.message_id or sip.reply_id(data) or str(uuid.uuid4())
    kept = session.get(SdkMessage, message_id)
    if kept is not None and not (kept.kind == REPLY_KIND and kept.inquiry_id == inquiry.id):
        raise message_id_conflict(message_id)
    if kept is not None and kept.channel == CLIENT_CHANNEL:
        if kept.digest != envelope.digest:
            raise message_id_conflict(message_id)
        return SentAnswer(message_id, _reply_meta(session, inquiry), repeated=True)
    _check_id_free(session, message_id, inquiry.id)
    settled = envelope.settled(message_id=message_id, conversation_id=conversation)
    try:
        replied = sip.reply(
            session, inquiry, data, actor=f"client:{client.client_id}", channel=CHANNEL,
            now=now, message=ClientMessage(message_id, conversation, settled.xml,
                                           envelope.digest))
    except GatewayError as error:
        if error.code == codes.MESSAGE_ID_CONFLICT.code:
            raise message_id_conflict(message_id) from None
        raise sdk_refusal(error, KEEP_STATUS) from None
    if not replied.created and replied.message_id != message_id:
        if envelope.message_id is not None:
            raise conflict(
                codes.FORM_UNDER_OTHER_MESSAGE,
                f"SIP-svaret har redan tagits emot i meddelandet {replied.message_id}; skicka "
                "det inte igen under ett annat messageId.",
            )
        message_id = replied.message_id
    return SentAnswer(message_id, _reply_meta(session, inquiry), repeated=not replied.created)


def _reply_meta(session: Session, inquiry: Inquiry) -> dict[str, Any]:
    meeting = sip.meeting_of(session, inquiry)
    return {"reply": {"decision": meeting.decision}}


def _refuse_files(read: Callable[[], _T], now: dt.datetime) -> _T:
    """Return what `read` reads of the message's files; DIGG's 400 naming every file that does
    not fit the form type's reply when it raises MessageError."""
    try:
        return read()
    except MessageError as error:
        raise message_refusal(error, now) from None


_TAKERS: dict[FormType, Callable[[Session, SentMessage, Inquiry, str, ApiClient, dt.datetime],
                                 SentAnswer]] = {
    FormType.HALSOFORFRAGAN: _take_answer,
    FormType.SIP: _take_reply,
}


def _answerable_inquiry(session: Session, envelope: SentMessage, client: ApiClient) -> Inquiry:
    """Return the inquiry refToMessageId names when the client may answer it (the access
    service decides; see KEEP_STATUS for the 403)."""
    ref = envelope.ref_to_message_id or ""
    referred = _referred(session, ref)
    act = handling_for(referred.form_type if referred else FormType.HALSOFORFRAGAN).reply_act
    decision = decide(Party.client(client), referred, act, channel=CHANNEL)
    if decision.verdict is Verdict.FORBIDDEN:
        raise refusal(decision, act)
    if decision.inquiry is None or not decision.allowed:
        raise bad_request(
            codes.REF_UNKNOWN,
            f"refToMessageId {ref} är inte en hälsoförfrågan eller SIP-kallelse i gatewayen; "
            "ange dess messageId.",
            f"{PATH}.refToMessageId",
        )
    return decision.inquiry


def _referred(session: Session, ref: str) -> Inquiry | None:
    """Return the inquiry whose message has the id `ref` (its stored messageId, or the form's id
    for an inquiry without a stored message), else None."""
    row = session.get(SdkMessage, ref)
    if row is not None:
        return session.get(Inquiry, row.inquiry_id) if row.kind == INQUIRY_KIND else None
    inquiry = find_inquiry(session, ref)
    return inquiry if inquiry is not None and inquiry_message_id(session, inquiry) == ref else None


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
    expected = conversation_of(session, inquiry)
    if envelope.conversation_id is not None and envelope.conversation_id != expected:
        raise bad_request(
            codes.CONVERSATION_MISMATCH,
            f"conversationId är {envelope.conversation_id} men förfrågans "
            f"konversation är {expected}.",
            f"{PATH}.conversationId",
        )
    return expected


def _earlier(session: Session, message_id: str, inquiry_id: str,
             digest: str) -> SentAnswer | None:
    """Return the earlier acceptance of this same message (same id, inquiry and content), None
    when the id is unused (or is the derived id of an answer that came another way: the answer
    service then says the inquiry is answered), and raise 409 when it names another message."""
    kept = session.get(SdkMessage, message_id)
    if kept is None:
        return None
    same_answer = kept.kind == ANSWER_KIND and kept.inquiry_id == inquiry_id
    if same_answer and kept.channel != CLIENT_CHANNEL:
        return None
    answer = session.scalars(
        select(Answer).where(Answer.inquiry_id == kept.inquiry_id)
    ).one_or_none()
    if same_answer and answer is not None and kept.digest == digest:
        return SentAnswer(message_id, _answer_meta(answer), repeated=True)
    raise message_id_conflict(message_id)


def _check_id_free(session: Session, message_id: str, inquiry_id: str) -> None:
    """Refuse an id that is an inquiry's, or another inquiry's answer's derived id."""
    taken = session.get(Inquiry, message_id) is not None
    owner = answer_message_id(message_id)
    if taken or (owner != inquiry_id and session.get(Inquiry, owner) is not None):
        raise message_id_conflict(message_id)
