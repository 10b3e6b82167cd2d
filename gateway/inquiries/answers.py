"""Answers: accepting a signed answer PDF (consent again, P1–P9), fetching it, registering it.

One service for every channel (web upload, composer, API, mail), so each rule is written once.
`accept_answer` checks C2 and C7 again (a withdrawn or expired consent blocks disclosure),
validates the PDF with a fresh pyHanko context against the configured trust roots and CRLs
(`load_configured_trust`), decides P4/P6 from the directory (the REKOs assigned to the inquiry's
care unit on the signing date), and stores the exact bytes sealed with the report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.consent import as_issue, check_consent_at_answer
from forms.dates import local_date
from forms.sdk.message_rules import largest_file
from forms.xmlsafe import MIB
from gateway import codes
from gateway.audit.reads import record_read
from gateway.audit.service import record, record_denied
from gateway.db import blob_placeholder, write_blob_in_place
from gateway.directory.service import active_assignments
from gateway.errors import GatewayError, Issue, not_found
from gateway.inquiries.drafts import drop_drafts
from gateway.inquiries.intake import PEER_ANSWER_JOB, PEER_CHANNEL, withdrawal_dates
from gateway.inquiries.labels import STATUS_TEXT
from gateway.inquiries.models import Answer, Inquiry, LegKind
from gateway.inquiries.notify import SenderEvent, tell_sender
from gateway.inquiries.personal import inquiry_form
from gateway.inquiries.sdk_messages import (
    ANSWER_KIND,
    ClientMessage,
    build_answer_message,
    in_milliseconds,
    store,
)
from gateway.inquiries.workflow import Status, add_leg, derive_status, legs_of
from gateway.jobs.service import enqueue
from gateway.metrics import counters
from gateway.vault.service import get_vault
from signing.answer_report import RULE_TITLES, AnswerReport, apply_signer_rule
from signing.pades import validate_answer
from signing.pdfscan import DEFAULT_MAX_BYTES as MAX_PDF_BYTES
from signing.trust import TrustError, TrustStore, load_trust_store, stale_crls

log = logging.getLogger(__name__)

CLOCK_SKEW = dt.timedelta(minutes=5)
ANSWERABLE = frozenset({Status.RECEIVED, Status.OPENED})
ANSWERED = frozenset({Status.ANSWERED, Status.ANSWER_DELIVERED})
# Why the sender reads an answer: the audit log's purpose.
RECEIVING = "ta emot svar"


@dataclass(frozen=True)
class StoredAnswer:
    """An accepted answer opened from the vault: the exact signed bytes and the report."""

    answer: Answer
    pdf: bytes
    report: AnswerReport
    structured: bytes | None


# --- helpers shared with the web pages and the closing service -------------------------------


def get_inquiry(session: Session, inquiry_id: str) -> Inquiry:
    """Return the inquiry; GatewayError 404 when there is none."""
    inquiry = session.get(Inquiry, inquiry_id.strip().lower()) if inquiry_id else None
    if inquiry is None:
        raise not_found("Hälsoförfrågan")
    return inquiry


def status_of(session: Session, inquiry: Inquiry) -> Status:
    return derive_status(leg.kind for leg in legs_of(session, inquiry.id))


def withdrawals_for(session: Session, inquiry: Inquiry) -> list[dt.date]:
    """Return the dates of registered consent withdrawals that block the inquiry (C7)."""
    return withdrawal_dates(session, inquiry.person_hash, inquiry.care_unit_id,
                            inquiry.sender_unit_id)


def load_configured_trust(config: Mapping[str, Any]) -> TrustStore:
    """Return the trust store the settings describe: TRUST_ROOTS, CRLS (see gateway.config for
    their defaults) and, with REVOCATION_FETCH, online revocation checks bounded by
    REVOCATION_TIMEOUT. Raises TrustError for a file that cannot be used."""
    timeout = config["REVOCATION_TIMEOUT"] if config.get("REVOCATION_FETCH") else None
    return load_trust_store(config["TRUST_ROOTS"], config.get("CRLS") or [],
                            online_timeout=timeout)


def check_trust() -> tuple[bool, str]:
    """Readiness: the trust roots and CRLs can be read, every root has a revocation source (a
    CRL it issued, or online checks) and no CRL is past its next update. Otherwise every
    genuine answer would fail P3."""
    try:
        store = load_configured_trust(current_app.config)
    except TrustError as error:
        return False, f"{codes.TRUST_ROOTS_MISSING.code}: {error}"
    problems = [f"trusted root without revocation source (no CRL of it in GATEWAY_CRLS, "
                f"GATEWAY_REVOCATION_FETCH off): {root}"
                for root in store.roots_without_revocation()]
    problems += [f"CRL past its next update: {issuer}"
                 for issuer in stale_crls(store, dt.datetime.now(dt.UTC))]
    if problems:
        return False, "; ".join(problems)
    online = ", online revocation checks" if store.online_timeout is not None else ""
    return True, f"{len(store.roots)} trust roots, {len(store.crls)} CRLs{online}"


def trust_store() -> TrustStore:
    """Return the configured trust store; GatewayError 503 TRUST_ROOTS_MISSING when a root or
    CRL file cannot be used."""
    try:
        return load_configured_trust(current_app.config)
    except TrustError as error:
        log.error("answers: trust roots unusable: %s", error)
        raise GatewayError.at(
            codes.TRUST_ROOTS_MISSING,
            "Gatewayens betrodda utfärdare är inte konfigurerade; kontakta förvaltningen.",
            status=503,
        ) from None


# --- accepting ------------------------------------------------------------------------------


def accept_answer(
    session: Session,
    inquiry_id: str,
    pdf: bytes | IO[bytes],
    *,
    submitter: str,
    channel: str,
    now: dt.datetime,
    structured: bytes | None = None,
    reko_checked_by_peer: bool = False,
    message: ClientMessage | None = None,
) -> Answer:
    """Validate and store a signed answer with its SDK message (`message` as the client sent
    it, else one built for it; either with the PDF left out, see sdk_messages); return it (the
    caller commits).

    `reko_checked_by_peer`: the answer comes from the peer gateway that serves the care unit
    (DESIGN 7.2 step 6), which decided P4 from its directory; here the REKO is the first signer.

    Raises GatewayError: 404 unknown inquiry, 409 when it is not waiting for an answer (already
    answered, closed, registered) or its messageId is another message's, 422
    CONSENT_BLOCKS_ANSWER (C2/C7, with whom to call) or ANSWER_REFUSED (one issue per failed P
    rule), 503 when the trust roots are missing. A 422 is audited as a denied attempt naming
    its codes, which ends the caller's transaction (see audit.service.record_denied).
    """
    if now.tzinfo is None:
        raise ValueError("accept_answer needs an aware `now`")
    source: IO[bytes] | None = None
    if not isinstance(pdf, bytes):
        # Given a file, this frame holds the only copy of its bytes, and only until it is
        # validated: it is sealed from the file (see below). One byte more than P1 allows is
        # enough for P1 to refuse a larger file.
        source = pdf
        source.seek(0)
        pdf = source.read(MAX_PDF_BYTES + 1)
    inquiry = get_inquiry(session, inquiry_id)
    _check_answerable(session, inquiry)
    try:
        _check_fits_back(inquiry, len(pdf))
        _check_consent(session, inquiry, now)
        report = _validated(session, inquiry, pdf, now, reko_checked_by_peer)
        if not report.ok:
            raise refusal(report)
    except GatewayError as error:
        _note_refusal(inquiry.id, error, submitter=submitter, channel=channel)
        raise
    if source is None:
        sealed = _Sealed.of(pdf, inquiry.id)
    else:
        # The PDF's bytes go before its envelope is made: sealed from the file in pieces, the
        # two are never in memory together.
        digest, size = hashlib.sha256(pdf).hexdigest(), len(pdf)
        del pdf
        source.seek(0)
        sealed = _Sealed(get_vault().seal_file(source, size, _context(inquiry.id)), digest, size)
    if message is None:
        message = build_answer_message(session, inquiry, structured, now)
    answer = _store(session, inquiry, sealed, report, submitter, channel, now, structured)
    if message is not None:
        store(session, inquiry_id=inquiry.id, kind=ANSWER_KIND, channel=channel,
              message=message, now=now)
    counters.answer_accepted(channel)
    return answer


@dataclass(frozen=True)
class _Sealed:
    """An answer's PDF as stored: sealed, with its digest and size."""

    envelope: bytes
    sha256: str
    size: int

    @classmethod
    def of(cls, pdf: bytes, inquiry_id: str) -> _Sealed:
        return cls(get_vault().seal(pdf, _context(inquiry_id)),
                   hashlib.sha256(pdf).hexdigest(), len(pdf))


def _context(inquiry_id: str) -> str:
    """The vault context of an answer's PDF."""
    return f"answers.pdf:{inquiry_id}"


# The refusals of the answer itself (its consent, its PDF), audited and counted with their codes.
_REFUSALS = frozenset({codes.CONSENT_BLOCKS_ANSWER.code, codes.ANSWER_REFUSED.code})


def _note_refusal(inquiry_id: str, error: GatewayError, *, submitter: str,
                  channel: str) -> None:
    """Count and audit a refused answer (a denied attempt naming its C or P codes); the audit
    entry survives the rollback that follows (and ends the caller's transaction)."""
    if error.code not in _REFUSALS:
        return
    failed = [issue.code for issue in error.issues]
    log.info("answer refused: inquiry=%s channel=%s codes=%s", inquiry_id, channel,
             ",".join(failed))
    counters.answer_refused(channel, failed)
    record_denied(actor=submitter, action="answer.submit", object_type="inquiry",
                  object_id=inquiry_id,
                  detail={"reason": error.code, "codes": failed, "channel": channel})


def refusal(report: AnswerReport) -> GatewayError:
    """Return the 422 naming every failed P rule, one issue each."""
    failed = report.failed
    issues = [Issue(r.code, RULE_TITLES.get(r.code, r.code), r.message) for r in failed]
    detail = "; ".join(f"{r.code}: {r.message}" for r in failed)
    return GatewayError.at(codes.ANSWER_REFUSED, detail, status=422, issues=issues)


def _check_fits_back(inquiry: Inquiry, size: int) -> None:
    """Refuse (P1) an answer to a peer's inquiry too large to travel back in one SDK message
    (30 MB with the PDF in base64): it could never be delivered."""
    if inquiry.channel != PEER_CHANNEL or size <= largest_file():
        return
    detail = (f"Svaret är {size / MIB:.1f} MB; till en annan organisations gateway går det som "
              f"ett SDK-meddelande på högst 30 MB, så PDF:en får vara högst "
              f"{largest_file() / MIB:.1f} MB.")
    raise GatewayError.at(codes.ANSWER_REFUSED, f"P1: {detail}", status=422,
                          issues=[Issue("P1", RULE_TITLES.get("P1", "P1"), detail)])


def _check_answerable(session: Session, inquiry: Inquiry) -> None:
    status = status_of(session, inquiry)
    if status not in ANSWERABLE:
        raise GatewayError.at(
            codes.NOT_AWAITING_ANSWER,
            f"Förfrågan är {STATUS_TEXT[status]} och kan inte besvaras igen.", status=409,
        )


def _check_consent(session: Session, inquiry: Inquiry, now: dt.datetime) -> None:
    form = inquiry_form(inquiry)
    report = check_consent_at_answer(
        form, today=local_date(now), withdrawals=withdrawals_for(session, inquiry),
        care_unit_hsa_id=inquiry.care_unit.hsa_id,
    )
    if report.ok:
        return
    worker = form.avsandare.handlaggare
    call = (f"Lämna inte ut något. Kontakta handläggaren {worker.namn}, "
            f"{form.avsandare.enhet}, telefon {worker.telefon}.")
    issues = [Issue(r.code, as_issue(r).title, f"{r.message} {call}", r.path)
              for r in report.failed]
    detail = " ".join(r.message for r in report.failed) + " " + call
    raise GatewayError.at(codes.CONSENT_BLOCKS_ANSWER, detail, status=422, issues=issues)


def _validated(
    session: Session, inquiry: Inquiry, pdf: bytes, now: dt.datetime, peer_reko: bool = False
) -> AnswerReport:
    report = validate_answer(
        pdf, trust_roots=trust_store(), received_at=inquiry.created_at, now=now,
        expected_reference=inquiry.id,
    )
    if peer_reko:
        first = report.signers[0].hsa_id if report.signers else None
        hsa_ids, fingerprints = ({first} if first else set()), set[str]()
    else:
        hsa_ids, fingerprints = _assigned_identities(session, inquiry, report, now)
    return apply_signer_rule(report, allowed_hsa_ids=hsa_ids, allowed_fingerprints=fingerprints)


def _assigned_identities(
    session: Session, inquiry: Inquiry, report: AnswerReport, now: dt.datetime
) -> tuple[set[str], set[str]]:
    """Return HSA-ids and registered fingerprints of the REKOs assigned to the inquiry's care
    unit on the days the signatures were made (P4 is about who was REKO when signing)."""
    days = {local_date(s.signing_time or now) for s in report.signers} or {local_date(now)}
    hsa_ids: set[str] = set()
    fingerprints: set[str] = set()
    for day in days:
        for assignment in active_assignments(session, inquiry.care_unit, day):
            hsa_ids.add(assignment.coordinator.hsa_id)
            fingerprints.update(c.fingerprint for c in assignment.coordinator.certificates)
    return hsa_ids, fingerprints


def _store(
    session: Session,
    inquiry: Inquiry,
    pdf: _Sealed,
    report: AnswerReport,
    submitter: str,
    channel: str,
    now: dt.datetime,
    structured: bytes | None,
) -> Answer:
    if inquiry.channel == PEER_CHANNEL:
        # The answer travels back in an SDK message, whose times are in milliseconds: the
        # answered time is then the same at both gateways (DESIGN 7.2 step 7).
        now = in_milliseconds(now)
    vault = get_vault()
    reko = report.reko_signer
    answer = Answer(
        inquiry_id=inquiry.id,
        pdf=blob_placeholder(session, pdf.envelope),
        pdf_digest=pdf.sha256,
        structured=vault.seal(structured, f"answers.structured:{inquiry.id}")
        if structured else None,
        report=report.to_dict(),
        signed_at=reko.signing_time if reko is not None else None,
        accepted_at=now,
        submitted_by=submitter,
    )
    try:
        # A savepoint: a concurrent answer to the same inquiry loses on the unique column.
        with session.begin_nested():
            session.add(answer)
    except IntegrityError:
        raise GatewayError.at(
            codes.NOT_AWAITING_ANSWER, "Förfrågan har redan besvarats.", status=409,
        ) from None
    write_blob_in_place(session, Answer.__table__.c.pdf, answer.id, pdf.envelope)
    add_leg(session, inquiry.id, LegKind.ANSWERED, at=now, actor=submitter,
            detail={"channel": channel, "co_signers": len(report.co_signers)})
    drop_drafts(session, inquiry.id)
    tell_sender(session, inquiry, SenderEvent.ANSWERED)
    if inquiry.channel == PEER_CHANNEL:
        # The inquiry came from a peer gateway: the answer travels back as an SDK message.
        enqueue(session, PEER_ANSWER_JOB, {"inquiry_id": inquiry.id},
                dedupe_key=f"{PEER_ANSWER_JOB}:{inquiry.id}")
    record(session, actor=submitter, action="answer.accepted", object_type="inquiry",
           object_id=inquiry.id,
           detail={"channel": channel, "sha256": answer.pdf_digest, "size": pdf.size})
    session.flush()
    return answer


# --- reading, delivering, registering --------------------------------------------------------


def answer_for(session: Session, inquiry_id: str) -> StoredAnswer | None:
    """Return the inquiry's accepted answer opened from the vault, or None when it has none
    (or its content has been purged)."""
    answer = session.scalars(select(Answer).where(Answer.inquiry_id == inquiry_id)).one_or_none()
    if answer is None or answer.pdf is None:
        return None
    vault = get_vault()
    pdf = vault.open(answer.pdf, _context(inquiry_id))
    structured = (
        vault.open(answer.structured, f"answers.structured:{inquiry_id}")
        if answer.structured else None
    )
    return StoredAnswer(answer, pdf, AnswerReport.from_dict(answer.report), structured)


def deliver_answer(
    session: Session, inquiry: Inquiry, *, actor: str, channel: str, now: dt.datetime
) -> StoredAnswer:
    """Return the answer for the sender and record `answer_delivered` the first time; 404 when
    there is no answer. Audited as a read of personal data (once per access session)."""
    stored = answer_for(session, inquiry.id)
    if stored is None:
        raise not_found("Svaret", "Förfrågan har inget svar ännu.")
    kinds = [leg.kind for leg in legs_of(session, inquiry.id)]
    if LegKind.ANSWER_DELIVERED not in kinds and derive_status(kinds) is not Status.CLOSED:
        add_leg(session, inquiry.id, LegKind.ANSWER_DELIVERED, at=now, actor=actor,
                detail={"channel": channel})
    record_read(session, actor=actor, action="answer.read", object_type="inquiry",
                object_id=inquiry.id, purpose=RECEIVING, channel=channel)
    return stored


def mark_registered(
    session: Session,
    inquiry: Inquiry,
    *,
    actor: str,
    now: dt.datetime,
    registered_at: dt.datetime | None = None,
) -> bool:
    """Record that the sender registered the answer in its case system (leg `registered`);
    return False when it already was. 409 when there is no answer yet; 422 for a time in the
    future or before the answer."""
    legs = legs_of(session, inquiry.id)
    status = derive_status(leg.kind for leg in legs)
    if status is Status.REGISTERED:
        return False
    if status not in ANSWERED:
        raise GatewayError.at(
            codes.NOT_ANSWERED, f"Förfrågan är {STATUS_TEXT[status]}.", status=409,
        )
    at = registered_at or now
    answered = next(leg.at for leg in legs if leg.kind == LegKind.ANSWERED)
    if at.tzinfo is None or at > now + CLOCK_SKEW or at < answered.replace(microsecond=0):
        raise GatewayError.at(
            codes.REGISTERED_AT_INVALID,
            "registered_at ska vara en tid med tidszon, efter att svaret kom och inte i "
            "framtiden.",
            status=422,
        )
    add_leg(session, inquiry.id, LegKind.REGISTERED, at=at, actor=actor,
            detail={"recorded_at": now.isoformat()} if registered_at else None)
    record(session, actor=actor, action="answer.registered", object_type="inquiry",
           object_id=inquiry.id)
    return True
