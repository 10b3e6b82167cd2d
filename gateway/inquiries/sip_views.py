"""The REKO's page of a SIP invitation (Swedish): the meeting, syfte and the person (an audited
read), the reply in two clicks (sent as the sipSvar an API client would send, through
gateway.inquiries.sip.reply), the meeting as a calendar file and the plan the sender shared (an
audited read). Thin: the rules live in forms.sip
and the reply service."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlsplit

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from forms.dates import STOCKHOLM, stockholm_today
from forms.identifiers import hyphenated
from forms.sip import Beslut, SipKallelse
from forms.writer import SipSvarText, write_sip_svar_text
from gateway import codes
from gateway.auth.login import role_required
from gateway.auth.models import Role, User
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError, Issue
from gateway.inquiries import sip
from gateway.inquiries.access import Act, Party, require
from gateway.inquiries.labels import DECISION_LABELS, ROLE_LABELS, SIP_STATUS_LABELS
from gateway.inquiries.marks import MARK_LABELS, mark_of
from gateway.inquiries.models import FormType, Inquiry, LegKind
from gateway.inquiries.personal import audit_reads, stored_form
from gateway.inquiries.reko_views import DETAIL_PAGES, bp
from gateway.inquiries.sip_calendar import CalendarMeeting, meeting_ics
from gateway.inquiries.workflow import SIP_MACHINE, SipStatus, legs_of, progress

# Why the SIP page shows the person: the audit log's purpose of the read.
REPLYING = "svara på SIP-kallelse"
MAX_COMMENT = 2000
# The reply rules' findings as the web form says them: its field and Swedish words instead of
# the XML's (the rule itself is forms.sip's).
FIELD_OF_RULE = {"SVAR_NY_TID": ("ny_tid", "Ange den nya tid du föreslår."),
                 "SVAR_NY_TID_PASSERAD": ("ny_tid", "Den nya tiden har redan passerat. Föreslå "
                                                    "en tid framåt.")}


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _allowed(sip_id: str, act: Act) -> Inquiry:
    """Return the invitation when the logged-in REKO may do the act on it; 404 (audited)
    otherwise, as for an inquiry."""
    session = get_session()
    return require(session, Party.user(session, _user(), stockholm_today()), sip_id, act,
                   channel="web", form_type=FormType.SIP)


def invitation_of(inquiry: Inquiry) -> SipKallelse | None:
    """The stored invitation, or None when its content has been purged."""
    try:
        form = stored_form(inquiry)
    except GatewayError as error:
        if error.code == codes.CONTENT_PURGED.code:
            return None
        raise
    assert isinstance(form, SipKallelse)
    return form


def sip_page(inquiry: Inquiry, *, errors: list[Issue] | None = None,
             status_code: int = 200) -> ResponseReturnValue:
    """The invitation's page; the person's name and personnummer are an audited read."""
    session = get_session()
    form = invitation_of(inquiry)
    if form is not None:
        audit_reads(session, f"user:{_user().username}", [inquiry.id], REPLYING)
        session.commit()
    meeting = sip.meeting_of(session, inquiry)
    status = SipStatus(progress(session, inquiry).status)
    replies = [leg for leg in legs_of(session, inquiry.id) if leg.kind == LegKind.REPLIED]
    page = render_template(
        "inquiries/sip_detail.html", inquiry=inquiry, form=form, meeting=meeting,
        status=status, status_labels=SIP_STATUS_LABELS, decision_labels=DECISION_LABELS,
        role_labels=ROLE_LABELS, last_reply=replies[-1] if replies else None,
        replyable=status not in SIP_MACHINE.final, errors=errors or [],
        personnummer=hyphenated(form.person.personnummer) if form else None,
        values=request.form if request.method == "POST" else {},
        plan=sip.plan_of(session, inquiry),
        ends_at=meeting.starts_at + dt.timedelta(minutes=meeting.length_minutes),
        mark=mark_of(session, inquiry), mark_labels=MARK_LABELS,
    )
    return page, status_code


DETAIL_PAGES[FormType.SIP] = sip_page


def _field_error(detail: str, field: str) -> GatewayError:
    """A web field the reply cannot be made of, pointed at by the error summary."""
    return GatewayError.at(codes.SIP_REPLY_FIELD, detail, f"#{field}", status=422)


def _proposed(value: str) -> str | None:
    """The new time typed in the form (datetime-local, Swedish time) as an xs:dateTime."""
    if not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _field_error("Ange den nya tiden som datum och klockslag, "
                                                   "till exempel 2026-12-10 13:00.", "ny_tid"
                           ) from None
    return moment.replace(tzinfo=STOCKHOLM, second=0, microsecond=0).isoformat()


def reply_xml(inquiry: Inquiry, user: User, decision: str, proposed: str, comment: str,
              now: dt.datetime) -> bytes:
    """Return the sipSvar the REKO's choice makes, as the care unit's API client would send it
    (the rules are forms.sip's when the reply service parses it)."""
    if decision not in set(Beslut):
        raise _field_error("Välj Jag kommer, Kan inte komma eller "
                                                   "Föreslå ny tid.", "beslut")
    if not user.hsa_id:
        raise GatewayError.at(codes.SIP_REPLY_FIELD, "Ditt HSA-id saknas i katalogen, så svaret "
                              "kan inte skickas. Kontakta katalogadministratören.", status=422)
    if len(comment) > MAX_COMMENT:
        raise _field_error(f"Kommentaren får vara högst {MAX_COMMENT} tecken.", "kommentar")
    name = user.display_name or user.username
    return write_sip_svar_text(SipSvarText(
        id=str(uuid.uuid4()), kallelse=inquiry.id,
        skapad=now.astimezone(STOCKHOLM).replace(microsecond=0).isoformat(),
        besvarare=name, besvarare_hsa_id=user.hsa_id, beslut=decision,
        ny_tid=_proposed(proposed) if decision == Beslut.NYTT_FORSLAG else None,
        deltagare=(name,) if decision == Beslut.KOMMER else (),
        kommentar=comment.strip() or None,
    ))


def _as_fields(error: GatewayError) -> list[Issue]:
    """The error's issues, each rule's pointing at the form's field."""
    found = []
    for item in error.issues or [Issue(error.code, error.title, error.detail)]:
        field = FIELD_OF_RULE.get(item.code)
        found.append(Issue(item.code, item.title, field[1], f"#{field[0]}") if field else item)
    return found


@bp.post("/inkorg/<sip_id>/sip-svar")
@role_required(Role.COORDINATOR)
def reply(sip_id: str) -> ResponseReturnValue:
    """Take the REKO's reply: KOMMER or KOMMER_INTE in one click, NYTT_FORSLAG with a time."""
    inquiry = _allowed(sip_id, Act.REPLY)
    session = get_session()
    user = _user()
    now = utcnow()
    try:
        data = reply_xml(inquiry, user, request.form.get("beslut", ""),
                         request.form.get("ny_tid", ""), request.form.get("kommentar", ""), now)
        meeting = sip.reply(session, inquiry, data, actor=f"user:{user.username}",
                            channel="web", now=now).meeting
    except GatewayError as error:
        session.rollback()
        return sip_page(inquiry, errors=_as_fields(error), status_code=error.status)
    session.commit()
    flash(f"Ditt svar är skickat: {DECISION_LABELS[Beslut(str(meeting.decision))]}.", "info")
    return redirect(url_for("reko.show", inquiry_id=inquiry.id))


@bp.get("/inkorg/<sip_id>/kalender.ics")
@role_required(Role.COORDINATOR)
def calendar(sip_id: str) -> ResponseReturnValue:
    """The meeting as an .ics file: time, place or link and the reference; no personal data."""
    inquiry = _allowed(sip_id, Act.READ)
    meeting = sip.meeting_of(get_session(), inquiry)
    form = invitation_of(inquiry)
    location = (form.mote.plats or form.mote.digital_lank) if form else None
    domain = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    data = meeting_ics(CalendarMeeting(inquiry.id, inquiry.reference, meeting.starts_at,
                                       meeting.length_minutes, location),
                       domain=domain, now=utcnow())
    response = Response(data, mimetype="text/calendar")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="sip-{inquiry.reference}.ics"')
    return response


# Why the REKO opens the plan: the audit log's purpose of the read.
READING_PLAN = "ta del av SIP-plan"


def plan_download(inquiry: Inquiry, *, actor: str, purpose: str) -> Response:
    """The shared plan as a PDF download named by the reference (404 when none); the read is
    audited with its purpose."""
    session = get_session()
    data = sip.plan_pdf(session, inquiry, actor=actor, purpose=purpose, channel="web")
    session.commit()
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="sip-plan-{inquiry.reference}.pdf"')
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/inkorg/<sip_id>/plan.pdf")
@role_required(Role.COORDINATOR)
def plan(sip_id: str) -> ResponseReturnValue:
    """The plan the sender shared after the meeting (404 when none); an audited read."""
    return plan_download(_allowed(sip_id, Act.READ), actor=f"user:{_user().username}",
                         purpose=READING_PLAN)
