"""The directory admin's web pages (Swedish) under /katalog: a thin layer over the service.

Every edit is an import of a one-entry document (`import_directory`), so validation, history and
the audit log are exactly those of a file import, and a refused edit writes nothing. The pages
show only the directory: no inquiry content is reachable from here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from forms.dates import local_clock, stockholm_today
from gateway import codes
from gateway.auditlog.labels import actor_label
from gateway.auth.login import role_required
from gateway.auth.models import Role
from gateway.auth.users import display_names
from gateway.db import get_session
from gateway.directory import identifiers as ids
from gateway.directory.check import check_directory
from gateway.directory.forms import (
    AbsenceForm,
    AssignmentForm,
    CareUnitForm,
    CoordinatorForm,
    DirectoryForm,
    EndAssignmentForm,
    FilterForm,
    HistoryFilterForm,
    RoutePreviewForm,
    SenderUnitForm,
    choices,
)
from gateway.directory.importexport import import_directory, remove_entry
from gateway.directory.labels import FIELD_LABELS
from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    DirectoryChange,
    Organisation,
    SenderUnit,
)
from gateway.directory.routing import FLAG_NO_ACTIVE_REKO, RouteDecision, route
from gateway.directory.service import (
    DirectoryError,
    Record,
    absence_record,
    assignment_record,
    assignments_on,
    care_unit_by_hsa_id,
    care_unit_record,
    changed_fields,
    coordinator_record,
    export_directory,
    history,
    history_count,
    key_of,
    sender_unit_record,
)
from gateway.errors import not_found

bp = Blueprint("directory", __name__, url_prefix="/katalog")

ADMIN = Role.DIRECTORY_ADMIN
HISTORY_LIMIT = 200
ENTITY_LABELS = {
    "organisation": "Organisation",
    "functional_address": "Funktionsadress",
    "care_unit": "Vårdcentral",
    "coordinator": "Rehabkoordinator",
    "sender_unit": "Avsändande enhet",
    "assignment": "Uppdrag",
    "absence": "Frånvaro",
}
ACTION_LABELS = {"create": "Skapad", "update": "Ändrad", "delete": "Borttagen"}
KIND_LABELS = {"socialtjanst": "Socialtjänst (EBB)", "arbetsmarknad": "Arbetsmarknad (AMA)"}


def _actor() -> str:
    return f"user:{current_user.username}"


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status)


def _form_page(template: str, form: DirectoryForm, **context: Any) -> Response:
    """Render a form page; 422 when the submitted form was refused (errors are on the page)."""
    status = 422 if request.method == "POST" and form.all_errors() else 200
    return _page(template, status, form=form, **context)


# Where a "new" form says that its entry exists already, and how.
ALREADY_THERE = {
    "care_units": ("hsa_id", "Det finns redan en vårdcentral med det här HSA-id:t."),
    "coordinators": ("hsa_id", "Det finns redan en rehabkoordinator med det här HSA-id:t."),
    "sender_units": ("name", "Det finns redan en enhet med det namnet."),
    "assignments": ("valid_from", "Samma uppdrag från samma dag finns redan."),
    "absences": ("starts_on", "Rehabkoordinatorn har redan en frånvaro som börjar den dagen."),
}


def _save(
    form: DirectoryForm, section: str, record: Record, done: str, *, new: bool = False
) -> bool:
    """Import one entry as the logged-in admin; on refusal put the findings on the form.

    With `new`, the entry is inserted and one with the same key is refused by the database
    instead of updated (an import is an upsert; a form that says "add" must not overwrite,
    and checking first would race another admin's add). Returns True when saved and committed.
    """
    session = get_session()
    try:
        result = import_directory(
            session, {section: [record]}, actor=_actor(), source="formuläret", create=new
        )
    except DirectoryError as error:
        session.rollback()
        if error.code == codes.DIRECTORY_ENTRY_EXISTS.code:
            name, message = ALREADY_THERE[section]
            form[name].errors = [*form[name].errors, message]
        else:
            form.add_service_errors(error)
        return False
    session.commit()
    flash(done if result.changed else "Inga ändringar att spara.", "info")
    return True


def is_hsa_id(value: str) -> bool:
    return ids.check_hsa_id(value) is None


def _matches(query: str, *values: str | None) -> bool:
    needle = query.casefold()
    return not needle or any(needle in (v or "").casefold() for v in values)


def _filter_form() -> FilterForm:
    form = FilterForm(formdata=request.args)
    form.validate()
    return form


def _organisation_choices() -> list[tuple[str, str]]:
    rows = get_session().scalars(select(Organisation).order_by(Organisation.name))
    return [(o.id, f"{o.name} ({o.id})") for o in rows]


def _coordinator_choices() -> list[tuple[str, str]]:
    rows = get_session().scalars(select(Coordinator).order_by(Coordinator.name))
    return [(c.hsa_id, f"{c.name} ({c.hsa_id})") for c in rows]


def _care_unit_choices() -> list[tuple[str, str]]:
    rows = get_session().scalars(select(CareUnit).order_by(CareUnit.name))
    return [(u.hsa_id, f"{u.name} ({u.hsa_id})") for u in rows]


@bp.app_template_filter("role_label")
def role_label(value: str) -> str:
    roles = {role.value: role.heading for role in AssignmentRole}
    return roles.get(value, value)


# --- dashboard ------------------------------------------------------------------------------


@bp.get("/")
@role_required(ADMIN)
def index() -> ResponseReturnValue:
    session = get_session()
    today = stockholm_today()
    report = check_directory(session, today)
    directory = export_directory(session)
    units = {u["hsa_id"]: u for u in directory["care_units"]}
    without_reko = [units[f.subject] for f in report.errors if f.code == "NO_ACTIVE_REKO"]
    counts = {
        "care_units": len(directory["care_units"]),
        "connected": sum(1 for u in directory["care_units"] if u["connected"]),
        "coordinators": len(directory["coordinators"]),
        "sender_units": len(directory["sender_units"]),
    }
    return _page(
        "directory/index.html", report=report, today=today, without_reko=without_reko,
        counts=counts,
    )


# --- care units -----------------------------------------------------------------------------


@bp.get("/vardcentraler")
@role_required(ADMIN)
def care_units() -> ResponseReturnValue:
    search = _filter_form()
    everything = export_directory(get_session())["care_units"]
    shown = [u for u in everything if _matches(search.q.data or "", u["name"], u["hsa_id"])]
    return _page("directory/care_units.html", units=shown, total=len(everything), search=search)


def _care_unit_form(record: Record | None) -> CareUnitForm:
    form = CareUnitForm(data=record if request.method == "GET" else None)
    form.organisation.choices = choices(_organisation_choices(), "Välj organisation")
    if request.method == "GET" and record is None:
        form.connected.data = True
    return form


@bp.route("/vardcentraler/ny", methods=["GET", "POST"])
@role_required(ADMIN)
def new_care_unit() -> ResponseReturnValue:
    form = _care_unit_form(None)
    if form.validate_on_submit() and _save(
        form, "care_units", form.record(form.hsa_id.data), "Vårdcentralen är tillagd.", new=True
    ):
        return redirect(url_for(".edit_care_unit", hsa_id=form.hsa_id.data))
    return _form_page("directory/care_unit_form.html", form, unit=None)


@bp.route("/vardcentraler/<hsa_id>", methods=["GET", "POST"])
@role_required(ADMIN)
def edit_care_unit(hsa_id: str) -> ResponseReturnValue:
    # A malformed id is simply not there (and never reaches the database: NUL upsets PostgreSQL).
    unit = care_unit_by_hsa_id(get_session(), hsa_id) if is_hsa_id(hsa_id) else None
    if unit is None:
        raise not_found("Vårdcentralen", f"Ingen vårdcentral med HSA-id {hsa_id[:40]} i katalogen.")
    current = care_unit_record(unit)
    form = _care_unit_form(current)
    del form.hsa_id  # the key: changing it would be another unit
    if form.validate_on_submit() and _save(
        form, "care_units", form.record(hsa_id), "Ändringarna är sparade."
    ):
        return redirect(url_for(".edit_care_unit", hsa_id=hsa_id))
    changes = history(get_session(), entity="care_unit", key=hsa_id, limit=20)
    return _form_page(
        "directory/care_unit_form.html", form, unit=current, changes=_change_rows(changes)
    )


# --- coordinators ---------------------------------------------------------------------------


@bp.get("/reko")
@role_required(ADMIN)
def coordinators() -> ResponseReturnValue:
    search = _filter_form()
    everything = export_directory(get_session())["coordinators"]
    shown = [c for c in everything if _matches(search.q.data or "", c["name"], c["hsa_id"])]
    return _page(
        "directory/coordinators.html", coordinators=shown, total=len(everything), search=search,
        covers=_covers(stockholm_today()),
    )


def _covers(on: dt.date) -> dict[str, list[str]]:
    """Per REKO, the units they cover on `on` with their role, for the list."""
    covers: dict[str, list[str]] = {}
    for a in assignments_on(get_session(), on):
        text = f"{a.care_unit.name} ({role_label(a.role.value).lower()})"
        covers.setdefault(a.coordinator.hsa_id, []).append(text)
    return covers


def _coordinator_form(record: Record | None) -> CoordinatorForm:
    data = None
    if request.method == "GET" and record is not None:
        data = {**record, "certificate_fingerprints": "\n".join(record["certificate_fingerprints"])}
    return CoordinatorForm(data=data)


@bp.route("/reko/ny", methods=["GET", "POST"])
@role_required(ADMIN)
def new_coordinator() -> ResponseReturnValue:
    form = _coordinator_form(None)
    if form.validate_on_submit() and _save(
        form, "coordinators", form.record(form.hsa_id.data), "Rehabkoordinatorn är tillagd.",
        new=True,
    ):
        return redirect(url_for(".edit_coordinator", hsa_id=form.hsa_id.data))
    return _form_page("directory/coordinator_form.html", form, coordinator=None)


def _coordinator_or_404(hsa_id: str) -> Coordinator:
    query = (
        select(Coordinator)
        .options(selectinload(Coordinator.certificates))
        .where(Coordinator.hsa_id == hsa_id)
    )
    found = get_session().scalar(query) if is_hsa_id(hsa_id) else None
    if found is None:
        raise not_found(
            "Rehabkoordinatorn", f"Ingen rehabkoordinator med HSA-id {hsa_id[:40]} i katalogen."
        )
    return found


@bp.route("/reko/<hsa_id>", methods=["GET", "POST"])
@role_required(ADMIN)
def edit_coordinator(hsa_id: str) -> ResponseReturnValue:
    current = coordinator_record(_coordinator_or_404(hsa_id))
    form = _coordinator_form(current)
    del form.hsa_id
    if form.validate_on_submit() and _save(
        form, "coordinators", form.record(hsa_id), "Ändringarna är sparade."
    ):
        return redirect(url_for(".edit_coordinator", hsa_id=hsa_id))
    changes = history(get_session(), entity="coordinator", key=hsa_id, limit=20)
    return _form_page(
        "directory/coordinator_form.html", form, coordinator=current,
        changes=_change_rows(changes),
    )


# --- assignments ----------------------------------------------------------------------------


def _assignment_rows() -> list[tuple[int, Record]]:
    rows = get_session().scalars(
        select(Assignment).options(
            selectinload(Assignment.coordinator), selectinload(Assignment.care_unit)
        )
    )
    found = [(a.id, assignment_record(a)) for a in rows]
    found.sort(key=lambda r: (r[1]["care_unit"], r[1]["role"] != "primary", r[1]["valid_from"]))
    return found


@bp.route("/uppdrag", methods=["GET", "POST"])
@role_required(ADMIN)
def assignments() -> ResponseReturnValue:
    form = AssignmentForm()
    form.coordinator.choices = choices(_coordinator_choices(), "Välj rehabkoordinator")
    form.care_unit.choices = choices(_care_unit_choices(), "Välj vårdcentral")
    if form.validate_on_submit() and _save(
        form, "assignments", form.record(), "Uppdraget är tillagt.", new=True
    ):
        return redirect(url_for(".assignments"))
    today = stockholm_today().isoformat()
    rows = _assignment_rows()
    show_ended = request.args.get("visa") == "alla"
    shown = [r for r in rows if show_ended or r[1]["valid_to"] is None or r[1]["valid_to"] >= today]
    return _form_page(
        "directory/assignments.html", form, rows=shown, total=len(rows), today=today,
        names=_names(), show_ended=show_ended,
    )


def _names() -> dict[str, str]:
    """HSA-id to name for every care unit and REKO (the lists show names, not only ids)."""
    directory = export_directory(get_session())
    names = {u["hsa_id"]: u["name"] for u in directory["care_units"]}
    names.update({c["hsa_id"]: c["name"] for c in directory["coordinators"]})
    return names


@bp.route("/uppdrag/<int:assignment_id>/avsluta", methods=["GET", "POST"])
@role_required(ADMIN)
def end_assignment(assignment_id: int) -> ResponseReturnValue:
    row = get_session().get(Assignment, assignment_id)
    if row is None:
        raise not_found("Uppdraget")
    current = assignment_record(row)
    today = {"valid_to": stockholm_today()}
    form = EndAssignmentForm(data=today if request.method == "GET" else None)
    if form.validate_on_submit():
        assert form.valid_to.data is not None
        record = {**current, "valid_to": form.valid_to.data.isoformat()}
        if _save(form, "assignments", record, "Uppdraget är avslutat."):
            return redirect(url_for(".assignments"))
    return _form_page(
        "directory/end_assignment.html", form, assignment=current, assignment_id=assignment_id,
        names=_names(),
    )


# --- absences -------------------------------------------------------------------------------


@bp.route("/franvaro", methods=["GET", "POST"])
@role_required(ADMIN)
def absences() -> ResponseReturnValue:
    form = AbsenceForm()
    form.coordinator.choices = choices(_coordinator_choices(), "Välj rehabkoordinator")
    if form.validate_on_submit() and _save(
        form, "absences", form.record(), "Frånvaron är tillagd.", new=True
    ):
        return redirect(url_for(".absences"))
    rows = get_session().scalars(select(Absence).options(selectinload(Absence.coordinator)))
    everything = sorted(((a.id, absence_record(a)) for a in rows), key=lambda r: r[1]["starts_on"])
    today = stockholm_today().isoformat()
    show_past = request.args.get("visa") == "alla"
    shown = [r for r in everything if show_past or r[1]["ends_on"] >= today]
    return _form_page(
        "directory/absences.html", form, rows=shown, total=len(everything), names=_names(),
        show_past=show_past,
    )


@bp.post("/franvaro/<int:absence_id>/ta-bort")
@role_required(ADMIN)
def remove_absence(absence_id: int) -> ResponseReturnValue:
    session = get_session()
    row = session.get(Absence, absence_id)
    if row is None:
        raise not_found("Frånvaron")
    key = key_of("absences", absence_record(row))
    remove_entry(session, actor=_actor(), section="absences", key=key)
    session.commit()
    flash("Frånvaron är borttagen.", "info")
    return redirect(url_for(".absences"))


# --- sender units ---------------------------------------------------------------------------


@bp.get("/avsandare")
@role_required(ADMIN)
def sender_units() -> ResponseReturnValue:
    rows = get_session().scalars(
        select(SenderUnit).options(selectinload(SenderUnit.functional_address))
        .order_by(SenderUnit.name)
    )
    units = [(u.id, sender_unit_record(u)) for u in rows]
    return _page("directory/sender_units.html", units=units, kinds=KIND_LABELS)


def _sender_unit_form(record: Record | None) -> SenderUnitForm:
    form = SenderUnitForm(data=record if request.method == "GET" else None)
    form.organisation.choices = choices(_organisation_choices(), "Välj organisation")
    return form


@bp.route("/avsandare/ny", methods=["GET", "POST"])
@role_required(ADMIN)
def new_sender_unit() -> ResponseReturnValue:
    form = _sender_unit_form(None)
    if form.validate_on_submit() and _save(
        form, "sender_units", form.record(form.name.data), "Enheten är tillagd.", new=True
    ):
        return redirect(url_for(".sender_units"))
    return _form_page("directory/sender_unit_form.html", form, unit=None)


@bp.route("/avsandare/<int:unit_id>", methods=["GET", "POST"])
@role_required(ADMIN)
def edit_sender_unit(unit_id: int) -> ResponseReturnValue:
    row = get_session().get(SenderUnit, unit_id)
    if row is None:
        raise not_found("Enheten")
    current = sender_unit_record(row)
    form = _sender_unit_form(current)
    del form.name
    if form.validate_on_submit() and _save(
        form, "sender_units", form.record(current["name"]), "Ändringarna är sparade."
    ):
        return redirect(url_for(".sender_units"))
    return _form_page("directory/sender_unit_form.html", form, unit=current)


# --- route preview --------------------------------------------------------------------------


@bp.get("/vem-far")
@role_required(ADMIN, Role.CASE_WORKER)
def route_preview() -> ResponseReturnValue:
    """Who would get an inquiry to a vårdcentral on a day, and why (the API's route preview)."""
    asked = "care_unit" in request.args
    form = RoutePreviewForm(
        formdata=request.args if asked else None, data={"date": stockholm_today()}
    )
    form.care_unit.choices = choices(_care_unit_choices(), "Välj vårdcentral")
    decision: RouteDecision | None = None
    refusal: DirectoryError | None = None
    if asked and form.validate():
        assert form.date.data is not None
        try:
            decision = route(get_session(), form.care_unit.data, form.date.data)
        except DirectoryError as error:
            refusal = error
    status = 422 if asked and form.all_errors() else 200
    return _page(
        "directory/route.html", status, form=form, decision=decision, refusal=refusal,
        no_reko=FLAG_NO_ACTIVE_REKO,
    )


# --- history --------------------------------------------------------------------------------


def _change_rows(changes: list[DirectoryChange]) -> list[dict[str, Any]]:
    """History rows for the page: Swedish labels, local time, and what changed from what."""
    rows = []
    names = display_names(get_session(), [change.actor for change in changes])
    for change in changes:
        before, after = change.before or {}, change.after or {}
        rows.append({
            "at": local_clock(change.at),
            "actor": actor_label(change.actor, names),
            "action": ACTION_LABELS.get(change.action, change.action),
            "entity": ENTITY_LABELS.get(change.entity, change.entity),
            "key": change.entity_key,
            "fields": [
                (FIELD_LABELS.get(name, name), _shown(name, before.get(name)),
                 _shown(name, after.get(name)))
                for name in changed_fields(change.before, change.after)
            ],
        })
    return rows


def _shown(name: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if name == "kind":
        return KIND_LABELS.get(value, value)
    if name == "role":
        return role_label(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@bp.get("/historik")
@role_required(ADMIN)
def change_history() -> ResponseReturnValue:
    asked = request.args.get("entity", "")
    entity = asked if asked in ENTITY_LABELS else None
    form = HistoryFilterForm(formdata=None, data={"entity": entity or ""})
    form.entity.choices = choices(list(ENTITY_LABELS.items()), "Alla slag")
    session = get_session()
    changes = history(session, limit=HISTORY_LIMIT, entity=entity)
    return _page(
        "directory/history.html", form=form, rows=_change_rows(changes),
        total=history_count(session, entity=entity),
    )
