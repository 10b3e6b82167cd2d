"""The case worker's SIP pages (Swedish) under /arenden/sip: Ny SIP-kallelse (through the same
intake as every channel), one invitation (the meeting, who is coming, the legs), recording the
outcome after a confirmation, and sharing the plan after a held meeting. Thin: the rules live in
forms.sip, the intake and gateway.inquiries.sip. Another unit's invitation: 404, audited (the
access service); every view of the person is an audited read with its purpose.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from forms.dates import stockholm_today
from forms.sip import SipKallelse
from gateway import codes
from gateway.auth.login import role_required
from gateway.auth.models import User
from gateway.db import get_session, utcnow
from gateway.directory.service import connected_care_units
from gateway.errors import GatewayError, Issue
from gateway.inquiries import sip
from gateway.inquiries.access import Act, Party, require
from gateway.inquiries.intake import submit
from gateway.inquiries.labels import (
    LEG_LABELS,
    ROLE_LABELS,
    SENDER_DECISION_LABELS,
    SIP_CANCEL_LABELS,
    SIP_STATUS_LABELS,
    TURN_LABELS,
)
from gateway.inquiries.models import FormType, Inquiry, SipCancelReason
from gateway.inquiries.personal import audit_reads
from gateway.inquiries.sip_views import invitation_of, plan_download
from gateway.inquiries.sip_webform import PARTICIPANT_ROWS, SipForm, build_sip_xml
from gateway.inquiries.views import CASE_WORKER, Composer, bp, consent_pdf, sent_before
from gateway.inquiries.webform import Sender
from gateway.inquiries.workflow import SIP_MACHINE, SipStatus, progress

# Why the page shows the person: the audit log's purpose of the read (as an inquiry's page).
HANDLING = "handlaggning"
READING_PLAN = "handlaggning, SIP-plan"


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


# --- Ny SIP-kallelse --------------------------------------------------------------------------


def _render_compose(form: SipForm, sender: Sender, status: int = 200) -> ResponseReturnValue:
    return render_template("inquiries/sip_compose.html", form=form, sender=sender,
                           participant_rows=range(1, PARTICIPANT_ROWS + 1)), status


@bp.route("/sip/ny", methods=["GET", "POST"])
@role_required(CASE_WORKER)
def sip_compose() -> ResponseReturnValue:
    """Ny SIP-kallelse: the form, then the intake (C1–C7, S1–S4 on their fields)."""
    composer = Composer.current()
    submitter, sender = composer.submitter, composer.sender
    db = get_session()
    form = SipForm()
    if composer.start(db, form):
        return _render_compose(form, sender)
    if not form.validate():
        return _render_compose(form, sender, 422)
    consent = consent_pdf(form)
    if form.bilaga.errors:
        return _render_compose(form, sender, 422)
    again = sent_before(db, form.form_id.data, submitter)
    if again is not None:
        return again
    units = {u.hsa_id: u for u in connected_care_units(db)}
    care_unit = units[form.vardcentral.data or ""]
    now = utcnow()
    xml = build_sip_xml(form, sender, care_unit=(care_unit.hsa_id, care_unit.name),
                        consent_pdf=consent, now=now)
    try:
        result = submit(db, xml, submitter=submitter, channel="web", now=now,
                        form_type=FormType.SIP)
    except GatewayError as error:
        again = sent_before(db, form.form_id.data, submitter) \
            if error.code == "ID_CONFLICT" else None
        if again is not None:
            return again
        form.add_intake_errors(error)
        return _render_compose(form, sender, error.status if error.status < 500 else 503)
    inquiry = result.inquiry
    db.commit()
    flash(f"SIP-kallelsen {inquiry.reference} är skickad till {care_unit.name}. Svar senast "
          f"{inquiry.deadline.isoformat()}.", "info")
    return redirect(url_for("inquiries.sip_detail", sip_id=inquiry.id))


# --- one invitation ---------------------------------------------------------------------------


def _allowed(sip_id: str, act: Act) -> Inquiry:
    session = get_session()
    return require(session, Party.user(session, _user()), sip_id, act, channel="web",
                   form_type=FormType.SIP)


def _page(inquiry: Inquiry, *, errors: list[Issue] | None = None,
          confirm: dict[str, Any] | None = None, status_code: int = 200) -> ResponseReturnValue:
    session = get_session()
    form: SipKallelse | None = invitation_of(inquiry)
    if form is not None:
        audit_reads(session, f"user:{_user().username}", [inquiry.id], HANDLING)
    reply = sip.latest_reply(session, inquiry) if form is not None else None
    session.commit()
    meeting = sip.meeting_of(session, inquiry)
    state = progress(session, inquiry)
    status = SipStatus(state.status)
    return render_template(
        "inquiries/sip_case.html", inquiry=inquiry, form=form, meeting=meeting, state=state,
        status=status, reply=reply, plan=sip.plan_of(session, inquiry),
        closed=status in SIP_MACHINE.final, held=status is SipStatus.HELD,
        errors=errors or [], confirm=confirm,
        values=request.form if request.method == "POST" else {},
        ends_at=meeting.starts_at + dt.timedelta(minutes=meeting.length_minutes),
        today=stockholm_today(), status_labels=SIP_STATUS_LABELS, turn_labels=TURN_LABELS,
        leg_labels=LEG_LABELS, decision_labels=SENDER_DECISION_LABELS,
        role_labels=ROLE_LABELS, cancel_labels=SIP_CANCEL_LABELS,
    ), status_code


@bp.get("/sip/<sip_id>")
@role_required(CASE_WORKER)
def sip_detail(sip_id: str) -> ResponseReturnValue:
    """One SIP invitation: the meeting, where it stands and whose turn, who is coming, the
    legs; the outcome and the plan when it is the sender's turn."""
    return _page(_allowed(sip_id, Act.READ))


def _field_error(detail: str, field: str) -> GatewayError:
    return GatewayError.at(codes.SIP_OUTCOME_FIELD, detail, f"#{field}", status=422)


def outcome_body(values: Any, today: dt.date) -> dict[str, Any]:
    """Return the outcome the form's values give, as the API takes it (gateway.inquiries.sip.
    record_outcome): held on a date (and whether the REKO came, when said) or cancelled with
    a reason. Raises GatewayError 422 naming the field for what cannot be read."""
    chosen = values.get("utfall", "")
    if chosen == "held":
        text = values.get("held_on", "").strip()
        try:
            held = dt.date.fromisoformat(text)
        except ValueError:
            raise _field_error("Ange datumet då mötet hölls (ÅÅÅÅ-MM-DD).", "held_on") from None
        if held > today:
            raise _field_error(f"Mötet kan inte ha hållits {held}, efter i dag.", "held_on")
        body: dict[str, Any] = {"held_on": held.isoformat()}
        attended = values.get("reko_attended", "")
        if attended in ("ja", "nej"):
            body["reko_attended"] = attended == "ja"
        return body
    if chosen == "cancelled":
        reason = values.get("anledning", "")
        if reason not in set(SipCancelReason):
            raise _field_error("Välj varför mötet ställdes in.", "anledning")
        return {"cancelled": reason}
    raise _field_error("Välj om mötet hölls eller ställdes in.", "utfall_held")


# The outcome service's findings on the form's fields.
_OUTCOME_FIELDS = {"/held_on": "#held_on", "/cancelled": "#anledning"}


def _issues(error: GatewayError) -> list[Issue]:
    found = []
    for item in error.issues or [Issue(error.code, error.title, error.detail)]:
        where = _OUTCOME_FIELDS.get(item.location or "", item.location or "")
        found.append(Issue(item.code, item.title, item.detail, where))
    return found


@bp.post("/sip/<sip_id>/utfall")
@role_required(CASE_WORKER)
def sip_outcome(sip_id: str) -> ResponseReturnValue:
    """Registrera utfall: the choice, then its confirmation, then the outcome service."""
    inquiry = _allowed(sip_id, Act.OUTCOME)
    session = get_session()
    user = _user()
    try:
        body = outcome_body(request.form, stockholm_today())
        if request.form.get("bekraftat") != "ja" or request.form.get("andra"):
            if request.form.get("andra"):
                return _page(inquiry)
            return _page(inquiry, confirm=body)
        sip.record_outcome(session, inquiry, body, actor=f"user:{user.username}", now=utcnow())
    except GatewayError as error:
        session.rollback()
        return _page(inquiry, errors=_issues(error), status_code=error.status)
    session.commit()
    flash("Utfallet är registrerat: " + ("mötet hölls." if "held_on" in body else
                                          "mötet ställdes in."), "info")
    return redirect(url_for("inquiries.sip_detail", sip_id=inquiry.id))


@bp.post("/sip/<sip_id>/plan")
@role_required(CASE_WORKER)
def sip_plan(sip_id: str) -> ResponseReturnValue:
    """Dela planen: the PDF of the held meeting's plan to the VC (gateway.inquiries.sip)."""
    inquiry = _allowed(sip_id, Act.SHARE_PLAN)
    session = get_session()
    upload = request.files.get("plan")
    data = upload.stream.read(sip.MAX_PLAN_BYTES + 1) if upload and upload.filename else b""
    try:
        if not data:
            raise GatewayError.at(codes.SIP_PLAN_INVALID, "Välj planen som en PDF-fil.", "#plan",
                                  status=422)
        sip.share_plan(session, inquiry, data, actor=f"user:{_user().username}",
                       channel="web", now=utcnow())
    except GatewayError as error:
        session.rollback()
        issues = [Issue(i.code, i.title, i.detail, "#plan") for i in
                  (error.issues or [Issue(error.code, error.title, error.detail)])]
        return _page(inquiry, errors=issues, status_code=error.status)
    session.commit()
    flash("Planen är delad med vårdcentralen.", "info")
    return redirect(url_for("inquiries.sip_detail", sip_id=inquiry.id))


@bp.get("/sip/<sip_id>/plan.pdf")
@role_required(CASE_WORKER)
def sip_plan_pdf(sip_id: str) -> ResponseReturnValue:
    """The plan as shared (an audited read)."""
    return plan_download(_allowed(sip_id, Act.READ), actor=f"user:{_user().username}",
                         purpose=READING_PLAN)
