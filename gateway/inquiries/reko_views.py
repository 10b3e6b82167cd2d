"""Web pages (Swedish) of the REKO's side: the inbox, one inquiry, answering (upload or composer
with signing in the browser flow), closing and re-routing; and the case worker's answer actions
(download, registered, close) and the consent-withdrawal form. Thin: the rules live in the
answers and closing services.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from forms.answer import Besvarare, Lakare, StructuredAnswer, Svar, build_answer_xml
from forms.dates import local_clock, stockholm_today
from forms.errors import FormError
from forms.halsoforfragan import Halsoforfragan
from forms.identifiers import IdentifierError, parse_personnummer
from forms.labels import QUESTION_LABELS
from forms.render import SIGNATURE_FIELD_REKO, render_answer_pdf
from gateway import codes
from gateway.audit.reads import record_read
from gateway.auth.login import role_required, safe_next
from gateway.auth.models import Role, User
from gateway.db import get_session, utcnow
from gateway.directory.models import CareUnit
from gateway.directory.service import connected_care_units, covered_units
from gateway.errors import GatewayError, Issue
from gateway.http import problem_response
from gateway.inquiries.access import Act, Party, Side, require
from gateway.inquiries.answers import (
    ANSWERABLE,
    accept_answer,
    answer_for,
    deliver_answer,
    inquiry_form,
    mark_registered,
    status_of,
)
from gateway.inquiries.closing import (
    CloseReason,
    close_inquiry,
    parse_reason,
    reasons_for,
    reroute,
    withdraw_consent,
)
from gateway.inquiries.drafts import discard_draft, load_draft, save_draft
from gateway.inquiries.inbox import NEAR_DAYS
from gateway.inquiries.labels import REASON_LABELS, STATUS_TEXT
from gateway.inquiries.marks import MARK_LABELS, mark_of
from gateway.inquiries.models import FormType, Inquiry
from gateway.inquiries.sdk_messages import consent_file
from gateway.inquiries.signing import finish_signing, start_signing
from gateway.inquiries.statements import facts_of, statement_of
from gateway.inquiries.workflow import Status, legs_of, record_opened
from gateway.vault.service import get_vault

bp = Blueprint("reko", __name__)

# Why a REKO's pages show a person's data: the audit log's purpose for their reads.
ANSWERING = "besvara hälsoförfrågan"
# The composer's fields besides one `svar_<KOD>` per question (a draft keeps these).
COMPOSER_FIELDS = frozenset({"lakare_namn", "lakare_hsa", "sip"})


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _actor() -> str:
    return f"user:{_user().username}"


# --- scope -----------------------------------------------------------------------------------


def my_units(user: User, today: dt.date) -> list[CareUnit]:
    """Return the care units the REKO covers today (primary or deputy), by name."""
    return covered_units(get_session(), user.coordinator_id, today)


def _allowed(inquiry_id: str, act: Act) -> Inquiry:
    """Return the inquiry when the logged-in user may do the act on it; 404 (audited) when it
    is not their unit's (see the access service)."""
    session = get_session()
    # The hälsoförfrågan's pages; a SIP invitation has none yet (issue 18's web part).
    return require(session, Party.user(session, _user(), stockholm_today()), inquiry_id, act,
                   channel="web", form_type=FormType.HALSOFORFRAGAN)


# --- one inquiry -----------------------------------------------------------------------------


def _record_opened(inquiry: Inquiry) -> None:
    """Leg `opened` the first time a REKO of the current unit opens it."""
    session = get_session()
    record_opened(session, inquiry, actor=_actor(), at=utcnow())
    session.commit()


def _audit_read(inquiry: Inquiry, action: str = "inquiry.read") -> None:
    """Log that this page shows the inquiry's personal data (name, personnummer, questions) to
    answer it, once per login session (gateway.audit.reads), and commit."""
    session = get_session()
    record_read(session, actor=_actor(), action=action, object_type="inquiry",
                object_id=inquiry.id, purpose=ANSWERING, channel="web")
    session.commit()


def _detail_page(inquiry: Inquiry, *, errors: list[Issue] | None = None,
                 status_code: int = 200) -> ResponseReturnValue:
    session = get_session()
    form = inquiry_form(inquiry) if inquiry.content is not None else None
    personnummer = (
        get_vault().open(inquiry.personnummer, f"inquiries.personnummer:{inquiry.id}").decode()
        if inquiry.personnummer is not None else None
    )
    if form is not None or personnummer is not None:
        _audit_read(inquiry)
    status = status_of(session, inquiry)
    page = render_template(
        "inquiries/reko_detail.html", inquiry=inquiry, form=form, personnummer=personnummer,
        status=status, status_text=STATUS_TEXT, answerable=status in ANSWERABLE,
        stored=answer_for(session, inquiry.id), legs=legs_of(session, inquiry.id),
        labels=QUESTION_LABELS, errors=errors or [],
        reasons={r: REASON_LABELS[r] for r in reasons_for(frozenset({Side.CARE_UNIT}))},
        mark=mark_of(session, inquiry), mark_labels=MARK_LABELS,
        has_consent=consent_file(session, inquiry) is not None,
        days_left=(inquiry.deadline - stockholm_today()).days, near_days=NEAR_DAYS,
        other_units=[u for u in connected_care_units(session) if u.id != inquiry.care_unit_id],
    )
    return page, status_code


# The REKO's case page of each form type (gateway.inquiries.sip_views adds the SIP's).
DETAIL_PAGES: dict[FormType, Callable[[Inquiry], ResponseReturnValue]] = {
    FormType.HALSOFORFRAGAN: _detail_page,
}


@bp.get("/inkorg/<inquiry_id>")
@role_required(Role.COORDINATOR)
def show(inquiry_id: str) -> ResponseReturnValue:
    """The case page of an inquiry or SIP invitation, the page of its form type (the URL the
    notification mail links, whatever the type)."""
    session = get_session()
    inquiry = require(session, Party.user(session, _user(), stockholm_today()), inquiry_id,
                      Act.READ, channel="web")
    _record_opened(inquiry)
    return DETAIL_PAGES[FormType(inquiry.form_type)](inquiry)


@bp.get("/inkorg/<inquiry_id>/samtycke.pdf")
@role_required(Role.COORDINATOR)
def consent_pdf(inquiry_id: str) -> ResponseReturnValue:
    """The signed consent form the sender sent with the inquiry (audited read); 404 when the
    inquiry has none."""
    inquiry = _allowed(inquiry_id, Act.READ)
    session = get_session()
    found = consent_file(session, inquiry)
    if found is None:
        raise GatewayError("NOT_FOUND", "Signerat samtycke finns inte",
                           "Förfrågan kom utan signerad samtyckesblankett.", status=404)
    _audit_read(inquiry, "consent.read")
    response = Response(found[1], mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="samtycke-{inquiry.id}.pdf"'
    return response


def _refused(inquiry: Inquiry, error: GatewayError) -> ResponseReturnValue:
    get_session().rollback()
    issues = error.issues or [Issue(error.code, error.title, error.detail)]
    return _detail_page(inquiry, errors=issues, status_code=error.status)


@bp.post("/inkorg/<inquiry_id>/svar")
@role_required(Role.COORDINATOR)
def upload(inquiry_id: str) -> ResponseReturnValue:
    """Take an answer PDF signed elsewhere (Acrobat, pdfsig, ...)."""
    inquiry = _allowed(inquiry_id, Act.ANSWER)
    file = request.files.get("pdf")
    # The upload is already in a spooled file (werkzeug's, on disk when large): the answer is
    # read from it once, by accept_answer, not copied here first.
    if file is None or not _file_size(file.stream):
        return _refused(
            inquiry,
            GatewayError.at(codes.PDF_REQUIRED, "Välj den signerade svarsfilen (PDF).", status=400),
        )
    return _accept(inquiry, file.stream, "web")


def _file_size(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _accept(inquiry: Inquiry, pdf: bytes | IO[bytes], channel: str,
            structured: bytes | None = None) -> ResponseReturnValue:
    session = get_session()
    try:
        accept_answer(session, inquiry.id, pdf, submitter=_actor(), channel=channel,
                      now=utcnow(), structured=structured)
    except GatewayError as error:
        return _refused(inquiry, error)
    session.commit()
    flash("Svaret är godkänt och skickat till avsändaren.", "info")
    return redirect(url_for("reko.show", inquiry_id=inquiry.id))


# --- the composer ----------------------------------------------------------------------------


def _composed(inquiry: Inquiry, form: Halsoforfragan) -> StructuredAnswer:
    """Return the answer the composer's fields make; GatewayError 422 naming empty fields."""
    user = _user()
    coordinator = user.coordinator
    if coordinator is None:
        raise GatewayError.at(
            codes.NO_COORDINATOR, "Be katalogadministratören koppla ditt konto till din HSA-id.",
            status=403,
        )
    missing = [QUESTION_LABELS[q.kod] for q in form.fragor
               if not request.form.get(f"svar_{q.kod.value}", "").strip()]
    if missing:
        raise GatewayError.at(
            codes.ANSWER_INCOMPLETE, "Svar saknas för: " + ", ".join(missing) + ".", status=422,
        )
    physician = request.form.get("lakare_namn", "").strip()
    return StructuredAnswer(
        forfragan_id=inquiry.id,
        besvarad=utcnow().replace(microsecond=0),
        besvarad_av=Besvarare(coordinator.name, coordinator.hsa_id),
        svar=tuple(Svar(q.kod, request.form.get(f"svar_{q.kod.value}", "").strip())
                   for q in form.fragor),
        sip_rekommenderas=request.form.get("sip") == "ja",
        i_samrad_med=Lakare(physician, request.form.get("lakare_hsa", "").strip() or None)
        if physician else None,
    )


def _rendered(inquiry: Inquiry, form: Halsoforfragan) -> tuple[bytes, bytes]:
    answer = _composed(inquiry, form)
    try:
        return (render_answer_pdf(answer, inquiry.id, form.fragor, facts=facts_of(inquiry, form)),
                build_answer_xml(answer))
    except FormError as error:
        raise GatewayError.at(
            codes.ANSWER_INVALID, "; ".join(i.detail for i in error.issues), status=422,
        ) from None


@bp.get("/inkorg/<inquiry_id>/svara")
@role_required(Role.COORDINATOR)
def compose(inquiry_id: str) -> ResponseReturnValue:
    inquiry = _allowed(inquiry_id, Act.COMPOSE)
    return _compose_page(inquiry)


def _compose_page(inquiry: Inquiry, error: GatewayError | None = None) -> ResponseReturnValue:
    """The composer: with the fields just sent when they are shown again (a refusal), else
    with the REKO's saved draft, if any."""
    form = inquiry_form(inquiry)
    _audit_read(inquiry)
    draft = load_draft(get_session(), inquiry, author=_actor())
    values: Any = request.form
    if request.method == "GET" and draft is not None:
        values = draft[0]
    return render_template(
        "inquiries/reko_compose.html", inquiry=inquiry, form=form, labels=QUESTION_LABELS,
        values=values, error=error, coordinator=_user().coordinator,
        draft_saved_at=local_clock(draft[1]) if draft else None,
    ), (error.status if error else 200)


def _composer_fields() -> dict[str, str]:
    """Return the composer's own fields from the request (never the signing handles)."""
    return {name: value for name, value in request.form.items()
            if name.startswith("svar_") or name in COMPOSER_FIELDS}


def _keep_draft(inquiry: Inquiry) -> None:
    save_draft(get_session(), inquiry, author=_actor(), fields=_composer_fields(), now=utcnow())


@bp.post("/inkorg/<inquiry_id>/svara")
@role_required(Role.COORDINATOR)
def compose_post(inquiry_id: str) -> ResponseReturnValue:
    """Render the answer PDF to download (to sign in another program), or, with action
    "finish", send the answer signed in the browser (see prepare_signing)."""
    inquiry = _allowed(inquiry_id, Act.COMPOSE)
    action = request.form.get("action")
    if action == "finish":
        return _finish_signing(inquiry)
    if action in ("save", "discard"):
        return _draft_action(inquiry, action)
    form = inquiry_form(inquiry)
    try:
        pdf, _ = _rendered(inquiry, form)
    except GatewayError as error:
        return _compose_page(inquiry, error)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="svar-{inquiry.id}.pdf"'
    return response


def _draft_action(inquiry: Inquiry, action: str) -> ResponseReturnValue:
    """Save the composer's fields as the REKO's draft, or discard the draft; back to the
    composer either way."""
    session = get_session()
    if action == "save":
        _keep_draft(inquiry)
        message = ("Utkastet är sparat. Det finns kvar tills svaret är skickat eller "
                   "utkastet slängt.")
    elif discard_draft(session, inquiry, author=_actor()):
        message = "Utkastet är slängt."
    else:
        message = "Det fanns inget sparat utkast."
    session.commit()
    flash(message, "info")
    return redirect(url_for("reko.compose", inquiry_id=inquiry.id))


@bp.post("/inkorg/<inquiry_id>/svara/forbered")
@role_required(Role.COORDINATOR)
def prepare_signing(inquiry_id: str) -> ResponseReturnValue:
    """Step one of signing in the browser: render the composer's answer, prepare it for the
    certificate chain the browser read from the REKO's PKCS#12 (`kedja`, base64 DER, the
    signer's first) and answer with the bytes the browser signs. The key and its passphrase
    never come here. Refusals are problem+json, shown beside the signing step."""
    inquiry = _allowed(inquiry_id, Act.COMPOSE)
    session = get_session()
    try:
        pdf, xml = _rendered(inquiry, inquiry_form(inquiry))
        # What is being signed is kept as a draft first, in a commit of its own: a signing
        # refused now or later, or a browser closed half-way, loses nothing.
        _keep_draft(inquiry)
        session.commit()
        started = start_signing(
            session, inquiry, pdf=pdf, structured=xml, chain=_chain(), requested_by=_actor(),
            field_name=SIGNATURE_FIELD_REKO, now=utcnow(),
        )
    except GatewayError as error:
        session.rollback()
        return problem_response(error.problem(request.path), error.status)
    session.commit()
    return {"id": started.request_id, "to_sign": base64.b64encode(started.to_sign).decode(),
            "algorithm": started.algorithm, "expires_at": started.expires_at.isoformat()}


def _chain() -> list[bytes]:
    try:
        return [base64.b64decode(item, validate=True) for item in request.form.getlist("kedja")]
    except ValueError:
        raise GatewayError.at(
            codes.SIGNING_FAILED, "E-legitimationens certifikat kom inte fram hela.", status=422,
        ) from None


def _finish_signing(inquiry: Inquiry) -> ResponseReturnValue:
    """Step two: embed the browser's signature value and accept the answer like an upload;
    a refusal shows the composer again, its fields kept, the failed rules beside signing."""
    session = get_session()
    try:
        value = base64.b64decode(request.form.get("signatur", ""), validate=True)
    except ValueError:
        value = b""  # refused by finish_signing as a value of the wrong size
    try:
        finish_signing(session, inquiry, request_id=request.form.get("signatur_id", ""),
                       signature_value=value, requested_by=_actor(), now=utcnow())
    except GatewayError as error:
        session.rollback()
        return _compose_page(inquiry, error)
    session.commit()
    flash("Svaret är godkänt och skickat till avsändaren.", "info")
    return redirect(url_for("reko.show", inquiry_id=inquiry.id))


# --- closing and re-routing by the REKO ------------------------------------------------------


@bp.post("/inkorg/<inquiry_id>/avsluta")
@role_required(Role.COORDINATOR)
def reko_close(inquiry_id: str) -> ResponseReturnValue:
    inquiry = _allowed(inquiry_id, Act.CLOSE)
    return _close(inquiry, Side.CARE_UNIT, url_for("reko.show", inquiry_id=inquiry.id),
                  lambda: redirect(url_for("reko.inbox")))


@bp.post("/inkorg/<inquiry_id>/omdirigera")
@role_required(Role.COORDINATOR)
def reko_reroute(inquiry_id: str) -> ResponseReturnValue:
    inquiry = _allowed(inquiry_id, Act.REROUTE)
    session = get_session()
    try:
        reroute(session, inquiry, care_unit_hsa_id=request.form.get("care_unit", ""),
                actor=_actor(), now=utcnow())
    except GatewayError as error:
        return _refused(inquiry, error)
    session.commit()
    flash("Förfrågan är skickad vidare till den vårdcentral där personen är listad.", "info")
    return redirect(url_for("reko.inbox"))


def _close(inquiry: Inquiry, side: Side, back: str, done: Any) -> ResponseReturnValue:
    """Close without an answer in two steps: a reason chosen actively (no preselected one;
    only those the side can know), then a confirmation that says what the other side sees."""
    reasons = reasons_for(frozenset({side}))
    chosen = request.form.get("reason", "")
    text = request.form.get("text", "")
    try:
        if chosen not in {r.value for r in reasons}:
            raise GatewayError.at(codes.CLOSE_REASON_REQUIRED,
                                  "Välj varför förfrågan avslutas utan svar.", status=422)
        reason, cleaned = parse_reason(chosen, text)
    except GatewayError as error:
        get_session().rollback()
        return _close_page(inquiry, side, back, reasons, error=error)
    if request.form.get("bekraftat") != "ja":
        return _close_page(inquiry, side, back, reasons, reason=reason, text=cleaned)
    session = get_session()
    try:
        close_inquiry(session, inquiry, reason=reason, text=cleaned, actor=_actor(),
                      now=utcnow(), sides=frozenset({side}))
    except GatewayError as error:
        session.rollback()
        return _close_page(inquiry, side, back, reasons, error=error)
    session.commit()
    flash(f"Förfrågan {inquiry.reference} är avslutad utan svar.", "info")
    return done()


def _close_page(inquiry: Inquiry, side: Side, back: str, reasons: tuple[CloseReason, ...], *,
                reason: CloseReason | None = None, text: str | None = None,
                error: GatewayError | None = None) -> ResponseReturnValue:
    """The closing page: the reasons to choose from (with the error), or the confirmation."""
    page = render_template(
        "inquiries/close.html", inquiry=inquiry, side=side.value, back=back,
        choices={r: REASON_LABELS[r] for r in reasons}, labels=REASON_LABELS, reason=reason,
        text=text, error=error, values=request.form, action=request.path,
    )
    return page, (error.status if error else 200)


# --- the case worker's side ------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerPanel:
    """What `_answer_panel.html` shows: the answer (if any) and what may be done now."""

    stored: Any
    status: Status
    answerable: bool
    status_text: str
    reasons: dict[CloseReason, str]


@bp.app_template_global("answer_panel")
def answer_panel(inquiry: Inquiry) -> AnswerPanel:
    """Return the panel's data for the case worker's detail page."""
    session = get_session()
    status = status_of(session, inquiry)
    reasons = {r: REASON_LABELS[r] for r in reasons_for(frozenset({Side.SENDER}))}
    return AnswerPanel(answer_for(session, inquiry.id), status, status in ANSWERABLE,
                       STATUS_TEXT[status], reasons)


@bp.get("/arende/<inquiry_id>/svar.pdf")
@role_required(Role.CASE_WORKER)
def answer_pdf(inquiry_id: str) -> ResponseReturnValue:
    """The signed answer as it was accepted; leg `answer_delivered` the first time."""
    inquiry = _allowed(inquiry_id, Act.READ_ANSWER)
    session = get_session()
    stored = deliver_answer(session, inquiry, actor=_actor(), channel="web", now=utcnow())
    session.commit()
    response = Response(stored.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="svar-{inquiry.id}.pdf"'
    return response


@bp.get("/arende/<inquiry_id>/svar")
@role_required(Role.CASE_WORKER)
def answer_view(inquiry_id: str) -> ResponseReturnValue:
    """The answer as a page: what the signed PDF says (the person, the VC, the REKO, the
    physician, the questions and answers); read as the PDF is (audited, `answer_delivered`)."""
    inquiry = _allowed(inquiry_id, Act.READ_ANSWER)
    session = get_session()
    form = inquiry_form(inquiry)
    stored = deliver_answer(session, inquiry, actor=_actor(), channel="web", now=utcnow())
    session.commit()
    return render_template("inquiries/answer_statement.html", inquiry=inquiry,
                           statement=statement_of(inquiry, form, stored), report=stored.report)


def _back(inquiry: Inquiry) -> ResponseReturnValue:
    target = safe_next(request.form.get("next"))
    if target:
        return redirect(target)
    return redirect(url_for("reko.answer_pdf", inquiry_id=inquiry.id)
                    if answer_for(get_session(), inquiry.id) else url_for("auth.home"))


@bp.post("/arende/<inquiry_id>/registrerad")
@role_required(Role.CASE_WORKER)
def registered(inquiry_id: str) -> ResponseReturnValue:
    inquiry = _allowed(inquiry_id, Act.REGISTER)
    session = get_session()
    if mark_registered(session, inquiry, actor=_actor(), now=utcnow()):
        flash("Svaret är markerat som registrerat.", "info")
    session.commit()
    return _back(inquiry)


@bp.post("/arende/<inquiry_id>/avsluta")
@role_required(Role.CASE_WORKER)
def sender_close(inquiry_id: str) -> ResponseReturnValue:
    inquiry = _allowed(inquiry_id, Act.CLOSE)

    return _close(inquiry, Side.SENDER, url_for("inquiries.detail", inquiry_id=inquiry.id),
                  lambda: _back(inquiry))


@bp.route("/samtycke/aterkallat", methods=["GET", "POST"])
@role_required(Role.CASE_WORKER)
def consent_withdrawal() -> ResponseReturnValue:
    """Register that a person withdrew their consent towards one VC."""
    session = get_session()
    units = connected_care_units(session)
    if request.method == "GET":
        # From an inquiry's page the VC comes chosen (an HSA-id, no personal data in the URL).
        chosen = {"care_unit": request.args.get("care_unit", "")}
        return render_template("inquiries/reko_consent.html", units=units, values=chosen,
                               error=None, today=stockholm_today())
    if request.form.get("forifyll") == "1":
        # From the person search: the form filled in with the person (posted, never in a URL)
        # and perhaps the VC; nothing is registered until it is confirmed and sent.
        filled = {k: request.form.get(k, "") for k in ("personnummer", "care_unit")}
        return render_template("inquiries/reko_consent.html", units=units, values=filled,
                               error=None, today=stockholm_today())
    try:
        closed, unit = _withdraw(session)
    except GatewayError as error:
        session.rollback()
        page = render_template("inquiries/reko_consent.html", units=units,
                               values=request.form, error=error, today=stockholm_today())
        return page, error.status
    session.commit()
    # A VC another organisation's gateway serves hears of it there too (an SDK message).
    across = (f" Återkallelsen skickas också till {unit.organisation.name}, som registrerar den "
              "hos sig." if unit.organisation.endpoint else "")
    flash(f"Återkallelsen är registrerad. {len(closed)} öppna förfrågningar från er enhet "
          f"avslutades och deras innehåll raderades.{across}", "info")
    return redirect(url_for("reko.consent_withdrawal"))


def _withdraw(session: Any) -> tuple[list[str], CareUnit]:
    user: User = current_user
    if user.sender_unit_id is None:
        raise GatewayError.at(codes.NO_SENDER_UNIT, "Ditt konto hör inte till någon enhet.",
                              status=403)
    if request.form.get("confirm") != "ja":
        raise GatewayError.at(
            codes.WITHDRAWAL_NOT_CONFIRMED,
            "Bekräfta att personen har återkallat samtycket: enhetens öppna förfrågningar om "
            "personen till vårdcentralen avslutas och deras innehåll raderas.", status=422,
        )
    number = request.form.get("personnummer", "").replace("-", "").strip()
    try:
        parse_personnummer(number)
    except IdentifierError as exc:
        raise GatewayError.at(codes.PERSONNUMMER_INVALID, exc.detail, status=422) from None
    unit = session.scalars(
        select(CareUnit).where(CareUnit.hsa_id == request.form.get("care_unit", ""))
    ).one_or_none()
    if unit is None:
        raise GatewayError.at(
            codes.CARE_UNIT_NOT_CHOSEN, "Välj den vårdcentral samtycket gällde.", status=422,
        )
    try:
        withdrawn_on = dt.date.fromisoformat(request.form.get("withdrawn_on", ""))
    except ValueError:
        raise GatewayError.at(
            codes.WITHDRAWN_ON_INVALID, "Ange datumet som ÅÅÅÅ-MM-DD.", status=422,
        ) from None
    closed = withdraw_consent(
        session, personnummer=number, care_unit=unit,
        sender_unit_id=user.sender_unit_id, withdrawn_on=withdrawn_on, actor=_actor(),
        now=utcnow(),
        note=" ".join(request.form.get("note", "").split())[:500] or None,
    )
    return closed, unit


__all__ = ["CloseReason", "bp", "my_units"]
