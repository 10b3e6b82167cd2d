"""The SDK message service: send (through the one intake), list by filter, get and delete.

The HTTP layer (`api.py`) only reads the request and shapes the response; the rules are here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.formtypes import IntakeForm, parse_form
from gateway import codes
from gateway.audit.reads import record_read
from gateway.audit.service import record
from gateway.auth.models import ApiClient
from gateway.errors import GatewayError, Issue, not_found
from gateway.inquiries.access import Act, Party, Side, decide, decide_plain
from gateway.inquiries.answers import StoredAnswer, answer_for, deliver_answer
from gateway.inquiries.intake import IntakeResult, Submitter, submit
from gateway.inquiries.models import Inquiry, SdkMessage
from gateway.inquiries.sdk_messages import INQUIRY_KIND, ClientMessage, stored_message
from gateway.inquiries.workflow import record_opened
from gateway.sdkapi.messages import (
    AnyMessage,
    Direction,
    MessageStatus,
    PlainMessage,
    inquiry_message,
    may_delete,
    message_inquiry,
    plain_message,
    plain_row,
)
from gateway.sdkapi.messages import visible_messages as _visible
from gateway.sdkapi.models import SdkDeletion
from gateway.sdkapi.problems import (
    SDK_BAD_REQUEST,
    UUID,
    bad_request,
    conflict,
    message_id_conflict,
)
from gateway.sdkapi.reading import SentMessage

CHANNEL = "sdk"
# Why a client reads a message's files: the audit log's purpose (the SDK operation).
READING = "sdk.getMessage"
# Refusals that keep their own HTTP status on the SDK API (409 for an id conflict, as on
# /api/v1); every other 4xx of the intake is
# DIGG's 400 ("Tekniskt fel (schema, avsändare, mottagare etc)"), its code and issues kept.
KEEP_STATUS = frozenset({401, 409, 413})

FILTER_STATUS = "messageStatus"
FILTER_RECIPIENT = "recipientAttention.subOrganization.extension"
FILTER_SENDER = "senderAttention.subOrganization.extension"
FILTER_START = "creationDateTimeStart"
FILTER_STOP = "creationDateTimeStop"
LIST_FILTERS = (FILTER_STATUS, FILTER_RECIPIENT, FILTER_SENDER, FILTER_START, FILTER_STOP)
# getMessageById may leave out the text and the files.
GET_FILTERS = ("contentBodyText", "contentFiles")


def sdk_refusal(error: GatewayError, keep: frozenset[int] = KEEP_STATUS) -> GatewayError:
    """Return a service's refusal as the SDK API gives it: DIGG's 400 with the code and issues
    kept, but for the statuses in `keep` and 5xx."""
    if error.status in keep or not 400 <= error.status < 500:
        return error
    return GatewayError(error.code, error.title, error.detail, status=400, issues=error.issues,
                        extra={**error.extra, "type": SDK_BAD_REQUEST, "code": error.code},
                        issue_count=error.issue_count)


def _check_against_form(envelope: SentMessage, form: IntakeForm) -> None:
    """Refuse an envelope that says something else than the form it carries."""
    path = "data.attributes"
    sender = form.avsandare
    if envelope.sender.lower() != sender.organisation.strip().lower():
        raise bad_request(
            codes.SENDER_NOT_FORM_SENDER,
            f"sender är {envelope.sender} men formulärets organisation är "
            f"{sender.organisation}.",
            f"{path}.sender",
        )
    if envelope.sender_address != sender.funktionsadress:
        raise bad_request(
            codes.SENDER_NOT_FORM_SENDER,
            f"senderAttention är {envelope.sender_address} men formulärets "
            f"funktionsadress är {sender.funktionsadress}.",
            f"{path}.senderAttention.subOrganization.extension",
        )


def _check_against_route(envelope: SentMessage, result: IntakeResult) -> None:
    """Refuse an envelope addressed elsewhere than where the form's care unit is routed."""
    inquiry = result.inquiry
    path = "data.attributes"
    if envelope.recipient.lower() != inquiry.care_unit.organisation_id:
        raise bad_request(
            codes.RECIPIENT_NOT_CARE_UNIT,
            f"recipient är {envelope.recipient} men vårdcentralen "
            f"{inquiry.care_unit.hsa_id} hör till {inquiry.care_unit.organisation_id}.",
            f"{path}.recipient",
        )
    if envelope.recipient_address is not None and envelope.recipient_address != inquiry.routed_to:
        raise bad_request(
            codes.RECIPIENT_NOT_CARE_UNIT,
            f"recipientAttention är {envelope.recipient_address} men förfrågan "
            f"till {inquiry.care_unit.hsa_id} går till {inquiry.routed_to}.",
            f"{path}.recipientAttention.subOrganization.extension",
        )


@dataclass(frozen=True)
class SentInquiry:
    """A form's message taken in (a hälsoförfrågan, a SIP invitation): the intake's result and
    the message's id."""

    result: IntakeResult
    message_id: str


def send(session: Session, sent: SentMessage, *, client: ApiClient,
         now: dt.datetime) -> SentInquiry:
    """Take in an SDK message carrying a form of any type (picked by its XML's root and
    namespace) through the intake, storing the message as sent with the client's own messageId
    (else the form's id); the caller commits.

    The same messageId with the same content again is the same result; a messageId already
    used for other content, or the same form under another messageId, is 409.

    Raises GatewayError (400 for the message, its agreement with the form and every intake
    refusal but those in KEEP_STATUS).
    """
    submitter = Submitter.from_client(client)
    try:
        _, form = parse_form(sent.content)
    except FormError:
        form = None  # the intake refuses it the same way as on every channel, and counts it
    if form is not None:
        _check_against_form(sent, form)
    message_id = sent.message_id or (form.id if form is not None else str(uuid.uuid4()))
    earlier = _earlier(session, sent, message_id)
    if earlier is not None:
        _check_against_route(sent, earlier.result)
        return earlier
    settled = sent.settled(message_id=message_id, conversation_id=message_id)
    message = ClientMessage(message_id, settled.message.header.conversation_id.lower(),
                            settled.xml, sent.digest)
    try:
        result = submit(session, sent.content, submitter=submitter, channel=CHANNEL, now=now,
                        message=message, form_type=None)
    except GatewayError as error:
        if error.code == codes.MESSAGE_ID_CONFLICT.code:
            raise message_id_conflict(message_id) from None
        raise sdk_refusal(error) from None
    try:
        _check_against_route(sent, result)
    except GatewayError:
        session.rollback()
        raise
    if result.created:
        return SentInquiry(result, message_id)
    # The form was taken in before, under the message stored then.
    row = stored_message(session, result.inquiry.id, INQUIRY_KIND)
    kept = row.message_id if row is not None else result.inquiry.id
    if sent.message_id is not None and kept != message_id:
        raise conflict(
            codes.FORM_UNDER_OTHER_MESSAGE,
            f"Hälsoförfrågan {result.inquiry.id} har redan tagits emot i meddelandet {kept}; "
            "skicka den inte igen under ett annat messageId.",
        )
    return SentInquiry(result, kept)


def _earlier(session: Session, sent: SentMessage, message_id: str) -> SentInquiry | None:
    """Return the earlier result of this very message (same messageId, same content), None
    when the messageId is new, and raise 409 when it is another message's."""
    row = session.get(SdkMessage, message_id)
    if row is None:
        return None
    inquiry = session.get(Inquiry, row.inquiry_id) if row.kind == INQUIRY_KIND else None
    if row.digest != sent.digest or inquiry is None:
        raise message_id_conflict(message_id)
    return SentInquiry(IntakeResult(inquiry, created=False), message_id)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilter:
    """The filters of getMessageByFilter; each None means "any". They combine with AND."""

    statuses: frozenset[MessageStatus] | None = None
    recipient: str | None = None
    sender: str | None = None
    start: dt.datetime | None = None
    stop: dt.datetime | None = None

    def admits(self, message: AnyMessage) -> bool:
        return (
            (self.statuses is None or message.status in self.statuses)
            and (self.recipient is None or message.recipient_address == self.recipient)
            and (self.sender is None or message.sender_address == self.sender)
            and (self.start is None or message.created >= self.start)
            and (self.stop is None or message.created <= self.stop)
        )


PAGE_NUMBER = "page[number]"
PAGE_SIZE = "page[size]"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    """Which page of getMessageByFilter's list (JSON:API paging; page[number] from 1)."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE

    def last(self, total: int) -> int:
        return max(1, -(-total // self.size))


def page_of(args: Mapping[str, list[str]]) -> Page:
    """Return the page asked for with page[number] and page[size]; 400 naming the parameter
    for a value that is not a whole number in range, or one given twice."""
    found: dict[str, int] = {}
    for key, limit in ((PAGE_NUMBER, None), (PAGE_SIZE, MAX_PAGE_SIZE)):
        values = args.get(key)
        if values is None:
            continue
        if len(values) != 1:
            raise bad_request(codes.FILTER_REPEATED, f"{key} får anges en gång.", key)
        text = values[0].strip()
        number = int(text) if text.isdigit() and len(text) < 10 else 0
        if number < 1 or (limit is not None and number > limit):
            upper = f"–{limit}" if limit is not None else " eller mer"
            raise bad_request(codes.PAGE_INVALID, f"{key} ska vara ett heltal 1{upper}.", key)
        found[key] = number
    return Page(found.get(PAGE_NUMBER, 1), found.get(PAGE_SIZE, DEFAULT_PAGE_SIZE))


def filter_values(args: Mapping[str, list[str]], allowed: tuple[str, ...]) -> dict[str, str]:
    """Return {attribute: value} from `filter[attribute]=value` parameters.

    Raises 400 for a bare `filter`, an attribute not in `allowed`, or one given twice; other
    query parameters (but page[number] and page[size], read by `page_of`) are refused too, so
    that a misspelt filter never widens a result.
    """
    found: dict[str, str] = {}
    for key, values in args.items():
        if key in (PAGE_NUMBER, PAGE_SIZE):
            continue
        if not (key.startswith("filter[") and key.endswith("]")):
            raise bad_request(
                codes.FILTER_UNKNOWN,
                f"{key[:60]!r}: filtrera med filter[attribut]=värde, där attribut "
                f"är {', '.join(allowed)}.",
                key[:60],
            )
        name = key[len("filter["):-1]
        if name not in allowed:
            raise bad_request(
                codes.FILTER_UNKNOWN_FILTER,
                f"{name[:60]!r} går inte att filtrera på; tillåtna: "
                f"{', '.join(allowed)}.",
                key[:60],
            )
        if len(values) != 1:
            raise bad_request(codes.FILTER_REPEATED, f"{key} får anges en gång.", key)
        found[name] = values[0]
    return found


def _timestamp(value: str, name: str) -> dt.datetime:
    """Return an ISO 8601 timestamp in UTC; refuse one without a zone or not in UTC."""
    where = f"filter[{name}]"
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_request(
            codes.FILTER_INVALID_TIME,
            f"{name} ska vara en tidpunkt enligt ISO 8601 i UTC, t.ex. "
            "2024-05-01T00:00:00Z.",
            where,
        ) from None
    if moment.utcoffset() != dt.timedelta(0):
        raise bad_request(codes.FILTER_TIME_NOT_UTC, f"{name} ska ha tidszonen UTC (Z).", where)
    return moment.astimezone(dt.UTC)


def _statuses(value: str) -> frozenset[MessageStatus]:
    wanted = [part.strip() for part in value.split(",")]
    unknown = [w for w in wanted if w not in MessageStatus.__members__]
    if unknown:
        raise bad_request(
            codes.FILTER_UNKNOWN_STATUS,
            f"{', '.join(u[:40] for u in unknown)}: tillåtna är "
            f"{', '.join(MessageStatus)}.",
            f"filter[{FILTER_STATUS}]",
        )
    return frozenset(MessageStatus(w) for w in wanted)


def list_filter(args: Mapping[str, list[str]]) -> ListFilter:
    """Return the filter asked for; raise GatewayError 400 naming the bad parameter."""
    values = filter_values(args, LIST_FILTERS)
    start = _timestamp(values[FILTER_START], FILTER_START) if FILTER_START in values else None
    stop = _timestamp(values[FILTER_STOP], FILTER_STOP) if FILTER_STOP in values else None
    if start and stop and stop < start:
        raise bad_request(
            codes.FILTER_EMPTY_INTERVAL, "creationDateTimeStop är före creationDateTimeStart.",
            f"filter[{FILTER_STOP}]",
        )
    return ListFilter(
        statuses=_statuses(values[FILTER_STATUS]) if FILTER_STATUS in values else None,
        recipient=values.get(FILTER_RECIPIENT),
        sender=values.get(FILTER_SENDER),
        start=start,
        stop=stop,
    )


def list_messages(session: Session, client: ApiClient, wanted: ListFilter) -> list[AnyMessage]:
    """Return the client's messages that pass the filter, oldest first."""
    return [m for m in _visible(session, client) if wanted.admits(m)]


def flag(value: str, name: str) -> bool:
    """Return a true/false filter value; raise 400 for anything else."""
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise bad_request(
            codes.FILTER_INVALID, f"filter[{name}] ska vara true eller false.", f"filter[{name}]",
        )
    return lowered == "true"


def get_message(session: Session, client: ApiClient, message_id: str,
                act: Act = Act.READ) -> AnyMessage:
    """Return the message or raise 404, the same for one the client does not see (the access
    service decides and audits that attempt) as for an unknown id."""
    plain = plain_row(session, message_id) if _plausible(message_id) else None
    if plain is not None:
        seen = (plain_message(session, client, message_id)
                if decide_plain(Party.client(client), plain, act, channel=CHANNEL) else None)
        if seen is None:
            raise not_found("Meddelandet", "Inget meddelande med det id:t som klienten får se.")
        return seen
    inquiry = message_inquiry(session, message_id) if _plausible(message_id) else None
    decision = decide(Party.client(client), inquiry, act, channel=CHANNEL)
    message = (inquiry_message(session, client, decision.inquiry, message_id)
               if decision.inquiry is not None and decision.allowed else None)
    if message is None:
        raise not_found("Meddelandet", "Inget meddelande med det id:t som klienten får se.")
    return message


def read_content(session: Session, client: ApiClient, message: AnyMessage,
                 now: dt.datetime) -> tuple[AnyMessage, StoredAnswer | None]:
    """Record that the client read the message's files (personal data) and return the message as
    it stands after the read, with the answer's stored bytes for an answer; the caller commits.

    The form's read is audited; the receiving side's first read records `opened`. The answer's
    first read by the sender's client records `answer_delivered` (the message stays NEW:
    reading is no status); every read is audited. An answer whose content has been purged has
    no files and no read.
    """
    actor = f"client:{client.client_id}"
    if isinstance(message, PlainMessage):
        record_read(session, actor=actor, action="sdk.message.read", object_type="sdk_message",
                    object_id=message.id, purpose=READING, channel=CHANNEL,
                    detail={"direction": message.direction.value})
        return message, None
    if not message.is_answer:
        if Side.CARE_UNIT in Party.client(client).sides(message.inquiry):
            record_opened(session, message.inquiry, actor=actor, at=now)
        record_read(session, actor=actor, action="inquiry.read", object_type="inquiry",
                    object_id=message.id, purpose=READING, channel=CHANNEL,
                    detail={"direction": message.direction.value})
        return message, None
    if message.reply:
        # A SIP invitation's reply: a read of what the VC wrote, either side's.
        record_read(session, actor=actor, action="sip.reply.read", object_type="inquiry",
                    object_id=message.inquiry.id, purpose=READING, channel=CHANNEL,
                    detail={"direction": message.direction.value, "message_id": message.id})
        return message, None
    if message.answer is None or message.answer.pdf is None:
        return message, None
    if message.direction is Direction.INCOMING:
        stored = deliver_answer(session, message.inquiry, actor=actor, channel=CHANNEL, now=now)
        return message, stored
    # The care unit's client reading back what it sent: a read, not a delivery.
    own = answer_for(session, message.inquiry.id)
    record_read(session, actor=actor, action="answer.read", object_type="inquiry",
                object_id=message.inquiry.id, purpose=READING, channel=CHANNEL,
                detail={"direction": message.direction.value})
    return message, own


def delete_message(session: Session, client: ApiClient, message_id: str,
                   now: dt.datetime) -> None:
    """Hide the message from the client's view and record that; the caller commits.

    Raises 404 for a message the client does not see (or already deleted) and 400 for one
    whose status is not final. Legs, statistics and the other party's view stay.
    """
    message = get_message(session, client, message_id, Act.DELETE_MESSAGE)
    if not may_delete(message.status):
        raise GatewayError.at(
            codes.MESSAGE_NOT_FINAL,
            f"Bara meddelanden med slutlig status kan raderas; detta har {message.status}.",
            status=400,
            issues=[Issue(message.status.value, "Status är inte slutlig", "", "messageStatus")],
            extra={"type": SDK_BAD_REQUEST, "code": "MESSAGE_NOT_FINAL"},
        )
    try:
        with session.begin_nested():
            session.add(SdkDeletion(api_client_id=client.id, message_id=message.id,
                                    deleted_at=now))
    except IntegrityError:
        # A concurrent delete of the same message got there first: it is gone either way.
        raise not_found("Meddelandet") from None
    subject = (("sdk_message", message.id) if isinstance(message, PlainMessage)
               else ("inquiry", message.inquiry.id))
    record(session, actor=f"client:{client.client_id}", action="sdk.message.delete",
           object_type=subject[0], object_id=subject[1],
           detail={"message_id": message.id, "kind": message.kind,
                   "direction": message.direction.value, "status": message.status.value})


def _plausible(message_id: str) -> bool:
    return bool(UUID.match(message_id))


def resource_options(args: Mapping[str, list[str]]) -> dict[str, Any]:
    """Return what getMessageById includes: text and files unless filtered out."""
    values = filter_values(args, GET_FILTERS)
    return {
        "text": flag(values["contentBodyText"], "contentBodyText")
        if "contentBodyText" in values else True,
        "files": flag(values["contentFiles"], "contentFiles") if "contentFiles" in values else True,
    }
