"""The case worker's person search (Swedish): their own unit's inquiries about one person,
found by the keyed hash of the personnummer typed, and the way on to register a consent
withdrawal for that person. Nothing about other units' inquiries is shown or hinted."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from forms.dates import local_date
from forms.identifiers import IdentifierError, parse_personnummer
from gateway.audit.service import record
from gateway.auth.login import role_required
from gateway.auth.models import Role, User
from gateway.db import get_session
from gateway.directory.models import CareUnit
from gateway.inquiries.labels import STATUS_LABELS
from gateway.inquiries.models import FormType, Inquiry, InquirySummary
from gateway.inquiries.personal import audit_reads
from gateway.inquiries.workflow import Status
from gateway.vault.service import get_vault

bp = Blueprint("persons", __name__, url_prefix="/arenden/person")

# Why the results are read: the audit log's purpose.
SEARCHING = "personsökning"


@dataclass(frozen=True)
class Found:
    """One of the unit's inquiries about the person, as the results list it."""

    inquiry: Inquiry
    status: str
    sent: str


def _typed_number() -> tuple[str | None, str | None]:
    """Return (the personnummer's 12 digits, None) or (None, what is wrong), in Swedish."""
    typed = "".join(request.form.get("personnummer", "").split()).replace("-", "")
    try:
        return parse_personnummer(typed).value, None
    except IdentifierError as error:
        return None, error.detail


def _found(unit_id: int, person_hash: str) -> list[Found]:
    rows = get_session().execute(
        select(Inquiry, InquirySummary.status)
        .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
        .join(CareUnit, CareUnit.id == Inquiry.care_unit_id)
        .options(contains_eager(Inquiry.care_unit))
        # Hälsoförfrågningar: a SIP invitation has no case page yet (issue 18's web part).
        .where(Inquiry.sender_unit_id == unit_id, Inquiry.person_hash == person_hash,
               Inquiry.form_type == FormType.HALSOFORFRAGAN)
        .order_by(Inquiry.created_at.desc(), Inquiry.id)
    )
    return [Found(inquiry, STATUS_LABELS[Status(status)], local_date(inquiry.created_at)
                  .isoformat()) for inquiry, status in rows]


@bp.get("")
@role_required(Role.CASE_WORKER)
def search_form() -> ResponseReturnValue:
    return render_template("inquiries/person_search.html", number=None, found=None, error=None)


@bp.post("")
@role_required(Role.CASE_WORKER)
def search() -> ResponseReturnValue:
    """Search by the personnummer typed (a POST: the number never sits in a URL or a log);
    the search and each inquiry shown are audited with the purpose."""
    user: User = current_user
    number, problem = _typed_number()
    if number is None or user.sender_unit_id is None:
        error = problem or "Ditt konto hör inte till någon enhet."
        return render_template("inquiries/person_search.html", number=None, found=None,
                               error=error), 422
    session = get_session()
    person_hash = get_vault().keyed_hash(number)
    found = _found(user.sender_unit_id, person_hash)
    actor = f"user:{user.username}"
    record(session, actor=actor, action="person.searched", object_type="person",
           object_id=person_hash, detail={"purpose": SEARCHING, "found": len(found)})
    audit_reads(session, actor, [f.inquiry.id for f in found], SEARCHING)
    session.commit()
    units = sorted({f.inquiry.care_unit for f in found}, key=lambda unit: unit.name)
    return render_template("inquiries/person_search.html", number=number, found=found,
                           units=units, error=None)
