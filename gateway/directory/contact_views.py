"""Hitta REKO: every VC's current REKO and deputy with phone, e-mail and absences, searchable, for
anyone logged in (so a case worker can call before writing). Thin: the list is contacts.py's."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from forms.dates import stockholm_today
from gateway.auth.login import role_required
from gateway.db import get_session
from gateway.directory.contacts import unit_contacts
from gateway.directory.forms import FilterForm

bp = Blueprint("contacts", __name__)


@bp.app_template_filter("tel")
def tel_link(phone: str) -> str:
    """Return a tel: link for a phone number as the directory writes it ("040-00 00 01")."""
    return "tel:" + "".join(ch for ch in phone if ch.isdigit() or ch == "+")


@bp.get("/hitta-reko")
@role_required()
def rekos() -> ResponseReturnValue:
    search = FilterForm(formdata=request.args)
    term = (search.q.data or "") if search.validate() else ""
    today = stockholm_today()
    every = unit_contacts(get_session(), today)
    units = [unit for unit in every if unit.matches(term)]
    return render_template("directory/rekos.html", units=units, total=len(every), search=search,
                           today=today)
