"""The receiving side (DESIGN 7.2 steps 4–6): an envelope a peer POSTed is stored at once
(202), then a job checks it in DESIGN's order and answers with a Meddelandekvittens.

Order: the signature against the certificate held for FromParty (before anything is
decrypted), the XHE, decryption with our own key, the payload (SV/BV), the functional
address (BV not-found), duplicates (BV duplicate). An accepted hälsoförfrågan enters the
intake service (channel sdk-peer), whatever its form type (a hälsoförfrågan, a SIP
invitation); what answers one (refToMessageId) the service of the answered inquiry's form type:
a signed PDF the answer service, a SIP reply gateway.inquiries.sip.reply; a consent withdrawal
(forms/withdrawal.py) is registered as a local one is. Every refusal gets
a REJECTED receipt, also an envelope that cannot be decrypted (C3.2.4 would send none; DESIGN
7.2 says every refusal gets one). A receipt is never answered with a receipt.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.errors import FormError
from forms.sdk.content import (
    OUTCOME_DOCUMENT_ID,
    PLAN_DOCUMENT_ID,
    answer_content,
    follow_up_of,
    inquiry_content,
    is_withdrawal,
    outcome_content,
    plan_content,
    xml_content,
)
from forms.sdk.message import Message, check_message, parse_message
from forms.sdk.message_rules import MessageError, make_report
from forms.sdk.receipt import (
    RECEIPT_DOCUMENT_TYPE,
    DetailCode,
    Reason,
    ReasonCode,
    Receipt,
    build_receipt_envelope,
    parse_receipt,
    reason_for,
)
from forms.sdk.statuses import MessageStatus
from forms.sdk.xhe import (
    NS_XHA,
    NS_XHB,
    Xhe,
    new_envelope_id,
    parse_xhe,
    read_routing,
    validate_xhe,
)
from forms.withdrawal import parse_withdrawal_xml
from gateway import codes
from gateway.db import utcnow
from gateway.directory.models import CareUnit, FunctionalAddress, SenderUnit
from gateway.errors import GatewayError
from gateway.federation.models import Direction, FederationEnvelope, Kind, new_key
from gateway.federation.outgoing import (
    DELIVER_JOB,
    envelope_bytes,
    outgoing_envelope,
    store_outgoing,
)
from gateway.federation.peers import (
    Peer,
    PeerError,
    encryption_key,
    peer,
    served_here,
    signing_key,
    trusted,
)
from gateway.inquiries import sip
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.closing import withdraw_consent
from gateway.inquiries.intake import PEER_CHANNEL, Submitter, form_refusal, submit
from gateway.inquiries.models import FormType, Inquiry, LegKind
from gateway.inquiries.sdk_messages import message_owner, received_message
from gateway.inquiries.workflow import add_leg
from gateway.jobs.models import Job
from gateway.jobs.registry import PermanentJobError, job_handler
from gateway.jobs.service import enqueue
from gateway.vault.service import get_vault
from signing.xmlenvelope import (
    EnvelopeSecurityError,
    VerifiedEnvelope,
    decrypt_payload,
    parse_envelope,
    seal_envelope,
    verify_envelope,
)

log = logging.getLogger(__name__)

RECEIVE_JOB = "federation.receive"
PEER_ACTOR = "peer:"


class NotAnEnvelope(Exception):
    """What the access point refuses with a 4xx: not XML, not an XHE, too large."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Refused(Exception):
    """A received envelope that gets a REJECTED receipt with `reasons`."""

    def __init__(self, reasons: Iterable[Reason]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(r.text for r in self.reasons))


def refused(code: ReasonCode, detail: DetailCode, text: str, line: str = "NA") -> Refused:
    return Refused([Reason(code, text, detail, line)])


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """The receipt as `gateway federation list` shows it (DESIGN 7.4), with the detail code."""
    return {
        "code": receipt.code.value,
        "reasons": [
            {"code": r.code.value, "reason": r.text, "line": r.line, "detail": r.detail}
            for r in receipt.reasons
        ],
    }


# --- the access point's part: store and acknowledge -------------------------------------------


def take_envelope(session: Session, data: bytes, now: dt.datetime) -> FederationEnvelope:
    """Store a POSTed envelope (RETRIEVED) and its processing job; return the row (the caller
    commits, then answers 202). The same XHE ID again is acknowledged and processed once: its
    receipt, if made, is sent again. Raises NotAnEnvelope for what is not an XHE at all."""
    limit = current_app.config["AP_MAX_BYTES"]
    try:
        root = parse_envelope(data, max_bytes=limit)
    except EnvelopeSecurityError as exc:
        status = 413 if len(data) > limit else 400
        raise NotAnEnvelope(status, str(exc)) from None
    routing = read_routing(root)
    if not routing.envelope_id or len(routing.envelope_id) > 100:
        raise NotAnEnvelope(400, "the XHE has no usable Header/ID")
    row = FederationEnvelope(
        key=new_key(), xhe_id=routing.envelope_id, direction=Direction.IN, kind=_kind(root),
        peer=(routing.sender or "")[:100] or None, status=MessageStatus.RETRIEVED,
        attempts=0, size=len(data), created=now,
    )
    row.content = get_vault().seal(data, row.vault_context)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _again(session, routing.envelope_id)
    enqueue(session, RECEIVE_JOB, {"key": row.key}, dedupe_key=f"{RECEIVE_JOB}:{row.key}")
    return row


def _kind(root: etree._Element) -> Kind:
    code = root.findtext(f"{{{NS_XHA}}}Payloads/{{{NS_XHA}}}Payload/{{{NS_XHB}}}DocumentTypeCode")
    return Kind.RECEIPT if (code or "").strip() == RECEIPT_DOCUMENT_TYPE else Kind.MESSAGE


def _again(session: Session, xhe_id: str) -> FederationEnvelope:
    """The same envelope again: resend the receipt it got (if it has one yet)."""
    stored = received_envelope(session, xhe_id)
    if stored is None:  # the conflict was not on the XHE ID: a real error
        raise RuntimeError("envelope insert failed without an existing envelope")
    receipt = session.scalars(select(FederationEnvelope).where(
        FederationEnvelope.direction == Direction.OUT, FederationEnvelope.kind == Kind.RECEIPT,
        FederationEnvelope.ref_id == xhe_id,
    )).first()
    if receipt is not None:
        enqueue(session, DELIVER_JOB, {"key": receipt.key, "again": True})
    log.info("federation: envelope %s received again; receipt resent: %s", xhe_id,
             receipt is not None)
    return stored


def received_envelope(session: Session, xhe_id: str) -> FederationEnvelope | None:
    return session.scalars(select(FederationEnvelope).where(
        FederationEnvelope.direction == Direction.IN, FederationEnvelope.xhe_id == xhe_id,
    )).one_or_none()


# --- the processing job -----------------------------------------------------------------------


@job_handler(RECEIVE_JOB)
def receive_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """Check a received envelope, hand what it carries to the intake or answer service, and
    queue its receipt."""
    key = str(payload.get("key", ""))
    row = session.get(FederationEnvelope, key)
    if row is None:
        raise PermanentJobError("the received envelope is gone")
    if row.status != MessageStatus.RETRIEVED:
        return
    process(session, key, utcnow())


def process(session: Session, key: str, now: dt.datetime) -> FederationEnvelope:
    """Process the received envelope `key`; return its row with status and receipt."""
    row = session.get(FederationEnvelope, key)
    assert row is not None
    data = envelope_bytes(row)
    routing = read_routing(parse_envelope(data, max_bytes=len(data) + 1))
    sender: Peer | None = None
    try:
        try:
            sender = peer(session, routing.sender or "")
        except PeerError as exc:
            raise refused(ReasonCode.SIG, DetailCode.SECURITY, f"Okänd avsändare: {exc}") from None
        verified, xhe = _verified_xhe(data, sender)
        if xhe.header.document_type == RECEIPT_DOCUMENT_TYPE:
            _take_receipt(session, row, xhe, sender, now)
            return row
        message = _opened_message(session, row, verified, xhe)
        inquiry_id = _dispatch(session, message, sender, now)
    except Refused as refusal:
        # The intake may have rolled the session back: read the row again.
        row = session.get(FederationEnvelope, key)
        assert row is not None
        _answer(session, row, routing.recipient, sender, refusal.reasons, now)
        log.info("federation: envelope %s from %s REJECTED: %s", row.xhe_id, row.peer,
                 ",".join(f"{r.code}/{r.detail}" for r in refusal.reasons))
        return row
    row = session.get(FederationEnvelope, key)
    assert row is not None
    row.message_id = message.message_id
    row.inquiry_id = inquiry_id
    _answer(session, row, message.recipient_organisation, sender, (), now)
    log.info("federation: envelope %s from %s ACCEPTED", row.xhe_id, row.peer)
    return row


def _verified_xhe(data: bytes, sender: Peer) -> tuple[VerifiedEnvelope, Xhe]:
    """Verify the signature with the certificate held for FromParty, then check the XHE."""
    if not trusted(sender.signing_certificate):
        raise refused(ReasonCode.SIG, DetailCode.SECURITY,
                      "Avsändarens signeringscertifikat är inte utfärdat av en betrodd CA.")
    try:
        verified = verify_envelope(data, sender.signing_certificate, max_bytes=len(data) + 1)
    except EnvelopeSecurityError as exc:
        raise refused(ReasonCode.SIG, DetailCode.SECURITY, f"{exc.code}: {exc}") from None
    report = validate_xhe(verified.root)
    if not report.valid:
        raise Refused(reason_for(problem) for problem in report.problems)
    try:
        xhe = parse_xhe(verified.root)
    except FormError as exc:
        raise refused(ReasonCode.SV, DetailCode.STRUCTURE, str(exc)) from None
    if xhe.header.sender != sender.organisation_id:
        raise refused(ReasonCode.SIG, DetailCode.SECURITY, "FromParty är inte avsändaren.")
    return verified, xhe


def _opened_message(
    session: Session, row: FederationEnvelope, verified: VerifiedEnvelope, xhe: Xhe
) -> Message:
    recipient = xhe.header.recipient
    if not served_here(session, recipient):
        raise refused(ReasonCode.BV, DetailCode.NOT_FOUND,
                      f"Mottagaren {recipient} betjänas inte av denna gateway.")
    try:
        payload = decrypt_payload(verified, encryption_key(recipient))
    except (EnvelopeSecurityError, PeerError) as exc:
        code = getattr(exc, "code", "KEY")
        raise refused(ReasonCode.BV, DetailCode.SECURITY,
                      f"Nyttolasten kan inte dekrypteras ({code}).") from None
    report = check_message(payload)
    if not report.valid:
        raise Refused(report.receipt_reasons())
    message = parse_message(payload)
    issues = message.envelope_issues(
        xhe_id=xhe.header.id, from_party=xhe.header.sender, to_party=recipient,
        handling_service_id=xhe.header.handling_service_id or "",
    )
    if issues:
        raise Refused(make_report(issues).receipt_reasons())
    address = session.scalars(select(FunctionalAddress).where(
        FunctionalAddress.address == message.recipient_address
    )).one_or_none()
    if address is None or address.organisation_id != recipient:
        raise refused(ReasonCode.BV, DetailCode.NOT_FOUND,
                      f"Funktionsadressen {message.recipient_address} finns inte hos {recipient}.",
                      "/messagePayload/message/messageHeader/recipient/attention")
    earlier = session.scalars(select(FederationEnvelope.xhe_id).where(
        FederationEnvelope.direction == Direction.IN,
        FederationEnvelope.message_id == message.message_id,
        FederationEnvelope.key != row.key,
    )).first()
    if earlier is not None:
        raise refused(ReasonCode.BV, DetailCode.DUPLICATE,
                      f"messageId {message.message_id} har redan tagits emot.",
                      "/messagePayload/message/messageHeader/messageId")
    return message


def _dispatch(
    session: Session, message: Message, sender: Peer, now: dt.datetime
) -> str | None:
    """Hand the message to the intake (a hälsoförfrågan), the answer service (an answer) or the
    consent withdrawal; return the inquiry id (None for a withdrawal, which names none)."""
    if is_withdrawal(message):
        _take_withdrawal(session, message, sender, now)
        return None
    if message.header.ref_to_message_id is None:
        return _take_inquiry(session, message, sender, now)
    return _take_answer(session, message, sender)


def _rules_refusal(error: GatewayError | MessageError) -> Refused:
    if isinstance(error, MessageError):
        return Refused(error.report.receipt_reasons())
    issues = error.issues or []
    reasons = [
        Reason(ReasonCode.BV, f"{i.code}: {i.title}" + (f". {i.detail}" if i.detail else ""),
               DetailCode.INVARIANT, i.location or "NA")
        for i in issues
    ] or [Reason(ReasonCode.BV, f"{error.code}: {error.title}. {error.detail}",
                 DetailCode.INVARIANT)]
    return Refused(reasons)


def _take_inquiry(session: Session, message: Message, sender: Peer, now: dt.datetime) -> str:
    try:
        form = inquiry_content(message).form.content
    except MessageError as error:
        raise _rules_refusal(error) from None
    addresses = frozenset(session.scalars(
        select(FunctionalAddress.address).join(
            SenderUnit, SenderUnit.functional_address_id == FunctionalAddress.id
        ).where(SenderUnit.organisation_id == sender.organisation_id)
    ))
    submitter = Submitter(f"{PEER_ACTOR}{sender.organisation_id}", sender.organisation_id,
                          addresses)
    try:
        # The SDK message is stored as it came (the sender's messageId, conversation and
        # label), for the SDK message API here and the answer.
        result = submit(session, form, submitter=submitter, channel=PEER_CHANNEL, now=now,
                        message=received_message(message), form_type=None)
    except GatewayError as error:
        raise _rules_refusal(error) from None
    if not result.created:
        raise refused(ReasonCode.BV, DetailCode.DUPLICATE,
                      f"messageId {message.message_id} har redan tagits emot.",
                      "/messagePayload/message/messageHeader/messageId")
    return result.inquiry.id


def _take_answer(session: Session, message: Message, sender: Peer) -> str:
    """What refers to an inquiry: from the care unit's organisation what answers it, from the
    sender's what follows it (a SIP meeting's outcome or plan); its form type's taker takes it."""
    ref = (message.header.ref_to_message_id or "").strip().lower()
    # The inquiry's message may carry its sender's own messageId; else it is the form's id.
    owner = message_owner(session, ref)
    inquiry = session.get(Inquiry, owner.inquiry_id if owner is not None else ref)
    follow_up = follow_up_of(message)
    taker = _TAKERS.get((inquiry.form_type, follow_up)) if inquiry is not None else None
    side = (inquiry.sender_unit if follow_up else inquiry.care_unit) if inquiry else None
    if inquiry is None or taker is None or side is None \
            or side.organisation_id != sender.organisation_id:
        raise refused(ReasonCode.BV, DetailCode.NOT_FOUND,
                      f"refToMessageId {ref} är ingen förfrågan till eller från "
                      f"{sender.organisation_id} som detta meddelande kan gälla.",
                      "/messagePayload/message/messageHeader/refToMessageId")
    try:
        taker(session, inquiry, message, f"{PEER_ACTOR}{sender.organisation_id}")
    except (GatewayError, MessageError) as error:
        raise _rules_refusal(error) from None
    return inquiry.id


def _accept_answer(session: Session, inquiry: Inquiry, message: Message, actor: str) -> None:
    """A hälsoförfrågan's answer: the signed PDF to the answer service, P4 decided there."""
    content = answer_content(message)
    accept_answer(
        session, inquiry.id, content.pdf.content, submitter=actor, channel=PEER_CHANNEL,
        now=message.header.creation_date_time,
        structured=content.structured.content if content.structured else None,
        reko_checked_by_peer=True, message=received_message(message),
    )


def _accept_reply(session: Session, inquiry: Inquiry, message: Message, actor: str) -> None:
    """A SIP invitation's reply: its sipSvar to the SIP service, at the time the peer took it."""
    data = xml_content(message, "SIP-svaret som XML", reply=True).content
    sip.reply(session, inquiry, data, actor=actor, channel=PEER_CHANNEL,
              now=message.header.creation_date_time, message=received_message(message))


def _accept_outcome(session: Session, inquiry: Inquiry, message: Message, actor: str) -> None:
    """A SIP meeting's outcome the sender recorded at its gateway: the same body to the same
    service (SIP_OUTCOME_INVALID, SIP_CLOSED refuse it), at the time the sender recorded it."""
    try:
        body = json.loads(outcome_content(message))
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GatewayError.at(codes.SIP_OUTCOME_INVALID, "Utfallet är inte ett JSON-objekt.",
                              status=422)
    sip.record_outcome(session, inquiry, body, actor=actor,
                       now=message.header.creation_date_time)


def _accept_plan(session: Session, inquiry: Inquiry, message: Message, actor: str) -> None:
    """A held SIP meeting's plan the sender shared at its gateway: its PDF to the same service
    (SIP_NOT_HELD, SIP_PLAN_INVALID refuse it), at the time the sender shared it."""
    sip.share_plan(session, inquiry, plan_content(message), actor=actor, channel=PEER_CHANNEL,
                   now=message.header.creation_date_time)


# By form type, and the sender's follow-up's document id (None: what answers the inquiry).
_TAKERS: dict[tuple[FormType, str | None], Callable[[Session, Inquiry, Message, str], None]] = {
    (FormType.HALSOFORFRAGAN, None): _accept_answer,
    (FormType.SIP, None): _accept_reply,
    (FormType.SIP, OUTCOME_DOCUMENT_ID): _accept_outcome,
    (FormType.SIP, PLAN_DOCUMENT_ID): _accept_plan,
}


def _take_withdrawal(session: Session, message: Message, sender: Peer, now: dt.datetime) -> None:
    """Register a consent withdrawal a peer's case worker registered there: towards a care unit
    served here, for the peer's own sender unit (the message's sender), as a local one is."""
    try:
        notice = parse_withdrawal_xml(xml_content(message).content)
    except MessageError as error:
        raise _rules_refusal(error) from None
    except FormError as error:
        raise _rules_refusal(form_refusal(error)) from None
    sender_unit = session.scalars(select(SenderUnit).join(
        FunctionalAddress, SenderUnit.functional_address_id == FunctionalAddress.id
    ).where(FunctionalAddress.address == notice.funktionsadress,
            SenderUnit.organisation_id == sender.organisation_id)).one_or_none()
    if sender_unit is None or notice.organisation != sender.organisation_id \
            or notice.funktionsadress != message.sender_address:
        raise refused(ReasonCode.BV, DetailCode.NOT_FOUND,
                      f"Avsändarenheten finns inte hos {sender.organisation_id}.",
                      "/samtyckesaterkallelse/avsandare")
    care_unit = session.scalars(select(CareUnit).where(
        CareUnit.hsa_id == notice.vardcentral_hsa_id,
        CareUnit.organisation_id == message.recipient_organisation,
    )).one_or_none()
    if care_unit is None:
        raise refused(ReasonCode.BV, DetailCode.NOT_FOUND,
                      f"Vårdcentralen {notice.vardcentral_hsa_id} finns inte hos "
                      f"{message.recipient_organisation}.", "/samtyckesaterkallelse/vardcentral")
    try:
        withdraw_consent(session, personnummer=notice.personnummer, care_unit=care_unit,
                         sender_unit_id=sender_unit.id, withdrawn_on=notice.aterkallat,
                         actor=f"{PEER_ACTOR}{sender.organisation_id}", now=now)
    except GatewayError as error:
        raise _rules_refusal(error) from None


# --- receipts ---------------------------------------------------------------------------------


def _answer(
    session: Session,
    row: FederationEnvelope,
    recipient: str | None,
    sender: Peer | None,
    reasons: tuple[Reason, ...],
    now: dt.datetime,
) -> None:
    """Record the verdict on the received row and queue the signed receipt to the sender."""
    ours = recipient if recipient and served_here(session, recipient) else \
        current_app.config["RECEIPT_ORGANISATION"]
    theirs = sender.organisation_id if sender else (row.peer or "okänd")
    receipt = (
        Receipt.reject(sender=ours, receiver=theirs, reference=row.xhe_id, reasons=reasons)
        if reasons else Receipt.accept(sender=ours, receiver=theirs, reference=row.xhe_id)
    )
    row.receipt = receipt_json(receipt)
    row.status = MessageStatus.REJECTED if reasons else MessageStatus.RECEIPT_SENT
    row.updated = now
    if sender is None or row.kind == Kind.RECEIPT:
        # Nowhere to send it, or a receipt, which is never answered with a receipt.
        log.warning("federation: %s %s from %s refused; no receipt sent", row.kind, row.xhe_id,
                    row.peer)
        return
    envelope_id = new_envelope_id()
    try:
        data = seal_envelope(build_receipt_envelope(receipt, envelope_id=envelope_id),
                             signing_key(ours), recipient=None)
    except (PeerError, EnvelopeSecurityError) as exc:
        raise PermanentJobError(f"the receipt cannot be signed ({exc})") from None
    store_outgoing(session, data, xhe_id=envelope_id, kind=Kind.RECEIPT, peer_id=theirs,
                   message_id=receipt.id, ref_id=row.xhe_id, inquiry_id=row.inquiry_id, now=now)


def _take_receipt(
    session: Session, row: FederationEnvelope, xhe: Xhe, sender: Peer, now: dt.datetime
) -> None:
    """A receipt for an envelope we sent: ACCEPTED or REJECTED on that envelope."""
    row.kind = Kind.RECEIPT
    row.updated = now
    try:
        receipt = parse_receipt(xhe.payload)
    except FormError as exc:
        row.status = MessageStatus.REJECTED
        row.receipt = None
        row.last_error = f"unreadable receipt: {exc}"[:500]
        return
    row.ref_id = receipt.reference
    row.message_id = receipt.id
    row.receipt = receipt_json(receipt)
    row.status = MessageStatus.NEW
    sent = outgoing_envelope(session, receipt.reference, lock=True)
    if sent is None or sent.peer != sender.organisation_id:
        row.last_error = "the receipt refers to no envelope sent to this peer"
        return
    row.inquiry_id = sent.inquiry_id
    sent.status = receipt.code.value
    sent.receipt = receipt_json(receipt)
    sent.updated = now
    if receipt.code.value == MessageStatus.REJECTED and sent.inquiry_id \
            and sent.message_id == sent.inquiry_id:
        add_leg(session, sent.inquiry_id, LegKind.REJECTED, at=now,
                actor=f"{PEER_ACTOR}{sender.organisation_id}",
                detail={"channel": PEER_CHANNEL,
                        "codes": [f"{r.code}/{r.detail}" for r in receipt.reasons]})
