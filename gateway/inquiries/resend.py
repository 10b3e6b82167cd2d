"""The sender sends its inquiry on to another VC with a new consent that names it (issue 14).

The sender's client posts the amended hälsoförfrågan (the same `id`, person and sender; a new
`skapad`, `mottagare/vardcentral` and a `samtycke` whose `uppgiftslamnare` is the new VC), or the
case worker fills in the new consent on the web. The amended form passes the intake's own
parsing, sender check and C1–C7 (towards the new VC); then the content is sealed anew, a
`rerouted` leg is written and the new VC's REKO is notified. The old VC loses access with the
routing (gateway.inquiries.access decides by the care unit it is routed to now), and its
REKO-status goes with it.

Which inquiries: one still waiting for its answer, or one the VC closed as RELISTED (the person
is listed elsewhere): the `rerouted` leg re-opens it (workflow.derive_status), and the
statistics count it as open again, never as closed too. Deadline: the new VC gets its own
ANSWER_DAYS from the re-route (a new signed receipt says so); the statistics still count the
days from the first `submitted`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from forms.dates import local_date
from forms.formtypes import kind_named
from forms.halsoforfragan import Halsoforfragan
from gateway import codes
from gateway.audit.service import record, record_denied
from gateway.directory.models import CareUnit
from gateway.directory.routing import RouteDecision
from gateway.directory.service import care_unit_by_hsa_id
from gateway.errors import GatewayError, Issue
from gateway.inquiries.access import Act
from gateway.inquiries.answers import ANSWERABLE, status_of
from gateway.inquiries.drafts import drop_drafts
from gateway.inquiries.formtypes import Handling
from gateway.inquiries.intake import (
    NOTIFY_JOB,
    Submitter,
    check_form_consent,
    parse_for_intake,
    route_form,
    routed,
    sender_unit_of,
)
from gateway.inquiries.labels import STATUS_TEXT
from gateway.inquiries.models import CloseReason, FormType, Inquiry, InquiryMark, LegKind
from gateway.inquiries.sdk_messages import (
    INQUIRY_KIND,
    build_inquiry_message,
    open_message,
    reseal,
    stored_message,
)
from gateway.inquiries.workflow import Status, add_leg, derive_status, legs_of
from gateway.jobs.service import enqueue
from gateway.vault.service import get_vault

ACTION = Act.RESEND.value
_CARE_UNIT_PATH = "/halsoforfragan/mottagare/vardcentral/@hsaId"


@dataclass(frozen=True)
class Resent:
    """The inquiry after it was sent on; `changed` is False for a repeat of the same send."""

    inquiry: Inquiry
    changed: bool
    previous: str | None = None


def reopenable(session: Session, inquiry: Inquiry) -> bool:
    """Return whether the sender may send the inquiry on: it waits for its answer, or the VC
    closed it because the person is listed at another VC (RELISTED)."""
    legs = legs_of(session, inquiry.id)
    status = derive_status(leg.kind for leg in legs)
    if status in ANSWERABLE:
        return True
    closes = [leg for leg in legs if leg.kind == LegKind.CLOSED]
    return status is Status.CLOSED and closes[-1].reason == CloseReason.RELISTED.value


@dataclass(frozen=True)
class _Checked:
    """An amended form that passed every check: what sending it on needs."""

    handling: Handling
    form: Halsoforfragan
    digest: str
    target: CareUnit | None = None  # None: the same amended form again, already sent on
    decision: RouteDecision | None = None


def check(session: Session, inquiry: Inquiry, data: bytes, *, submitter: Submitter,
          channel: str, now: dt.datetime) -> None:
    """Run every check `resend` runs, changing nothing (the web page's step before its
    confirmation); the same refusals, audited the same way."""
    _audited(session, inquiry, submitter, channel,
             lambda: _checked(session, inquiry, data, submitter, now))


def resend(session: Session, inquiry: Inquiry, data: bytes, *, submitter: Submitter,
           channel: str, now: dt.datetime) -> Resent:
    """Send the inquiry on to the VC the amended form `data` names, with its new consent; the
    caller has decided (access service) that the submitter is on the sender's side, and
    commits. A repeat of the same amended form changes nothing.

    Raises GatewayError, audited as a denied re-route naming its codes (which ends the caller's
    transaction): 400/413/422 for a form the intake refuses (every failed rule C1–C7 named,
    C4 when the consent names another VC), 403 SENDER_NOT_ALLOWED, 404/422 from the directory,
    409 NOT_OPEN (answered, registered, closed for another reason, purged), 422
    REROUTE_NOT_SAME_INQUIRY (another id, person or sender), REROUTE_SAME_UNIT,
    RECIPIENT_AT_PEER (a VC another organisation's gateway serves: not yet).
    """
    checked = _audited(session, inquiry, submitter, channel,
                       lambda: _checked(session, inquiry, data, submitter, now))
    if checked.target is None or checked.decision is None:
        return Resent(inquiry, changed=False)
    return _send_on(session, inquiry, data, checked, submitter, channel, now)


def _audited(session: Session, inquiry: Inquiry, submitter: Submitter, channel: str,
             run: Callable[[], _Checked]) -> _Checked:
    """Return what `run` returns; a refusal is rolled back and audited as a denied re-route
    with every code it names, then raised."""
    try:
        return run()
    except GatewayError as error:
        session.rollback()
        found = [issue.code for issue in error.issues] or [error.code]
        record_denied(actor=submitter.actor, action=ACTION, object_type="inquiry",
                      object_id=inquiry.id,
                      detail={"reason": error.code, "codes": found, "channel": channel})
        raise


def _checked(session: Session, inquiry: Inquiry, data: bytes, submitter: Submitter,
             now: dt.datetime) -> _Checked:
    """Every check, in the intake's order where it has them; the intake's own functions."""
    if now.tzinfo is None:
        raise ValueError("resend needs an aware `now`")
    _check_reopenable(session, inquiry)
    handling, form = parse_for_intake(data, kind_named(FormType.HALSOFORFRAGAN))
    assert isinstance(form, Halsoforfragan)  # the kind asked for
    sender_unit = sender_unit_of(session, form, submitter)
    digest = hashlib.sha256(data).hexdigest()
    _check_same_inquiry(inquiry, form, sender_unit.id)
    if digest == inquiry.content_digest and form.mottagare.hsa_id == inquiry.care_unit.hsa_id:
        return _Checked(handling, form, digest)  # the same amended form again: done already
    _check_other_unit(inquiry, form)
    target = care_unit_by_hsa_id(session, form.mottagare.hsa_id)
    today = local_date(now)
    check_form_consent(session, form, sender_unit, target.id if target is not None else None,
                       inquiry.person_hash, today)
    decision = route_form(session, form, today)  # unknown 404, not connected 422
    assert target is not None  # route_form refuses a care unit not in the directory
    _check_served_here(inquiry, target)
    return _Checked(handling, form, digest, target, decision)


def _send_on(session: Session, inquiry: Inquiry, data: bytes, checked: _Checked,
             submitter: Submitter, channel: str, now: dt.datetime) -> Resent:
    """Move the checked inquiry: content, routing, receipt, message, leg, notice, audit."""
    form, digest, target, decision = checked.form, checked.digest, checked.target, \
        checked.decision
    assert target is not None and decision is not None
    facts = routed(session, handling=checked.handling, form=form,
                   person_hash=inquiry.person_hash,
                   care_unit_id=target.id, decision=decision, digest=digest, now=now)
    previous = inquiry.care_unit.hsa_id
    reopened = status_of(session, inquiry) is Status.CLOSED
    # The old VC's REKO-status and answer drafts are theirs: they do not follow the inquiry.
    session.execute(delete(InquiryMark).where(InquiryMark.inquiry_id == inquiry.id))
    drop_drafts(session, inquiry.id)
    inquiry.care_unit_id, inquiry.care_unit = target.id, target
    inquiry.routed_to = decision.functional_address
    inquiry.content = get_vault().seal(data, f"inquiries.content:{inquiry.id}")
    inquiry.content_digest = digest
    inquiry.consent_valid_to = form.samtycke.giltigt_till
    inquiry.deadline, inquiry.flags, inquiry.repeat_of = facts.deadline, facts.flags, \
        facts.repeat_of
    inquiry.receipt, inquiry.receipt_signature = facts.receipt, facts.receipt_signature
    _replace_message(session, inquiry, form, data, now)
    count = sum(1 for leg in legs_of(session, inquiry.id) if leg.kind == LegKind.REROUTED)
    add_leg(session, inquiry.id, LegKind.REROUTED, at=now, actor=submitter.actor,
            detail={"from": previous, "to": target.hsa_id,
                    "functional_address": decision.functional_address, "code": decision.code,
                    "consent": "new", "channel": channel, "reopened": reopened})
    enqueue(session, NOTIFY_JOB, {"inquiry_id": inquiry.id},
            dedupe_key=f"{NOTIFY_JOB}:{inquiry.id}:rerouted:{count + 1}")
    record(session, actor=submitter.actor, action="inquiry.rerouted", object_type="inquiry",
           object_id=inquiry.id,
           detail={"from": previous, "to": target.hsa_id, "consent": "new", "channel": channel,
                   "reopened": reopened, "sha256": digest})
    session.flush()
    return Resent(inquiry, changed=True, previous=previous)


def _check_reopenable(session: Session, inquiry: Inquiry) -> None:
    if inquiry.content is None:
        raise GatewayError.at(codes.REROUTE_PURGED,
                              "Förfrågans innehåll är raderat; skicka en ny förfrågan.",
                              status=409)
    if not reopenable(session, inquiry):
        status = status_of(session, inquiry)
        raise GatewayError.at(
            codes.NOT_OPEN_FOR_REROUTE,
            f"Förfrågan är {STATUS_TEXT[status]}. Bara en obesvarad förfrågan, eller en som "
            "vårdcentralen avslutat för att personen är listad på en annan vårdcentral, kan "
            "skickas vidare.", status=409,
        )


_SAME = {
    "/halsoforfragan/id": "Id:t ska vara förfrågans eget ({expected}).",
    "/halsoforfragan/person/personnummer": "Personen ska vara densamma som i förfrågan.",
    "/halsoforfragan/avsandare/funktionsadress":
        "Avsändaren ska vara densamma som i förfrågan ({expected}).",
}


def _check_same_inquiry(inquiry: Inquiry, form: Halsoforfragan, sender_unit_id: int) -> None:
    """Refuse (422, every difference named) an amended form that is not this inquiry: another
    id, another person or another sender would be a new inquiry, sent as one."""
    differs = {
        "/halsoforfragan/id": form.id != inquiry.id,
        "/halsoforfragan/person/personnummer":
            get_vault().keyed_hash(form.person.personnummer) != inquiry.person_hash,
        "/halsoforfragan/avsandare/funktionsadress":
            form.avsandare.funktionsadress != inquiry.reply_to
            or sender_unit_id != inquiry.sender_unit_id,
    }
    failed = [path for path, bad in differs.items() if bad]
    if not failed:
        return
    title = codes.REROUTE_NOT_SAME_INQUIRY.title
    issues = [Issue(codes.REROUTE_NOT_SAME_INQUIRY.code, title,
                    _SAME[path].format(expected=inquiry.id if path.endswith("/id")
                                       else inquiry.reply_to), path)
              for path in failed]
    detail = " ".join(issue.detail for issue in issues) + " Skicka annars en ny förfrågan."
    raise GatewayError.at(codes.REROUTE_NOT_SAME_INQUIRY, detail, status=422, issues=issues)


def _check_other_unit(inquiry: Inquiry, form: Halsoforfragan) -> None:
    if form.mottagare.hsa_id == inquiry.care_unit.hsa_id:
        raise GatewayError.at(
            codes.REROUTE_SAME_UNIT, "Förfrågan går redan till den vårdcentralen; välj den "
            "vårdcentral där personen nu är listad.", _CARE_UNIT_PATH, status=422,
        )


def _check_served_here(inquiry: Inquiry, target: CareUnit) -> None:
    """Refuse (422 RECIPIENT_AT_PEER) a VC another organisation's gateway serves, as the new VC
    or the old one (the content is there): not yet built."""
    for unit in (target, inquiry.care_unit):
        if unit.organisation.endpoint:
            raise GatewayError.at(
                codes.REROUTE_AT_PEER,
                f"{unit.name} nås genom {unit.organisation.name}s gateway; att skicka en "
                "förfrågan vidare dit eller därifrån går inte ännu. Skicka en ny förfrågan.",
                _CARE_UNIT_PATH, status=422,
            )


def _replace_message(session: Session, inquiry: Inquiry, form: Halsoforfragan, data: bytes,
                     now: dt.datetime) -> None:
    """The inquiry's SDK message now carries the amended form (and its consent PDF, if any) to
    the new VC's function; its messageId and conversation stay."""
    row = stored_message(session, inquiry.id, INQUIRY_KIND)
    bilaga = form.samtycke.bilaga
    consent = (bilaga.filnamn, bilaga.innehall) if bilaga is not None else None
    if row is None:
        return  # a message that could not be built at intake; the SDK view shows the form
    message = build_inquiry_message(inquiry, data, consent, now, message_id=row.message_id,
                                    earlier=open_message(row))
    if message is not None:
        reseal(row, message)


