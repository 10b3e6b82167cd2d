"""The auditor's pages (/granskning): search the audit log, read one entry, the chain's state,
and a person's log extract (printable and CSV). Auditors only; every view is itself audited.

The personnummer is typed into a POST form and becomes the vault's keyed hash at once: URLs,
the log and the auditor's own audit entries carry the hash, never the number.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from forms.identifiers import IdentifierError
from gateway.audit.models import AuditEntry
from gateway.audit.reads import record_read
from gateway.audit.service import record
from gateway.auditlog import labels, service
from gateway.auditlog.service import Filters
from gateway.auth.login import role_required
from gateway.auth.models import Role
from gateway.csvexport import csv_download
from gateway.db import get_session, utcnow
from gateway.inquiries.paging import Page, page_number

bp = Blueprint("audit", __name__, url_prefix="/granskning")

PURPOSE = "granskning av åtkomst"
EXTRACT_HEADINGS = ("Tid (svensk tid)", "Vem", "Enhet", "Aktivitet", "Utfall", "Ändamål",
                    "Kanal", "Objekt", "Objektets id", "Loggpost")
EXTRACT_KEYS = ("at", "actor", "unit", "action", "outcome", "purpose", "channel", "object",
                "object_id", "seq")


def _actor() -> str:
    return f"user:{current_user.username}"


def _audit_view(action: str, object_type: str, object_id: str,
                detail: dict[str, Any] | None = None) -> None:
    """Log the auditor's read of the log, once per login session and object, and commit."""
    session = get_session()
    record_read(session, actor=_actor(), action=action, object_type=object_type,
                object_id=object_id, purpose=PURPOSE, channel="web", detail=detail)
    session.commit()


def _entry_view(entries: list[AuditEntry]) -> list[dict[str, str | int]]:
    """The entries in words, for the tables and the extract."""
    session = get_session()
    names = service.user_names(session, entries)
    units = service.actor_units(session, entries)
    rows: list[dict[str, str | int]] = []
    for entry in entries:
        detail = entry.detail or {}
        rows.append({
            "seq": entry.seq,
            "at": service.local_time(entry.at),
            "at_iso": entry.at.isoformat(),
            "actor": labels.actor_label(entry.actor, names),
            "unit": units.get(entry.seq, ""),
            "action": labels.action_label(entry.action),
            "outcome": labels.outcome_label(entry.outcome),
            "denied": int(entry.outcome == "denied"),
            "object": labels.object_label(entry.object_type),
            "object_id": entry.object_id if entry.object_type != "person" else "",
            "purpose": labels.purpose_label(str(detail.get("purpose", ""))),
            "channel": labels.channel_label(str(detail.get("channel", ""))) if detail.get(
                "channel") else "",
        })
    return rows


def _action_options() -> list[tuple[str, str]]:
    return sorted(labels.ACTION_LABELS.items(), key=lambda item: item[1])


def _search_page(filters: Filters, *, status: int = 200,
                 errors: tuple[str, ...] = ()) -> Response:
    session = get_session()
    errors = (*errors, *filters.errors)
    total = service.count(session, filters)
    page = Page.of(page_number(request.args.get("sida")), total)
    entries = service.search(session, filters, offset=page.offset, limit=page.size)
    if filters.person:
        _audit_view("audit.search", "person", filters.person, filters.audit_detail())
    else:
        _audit_view("audit.search", "audit_log", "", filters.audit_detail())
    body = render_template(
        "auditlog/index.html", filters=filters, rows=_entry_view(entries), total=total,
        page=page, errors=errors, units=service.unit_options(session),
        actions=_action_options(), args=filters.query_args(),
    )
    return Response(body, status=status)


@bp.get("")
@role_required(Role.AUDITOR)
def index() -> ResponseReturnValue:
    return _search_page(Filters.from_args(request.args))


@bp.post("")
@role_required(Role.AUDITOR)
def search() -> ResponseReturnValue:
    """Take the search form (with the personnummer, which never goes into a URL) and show the
    result at a URL that carries the person's keyed hash instead."""
    form = {name: request.form.get(name, "") for name in ("anvandare", "enhet", "handelse",
                                                          "fran", "till")}
    typed = request.form.get("personnummer", "").strip()
    if typed:
        try:
            form["person"] = service.person_key(typed[:40])
        except IdentifierError as exc:
            return _search_page(Filters.from_args(form), status=422,
                                errors=(f"Personnummer: {exc.detail}",))
    filters = Filters.from_args(form)
    args: dict[str, Any] = filters.query_args()
    return redirect(url_for("audit.index", **args), code=303)


@bp.get("/post/<int:seq>")
@role_required(Role.AUDITOR)
def entry(seq: int) -> ResponseReturnValue:
    session = get_session()
    found = session.get(AuditEntry, seq) if 0 < seq < 2**62 else None
    if found is None:
        abort(404)
    _audit_view("audit.entry.read", "audit_entry", str(seq))
    return render_template(
        "auditlog/entry.html", entry=found, row=_entry_view([found])[0],
        detail=labels.detail_rows(found.detail or {}), back=request.args.get("tillbaka", ""),
    )


@bp.get("/kedjan")
@role_required(Role.AUDITOR)
def chain() -> ResponseReturnValue:
    state = service.chain_state(get_session())
    _audit_view("audit.chain.read", "audit_log", "")
    return _chain_page(state)


@bp.post("/kedjan")
@role_required(Role.AUDITOR)
def verify() -> ResponseReturnValue:
    """Walk the whole chain now, as `gateway audit verify` does (seconds for a large log)."""
    session = get_session()
    report, anchors = service.verify_chain(session, current_app, actor=_actor(),
                                           purpose=PURPOSE)
    session.commit()
    return _chain_page(service.chain_state(session), report=report, anchors=anchors)


def _chain_page(state: service.ChainState, **result: object) -> Response:
    last = state.last_check
    return Response(render_template(
        "auditlog/chain.html", state=state, local_time=service.local_time,
        last=last, last_names=service.user_names(get_session(), [last] if last else []),
        actor_label=labels.actor_label, **result,
    ))


def _extract(person: str) -> tuple[list[dict[str, str | int]], int]:
    if not service.PERSON_HASH.fullmatch(person):
        abort(404)
    session = get_session()
    filters = Filters(person=person)
    total = service.count(session, filters)
    entries = service.search(session, filters, offset=0, limit=service.EXTRACT_LIMIT)
    return _entry_view(entries), total


def _audit_extract(person: str, form: str, rows: int) -> None:
    session = get_session()
    record(session, actor=_actor(), action="audit.extract", object_type="person",
           object_id=person, detail={"format": form, "entries": rows, "purpose": PURPOSE,
                                     "channel": "web"})
    session.commit()


@bp.get("/loggutdrag")
@role_required(Role.AUDITOR)
def extract() -> ResponseReturnValue:
    person = request.args.get("person", "")
    rows, total = _extract(person)
    _audit_extract(person, "print", len(rows))
    return render_template("auditlog/extract.html", rows=rows, total=total, person=person,
                           printed_by=current_user, printed_at=service.local_time(
                               utcnow()))


@bp.get("/loggutdrag.csv")
@role_required(Role.AUDITOR)
def extract_csv() -> ResponseReturnValue:
    person = request.args.get("person", "")
    rows, _total = _extract(person)
    _audit_extract(person, "csv", len(rows))
    return csv_download("loggutdrag.csv", EXTRACT_HEADINGS,
                        ([row[key] for key in EXTRACT_KEYS] for row in rows))
