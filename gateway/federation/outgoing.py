"""The sending side (DESIGN 7.2 steps 2, 3, 6): an inquiry to a peer's care unit, and an
answer to a peer's inquiry, become signed, encrypted SDK envelopes that a job delivers.

Every envelope is stored (sealed) before it is sent, so a resend is byte for byte the same.
Deliveries that fail are retried first after at most 30 seconds, then with doubling waits
capped at 15 minutes, as SCHEDULED_FOR_RESEND; after GATEWAY_PEER_GIVE_UP_HOURS the envelope
is MESSAGE_EXCHANGE_ERROR.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.formtypes import kind_named
from forms.sdk.content import (
    JSON_TYPE,
    OUTCOME_DOCUMENT_ID,
    OUTCOME_LABEL,
    PDF_TYPE,
    PLAN_DOCUMENT_ID,
    PLAN_LABEL,
    Party,
    answer_message,
    inquiry_message,
    withdrawal_message,
    xml_content,
)
from forms.sdk.message import Message, build_message
from forms.sdk.message_rules import MESSAGE_LIMITS, MessageError
from forms.sdk.statuses import MessageStatus
from forms.sdk.xhe import build_xhe, message_header, read_routing
from forms.withdrawal import Aterkallelse, build_withdrawal_xml
from forms.xmlsafe import parse_xml
from gateway.db import utcnow
from gateway.directory.models import CareUnit, SenderUnit
from gateway.federation.models import (
    FINAL_OUT,
    Direction,
    FederationEnvelope,
    Kind,
    new_key,
)
from gateway.federation.peers import PeerError, peer, signing_key, signing_paths
from gateway.federation.transport import (
    ClientIdentity,
    HttpsTransport,
    Transport,
    TransportError,
)
from gateway.inquiries.answers import answer_for
from gateway.inquiries.intake import (
    PEER_ANSWER_JOB,
    PEER_OUTCOME_JOB,
    PEER_PLAN_KIND,
    PEER_SEND_JOB,
    PEER_WITHDRAWAL_JOB,
)
from gateway.inquiries.models import ConsentWithdrawal, Inquiry, SdkMessage, SipPlan
from gateway.inquiries.personal import stored_form
from gateway.inquiries.sdk_messages import (
    INQUIRY_KIND,
    answer_message_id,
    consent_file,
    conversation_of,
    open_message,
    stored_message,
)
from gateway.jobs.models import Job
from gateway.jobs.registry import (
    PEER_LANE,
    SCHEDULED_LANE,
    PermanentJobError,
    job_handler,
    recurring,
)
from gateway.jobs.service import enqueue
from gateway.sdkapi.messages import form_label
from gateway.vault.service import get_vault
from signing.xmlenvelope import EnvelopeSecurityError, parse_envelope, seal_envelope

log = logging.getLogger(__name__)

DELIVER_JOB = "federation.deliver"
OVERDUE_JOB = "federation.overdue"
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 15 * 60
TRANSPORT_EXTENSION = "federation_transport"


def retry_delay(attempts: int) -> dt.timedelta:
    """Return the wait after `attempts` failed deliveries: 30 s, 60 s, … capped at 15 min."""
    exponent = min(max(attempts, 1) - 1, 16)
    return dt.timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**exponent))


def transport() -> Transport:
    """Return the app's transport: HTTPS with mutual TLS unless another one is installed in
    app.extensions (an AS4 access point)."""
    installed: Transport | None = current_app.extensions.get(TRANSPORT_EXTENSION)
    if installed is not None:
        return installed
    return HttpsTransport(list(current_app.config["FEDERATION_CA"]))


# --- storing ---------------------------------------------------------------------------------


def store_outgoing(
    session: Session,
    data: bytes,
    *,
    xhe_id: str,
    kind: Kind,
    peer_id: str,
    message_id: str | None = None,
    ref_id: str | None = None,
    inquiry_id: str | None = None,
    now: dt.datetime | None = None,
) -> FederationEnvelope:
    """Store an outgoing envelope (SCHEDULED) and its delivery job in the caller's
    transaction; the same XHE ID again returns the stored one."""
    existing = outgoing_envelope(session, xhe_id)
    if existing is not None:
        return existing
    row = FederationEnvelope(
        key=new_key(), xhe_id=xhe_id, direction=Direction.OUT, kind=kind, peer=peer_id,
        message_id=message_id, ref_id=ref_id, inquiry_id=inquiry_id,
        status=MessageStatus.SCHEDULED, attempts=0,
        size=len(data), created=now or utcnow(),
    )
    row.content = get_vault().seal(data, row.vault_context)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        stored = outgoing_envelope(session, xhe_id)
        if stored is None:
            raise
        return stored
    schedule_delivery(session, row, run_at=row.created)
    return row


def outgoing_envelope(
    session: Session, xhe_id: str, *, lock: bool = False
) -> FederationEnvelope | None:
    """Return the envelope sent with this XHE ID; `lock` it (FOR UPDATE) to change its status."""
    query = select(FederationEnvelope).where(
        FederationEnvelope.direction == Direction.OUT, FederationEnvelope.xhe_id == xhe_id,
    )
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def schedule_delivery(session: Session, row: FederationEnvelope, *, run_at: dt.datetime) -> None:
    enqueue(session, DELIVER_JOB, {"key": row.key}, run_at=run_at,
            dedupe_key=f"{DELIVER_JOB}:{row.key}:{row.attempts}")


def envelope_bytes(row: FederationEnvelope) -> bytes:
    """Return exactly the bytes sent or received."""
    if row.content is None:
        raise PermanentJobError("the envelope's bytes are gone")
    return get_vault().open(row.content, row.vault_context)


def send_sealed(
    session: Session, message: Message, *, sender: str, recipient: str,
    functional_address: str, message_id: str, inquiry_id: str | None = None,
) -> None:
    """Seal the SDK message for the peer organisation `recipient` (its messageId the XHE ID)
    and store it with its delivery job, in the caller's transaction."""
    data = seal_message(session, build_message(message), sender=sender, recipient=recipient,
                        functional_address=functional_address, xhe_id=message_id)
    store_outgoing(session, data, xhe_id=message_id, kind=Kind.MESSAGE, peer_id=recipient,
                   message_id=message_id, inquiry_id=inquiry_id)


def seal_message(
    session: Session, payload: bytes, *, sender: str, recipient: str, functional_address: str,
    xhe_id: str,
) -> bytes:
    """Return the SDK message `payload` wrapped in an XHE, encrypted to the recipient
    organisation's encryption certificate and signed with the sender's signing key."""
    try:
        target = peer(session, recipient)
        signer = signing_key(sender)
    except PeerError as exc:
        raise PermanentJobError(str(exc)) from None
    header = message_header(sender=sender, recipient=recipient,
                            functional_address=functional_address, envelope_id=xhe_id)
    try:
        # A message's files are base64 text nodes beyond libxml2's default 10 MB limit.
        root = parse_xml(payload, limits=MESSAGE_LIMITS)
    except FormError as exc:
        raise PermanentJobError(f"the SDK message does not parse ({exc})") from None
    xhe = build_xhe(header, root)
    try:
        return seal_envelope(xhe, signer, recipient=target.encryption_certificate)
    except EnvelopeSecurityError as exc:
        raise PermanentJobError(f"the envelope cannot be sealed ({exc.code})") from None


# --- the inquiry and the answer ---------------------------------------------------------------


def _inquiry(session: Session, payload: dict[str, Any]) -> Inquiry:
    inquiry = session.get(Inquiry, str(payload.get("inquiry_id", "")))
    if inquiry is None:
        raise PermanentJobError("the inquiry is gone")
    return inquiry


def inquiry_label(session: Session, inquiry: Inquiry) -> str:
    """Return the label of the inquiry's stored SDK message (the sender's own where it sent
    over the SDK API), else its form type's name."""
    row = stored_message(session, inquiry.id, INQUIRY_KIND)
    message = open_message(row) if row is not None else None
    if message is not None and message.header.label:
        return message.header.label
    return form_label(inquiry)


@job_handler(PEER_SEND_JOB)
def send_inquiry_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Build the SDK message of an inquiry of any form type to a peer's care unit (the form's
    XML its first file, named and labelled as its form type) and store it for delivery."""
    inquiry = _inquiry(session, payload)
    form_xml = get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}") \
        if inquiry.content is not None else None
    if form_xml is None:
        raise PermanentJobError("the inquiry's content is purged")
    stored_form(inquiry)  # it still reads with today's schema
    sender_org = inquiry.sender_unit.organisation
    recipient_org = inquiry.care_unit.organisation
    # The signed consent form travels as the second file, so the REKO there can download it.
    consent = consent_file(session, inquiry)
    message = inquiry_message(
        form_xml,
        sender=Party(sender_org.id, inquiry.reply_to, sender_org.name,
                     inquiry.sender_unit.name),
        recipient=Party(recipient_org.id, inquiry.routed_to, recipient_org.name,
                        inquiry.care_unit.name),
        message_id=inquiry.id,
        created=inquiry.created_at,
        # The sender's own conversation and label where it sent over the SDK API.
        conversation_id=conversation_of(session, inquiry),
        label=inquiry_label(session, inquiry),
        form_file_name=f"{kind_named(inquiry.form_type).name}.xml",
        consent_pdf=consent[1] if consent else None,
        consent_file_name=consent[0] if consent else "samtycke.pdf",
    )
    send_sealed(session, message, sender=sender_org.id, recipient=recipient_org.id,
                functional_address=inquiry.routed_to, message_id=inquiry.id,
                inquiry_id=inquiry.id)
    log.info("federation: inquiry %s sealed for %s", inquiry.id, recipient_org.id)


@job_handler(PEER_ANSWER_JOB)
def send_answer_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Build the SDK message of what answers a peer's inquiry and store it for delivery: the
    accepted answer (its signed PDF), or, where the payload names its `message_id`, one reply
    to a SIP invitation (the sipSvar as its one file, under the messageId it was stored with)."""
    inquiry = _inquiry(session, payload)
    care_org = inquiry.care_unit.organisation
    sender_org = inquiry.sender_unit.organisation
    reply = payload.get("message_id")
    pdf, xml, message_id, created = (_reply_file(session, str(reply)) if reply
                                     else _answer_files(session, inquiry))
    message = answer_message(
        pdf,
        sender=Party(care_org.id, inquiry.routed_to, care_org.name, inquiry.care_unit.name),
        recipient=Party(sender_org.id, inquiry.reply_to, sender_org.name,
                        inquiry.sender_unit.name),
        message_id=message_id,
        ref_to_message_id=inquiry.id,
        conversation_id=conversation_of(session, inquiry),
        created=created,
        structured_xml=xml,
        label=kind_named(inquiry.form_type).reply_label,
    )
    send_sealed(session, message, sender=care_org.id, recipient=sender_org.id,
                functional_address=inquiry.reply_to, message_id=message_id,
                inquiry_id=inquiry.id)
    log.info("federation: answer %s to %s sealed for %s", message_id, inquiry.id, sender_org.id)


_Files = tuple[bytes | None, bytes | None, str, dt.datetime]


def _answer_files(session: Session, inquiry: Inquiry) -> _Files:
    """The answer's signed PDF and structured XML, its derived messageId and accepted time."""
    stored = answer_for(session, inquiry.id)
    if stored is None:
        raise PermanentJobError("the answer is gone")
    return (stored.pdf, stored.structured, answer_message_id(inquiry.id),
            stored.answer.accepted_at)


def _reply_file(session: Session, message_id: str) -> _Files:
    """A SIP reply's XML (no PDF), the messageId it was stored with and when it was taken."""
    row = session.get(SdkMessage, message_id)
    message = open_message(row) if row is not None else None
    if row is None or message is None:
        raise PermanentJobError("the reply is gone")
    try:
        xml = xml_content(message, reply=True).content
    except MessageError as exc:
        raise PermanentJobError(f"the stored reply has no XML ({exc})") from None
    return None, xml, row.message_id, row.created_at


@job_handler(PEER_OUTCOME_JOB)
def send_outcome_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Build the SDK message of a SIP meeting's outcome, or (payload kind PEER_PLAN_KIND) of the
    plan shared after it, towards the peer that serves its VC: from the sender's function to the
    care unit's, refToMessageId the invitation, its one file the outcome body of
    POST /api/v1/sip/{id}/outcome (JSON) or the plan's PDF, and store it for delivery."""
    inquiry = _inquiry(session, payload)
    care_org = inquiry.care_unit.organisation
    sender_org = inquiry.sender_unit.organisation
    if payload.get("kind") == PEER_PLAN_KIND:
        content, message_id = _plan_file(session, inquiry, str(payload.get("sha256")))
        file_name, file_type, label, document_id = "plan.pdf", PDF_TYPE, PLAN_LABEL, \
            PLAN_DOCUMENT_ID
    else:
        content = json.dumps(payload.get("body") or {}, sort_keys=True).encode("utf-8")
        message_id = outcome_message_id(inquiry.id)
        file_name, file_type, label, document_id = "utfall.json", JSON_TYPE, OUTCOME_LABEL, \
            OUTCOME_DOCUMENT_ID
    message = answer_message(
        None,
        sender=Party(sender_org.id, inquiry.reply_to, sender_org.name, inquiry.sender_unit.name),
        recipient=Party(care_org.id, inquiry.routed_to, care_org.name, inquiry.care_unit.name),
        message_id=message_id, ref_to_message_id=inquiry.id,
        conversation_id=conversation_of(session, inquiry),
        created=dt.datetime.fromisoformat(str(payload.get("at"))),
        structured_xml=content, structured_file_name=file_name, structured_type=file_type,
        label=label, document_id=document_id,
    )
    send_sealed(session, message, sender=sender_org.id, recipient=care_org.id,
                functional_address=inquiry.routed_to, message_id=message_id,
                inquiry_id=inquiry.id)
    log.info("federation: %s of %s sealed for %s", label, inquiry.id, care_org.id)


def outcome_message_id(inquiry_id: str) -> str:
    """The messageId of a SIP invitation's outcome message (one per invitation)."""
    return str(uuid.uuid5(uuid.UUID(inquiry_id), OUTCOME_DOCUMENT_ID))


def plan_message_id(inquiry_id: str, sha256: str) -> str:
    """The messageId of a SIP invitation's plan message (one per plan: a later plan that
    replaces it is its own message)."""
    return str(uuid.uuid5(uuid.UUID(inquiry_id), f"{PLAN_DOCUMENT_ID}:{sha256}"))


def _plan_file(session: Session, inquiry: Inquiry, sha256: str) -> tuple[bytes, str]:
    """The shared plan's PDF and its message's id, if it is still the plan the job was for."""
    plan = session.get(SipPlan, inquiry.id)
    if plan is None or plan.pdf is None or plan.pdf_digest != sha256:
        raise PermanentJobError("the plan is gone or replaced by a later one")
    return get_vault().open(plan.pdf, plan.pdf_context), plan_message_id(inquiry.id, sha256)


@job_handler(PEER_WITHDRAWAL_JOB)
def send_withdrawal_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Build the SDK message of a consent withdrawal towards a peer's care unit (DESIGN 7.2: the
    withdrawal registered here must reach the region) and store it for delivery; the number
    kept for it is cleared, the envelope holds it now."""
    withdrawal = session.get(ConsentWithdrawal, int(payload.get("withdrawal_id") or 0))
    if withdrawal is None:
        raise PermanentJobError("the withdrawal is gone")
    if withdrawal.personnummer is None:
        return  # sealed already
    care_unit = session.get(CareUnit, withdrawal.care_unit_id)
    sender_unit = session.get(SenderUnit, withdrawal.sender_unit_id or 0)
    if care_unit is None or sender_unit is None or care_unit.functional_address is None:
        raise PermanentJobError("the withdrawal's care unit, its address or sender unit is gone")
    care_org, sender_org = care_unit.organisation, sender_unit.organisation
    address, reply_to = care_unit.functional_address.address, sender_unit.functional_address.address
    message_id = str(uuid.uuid4())
    notice = Aterkallelse(
        id=message_id, registrerad=withdrawal.registered_at, organisation=sender_org.id,
        funktionsadress=reply_to, vardcentral_hsa_id=care_unit.hsa_id,
        personnummer=get_vault().open(withdrawal.personnummer,
                                      withdrawal.personnummer_context).decode(),
        aterkallat=withdrawal.withdrawn_on,
    )
    try:
        message = withdrawal_message(
            build_withdrawal_xml(notice),
            sender=Party(sender_org.id, reply_to, sender_org.name, sender_unit.name),
            recipient=Party(care_org.id, address, care_org.name, care_unit.name),
            message_id=message_id, created=withdrawal.registered_at,
        )
    except FormError as exc:
        raise PermanentJobError(f"the withdrawal notice cannot be built ({exc})") from None
    send_sealed(session, message, sender=sender_org.id, recipient=care_org.id,
                functional_address=address, message_id=message_id)
    withdrawal.personnummer = None
    log.info("federation: consent withdrawal %s sealed for %s as %s", withdrawal.id, care_org.id,
             message_id)


# --- delivery --------------------------------------------------------------------------------


@job_handler(DELIVER_JOB, lane=PEER_LANE)
def deliver_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """POST a stored envelope to its peer; on failure schedule the next try (or give up)."""
    # Locked while it is sent: the peer's receipt may arrive before this job commits, and
    # its ACCEPTED must not be overwritten by WAITING_FOR_RECEIPT (PostgreSQL; SQLite's
    # transactions take turns anyway).
    row = session.get(FederationEnvelope, str(payload.get("key", "")), with_for_update=True)
    if row is None:
        raise PermanentJobError("the envelope is gone")
    if row.status in FINAL_OUT and not payload.get("again"):
        return
    deliver(session, row, utcnow())


def deliver(session: Session, row: FederationEnvelope, now: dt.datetime) -> None:
    """Try the envelope once and record the outcome on its row (the caller commits)."""
    row.attempts += 1
    row.updated = now
    try:
        target = peer(session, row.peer or "")
        sender = _own_party(session, row)
        certificate, key = signing_paths(sender)
        transport().post(target.endpoint, envelope_bytes(row), ClientIdentity(certificate, key))
    except (TransportError, PeerError) as exc:
        permanent = isinstance(exc, PeerError) or exc.permanent
        _failed(session, row, str(exc), now, permanent=permanent)
        return
    row.last_error = None
    row.next_attempt_at = None
    if row.kind == Kind.MESSAGE and row.status not in (MessageStatus.ACCEPTED,
                                                       MessageStatus.REJECTED):
        # The transport acknowledgement (ACKNOWLEDGE); the receipt comes on its own.
        row.status = MessageStatus.WAITING_FOR_RECEIPT
    elif row.kind == Kind.RECEIPT:
        row.status = MessageStatus.ACKNOWLEDGE
        _receipt_delivered(session, row)
    log.info("federation: %s %s delivered to %s (attempt %s)", row.kind, row.xhe_id, row.peer,
             row.attempts)


def _own_party(session: Session, row: FederationEnvelope) -> str:
    """Return the organisation this gateway sent the envelope as (its FromParty)."""
    routing = read_routing(parse_envelope(envelope_bytes(row)))
    if not routing.sender:
        raise PermanentJobError("the stored envelope names no sender")
    return routing.sender


def _failed(
    session: Session, row: FederationEnvelope, error: str, now: dt.datetime, *, permanent: bool
) -> None:
    row.last_error = error[:500]
    give_up = dt.timedelta(hours=current_app.config["PEER_GIVE_UP_HOURS"])
    if permanent or now - row.created >= give_up:
        row.status = MessageStatus.MESSAGE_EXCHANGE_ERROR
        row.next_attempt_at = None
        log.warning("federation: %s %s to %s: MESSAGE_EXCHANGE_ERROR (%s)", row.kind,
                    row.xhe_id, row.peer, error)
        return
    row.status = MessageStatus.SCHEDULED_FOR_RESEND
    row.next_attempt_at = now + retry_delay(row.attempts)
    schedule_delivery(session, row, run_at=row.next_attempt_at)
    log.info("federation: %s %s to %s failed (%s); again at %s", row.kind, row.xhe_id, row.peer,
             error, row.next_attempt_at.isoformat())


def _receipt_delivered(session: Session, row: FederationEnvelope) -> None:
    """The received envelope this receipt answers has had its receipt: RECEIPT_SENT → NEW."""
    if row.ref_id is None:
        return
    received = session.scalars(select(FederationEnvelope).where(
        FederationEnvelope.direction == Direction.IN, FederationEnvelope.xhe_id == row.ref_id,
    )).one_or_none()
    if received is not None and received.status == MessageStatus.RECEIPT_SENT:
        received.status = MessageStatus.NEW


# --- receipts that do not come -------------------------------------------------------------


@job_handler(OVERDUE_JOB, lane=SCHEDULED_LANE)
def overdue_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Messages the peer took but sent no receipt for within GATEWAY_PEER_GIVE_UP_HOURS:
    MESSAGE_EXCHANGE_ERROR (DESIGN 7.3)."""
    give_up = dt.timedelta(hours=current_app.config["PEER_GIVE_UP_HOURS"])
    now = utcnow()
    rows = session.scalars(select(FederationEnvelope).where(
        FederationEnvelope.direction == Direction.OUT,
        FederationEnvelope.kind == Kind.MESSAGE,
        FederationEnvelope.status == MessageStatus.WAITING_FOR_RECEIPT,
        FederationEnvelope.created < now - give_up,
    ))
    for row in rows:
        row.status = MessageStatus.MESSAGE_EXCHANGE_ERROR
        row.last_error = f"no receipt within {give_up.total_seconds() / 3600:g} hours"
        row.updated = now
        log.warning("federation: no receipt for %s from %s: MESSAGE_EXCHANGE_ERROR", row.xhe_id,
                    row.peer)


recurring(OVERDUE_JOB, dt.timedelta(minutes=15))
