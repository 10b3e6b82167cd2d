"""The REKO's inbox page (Swedish): the unit picker first, then the chosen units' inquiries and
SIP invitations in tabs with filters (the type among them), search, sorting on every column and
pages; the "Visa personuppgifter" switch and the unit remembered per user; the REKO-status set
per case. Thin: the query lives in inbox.py, the REKO-status in marks.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from forms.dates import stockholm_today
from forms.identifiers import hyphenated
from gateway.auth.login import role_required, safe_next
from gateway.auth.models import Role, User
from gateway.db import get_session, utcnow
from gateway.directory.models import CareUnit
from gateway.directory.service import covered_units
from gateway.errors import GatewayError
from gateway.inquiries.access import Act, Party, require
from gateway.inquiries.formtypes import handling_for
from gateway.inquiries.inbox import (
    NEAR_DAYS,
    NO_MARK,
    TAB_STATUSES,
    AnyStatus,
    Due,
    InboxQuery,
    InboxRow,
    Tab,
    inbox_page,
)
from gateway.inquiries.labels import DECISION_LABELS, SIP_STATUS_LABELS, STATUS_LABELS
from gateway.inquiries.marks import MARK_LABELS, parse_mark, set_mark
from gateway.inquiries.models import FormType
from gateway.inquiries.paging import page_number
from gateway.inquiries.personal import audit_reads, person_of
from gateway.inquiries.reko_views import bp

ALL_UNITS = "alla"
PERSONAL_PURPOSE = "inkorg_personuppgifter"

TAB_LABELS = {Tab.WAITING: "Väntar på svar", Tab.ANSWERED: "Besvarade",
              Tab.CLOSED: "Avslutade"}
# "Hälsoförfrågan", "SIP-kallelse": the form type's own Swedish name, first letter capital.
TYPE_LABELS = {t: handling_for(t).label for t in FormType}
STATUS_NAMES: dict[AnyStatus, str] = dict(STATUS_LABELS.items())
STATUS_NAMES.update(SIP_STATUS_LABELS.items())
DUE_LABELS = {Due.SOON: f"Snart (högst {NEAR_DAYS} dagar kvar)",
              Due.OVERDUE: "Försenade (sista svarsdag har passerat)"}


@dataclass(frozen=True)
class Column:
    """A column of the inbox: its sort key (None: not sortable), heading and meaning."""

    key: str
    heading: str
    meaning: str
    sortable: bool = True


def columns(tab: Tab, personal: bool) -> list[Column]:
    """Return the inbox's columns for the tab, the person's only when personuppgifter are
    shown."""
    found = [Column("reference", "Referens",
                    "Förfrågans korta referens, som båda parter kan ange i kontakt med varandra."),
             Column("type", "Typ", "Hälsoförfrågan eller SIP-kallelse (kallelse till ett möte "
                                   "om en samordnad individuell plan).")]
    if personal:
        found.append(Column("person", "Person",
                            "Personens namn och personnummer. Kan inte sorteras: uppgifterna "
                            "lagras krypterade.", sortable=False))
    found += [
        Column("care_unit", "Vårdcentral", "Den vårdcentral förfrågan är skickad till."),
        Column("sender", "Avsändare", "Enheten inom socialtjänsten som skickade förfrågan."),
        Column("received", "Mottagen", "Datum då förfrågan kom in."),
    ]
    if tab is Tab.WAITING:
        found += [
            Column("deadline", "Sista svarsdag", "Vårdcentralen ska svara senast detta datum "
                                                 "(för en SIP-kallelse: svara senast)."),
            Column("days", "Dagar kvar",
                   f"Dagar till sista svarsdag. Snart: högst {NEAR_DAYS} dagar kvar. "
                   "Försenad: sista svarsdag har passerat."),
        ]
    elif tab is Tab.ANSWERED:
        found.append(Column("answered", "Besvarad", "Datum då svaret skickades (för en "
                                                    "SIP-kallelse: det senaste svaret)."))
    else:
        found.append(Column("closed", "Avslutad", "Datum då förfrågan avslutades utan svar (för "
                                                  "en SIP-kallelse: då avsändaren registrerade "
                                                  "att mötet hölls eller ställdes in)."))
    found += [
        Column("meeting", "SIP-möte", "Tid för SIP-mötet (svensk tid). Tomt för en "
                                      "hälsoförfrågan."),
        Column("status", "Status", "Var förfrågan står i flödet, till exempel Öppnad eller "
                                   "Svaret hämtat av avsändaren."),
        Column("mark", "REKO-status", "En egen markering som du och dina kollegor på "
                                      "vårdcentralen sätter som minnesstöd."),
        Column("repeat", "Flaggor", "Upprepad förfrågan: avsändaren har nyligen skickat en "
                                    "förfrågan om samma person till samma vårdcentral."),
    ]
    return found


bp.add_app_template_filter(hyphenated, "personnummer")


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _scope(user: User, units: list[CareUnit]) -> list[CareUnit] | None:
    """Return the units the inbox shows: the only one, all of them, or the one chosen; None
    while a REKO of several units has not chosen (or chose one no longer theirs)."""
    if len(units) <= 1:
        return units
    if user.inbox_scope == ALL_UNITS:
        return units
    chosen = [unit for unit in units if unit.hsa_id == user.inbox_scope]
    return chosen or None


def _choice(name: str, allowed: Any) -> Any:
    value = request.args.get(name, "")
    return value if value in allowed else None


def _query(scope: list[CareUnit], personal: bool) -> InboxQuery:
    tab = Tab(_choice("flik", {t.value for t in Tab}) or Tab.WAITING)
    keys = {c.key for c in columns(tab, personal) if c.sortable}
    default_sort = "deadline" if tab is Tab.WAITING else "received"
    sort = _choice("sort", keys) or default_sort
    unit_ids = {u.hsa_id: u.id for u in scope}
    statuses = {s.value: s for s in TAB_STATUSES[tab]}
    status = _choice("status", statuses)
    due = _choice("svarstid", {d.value for d in Due})
    form_type = _choice("typ", {t.value for t in FormType})
    return InboxQuery(
        unit_ids=tuple(unit_ids.values()), tab=tab,
        care_unit_id=unit_ids.get(request.args.get("vc", "")),
        form_type=FormType(form_type) if form_type else None,
        status=statuses[status] if status else None,
        mark=_choice("reko_status", {*MARK_LABELS, NO_MARK}),
        due=Due(due) if due and tab is Tab.WAITING else None,
        repeat=request.args.get("upprepad") == "ja",
        search=request.args.get("sok", "")[:100], personal=personal, sort=sort,
        descending=request.args.get("dir") == "desc" if "dir" in request.args
        else tab is not Tab.WAITING,
        page=page_number(request.args.get("sida")),
    )


def _args(query: InboxQuery, **changes: Any) -> dict[str, str]:
    """The page's query string for links (sorting, pages, tabs), with changes applied."""
    args = {
        "flik": query.tab.value, "sok": query.search,
        "vc": request.args.get("vc", "") if query.care_unit_id else "",
        "typ": query.form_type.value if query.form_type else "",
        "status": query.status.value if query.status else "", "reko_status": query.mark or "",
        "svarstid": query.due.value if query.due else "", "upprepad": "ja" if query.repeat else "",
        "sort": query.sort, "dir": "desc" if query.descending else "asc",
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value}


@bp.get("/inkorg")
@role_required(Role.COORDINATOR)
def inbox() -> ResponseReturnValue:
    user = _user()
    today = stockholm_today()
    units = covered_units(get_session(), user.coordinator_id, today)
    scope = _scope(user, units)
    if scope is None:
        return render_template("inquiries/inbox_pick.html", units=units, chosen=None,
                               all_units=ALL_UNITS)
    personal = bool(user.show_personal)
    query = _query(scope, personal)
    found = inbox_page(get_session(), query, today)
    rows = _with_persons(found.rows, user) if personal else found.rows
    return render_template(
        "inquiries/inbox.html", units=units, scope=scope, chosen=user.inbox_scope,
        all_units=ALL_UNITS, found=found, rows=rows, query=query, today=today,
        columns=columns(query.tab, personal), personal=personal, args=lambda **c: _args(
            query, **c), tab_labels=TAB_LABELS, tab_statuses=TAB_STATUSES,
        status_labels=STATUS_NAMES, type_labels=TYPE_LABELS, decision_labels=DECISION_LABELS,
        mark_labels=MARK_LABELS, due_labels=DUE_LABELS,
        no_mark=NO_MARK, near_days=NEAR_DAYS, here=request.full_path,
    )


def _with_persons(rows: list[InboxRow], user: User) -> list[InboxRow]:
    """Open each row's person from the vault; audit each as a read with its purpose."""
    shown = [dataclasses.replace(r, person=person_of(r.inquiry)) for r in rows]
    read = [row.inquiry.id for row in shown if row.person]
    if read:
        session = get_session()
        audit_reads(session, f"user:{user.username}", read, PERSONAL_PURPOSE)
        session.commit()
    return shown


@bp.post("/inkorg/enhet")
@role_required(Role.COORDINATOR)
def choose_unit() -> ResponseReturnValue:
    """Remember the unit the REKO works in (or all of theirs) until they choose another."""
    user = _user()
    units = covered_units(get_session(), user.coordinator_id, stockholm_today())
    wanted = request.form.get("enhet", "")
    allowed = {u.hsa_id for u in units} | ({ALL_UNITS} if len(units) > 1 else set())
    if wanted not in allowed:
        flash("Välj en av dina vårdcentraler i listan.", "error")
        return redirect(url_for("reko.inbox"))
    user.inbox_scope = wanted
    get_session().commit()
    return redirect(url_for("reko.inbox"))


@bp.post("/inkorg/personuppgifter")
@role_required(Role.COORDINATOR)
def toggle_personal() -> ResponseReturnValue:
    """The "Visa personuppgifter" switch, remembered for the user until switched again."""
    user = _user()
    user.show_personal = request.form.get("visa") == "ja"
    get_session().commit()
    return redirect(safe_next(request.form.get("next")) or url_for("reko.inbox"))


@bp.post("/inkorg/<inquiry_id>/reko-status")
@role_required(Role.COORDINATOR)
def mark(inquiry_id: str) -> ResponseReturnValue:
    """Set or clear the REKO-status of a case, an inquiry or a SIP invitation (audited), then
    go back."""
    session = get_session()
    user = _user()
    inquiry = require(session, Party.user(session, user, stockholm_today()), inquiry_id,
                      Act.MARK, channel="web", form_type=None)
    try:
        chosen = parse_mark(request.form.get("reko_status"))
    except GatewayError as error:
        flash(error.detail or error.title, "error")
        return redirect(url_for("reko.show", inquiry_id=inquiry.id))
    set_mark(session, inquiry, chosen, actor=f"user:{user.username}", now=utcnow())
    session.commit()
    flash(f"REKO-status för {inquiry.reference}: "
          f"{MARK_LABELS[chosen] if chosen else 'ingen'}.", "info")
    return redirect(safe_next(request.form.get("next"))
                    or url_for("reko.show", inquiry_id=inquiry.id))

