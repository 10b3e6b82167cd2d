"""Closing without an answer (DESIGN 5.7 reasons), consent withdrawal, and re-routing.

- `close_inquiry`: by the REKO's side or the sender, with a reason code (`closed` leg).
- `withdraw_consent`: registered by the case worker (or by a peer gateway's notice of one);
  closes the open inquiries for that person and VC (CONSENT_WITHDRAWN), purges their content and
  blocks new ones until a newer consent (the intake's and the answer's C7 read the withdrawal);
  a VC a peer gateway serves is sent the withdrawal as an SDK message.
- `reroute`: the person has listed at another VC; the inquiry moves there (`rerouted` leg),
  gets a new functional address and the new VC is notified, but only when the consent already
  names that VC (C4). With a new consent, only the sender sends it on (gateway.inquiries.resend).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forms.consent import as_issue, consent_covers
from forms.dates import local_date
from gateway import codes
from gateway.audit.service import record
from gateway.directory.models import CareUnit
from gateway.directory.routing import route
from gateway.directory.service import DirectoryError
from gateway.errors import GatewayError, Issue
from gateway.inquiries.access import Side, actor_sides
from gateway.inquiries.answers import ANSWERABLE, inquiry_form, status_of
from gateway.inquiries.drafts import drop_drafts
from gateway.inquiries.intake import NOTIFY_JOB, PEER_WITHDRAWAL_JOB
from gateway.inquiries.labels import REASON_LABELS, STATUS_TEXT
from gateway.inquiries.models import (
    Answer,
    CloseReason,
    ConsentWithdrawal,
    Inquiry,
    Leg,
    LegKind,
    SdkMessage,
    SipPlan,
)
from gateway.inquiries.notify import SenderEvent, tell_sender
from gateway.inquiries.personal import forget_name
from gateway.inquiries.workflow import add_leg, leg_text, legs_of, seal_leg_text
from gateway.jobs.service import enqueue
from gateway.vault.service import get_vault

MAX_TEXT = 500

# The reasons each side can know, in the order a form offers them: only the care unit knows
# where the person is listed now; only the sender withdraws its own inquiry.
_EITHER_SIDE = (
    CloseReason.INFO_VIA_SIP, CloseReason.CONSENT_WITHDRAWN, CloseReason.PERSON_MOVED,
    CloseReason.PERSON_DECEASED, CloseReason.DUPLICATE, CloseReason.OTHER,
)
REASONS_OF: dict[Side, tuple[CloseReason, ...]] = {
    Side.CARE_UNIT: (CloseReason.RELISTED, *_EITHER_SIDE),
    Side.SENDER: (CloseReason.WITHDRAWN_BY_SENDER, *_EITHER_SIDE),
}

# --- free text: sealed like other content -------------------------------------------------------


def _note_context(withdrawal: ConsentWithdrawal) -> str:
    return f"consent_withdrawals.note:{withdrawal.id}"


def _open(sealed: bytes | None, context: str) -> str | None:
    return None if sealed is None else get_vault().open(sealed, context).decode("utf-8")


def closing_text(leg: Leg) -> str | None:
    """Return the free text written when the inquiry was closed; None when there was none or
    it was purged."""
    return leg_text(leg)


def withdrawal_note(withdrawal: ConsentWithdrawal) -> str | None:
    """Return the note registered with a consent withdrawal; None when none or purged."""
    return _open(withdrawal.note, _note_context(withdrawal))

def reasons_for(sides: frozenset[Side]) -> tuple[CloseReason, ...]:
    """Return the reasons a party on `sides` may close with, in the order forms offer them."""
    return tuple(r for r in CloseReason if any(r in REASONS_OF[side] for side in sides))


def parse_reason(reason: Any, text: Any) -> tuple[CloseReason, str | None]:
    """Return the reason code and its cleaned text; 422 for an unknown code, OTHER without
    text, or a text that is too long or not text."""
    try:
        code = CloseReason(str(reason).strip().upper()) if isinstance(reason, str) else None
    except ValueError:
        code = None
    if code is None:
        choices = ", ".join(r.value for r in CloseReason)
        raise GatewayError.at(
            codes.CLOSE_REASON_INVALID, f"Ange en av anledningarna {choices}.", "/reason",
            status=422,
        )
    if text is not None and not isinstance(text, str):
        raise GatewayError.at(
            codes.CLOSE_TEXT_INVALID, "Ange texten som text.", "/text", status=422,
        )
    cleaned = " ".join((text or "").split()) or None
    if cleaned is not None and len(cleaned) > MAX_TEXT:
        raise GatewayError.at(
            codes.CLOSE_TEXT_TOO_LONG, f"Texten får vara högst {MAX_TEXT} tecken.", "/text",
            status=422,
        )
    if code is CloseReason.OTHER and cleaned is None:
        raise GatewayError.at(
            codes.CLOSE_TEXT_REQUIRED,
            f"Skriv en förklaring till anledningen \"{REASON_LABELS[code]}\".",
            "/text", status=422,
        )
    return code, cleaned


def close_inquiry(
    session: Session,
    inquiry: Inquiry,
    *,
    reason: CloseReason,
    text: str | None,
    actor: str,
    now: dt.datetime,
    sides: frozenset[Side],
) -> None:
    """Close an inquiry still waiting for its answer (leg `closed`); 409 when it is not, 422
    for a reason the closing party's side cannot know (`reasons_for`)."""
    if reason not in reasons_for(sides):
        raise GatewayError.at(
            codes.CLOSE_REASON_NOT_YOURS,
            f"Anledningen \"{REASON_LABELS[reason]}\" kan bara väljas av den andra parten.",
            "/reason", status=422,
        )
    status = status_of(session, inquiry)
    if status not in ANSWERABLE:
        raise GatewayError.at(
            codes.NOT_OPEN,
            f"Förfrågan är {STATUS_TEXT[status]}; bara obesvarade förfrågningar kan avslutas "
            "utan svar.",
            status=409,
        )
    leg = add_leg(session, inquiry.id, LegKind.CLOSED, at=now, actor=actor, reason=reason.value)
    drop_drafts(session, inquiry.id)
    if text:
        seal_leg_text(session, leg, text)
    _tell_sender_unless_own(session, inquiry, actor, SenderEvent.CLOSED)
    record(session, actor=actor, action="inquiry.closed", object_type="inquiry",
           object_id=inquiry.id, detail={"reason": reason.value})


def _tell_sender_unless_own(session: Session, inquiry: Inquiry, actor: str, event: SenderEvent,
                            occurrence: int = 1) -> None:
    """Tell the case worker what the VC's side did; not what their own side did."""
    if Side.SENDER not in actor_sides(session, actor, inquiry):
        tell_sender(session, inquiry, event, occurrence=occurrence)


# --- consent withdrawal ---------------------------------------------------------------------


def withdraw_consent(
    session: Session,
    *,
    personnummer: str,
    care_unit: CareUnit,
    sender_unit_id: int,
    withdrawn_on: dt.date,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
) -> list[str]:
    """Register a withdrawal of the consent the person gave the sender unit towards the VC;
    close and purge that unit's open inquiries for the person to the VC (no other unit's: their
    consents are their own); return their ids. A VC a peer gateway serves gets the withdrawal
    as an SDK message too (a job seals it). 422 for a withdrawal dated in the future."""
    if withdrawn_on > local_date(now):
        raise GatewayError.at(
            codes.WITHDRAWN_ON_IN_FUTURE,
            "Ange dagen samtycket återkallades (i dag eller tidigare).", "/withdrawn_on",
            status=422,
        )
    vault = get_vault()
    person_hash = vault.keyed_hash(personnummer)
    withdrawal = ConsentWithdrawal(
        person_hash=person_hash, care_unit_id=care_unit.id, sender_unit_id=sender_unit_id,
        withdrawn_on=withdrawn_on, registered_by=actor, registered_at=now,
    )
    session.add(withdrawal)
    peer = care_unit.organisation_id if care_unit.organisation.endpoint else None
    if note or peer is not None:
        session.flush()  # the withdrawal's id is in the sealing contexts
    if note:
        withdrawal.note = vault.seal(note.encode("utf-8"), _note_context(withdrawal))
    if peer is not None:
        withdrawal.personnummer = vault.seal(personnummer.encode(),
                                             withdrawal.personnummer_context)
        enqueue(session, PEER_WITHDRAWAL_JOB, {"withdrawal_id": withdrawal.id},
                dedupe_key=f"{PEER_WITHDRAWAL_JOB}:{withdrawal.id}")
    closed: list[str] = []
    rows = session.scalars(select(Inquiry).where(
        Inquiry.person_hash == person_hash, Inquiry.care_unit_id == care_unit.id,
        Inquiry.sender_unit_id == sender_unit_id,
    ).order_by(Inquiry.created_at))
    for inquiry in rows:
        if status_of(session, inquiry) not in ANSWERABLE:
            continue
        add_leg(session, inquiry.id, LegKind.CONSENT_WITHDRAWN, at=now, actor=actor)
        add_leg(session, inquiry.id, LegKind.CLOSED, at=now, actor=actor,
                reason=CloseReason.CONSENT_WITHDRAWN.value)
        purge(session, inquiry, now)
        closed.append(inquiry.id)
    detail: dict[str, Any] = {"closed": closed, "purpose": "registrera återkallat samtycke"}
    if peer is not None:
        detail["sent_to"] = peer
    record(session, actor=actor, action="consent.withdrawn", object_type="care_unit",
           object_id=care_unit.hsa_id, detail=detail)
    return closed


def purge(session: Session, inquiry: Inquiry, now: dt.datetime) -> None:
    """Remove the inquiry's personal content (any answer's bytes, a SIP's plan, free text
    written at closing); legs stay."""
    inquiry.content = None
    inquiry.personnummer = None
    inquiry.purged_at = now
    drop_drafts(session, inquiry.id)
    for leg in session.scalars(select(Leg).where(Leg.inquiry_id == inquiry.id,
                                                 Leg.text.is_not(None))):
        leg.text = None
    forget_name(session, inquiry.id)
    answer = session.scalars(select(Answer).where(Answer.inquiry_id == inquiry.id)).one_or_none()
    if answer is not None:
        answer.pdf = None
        answer.structured = None
    for message in session.scalars(select(SdkMessage).where(SdkMessage.inquiry_id == inquiry.id)):
        message.content = None
    # A SIP's plan goes whole; its plan_shared leg keeps the digest.
    session.execute(delete(SipPlan).where(SipPlan.inquiry_id == inquiry.id))


# --- re-routing -------------------------------------------------------------------------------


def _check_consent_covers(inquiry: Inquiry, care_unit_hsa_id: str) -> None:
    """Refuse (422, rule C4) a re-route to a VC the person's consent does not let disclose: the
    person's data may go there only with a consent that names it, which only the sender can
    give (gateway.inquiries.resend)."""
    form = inquiry_form(inquiry)
    result = consent_covers(form, care_unit_hsa_id)
    if result.passed:
        return
    worker = form.avsandare.handlaggare
    detail = (f"{result.message} Förfrågan kan inte skickas vidare dit utan ett nytt samtycke. "
              "Avsluta förfrågan med anledningen att personen är listad på en annan "
              f"vårdcentral: då får handläggaren {worker.namn}, {form.avsandare.enhet}, veta det "
              f"och kan skicka den vidare med ett nytt samtycke som gäller {care_unit_hsa_id}.")
    raise GatewayError.at(
        codes.REROUTE_NOT_IN_CONSENT, detail, status=422,
        issues=[Issue("C4", as_issue(result).title, detail, result.path)],
    )


def reroute(
    session: Session, inquiry: Inquiry, *, care_unit_hsa_id: str, actor: str, now: dt.datetime
) -> None:
    """Move an unanswered inquiry to the VC where the person is now listed and notify it.

    409 when it is not waiting for an answer; 422 for the same VC; the directory's refusals
    (unknown 404, not connected 422) as they are.
    """
    status = status_of(session, inquiry)
    if status not in ANSWERABLE:
        raise GatewayError.at(
            codes.NOT_OPEN_FOR_REROUTE, f"Förfrågan är {STATUS_TEXT[status]}.", status=409,
        )
    try:
        decision = route(session, care_unit_hsa_id.strip(), local_date(now))
    except DirectoryError as error:
        raise GatewayError(error.code, error.title, error.detail, status=error.status,
                           extra=error.extra) from None
    if decision.care_unit_hsa_id == inquiry.care_unit.hsa_id:
        raise GatewayError.at(
            codes.REROUTE_SAME_UNIT, "Förfrågan går redan till den vårdcentralen.", "/care_unit",
            status=422,
        )
    _check_consent_covers(inquiry, decision.care_unit_hsa_id)
    unit = session.scalars(
        select(CareUnit).where(CareUnit.hsa_id == decision.care_unit_hsa_id)
    ).one()
    previous = inquiry.care_unit.hsa_id
    inquiry.care_unit_id = unit.id
    inquiry.care_unit = unit
    inquiry.routed_to = decision.functional_address
    # The old VC's REKOs lose the inquiry, and what they wrote with it.
    drop_drafts(session, inquiry.id)
    count = sum(1 for leg in legs_of(session, inquiry.id) if leg.kind == LegKind.REROUTED)
    add_leg(session, inquiry.id, LegKind.REROUTED, at=now, actor=actor,
            detail={"from": previous, "to": unit.hsa_id,
                    "functional_address": decision.functional_address, "code": decision.code})
    enqueue(session, NOTIFY_JOB, {"inquiry_id": inquiry.id},
            dedupe_key=f"{NOTIFY_JOB}:{inquiry.id}:rerouted:{count + 1}")
    _tell_sender_unless_own(session, inquiry, actor, SenderEvent.REROUTED, count + 1)
    record(session, actor=actor, action="inquiry.rerouted", object_type="inquiry",
           object_id=inquiry.id, detail={"from": previous, "to": unit.hsa_id})
