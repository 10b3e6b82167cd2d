"""SIP invitations after intake (DESIGN 5.8): the meeting stored with the invitation, the VC's
reply and the sender's outcome, each a leg, audited. The intake itself is the shared one
(gateway.inquiries.intake with form type `sip`); who may reply or record the outcome is the
access service's decision, made by the caller before calling here."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy.orm import Session

from forms.dates import local_date
from forms.errors import FormError
from forms.formtypes import IntakeForm
from forms.sip import Beslut, SipKallelse, SipSvar, new_time_passed, parse_sip_svar
from gateway import codes
from gateway.audit.service import record
from gateway.errors import GatewayError
from gateway.inquiries.models import (
    Inquiry,
    LegKind,
    SipCancelReason,
    SipMeeting,
)
from gateway.inquiries.workflow import SIP_MACHINE, add_leg, legs_of, progress

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


def reply(session: Session, inquiry: Inquiry, data: bytes, *, actor: str, channel: str,
          now: dt.datetime) -> tuple[SipMeeting, bool]:
    """Take the VC's reply (a sipSvar) to the invitation; return the meeting and whether the
    reply was new (the same reply id with the same content again changes nothing). The latest
    reply counts: a REKO may reply again while the meeting is ahead.

    Raises GatewayError 400/422 for a reply that does not parse or breaks a rule (as intake
    refuses a form; a new time not after the reply's skapad or `now`: SVAR_NY_TID_PASSERAD),
    422 SIP_REPLY_OTHER when it names another invitation, 409 ID_CONFLICT for a reply id seen
    with other content, 409 SIP_CLOSED after the outcome.
    """
    from gateway.inquiries.intake import form_refusal

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
    if _seen(session, inquiry, answer, digest):
        return meeting, False
    if answer.ny_tid is not None and answer.ny_tid <= now:
        # Told after the replay check: the same reply again once its time has passed is no news.
        raise form_refusal(FormError([new_time_passed(answer, now, "tiden nu")]), "SIP-svar")
    _not_closed(session, inquiry)
    meeting.decision = answer.beslut.value
    meeting.proposed_at = answer.ny_tid.astimezone(dt.UTC) if answer.ny_tid else None
    detail: dict[str, Any] = {"reply": answer.id, "sha256": digest,
                              "decision": answer.beslut.value, "channel": channel}
    if meeting.proposed_at is not None:
        detail["proposed_at"] = meeting.proposed_at.isoformat()
    add_leg(session, inquiry.id, LegKind.REPLIED, at=now, actor=actor,
            reason=answer.beslut.value, detail=detail)
    record(session, actor=actor, action="sip.replied", object_type="inquiry",
           object_id=inquiry.id, detail={"decision": answer.beslut.value, "channel": channel})
    session.flush()
    return meeting, True


def _seen(session: Session, inquiry: Inquiry, answer: SipSvar, digest: str) -> bool:
    """Return whether this reply id was taken before; raise 409 if with other content."""
    for leg in legs_of(session, inquiry.id):
        if leg.kind == LegKind.REPLIED and (leg.detail or {}).get("reply") == answer.id:
            if (leg.detail or {}).get("sha256") != digest:
                raise GatewayError.at(codes.SIP_REPLY_CONFLICT, f"Svaret {answer.id} har redan "
                                      "tagits emot med annat innehåll.", "/sipSvar/id",
                                      status=409)
            return True
    return False


# --- the sender's outcome ---------------------------------------------------------------------


def record_outcome(session: Session, inquiry: Inquiry, body: dict[str, Any], *, actor: str,
                   now: dt.datetime) -> SipMeeting:
    """Record the outcome the sender reports: `{"held_on": "YYYY-MM-DD"}` (leg `held`) or
    `{"cancelled": REASON}` (leg `cancelled`), with `"reko_attended"` optional (a held
    meeting's default: whether the VC's latest reply was KOMMER). Returns the meeting.

    Raises GatewayError 422 SIP_OUTCOME_INVALID for anything else (both or neither, a date not
    a date or in the future, an unknown reason), 409 SIP_CLOSED when already recorded.
    """
    held_on, reason, attended = _outcome(body, local_date(now))
    meeting = meeting_of(session, inquiry)
    _not_closed(session, inquiry)
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
