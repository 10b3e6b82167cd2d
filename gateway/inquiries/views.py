"""The case worker's web pages (Swedish) under /arenden: Mina ärenden, Ny hälsoförfrågan and one
inquiry. Thin: the form goes through the same intake as every channel; status and turn come
from the workflow. Routes carry the inquiry id, never a personnummer; every view of personal
data is audited with its purpose.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, contains_eager

from forms.dates import local_date, stockholm_today
from forms.labels import QUESTION_CHOICES
from gateway.auth.login import role_required
from gateway.auth.models import Role, User
from gateway.db import get_session, utcnow
from gateway.directory.contacts import UnitContacts, contacts_of, unit_contacts
from gateway.directory.models import CareUnit, SenderUnit
from gateway.directory.service import connected_care_units
from gateway.errors import GatewayError
from gateway.inquiries import intake
from gateway.inquiries.access import Act, Party, require
from gateway.inquiries.answers import inquiry_form
from gateway.inquiries.closing import closing_text
from gateway.inquiries.intake import Submitter, find_earlier_inquiry, submit
from gateway.inquiries.labels import (
    LEG_LABELS,
    REASON_LABELS,
    SIP_STATUS_LABELS,
    STATUS_LABELS,
    TURN_LABELS,
)
from gateway.inquiries.models import FormType, Inquiry, InquirySummary
from gateway.inquiries.paging import Page, page_number
from gateway.inquiries.personal import audit_reads, person_of
from gateway.inquiries.resend import check, reopenable, resend
from gateway.inquiries.sip_webform import SipForm
from gateway.inquiries.webform import (
    MAX_CONSENT_PDF,
    CaseForm,
    InquiryForm,
    ResendForm,
    Sender,
    build_resend_xml,
    build_xml,
)
from gateway.inquiries.workflow import (
    SIP_MACHINE,
    Progress,
    SipStatus,
    Status,
    Turn,
    machine_for,
    progress,
    turn_for,
)

bp = Blueprint("inquiries", __name__, url_prefix="/arenden")

CASE_WORKER = Role.CASE_WORKER

# Column key → (heading, what it means); the table's sort keys.
COLUMNS = {
    "reference": ("Referens", "Ärendets korta referens, som båda parter kan ange."),
    "type": ("Typ", "Hälsoförfrågan eller SIP-kallelse (kallelse till ett SIP-möte)."),
    "sent": ("Skickad", "Datum då förfrågan togs emot."),
    "care_unit": ("Vårdcentral", "Dit förfrågan skickades."),
    "status": ("Status", "Var förfrågan står nu."),
    "days": ("Dagar", "Dagar sedan förfrågan skickades."),
    "deadline": ("Sista svarsdag", "Vårdcentralen ska svara senast detta datum (en "
                 "SIP-kallelse: svara om REKO kommer)."),
    "turn": ("Vems tur", "Vem som ska göra nästa steg."),
}
FILTERS = {"alla": "Alla", "vardcentralen": "Vårdcentralens tur", "er": "Er tur",
           "klara": "Klara"}
FILTER_TURNS = {"vardcentralen": Turn.CARE_UNIT, "er": Turn.SENDER, "klara": Turn.NONE}


def _unit(user: User) -> SenderUnit | None:
    return user.sender_unit


# The case's type in words (the Typ column).
TYPE_LABELS = {FormType.HALSOFORFRAGAN: "Hälsoförfrågan", FormType.SIP: "SIP"}


def case_url(inquiry: Inquiry) -> str:
    """Return the case worker's page of the case: a hälsoförfrågan's or a SIP invitation's."""
    if inquiry.form_type == FormType.SIP:
        return url_for("inquiries.sip_detail", sip_id=inquiry.id)
    return url_for("inquiries.detail", inquiry_id=inquiry.id)


def status_label(status: Status | SipStatus) -> str:
    """Return the status in words, of either form type."""
    return SIP_STATUS_LABELS[status] if isinstance(status, SipStatus) else STATUS_LABELS[status]


@dataclass(frozen=True)
class Row:
    """One case in Mina ärenden: a hälsoförfrågan or a SIP invitation."""

    inquiry: Inquiry
    state: Progress
    sent: dt.date
    days: int
    person: tuple[str, str] | None

    @property
    def type_label(self) -> str:
        return TYPE_LABELS[self.inquiry.form_type]

    @property
    def status_label(self) -> str:
        return status_label(self.state.status)

    @property
    def url(self) -> str:
        return case_url(self.inquiry)


def _rank(values: list[Any], column: Any) -> Any:
    """A SQL expression giving column's position in values (for sorting by a defined order)."""
    return case({value: index for index, value in enumerate(values)}, value=column, else_=0)


# Every status of either form type (a SIP's received and opened are an inquiry's), in order,
# with whose turn it is.
_TURNS: dict[str, Turn] = {
    **{status.value: turn for status, turn in SIP_MACHINE.turns.items()},
    **{status.value: turn_for(status) for status in Status},
}
_STATUS_ORDER = list(dict.fromkeys([*(s.value for s in Status), *(s.value for s in SipStatus)]))


def _statuses_of(turn: Turn) -> list[str]:
    return [status for status, its in _TURNS.items() if its is turn]


def _sort_key(column: str) -> tuple[Any, bool]:
    """The ORDER BY expression of a table column, and whether it runs against the column."""
    status = InquirySummary.status
    turns = {value: list(Turn).index(turn) for value, turn in _TURNS.items()}
    return {
        "reference": (Inquiry.reference, False),
        "type": (Inquiry.form_type, False),
        "sent": (Inquiry.created_at, False),
        "care_unit": (CareUnit.name, False),
        "status": (_rank(_STATUS_ORDER, status), False),
        # Days since sent: the earlier sent, the more days.
        "days": (Inquiry.created_at, True),
        "deadline": (Inquiry.deadline, False),
        "turn": (case(turns, value=status, else_=0), False),
    }[column]


def _ordered(column: str, descending: bool) -> list[Any]:
    key, against = _sort_key(column)
    down = descending != against
    return [key.desc() if down else key.asc(), Inquiry.id.desc() if down else Inquiry.id.asc()]


def _audit_reads(db: Session, user: User, ids: list[str], purpose: str) -> None:
    audit_reads(db, f"user:{user.username}", ids, purpose)


@bp.post("/personuppgifter")
@role_required(CASE_WORKER)
def toggle_personal() -> ResponseReturnValue:
    """The "Visa personuppgifter" switch: remembered for the user (as the REKO's is)."""
    user: User = current_user
    user.show_personal = request.form.get("show") == "1"
    get_session().commit()
    args = {k: v for k in ("sort", "dir", "visa") if (v := request.args.get(k, ""))}
    return redirect(url_for("inquiries.mine", **args))  # type: ignore[arg-type]


@bp.get("")
@role_required(CASE_WORKER)
def mine() -> ResponseReturnValue:
    """Mina ärenden: the unit's hälsoförfrågningar and SIP invitations, sortable, with type,
    status, days, deadline and turn."""
    user: User = current_user
    unit = _unit(user)
    if unit is None:
        return render_template("inquiries/mine.html", unit=None, rows=[], total=0, matching=0,
                               page=Page.of(1, 0),
                               columns=COLUMNS, sort="sent", direction="desc",
                               filters=FILTERS, chosen="alla", show_personal=False)
    db = get_session()
    show = bool(user.show_personal)
    chosen = request.args.get("visa", "alla")
    chosen = chosen if chosen in FILTERS else "alla"
    sort = request.args.get("sort", "sent")
    sort = sort if sort in COLUMNS else "sent"
    direction = "asc" if request.args.get("dir") == "asc" else "desc"
    # Status and turn from each inquiry's summary (kept as legs are written): the filter, the
    # sort and the page are done by the database, in one query for the rows and two counts.
    mine = (
        select(Inquiry, InquirySummary.status)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .join(CareUnit, CareUnit.id == Inquiry.care_unit_id)
        .where(Inquiry.sender_unit_id == unit.id)
    )
    total = _count(db, mine)
    if chosen in FILTER_TURNS:
        mine = mine.where(InquirySummary.status.in_(_statuses_of(FILTER_TURNS[chosen])))
    matching = _count(db, mine) if chosen in FILTER_TURNS else total
    page = Page.of(page_number(request.args.get("sida")), matching)
    found = db.execute(
        mine.options(contains_eager(Inquiry.care_unit))
        .order_by(*_ordered(sort, direction == "desc"))
        .limit(page.size).offset(page.offset)
    )
    today = stockholm_today()
    rows = []
    for inquiry, status_value in found:
        machine = machine_for(inquiry.form_type)
        status = type(machine.start)(status_value)
        assert isinstance(status, Status | SipStatus)
        sent = local_date(inquiry.created_at)
        state = Progress(status, machine.turns[status], inquiry.deadline, ())
        rows.append(Row(inquiry, state, sent, (today - sent).days,
                        person_of(inquiry) if show else None))
    if show and rows:
        _audit_reads(db, user, [r.inquiry.id for r in rows if r.person], "mina_arenden")
        db.commit()
    return render_template("inquiries/mine.html", unit=unit, rows=rows, total=total,
                           matching=matching, page=page, columns=COLUMNS, sort=sort,
                           direction=direction, filters=FILTERS, chosen=chosen,
                           show_personal=show, turn_labels=TURN_LABELS, today=today)


def _count(db: Session, query: Any) -> int:
    return db.scalar(select(func.count()).select_from(query.subquery())) or 0


# --- compose ----------------------------------------------------------------------------------


def _recipient_label(unit: UnitContacts) -> str:
    """Return how the VC is offered in the form: its name and whom to call there today."""
    reko = unit.reachable
    if reko is None:
        return unit.name
    phone = f", {reko.phone}" if reko.phone else ""
    return f"{unit.name} (REKO {reko.name}{phone})"


@dataclass(frozen=True)
class Composer:
    """The logged-in case worker writing a new form of either type: who submits it, from which
    unit, as which sender."""

    user: User
    unit: SenderUnit
    submitter: Submitter
    sender: Sender

    @classmethod
    def current(cls) -> Composer:
        """Return the logged-in case worker's; GatewayError 403 NO_SENDER_UNIT without a unit."""
        user: User = current_user._get_current_object()
        submitter = Submitter.from_user(user)
        unit = user.sender_unit
        assert unit is not None
        return cls(user, unit, submitter, Sender.of(user, unit))

    def start(self, db: Session, form: InquiryForm | SipForm) -> bool:
        """Offer the care units the form can go to; on a GET, fill in a new form (a new id,
        the case worker's contact and unit) and return True."""
        form.vardcentral.choices = care_unit_choices(db)
        if request.method != "GET":
            return False
        form.form_id.data = new_id()
        form.prefill(self.user, self.unit)
        return True


def care_unit_choices(db: Session) -> list[tuple[str, str]]:
    """Return the care units a case worker's form can go to, the connected ones (the contacts
    list's units), each with whom to call there today."""
    return [("", "Välj vårdcentral"), *(
        (u.hsa_id, _recipient_label(u)) for u in unit_contacts(db, stockholm_today()))]


def _render_compose(form: InquiryForm, sender: Sender, *, repeat: dict[str, Any] | None = None,
                    status: int = 200) -> ResponseReturnValue:
    chosen = form.vardcentral.data or ""
    contacts = contacts_of(get_session(), chosen, stockholm_today()) if chosen else None
    return render_template("inquiries/compose.html", form=form, sender=sender, repeat=repeat,
                           questions=QUESTION_CHOICES, recipient=contacts), status


def consent_pdf(form: CaseForm) -> tuple[str, bytes] | None:
    """Return the signed consent the form attaches (file name, bytes), or None; a file that is
    no PDF of at most 5 MB is an error on the field."""
    upload = form.bilaga.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    data = upload.read(MAX_CONSENT_PDF + 1)
    if len(data) > MAX_CONSENT_PDF or not data.startswith(b"%PDF-"):
        form.bilaga.errors = [*form.bilaga.errors,
                              "Bifoga samtycket som en PDF på högst 5 MB."]
        return None
    name = "".join(c for c in upload.filename if c.isalnum() or c in "._-")[:100] or "samtycke.pdf"
    return name, data


def _repeat_of(db: Session, personnummer: str, care_unit: CareUnit,
               user: User) -> dict[str, Any] | None:
    """Return what the form may say about an earlier inquiry about the person to the care unit
    (the intake's repeat rule): its date when the user's own unit sent it; for another unit's,
    only that the care unit may already have one. The check is audited as a read either way:
    it tells something about the person."""
    earlier = find_earlier_inquiry(db, personnummer, care_unit.id, utcnow())
    if earlier is None:
        return None
    _audit_reads(db, user, [earlier.id], "upprepningskontroll")
    db.commit()
    if earlier.sender_unit_id != user.sender_unit_id:
        return {"own": False}
    return {"own": True, "date": local_date(earlier.created_at)}


@bp.route("/ny", methods=["GET", "POST"])
@role_required(CASE_WORKER)
def compose() -> ResponseReturnValue:
    """Ny hälsoförfrågan: the form; a repeat needs confirmation; then the intake."""
    composer = Composer.current()
    user, submitter, sender = composer.user, composer.submitter, composer.sender
    db = get_session()
    units = {u.hsa_id: u for u in connected_care_units(db)}
    form = InquiryForm()
    if composer.start(db, form):
        return _render_compose(form, sender)
    if not form.validate():
        return _render_compose(form, sender, status=422)
    consent = consent_pdf(form)
    if form.bilaga.errors:
        return _render_compose(form, sender, status=422)
    again = sent_before(db, form.form_id.data, submitter)
    if again is not None:
        return again
    care_unit = units[form.vardcentral.data]
    now = utcnow()
    xml = build_xml(form, sender, care_unit=(care_unit.hsa_id, care_unit.name),
                    consent_pdf=consent, now=now)
    # The rules first: "skicka ändå" is offered only for a form the intake would take.
    try:
        intake.check(db, xml, submitter=submitter, channel="web", now=now)
    except GatewayError as error:
        return _refused(form, sender, error)
    personnummer = (form.personnummer.data or "").replace("-", "")
    repeat = _repeat_of(db, personnummer, care_unit, user)
    if repeat is not None and not form.confirm_repeat.data:
        return _render_compose(form, sender, repeat=repeat)
    return _send(db, form, sender, submitter, care_unit, xml, now)


def sent_before(db: Session, form_id: str | None,
                submitter: Submitter) -> ResponseReturnValue | None:
    """Return a redirect to the case when the form with this id was already sent by the user
    (a double click, the back button): the form's id makes it the same case."""
    wanted = (form_id or "").strip().lower()
    found = db.get(Inquiry, wanted) if 0 < len(wanted) <= 36 else None
    if found is None or found.submitted_by != submitter.actor:
        return None
    flash(f"{TYPE_LABELS[found.form_type]} {found.reference} var redan skickad.", "info")
    return redirect(case_url(found))


def new_id() -> str:
    return str(uuid.uuid4())


def _refused(form: InquiryForm, sender: Sender, error: GatewayError) -> ResponseReturnValue:
    """The form again with the intake's findings on their fields."""
    form.add_intake_errors(error)
    return _render_compose(form, sender, status=error.status if error.status < 500 else 503)


def _send(db: Session, form: InquiryForm, sender: Sender, submitter: Submitter,
          care_unit: CareUnit, xml: bytes, now: dt.datetime) -> ResponseReturnValue:
    try:
        result = submit(db, xml, submitter=submitter, channel="web", now=now)
    except GatewayError as error:
        again = (sent_before(db, form.form_id.data, submitter)
                 if error.code == "ID_CONFLICT" else None)
        if again is not None:
            return again
        return _refused(form, sender, error)
    inquiry = result.inquiry
    db.commit()
    flash(f"Hälsoförfrågan är skickad till {care_unit.name}. Sista svarsdag "
          f"{inquiry.deadline.isoformat()}.", "info")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry.id))


# --- one inquiry ------------------------------------------------------------------------------


@bp.get("/<inquiry_id>")
@role_required(CASE_WORKER)
def detail(inquiry_id: str) -> ResponseReturnValue:
    """One inquiry: where it stands, its legs and flags, the form and (later) the answer."""
    user: User = current_user
    db = get_session()
    inquiry = require(db, Party.user(db, user), inquiry_id, Act.READ, channel="web",
                      form_type=FormType.HALSOFORFRAGAN)
    state = progress(db, inquiry)
    form = None
    if inquiry.content is not None:
        try:
            form = inquiry_form(inquiry)
        except GatewayError:
            form = None
    if form is not None:
        _audit_reads(db, user, [inquiry.id], "handlaggning")
        db.commit()
    today = stockholm_today()
    return render_template(
        "inquiries/detail.html", inquiry=inquiry, state=state, form=form, today=today,
        status_labels=STATUS_LABELS, turn_labels=TURN_LABELS, leg_labels=LEG_LABELS,
        reason_labels=REASON_LABELS,
        questions=QUESTION_CHOICES, days_left=state.days_left(today),
        overdue=state.overdue(today),
        closing_texts={leg.id: text for leg in state.legs if (text := closing_text(leg))},
        resendable=_resendable(db, inquiry),
    )


# --- sending on to another VC with a new consent -----------------------------------------------


def _resendable(db: Session, inquiry: Inquiry) -> bool:
    """Return whether the sender can send the inquiry on (gateway.inquiries.resend)."""
    return inquiry.content is not None and reopenable(db, inquiry)


@bp.route("/<inquiry_id>/skicka-vidare", methods=["GET", "POST"])
@role_required(CASE_WORKER)
def resend_page(inquiry_id: str) -> ResponseReturnValue:
    """Skicka till annan vårdcentral: choose the VC where the person is listed now and enter
    the new consent that names it, confirm, and the amended form goes through the intake's
    checks (gateway.inquiries.resend). Another unit's inquiry: 404, audited."""
    user: User = current_user
    db = get_session()
    inquiry = require(db, Party.user(db, user), inquiry_id, Act.RESEND, channel="web")
    if not _resendable(db, inquiry):
        flash("Förfrågan kan inte skickas vidare: bara en obesvarad förfrågan, eller en som "
              "vårdcentralen avslutat för att personen är listad på en annan vårdcentral, kan "
              "skickas vidare.", "error")
        return redirect(url_for("inquiries.detail", inquiry_id=inquiry.id))
    units = {u.hsa_id: u for u in connected_care_units(db) if u.id != inquiry.care_unit_id}
    form = ResendForm()
    form.vardcentral.choices = [("", "Välj vårdcentral"),
                                *((u.hsa_id, f"{u.name} ({u.hsa_id})") for u in units.values())]
    if request.method == "GET":
        kind = inquiry.sender_unit.kind.value
        form.mottagare_socialtjanst.data = kind == "socialtjanst"
        form.mottagare_arbetsmarknad.data = kind == "arbetsmarknad"
        return _resend_form(inquiry, form)
    if not form.validate():
        return _resend_form(inquiry, form, status=422)
    unit = units[form.vardcentral.data or ""]
    if request.form.get("andra"):  # back from the confirmation, the values kept
        return _resend_form(inquiry, form)
    now = utcnow()
    xml = build_resend_xml(form, inquiry_form(inquiry), care_unit=(unit.hsa_id, unit.name),
                           now=now)
    confirmed = request.form.get("bekraftat") == "ja"
    try:
        # Before the confirmation every check runs, so that what is confirmed can be sent.
        (resend if confirmed else check)(db, inquiry, xml, submitter=Submitter.from_user(user),
                                         channel="web", now=now)
    except GatewayError as error:
        form.add_intake_errors(error)
        return _resend_form(inquiry, form, status=error.status if error.status < 500 else 503)
    if not confirmed:
        return render_template("inquiries/resend.html", inquiry=inquiry, form=form, unit=unit,
                               confirm=True)
    db.commit()
    flash(f"Förfrågan {inquiry.reference} är skickad till {unit.name}. Sista svarsdag "
          f"{inquiry.deadline.isoformat()}.", "info")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry.id))


def _resend_form(inquiry: Inquiry, form: ResendForm, *, status: int = 200) -> ResponseReturnValue:
    return render_template("inquiries/resend.html", inquiry=inquiry, form=form, unit=None,
                           confirm=False), status
