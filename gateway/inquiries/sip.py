"""SIP invitations after intake (DESIGN 5.8): the meeting stored with the invitation, the VC's
reply and the sender's outcome, each a leg, audited. The intake itself is the shared one
(gateway.inquiries.intake with form type `sip`); who may reply or record the outcome is the
access service's decision, made by the caller before calling here. After a held meeting the
sender may share the plan (a PDF) with the VC (`share_plan`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from forms.dates import local_date
from forms.errors import FormError
from forms.formtypes import IntakeForm
from forms.sip import Beslut, SipKallelse, SipSvar, new_time_passed, parse_sip_svar
from gateway import codes
from gateway.audit.reads import record_read
from gateway.audit.service import record
from gateway.errors import GatewayError, not_found
from gateway.inquiries.models import (
    Inquiry,
    Leg,
    LegKind,
    SipCancelReason,
    SipMeeting,
    SipPlan,
)
from gateway.inquiries.sdk_messages import (
    REPLY_KIND,
    ClientMessage,
    build_answer_message,
    in_milliseconds,
    store,
)
from gateway.inquiries.workflow import (
    SIP_MACHINE,
    SipStatus,
    add_leg,
    leg_text,
    legs_of,
    progress,
    seal_leg_text,
)
from gateway.jobs.service import enqueue
from gateway.vault.service import get_vault
from signing.pdfscan import MIB, PdfRefused, open_pdf, scan_document

_OUTCOME_KEYS = frozenset({"held_on", "cancelled", "reko_attended"})


def record_meeting(session: Session, inquiry: Inquiry, form: IntakeForm) -> None:
    """Store the invitation's meeting beside the inquiry (intake's step for the form type sip):
    what the inbox, reminders and statistics read without opening the sealed XML."""
    if not isinstance(form, SipKallelse):
        raise TypeError("a SIP meeting needs a sipKallelse")
    session.add(SipMeeting(
        inquiry_id=inquiry.id, starts_at=form.mote.tid.astimezone(dt.UTC),
        length_minutes=form.mote.langd_minuter, reply_due=form.svar_senast,
    ))


def meeting_of(session: Session, inquiry: Inquiry) -> SipMeeting:
    """Return the invitation's meeting (every SIP inquiry has one, written at intake)."""
    meeting = session.get(SipMeeting, inquiry.id)
    if meeting is None:
        raise RuntimeError(f"SIP invitation {inquiry.id} has no meeting")
    return meeting


def _not_closed(session: Session, inquiry: Inquiry) -> None:
    """Raise 409 SIP_CLOSED when the meeting has been held or cancelled."""
    if progress(session, inquiry).status in SIP_MACHINE.final:
        raise GatewayError.at(codes.SIP_CLOSED, "Mötet är redan registrerat som hållet eller "
                                                "inställt.", status=409)


# --- the VC's reply ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Replied:
    """A reply taken: the meeting after it, whether it was new (the same reply again changes
    nothing), and the messageId of the SDK message it travels in."""

    meeting: SipMeeting
    created: bool
    message_id: str


def reply_id(data: bytes) -> str | None:
    """Return the id of the sipSvar in `data`, None when it is not one (`reply` says why)."""
    try:
        return parse_sip_svar(data).id
    except FormError:
        return None


def reply(session: Session, inquiry: Inquiry, data: bytes, *, actor: str, channel: str,
          now: dt.datetime, message: ClientMessage | None = None) -> Replied:
    """Take the VC's reply (a sipSvar) to the invitation, with its SDK message (`message` as
    the client sent it, else one built with the reply's id as messageId); the same reply id with
    the same content again changes nothing. The latest reply counts: a REKO may reply again
    while the meeting is ahead. A reply to an invitation from a peer gateway travels back to it
    (DESIGN 7.2 step 6), its time in whole milliseconds as the SDK message carries it.

    Raises GatewayError 400/422 for a reply that does not parse or breaks a rule (as intake
    refuses a form; a new time not after the reply's skapad or `now`: SVAR_NY_TID_PASSERAD),
    422 SIP_REPLY_OTHER when it names another invitation, 409 ID_CONFLICT for a reply id seen
    with other content, 409 SIP_CLOSED after the outcome, 409 MESSAGE_ID_CONFLICT when the
    message's id is another message's.
    """
    from gateway.inquiries.intake import PEER_ANSWER_JOB, PEER_CHANNEL, form_refusal

    try:
        answer = parse_sip_svar(data)
    except FormError as error:
        raise form_refusal(error, "SIP-svar") from None
    if answer.kallelse != inquiry.id:
        raise GatewayError.at(codes.SIP_REPLY_OTHER, f"Svaret gäller kallelsen "
                              f"{answer.kallelse}, inte {inquiry.id}.", "/sipSvar/kallelse",
                              status=422)
    digest = hashlib.sha256(data).hexdigest()
    meeting = meeting_of(session, inquiry)
    seen = _seen(session, inquiry, answer, digest)
    if seen is not None:
        return Replied(meeting, False, seen)
    if answer.ny_tid is not None and answer.ny_tid <= now:
        # Told after the replay check: the same reply again once its time has passed is no news.
        raise form_refusal(FormError([new_time_passed(answer, now, "tiden nu")]), "SIP-svar")
    _not_closed(session, inquiry)
    if inquiry.channel == PEER_CHANNEL:
        now = in_milliseconds(now)
    message = message or build_answer_message(session, inquiry, data, now, pdf=None,
                                              message_id=answer.id)
    message_id = message.message_id if message is not None else answer.id
    meeting.decision = answer.beslut.value
    meeting.proposed_at = answer.ny_tid.astimezone(dt.UTC) if answer.ny_tid else None
    detail: dict[str, Any] = {"reply": answer.id, "sha256": digest,
                              "decision": answer.beslut.value, "channel": channel,
                              "message_id": message_id}
    if meeting.proposed_at is not None:
        detail["proposed_at"] = meeting.proposed_at.isoformat()
    if message is not None:
        store(session, inquiry_id=inquiry.id, kind=REPLY_KIND, channel=channel, message=message,
              now=now)
    leg = add_leg(session, inquiry.id, LegKind.REPLIED, at=now, actor=actor,
                  reason=answer.beslut.value, detail=detail)
    if answer.deltagare or answer.kommentar:
        # Who comes from the VC and the comment name people: sealed, purged with the content.
        seal_leg_text(session, leg, json.dumps(
            {"deltagare": list(answer.deltagare), "kommentar": answer.kommentar},
            ensure_ascii=False))
    if inquiry.channel == PEER_CHANNEL and message is not None:
        enqueue(session, PEER_ANSWER_JOB, {"inquiry_id": inquiry.id, "message_id": message_id},
                dedupe_key=f"{PEER_ANSWER_JOB}:{message_id}")
    record(session, actor=actor, action="sip.replied", object_type="inquiry",
           object_id=inquiry.id, detail={"decision": answer.beslut.value, "channel": channel})
    session.flush()
    return Replied(meeting, True, message_id)


def _seen(session: Session, inquiry: Inquiry, answer: SipSvar, digest: str) -> str | None:
    """Return the messageId of this reply id taken before (None: not taken); raise 409 if it
    came with other content."""
    for leg in legs_of(session, inquiry.id):
        detail = leg.detail or {}
        if leg.kind == LegKind.REPLIED and detail.get("reply") == answer.id:
            if detail.get("sha256") != digest:
                raise GatewayError.at(codes.SIP_REPLY_CONFLICT, f"Svaret {answer.id} har redan "
                                      "tagits emot med annat innehåll.", "/sipSvar/id",
                                      status=409)
            return str(detail.get("message_id") or answer.id)
    return None


@dataclass(frozen=True)
class Reply:
    """The VC's latest reply as the sender sees it: the decision, the new time proposed (UTC),
    who comes from the VC, the comment and when it came."""

    decision: Beslut
    proposed_at: dt.datetime | None
    deltagare: tuple[str, ...]
    kommentar: str | None
    at: dt.datetime


def latest_reply(session: Session, inquiry: Inquiry) -> Reply | None:
    """Return the VC's latest reply, its participants and comment opened from the vault (none
    once the content is purged); None before any reply."""
    replies = [leg for leg in legs_of(session, inquiry.id) if leg.kind == LegKind.REPLIED]
    if not replies:
        return None
    leg: Leg = replies[-1]
    sealed = leg_text(leg)
    said = json.loads(sealed) if sealed else {}
    proposed = (leg.detail or {}).get("proposed_at")
    return Reply(Beslut(leg.reason or ""),
                 dt.datetime.fromisoformat(proposed) if proposed else None,
                 tuple(said.get("deltagare") or ()), said.get("kommentar"), leg.at)


# --- the sender's outcome ---------------------------------------------------------------------


def record_outcome(session: Session, inquiry: Inquiry, body: dict[str, Any], *, actor: str,
                   now: dt.datetime) -> SipMeeting:
    """Record the outcome the sender reports: `{"held_on": "YYYY-MM-DD"}` (leg `held`) or
    `{"cancelled": REASON}` (leg `cancelled`), with `"reko_attended"` optional (a held
    meeting's default: whether the VC's latest reply was KOMMER). Returns the meeting.

    For a VC a peer gateway serves, the same body travels there (gateway.federation, job
    PEER_OUTCOME_JOB), so the REKO learns that the meeting was held or cancelled; the peer
    records it with this service, at the same time (whole milliseconds, as SDK carries it).

    Raises GatewayError 422 SIP_OUTCOME_INVALID for anything else (both or neither, a date not
    a date or in the future, an unknown reason), 409 SIP_CLOSED when already recorded.
    """
    from gateway.inquiries.intake import PEER_OUTCOME_JOB

    held_on, reason, attended = _outcome(body, local_date(now))
    meeting = meeting_of(session, inquiry)
    _not_closed(session, inquiry)
    if inquiry.care_unit.organisation.endpoint:
        now = in_milliseconds(now)
        enqueue(session, PEER_OUTCOME_JOB, {"inquiry_id": inquiry.id, "body": body,
                                            "at": now.isoformat()},
                dedupe_key=f"{PEER_OUTCOME_JOB}:{inquiry.id}")
    if held_on is not None:
        meeting.held_on = held_on
        meeting.reko_attended = (attended if attended is not None
                                 else meeting.decision == Beslut.KOMMER.value)
        add_leg(session, inquiry.id, LegKind.HELD, at=now, actor=actor,
                detail={"held_on": held_on.isoformat(), "reko_attended": meeting.reko_attended})
    else:
        assert reason is not None
        meeting.cancelled_on = local_date(now)
        meeting.cancel_reason = reason.value
        # A cancelled meeting had no one at it, unless the sender says otherwise.
        meeting.reko_attended = attended
        add_leg(session, inquiry.id, LegKind.CANCELLED, at=now, actor=actor,
                reason=reason.value)
    record(session, actor=actor, action="sip.outcome", object_type="inquiry",
           object_id=inquiry.id,
           detail={"outcome": "held" if held_on is not None else "cancelled",
                   "reason": reason.value if reason is not None else None})
    session.flush()
    return meeting


def _invalid(detail: str, location: str = "") -> GatewayError:
    return GatewayError.at(codes.SIP_OUTCOME_INVALID, detail, location or None, status=422)


def _outcome(body: dict[str, Any], today: dt.date
             ) -> tuple[dt.date | None, SipCancelReason | None, bool | None]:
    unknown = sorted(set(body) - _OUTCOME_KEYS)
    if unknown:
        raise _invalid(f"Okända fält: {', '.join(unknown)}.", f"/{unknown[0]}")
    if ("held_on" in body) == ("cancelled" in body):
        raise _invalid('Ange antingen "held_on" (datum) eller "cancelled" (anledning).')
    attended = body.get("reko_attended")
    if attended is not None and not isinstance(attended, bool):
        raise _invalid("reko_attended ska vara true eller false.", "/reko_attended")
    if "held_on" in body:
        return _held_on(body["held_on"], today), None, attended
    value = body["cancelled"]
    try:
        return None, SipCancelReason(value), attended
    except ValueError:
        known = ", ".join(r.value for r in SipCancelReason)
        raise _invalid(f"Okänd anledning; ange en av {known}.", "/cancelled") from None


def _held_on(value: Any, today: dt.date) -> dt.date:
    try:
        held = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 \
            else None
    except ValueError:
        held = None
    if held is None:
        raise _invalid("held_on ska vara ett datum, ÅÅÅÅ-MM-DD.", "/held_on")
    if held > today:
        raise _invalid(f"Mötet kan inte ha hållits {held}, efter i dag {today}.", "/held_on")
    return held


# --- the plan ---------------------------------------------------------------------------------

# A plan is a few pages of text; a scanned one some megabytes.
MAX_PLAN_BYTES = 10 * MIB
PLAN_READ = "sip.plan.read"


def _plan_refused(detail: str) -> GatewayError:
    return GatewayError.at(codes.SIP_PLAN_INVALID, detail, status=422)


def check_plan(pdf: bytes) -> None:
    """Refuse (422 SIP_PLAN_INVALID) a plan that is not a readable PDF of at most
    MAX_PLAN_BYTES, read within the decode limits of an answer's P1, or that carries
    JavaScript, launch or outward actions or embedded files (P8's walk)."""
    try:
        found = scan_document(open_pdf(pdf, max_bytes=MAX_PLAN_BYTES))
    except PdfRefused as refused:
        raise _plan_refused(refused.message) from None
    if found.active_content:
        raise _plan_refused("Filen innehåller JavaScript, startkommandon, länkar ut eller "
                            "inbäddade filer; spara planen som en vanlig PDF och försök igen.")


def share_plan(session: Session, inquiry: Inquiry, pdf: bytes, *, actor: str, channel: str,
               now: dt.datetime) -> SipPlan:
    """Share the plan of the held meeting with the VC: checked (`check_plan`), sealed, a leg
    `plan_shared`, audited; a later plan replaces the earlier. Returns the stored plan.

    Raises GatewayError 409 SIP_NOT_HELD unless the meeting is recorded as held, 422
    SIP_PLAN_INVALID for a file `check_plan` refuses.

    For a VC a peer gateway serves, the plan travels there (job PEER_OUTCOME_JOB, kind "plan",
    as the outcome does); the peer shares it with this service, at the same time (whole
    milliseconds), so its REKO reads it there.
    """
    from gateway.inquiries.intake import PEER_OUTCOME_JOB, PEER_PLAN_KIND

    if progress(session, inquiry).status is not SipStatus.HELD:
        raise GatewayError.at(codes.SIP_NOT_HELD, "Registrera först att mötet är hållet.",
                              status=409)
    check_plan(pdf)
    digest = hashlib.sha256(pdf).hexdigest()
    if inquiry.care_unit.organisation.endpoint:
        now = in_milliseconds(now)
        enqueue(session, PEER_OUTCOME_JOB, {"inquiry_id": inquiry.id, "kind": PEER_PLAN_KIND,
                                            "sha256": digest, "at": now.isoformat()},
                dedupe_key=f"{PEER_OUTCOME_JOB}:{PEER_PLAN_KIND}:{inquiry.id}:{digest}")
    plan = session.get(SipPlan, inquiry.id)
    if plan is None:
        plan = SipPlan(inquiry_id=inquiry.id)
        session.add(plan)
    plan.pdf_digest, plan.size, plan.shared_by, plan.shared_at = digest, len(pdf), actor, now
    plan.pdf = get_vault().seal(pdf, plan.pdf_context)
    add_leg(session, inquiry.id, LegKind.PLAN_SHARED, at=now, actor=actor,
            detail={"sha256": digest, "size": len(pdf), "channel": channel})
    record(session, actor=actor, action="sip.plan_shared", object_type="inquiry",
           object_id=inquiry.id, detail={"sha256": digest, "channel": channel})
    session.flush()
    return plan


def plan_of(session: Session, inquiry: Inquiry) -> SipPlan | None:
    """Return the plan shared for the invitation (its bytes still sealed), or None."""
    return session.get(SipPlan, inquiry.id)


def plan_pdf(session: Session, inquiry: Inquiry, *, actor: str, purpose: str,
             channel: str) -> bytes:
    """Return the shared plan's PDF, opened from the vault, and audit the read with its purpose
    (once per access session). Raises GatewayError 404 when no plan is shared or it has been
    purged."""
    plan = plan_of(session, inquiry)
    if plan is None or plan.pdf is None:
        raise not_found("SIP-planen", "Ingen plan är delad för mötet.")
    data = get_vault().open(plan.pdf, plan.pdf_context)
    record_read(session, actor=actor, action=PLAN_READ, object_type="inquiry",
                object_id=inquiry.id, purpose=purpose, channel=channel)
    return data
