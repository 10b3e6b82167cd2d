"""The intake service: the one door every channel (API, SDK API, web form, SMTP) sends a form of
any type through (a hälsoförfrågan, a SIP invitation), so that each rule is written once. What
differs by form type comes from the seam: forms.formtypes (parse, XSD, the type's own rules) and
gateway.inquiries.formtypes (reference prefix, deadline, what is stored beside the inquiry).

Order: parse and validate → the sender must be the submitter's → the sender unit must be in
the directory → consent rules → idempotency by `id` → route → repeat flag → seal and store →
legs → notify job → signed receipt → audit. A refusal stores nothing but one anonymous row in
`intake_rejections` (for error statistics).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Date,
    String,
    and_,
    bindparam,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from forms.consent import check_consent
from forms.dates import local_date
from forms.errors import FormError
from forms.formtypes import FormKind, IntakeForm, kind_named, kind_of, parse_form
from forms.xmlsafe import parse_xml
from gateway import codes
from gateway.audit.service import record, record_denied
from gateway.auth.clients import client_may_send_as
from gateway.auth.models import ApiClient, User
from gateway.db import Rows, built_once, insert_with
from gateway.directory.cache import (
    CareUnitInfo,
    DirectoryView,
    SenderUnitInfo,
    directory_view,
    directory_view_at,
    version_token_query,
)
from gateway.directory.models import DirectoryVersion
from gateway.directory.routing import FLAG_NO_ACTIVE_REKO, RouteDecision, route
from gateway.directory.service import DirectoryError, care_unit_id_of, sender_unit_id_of
from gateway.errors import GatewayError, Issue
from gateway.inquiries.formtypes import Handling, handling_for, handling_of
from gateway.inquiries.models import ConsentWithdrawal, FormType, Inquiry, IntakeRejection, LegKind
from gateway.inquiries.personal import name_rows
from gateway.inquiries.receipts import receipt_body, receipt_fields, receipt_signer
from gateway.inquiries.references import number_inquiry, placeholder_reference
from gateway.inquiries.sdk_messages import (
    INQUIRY_KIND,
    ClientMessage,
    build_inquiry_message,
    message_id_conflict,
    message_rows,
)
from gateway.inquiries.workflow import NewLeg, first_legs, legs_of, machine_for
from gateway.jobs.service import job_rows
from gateway.metrics import counters
from gateway.vault.service import get_vault

log = logging.getLogger(__name__)

NOTIFY_JOB = "inquiry.notify"
# DESIGN 7: an inquiry that came from a peer gateway, and the jobs that carry an inquiry to a
# peer's care unit and an answer back to a peer's sender (gateway.federation handles them).
PEER_CHANNEL = "sdk-peer"
PEER_SEND_JOB = "federation.send"
PEER_ANSWER_JOB = "federation.answer"
PEER_WITHDRAWAL_JOB = "federation.withdrawal"
# A SIP meeting's outcome, recorded by the sender here, told to the peer that serves its VC;
# with payload kind PEER_PLAN_KIND, the plan shared after it.
PEER_OUTCOME_JOB = "federation.outcome"
PEER_PLAN_KIND = "plan"
PEER_ROUTE = "PEER"
GATEWAY_ACTOR = "system:gateway"
FLAG_REPEAT = "REPEAT"

# Codes meaning the bytes could not be read as a hälsoförfrågan at all (400), as opposed to a
# readable form that breaks a rule (422).
UNREADABLE = frozenset({
    "XML_EMPTY", "XML_SYNTAX", "XML_DTD", "XML_PI", "XML_ENCODING", "XML_TOO_DEEP",
    "XML_TOO_MANY_ELEMENTS", "XML_NAMESPACE", "VERSION",
})
CONSENT_CODES = frozenset({"C1", "C2", "C3", "C4", "C5", "C6", "C7"})
# Below the form's root, whatever its type.
_SENDER_PATH = "avsandare/funktionsadress"
_CARE_UNIT_PATH = "mottagare/vardcentral/@hsaId"


@dataclass(frozen=True)
class Submitter:
    """Who hands a form to the intake: the audit actor, the organisation it acts for and the
    functional addresses it may send from."""

    actor: str
    organisation: str
    addresses: frozenset[str]

    @classmethod
    def from_client(cls, client: ApiClient) -> Submitter:
        """Return the submitter for an API client: its organisation and its own addresses."""
        addresses = frozenset(
            a.address
            for a in client.functional_addresses
            if client_may_send_as(client, client.organisation_id, a.address)
        )
        return cls(f"client:{client.client_id}", client.organisation_id, addresses)

    @classmethod
    def from_user(cls, user: User) -> Submitter:
        """Return the submitter for a case worker: their sender unit's organisation and address.

        Raises GatewayError 403 NO_SENDER_UNIT for a user not bound to a sender unit.
        """
        unit = user.sender_unit
        if unit is None:
            raise GatewayError.at(
                codes.NO_SENDER_UNIT,
                "Ditt konto är inte kopplat till någon enhet som får skicka hälsoförfrågningar.",
                status=403,
            )
        address = unit.functional_address.address
        return cls(f"user:{user.username}", unit.organisation_id, frozenset({address}))

    def may_send_as(self, organisation: str, address: str) -> bool:
        """Return whether this submitter may send as `organisation` from `address`."""
        return organisation.strip().lower() == self.organisation and address in self.addresses


@dataclass(frozen=True)
class IntakeResult:
    """An accepted inquiry; `created` is False when this was a repeat of an earlier send."""

    inquiry: Inquiry
    created: bool

    @property
    def location(self) -> str:
        return handling_for(self.inquiry.form_type).location(self.inquiry.id)

    @property
    def flags(self) -> list[dict[str, Any]]:
        return list(self.inquiry.flags or [])

    def body(self) -> dict[str, Any]:
        """Return the response body: the same for every repeat of the same send."""
        return receipt_body(self.inquiry)


def submit(
    session: Session, data: bytes, *, submitter: Submitter, channel: str, now: dt.datetime,
    message: ClientMessage | None = None,
    form_type: FormType | None = FormType.HALSOFORFRAGAN,
) -> IntakeResult:
    """Take in a form of `form_type` (None: of the type its root element names) and return the
    result; the caller commits. Its SDK message is stored with it: `message` as the client sent
    it, else one built for it.

    Raises GatewayError for every refusal (400/413 unreadable, 403 SENDER_NOT_ALLOWED, 404/422
    directory and rules, 409 ID_CONFLICT or MESSAGE_ID_CONFLICT, 503 RECEIPT_KEY_MISSING). On a
    refusal the session's transaction is rolled back and only the rejection row is committed,
    in its own transaction.
    """
    if now.tzinfo is None:
        raise ValueError("submit needs an aware `now`")
    try:
        kind = kind_named(form_type) if form_type is not None else None
        result = _submit(session, data, submitter, channel, now, message, kind)
    except GatewayError as error:
        _refused(session, error, submitter, channel, now, form_type or _sent_as(data))
        raise
    if result.created:
        counters.intake_accepted(channel)
    return result


def check(
    session: Session, data: bytes, *, submitter: Submitter, channel: str, now: dt.datetime,
    form_type: FormType = FormType.HALSOFORFRAGAN,
) -> None:
    """Check a form as `submit` does up to its consent rules, storing nothing: the web form
    asks before it warns of a repeat, so that a form the rules refuse is never offered
    "skicka ändå". Raises the same GatewayError as `submit` (the refusal is counted the same)."""
    try:
        _checked(session, data, submitter, now, kind_named(form_type))
    except GatewayError as error:
        _refused(session, error, submitter, channel, now, form_type)
        raise


@dataclass(frozen=True)
class _Checked:
    handling: Handling
    form: IntakeForm
    sender_unit: SenderUnitInfo
    care_unit: CareUnitInfo | None
    person_hash: str
    today: dt.date
    directory: DirectoryView
    prior: _Prior


def _checked(session: Session, data: bytes, submitter: Submitter, now: dt.datetime,
             kind: FormKind | None) -> _Checked:
    """Parse, check the sender and the consent rules; raise GatewayError for a refusal."""
    handling, form = parse_for_intake(data, kind)
    _check_may_send_as(form, submitter)  # before any read: a stranger's form costs none
    person_hash = get_vault().keyed_hash(form.person.personnummer)
    prior = _prior(session, form, person_hash, handling.form_type)
    # One version of the directory for the whole intake (gateway.directory.cache): the one
    # whose token the same read saw.
    directory = directory_view_at(session, prior.directory_token)
    sender_unit = _sender_unit_in(directory, form)
    today = local_date(now)
    care_unit = directory.care_unit(form.mottagare.hsa_id)
    consent_rules(form, sender_unit, prior.withdrawals, today)
    return _Checked(handling, form, sender_unit, care_unit, person_hash, today, directory, prior)


def _submit(
    session: Session, data: bytes, submitter: Submitter, channel: str, now: dt.datetime,
    message: ClientMessage | None, kind: FormKind | None,
) -> IntakeResult:
    checked = _checked(session, data, submitter, now, kind)
    handling, form = checked.handling, checked.form
    sender_unit, care_unit = checked.sender_unit, checked.care_unit
    person_hash, today = checked.person_hash, checked.today
    digest = hashlib.sha256(data).hexdigest()
    # A fast answer to a resend (also after the directory changed); the INSERT below, not
    # the read in _checked, is what guards against two concurrent sends. The same read found
    # the inquiries a new one may repeat.
    found = checked.prior.earlier
    if checked.prior.stored:
        stored = _stored(session, form.id)
        if stored is not None:
            return _resend(stored, digest)
        # Gone since (purged and deleted in between): a new inquiry after all.
    decision = route_form(session, form, today, checked.directory)
    assert care_unit is not None  # route() refuses a care unit that is not in the directory
    if care_unit.peer_endpoint:
        decision = _peer_route(care_unit, decision)
    accepted = _Accepted(handling, form, data, digest, person_hash, submitter, channel, now,
                         sender_unit, care_unit, decision, found)
    inquiry = _new_inquiry(session, accepted)
    # Under a placeholder reference until `_number`. Inserted, not checked for first (that would
    # race a concurrent send of the same id), with the rows that refer to it: none of them is
    # written when the id is taken.
    inquiry.reference = placeholder_reference()
    rows = _inquiry_rows(session, inquiry, accepted, message)
    written = insert_with(session, inquiry, (Inquiry.id,), rows)
    if written is None:
        stored = _stored(session, form.id)
        if stored is None:  # the conflict was not on the id: a real error
            raise RuntimeError("inquiry insert failed without an existing inquiry")
        return _resend(stored, digest)
    if rows[0].rows and not written[1][0]:
        raise message_id_conflict(rows[0].rows[0]["message_id"])
    handling.on_accepted(session, inquiry, form)
    _record_journey(session, inquiry, accepted)
    return IntakeResult(inquiry, created=True)


def _inquiry_rows(session: Session, inquiry: Inquiry, accepted: _Accepted,
                  message: ClientMessage | None) -> list[Rows]:
    """The rows written with a new inquiry, the SDK message's first: its SDK message (the
    client's, else one built with the form's consent PDF as its second file), its name's blind
    index, its summary and first legs, and the job that notifies its REKO (to a peer's care
    unit it travels as an SDK message, and the peer notifies)."""
    if message is None:
        bilaga = accepted.form.samtycke.bilaga
        consent = (bilaga.filnamn, bilaga.innehall) if bilaga is not None else None
        message = build_inquiry_message(inquiry, accepted.data, consent, accepted.now,
                                        units=(accepted.sender_unit, accepted.care_unit))
    actor, now, decision = accepted.submitter.actor, accepted.now, accepted.decision
    # The routing decision without its reason text, which names the REKOs.
    routed = {k: v for k, v in decision.leg_detail().items() if k != "reason"}
    job = PEER_SEND_JOB if decision.code == PEER_ROUTE else NOTIFY_JOB
    return [
        message_rows(inquiry_id=inquiry.id, kind=INQUIRY_KIND, channel=accepted.channel,
                     message=message, now=now),
        name_rows(inquiry.id, accepted.form.person.namn),
        *first_legs(session, inquiry, [
            NewLeg(LegKind.SUBMITTED, accepted.form.skapad, actor),
            NewLeg(LegKind.RECEIVED, now, actor, detail={"channel": accepted.channel}),
            NewLeg(LegKind.ROUTED, now, GATEWAY_ACTOR, detail=routed),
        ]),
        job_rows(job, {"inquiry_id": inquiry.id}, dedupe_key=f"{job}:{inquiry.id}"),
    ]


# --- refusals --------------------------------------------------------------------------------


def parse_for_intake(data: bytes, kind: FormKind | None) -> tuple[Handling, IntakeForm]:
    """Return the form's handling and the form: of `kind`, else of the type its root names;
    GatewayError 400/413/422 (form_refusal) when it is not one."""
    try:
        found, form = parse_form(data, kind=kind)
    except FormError as error:
        raise form_refusal(error, kind.title if kind is not None else "formulär") from None
    return handling_of(found), form


def form_refusal(error: FormError, what: str = "hälsoförfrågan") -> GatewayError:
    """Return the HTTP-shaped refusal for a FormError about a `what` (the form type's Swedish
    name): one issue per finding, with its place."""
    codes = set(error.codes)
    if "XML_TOO_LARGE" in codes:
        status, code, title = 413, "XML_TOO_LARGE", "Dokumentet är för stort"
    elif codes & UNREADABLE:
        status, code, title = 400, "XML_INVALID", f"Dokumentet kunde inte läsas som {what}"
    elif codes <= CONSENT_CODES:
        status, code, title = 422, "CONSENT_INVALID", "Samtycket uppfyller inte reglerna"
    else:
        status, code, title = 422, "FORM_INVALID", f"{what[:1].upper()}{what[1:]} är inte giltig"
    issues = [Issue(i.code, i.title, i.detail, i.location) for i in error.issues]
    return GatewayError(code, title, _summary(issues, error.total), status=status, issues=issues,
                        issue_count=error.total)


def _summary(issues: list[Issue], total: int, shown: int = 5) -> str:
    parts = [f"{i.code}: {i.title}" + (f" ({i.location})" if i.location else "") for i in issues]
    text = "; ".join(parts[:shown])
    if total > shown:
        text += f"; och {total - shown} fel till"
    return text


def sender_unit_of(session: Session, form: IntakeForm, submitter: Submitter) -> SenderUnitInfo:
    """Return the form's sender unit in the directory as the session sees it now; 403
    SENDER_NOT_ALLOWED when the submitter may not send as it, 422 SENDER_UNIT_UNKNOWN when the
    directory does not know it."""
    _check_may_send_as(form, submitter)
    return _sender_unit_in(directory_view(session), form)


def _sender_unit_in(directory: DirectoryView, form: IntakeForm) -> SenderUnitInfo:
    """The form's sender unit in `directory`; 422 SENDER_UNIT_UNKNOWN where it has none."""
    sender = form.avsandare
    unit = directory.sender_unit(sender.funktionsadress)
    if unit is None:
        detail = f"{sender.funktionsadress} är ingen avsändande enhet i katalogen."
        raise GatewayError.at(
            codes.SENDER_UNIT_UNKNOWN, detail, f"/{form.ROOT}/{_SENDER_PATH}", status=422
        )
    return unit


def _check_may_send_as(form: IntakeForm, submitter: Submitter) -> None:
    """403 SENDER_NOT_ALLOWED when the submitter may not send as the form's sender."""
    sender = form.avsandare
    if not submitter.may_send_as(sender.organisation, sender.funktionsadress):
        detail = (
            f"Avsändaren {sender.organisation}, {sender.funktionsadress} är inte din: du får "
            f"skicka som {submitter.organisation} från {', '.join(sorted(submitter.addresses))}."
        )
        raise GatewayError.at(
            codes.SENDER_NOT_ALLOWED, detail, f"/{form.ROOT}/{_SENDER_PATH}", status=403
        )


def check_form_consent(
    session: Session,
    form: IntakeForm,
    sender_unit: SenderUnitInfo,
    care_unit_id: int | None,
    person_hash: str,
    today: dt.date,
) -> None:
    """Check the form's consent rules (C1–C7) for the sender unit and the care unit with id
    `care_unit_id` (None: not in the directory, so no withdrawals towards it); 422."""
    withdrawals: list[dt.date] = []
    if care_unit_id is not None:
        withdrawals = withdrawal_dates(session, person_hash, care_unit_id, sender_unit.id)
    consent_rules(form, sender_unit, withdrawals, today)


def consent_rules(form: IntakeForm, sender_unit: SenderUnitInfo, withdrawals: list[dt.date],
                  today: dt.date) -> None:
    """Check the form's consent rules (C1–C7) for the sender unit, given the person's consent
    withdrawals that block it (`withdrawal_dates`); 422."""
    report = check_consent(
        form,
        sender_kind=sender_unit.kind.value,
        max_months=current_app.config["CONSENT_MAX_MONTHS"],
        withdrawals=withdrawals,
        today=today,
    )
    try:
        report.raise_for_failures()
    except FormError as error:
        raise form_refusal(error) from None


def route_form(session: Session, form: IntakeForm, today: dt.date,
               directory: DirectoryView | None = None) -> RouteDecision:
    """Return who receives the form at its VC today (in `directory`, by default as the session
    sees it now); the directory's refusals (404 unknown, 422 not connected), placed at the
    form's mottagare."""
    try:
        return route(session, form.mottagare.hsa_id, today, directory)
    except DirectoryError as error:
        issue = Issue(error.code, error.title, error.detail, f"/{form.ROOT}/{_CARE_UNIT_PATH}")
        raise GatewayError(
            error.code, error.title, error.detail, status=error.status, issues=[issue],
            extra=error.extra,
        ) from None


def _peer_route(care_unit: CareUnitInfo, decision: RouteDecision) -> RouteDecision:
    """The decision for a care unit a peer gateway serves (DESIGN 7.1): to its functional
    address there; its REKOs and assignments live in the peer's directory only."""
    return RouteDecision(
        care_unit_hsa_id=decision.care_unit_hsa_id,
        care_unit_name=decision.care_unit_name,
        functional_address=decision.functional_address,
        on=decision.on,
        coordinators=(),
        code=PEER_ROUTE,
        reason=f"Vårdcentralen nås via organisationen {care_unit.organisation_id}s gateway.",
    )


def _sent_as(data: bytes) -> FormType | None:
    """The form type a refused document's root names (None: unreadable or no form type's)."""
    try:
        return FormType(kind_of(parse_xml(data)).name)
    except (FormError, ValueError):
        return None


def _refused(
    session: Session, error: GatewayError, submitter: Submitter, channel: str, now: dt.datetime,
    form_type: FormType | None,
) -> None:
    # Nothing of the refused send is kept; the rejection row is its own transaction.
    session.rollback()
    codes = list(dict.fromkeys(i.code for i in error.issues)) or [error.code]
    counters.intake_refused(channel, codes)
    if error.status >= 500:
        return
    try:
        session.add(IntakeRejection(
            at=now, channel=channel, organisation=submitter.organisation, codes=codes,
            form_type=form_type.value if form_type is not None else None,
        ))
        session.commit()
    except SQLAlchemyError:
        # The sender must still hear why; a lost statistics row is logged, not raised.
        session.rollback()
        log.exception("intake: could not record a rejection on %s", channel)
    log.info("intake refused: channel=%s organisation=%s status=%s codes=%s",
             channel, submitter.organisation, error.status, ",".join(codes))
    if error.code == "SENDER_NOT_ALLOWED":
        record_denied(actor=submitter.actor, action="inquiry.submit", object_type="inquiry",
                      detail={"reason": error.code, "channel": channel})


# --- idempotency -----------------------------------------------------------------------------


def _about(person_hash: Any, care_unit_id: Any, form_type: Any) -> ColumnElement[bool]:
    """The inquiries of a form type about a person to a care unit (the repeat check's); each a
    value or a bound parameter."""
    return and_(Inquiry.person_hash == person_hash, Inquiry.care_unit_id == care_unit_id,
                Inquiry.form_type == form_type)


@dataclass(frozen=True)
class _Prior:
    """What is stored that a form's intake must know before it stores anything."""

    stored: bool  # an inquiry with the form's id
    # The inquiries of the form type about the person to the care unit, newest first.
    earlier: list[tuple[str, dt.datetime]]
    # The person's consent withdrawals towards the care unit that block the sender (rule C7).
    withdrawals: list[dt.date]
    directory_token: str | None  # the directory's version (None: the database keeps none)


def _prior(session: Session, form: IntakeForm, person_hash: str, form_type: FormType) -> _Prior:
    """Return, in one read, the directory's version token, whether an inquiry with the form's
    id is stored, the inquiries a new one may repeat and the withdrawals that block it
    (`withdrawal_dates`'s), where it took three (issue 17). The care unit and the sender unit
    are found by the form's HSA-id and functional address in the same read, so the token and
    what the read finds are of one snapshot (the directory's data loaded under the token later
    is never older: gateway.directory.cache); an unknown unit finds no inquiries and no
    withdrawals."""
    statement = built_once(session, "intake.prior", lambda _: _prior_statement())
    rows = session.execute(statement, {
        "inquiry_id": form.id, "person_hash": person_hash, "care_unit": form.mottagare.hsa_id,
        "sender_address": form.avsandare.funktionsadress, "form_type": form_type,
    }).all()
    inquiries = sorted(((str(r.id), r.created_at) for r in rows if r.what == "i"),
                       key=lambda row: row[1], reverse=True)
    return _Prior(
        stored=any(found == form.id for found, _ in inquiries),
        earlier=[row for row in inquiries if row[0] != form.id],
        withdrawals=[r.withdrawn_on for r in rows if r.what == "w"],
        directory_token=next((str(r.id) for r in rows if r.what == "v"), None),
    )


def _prior_statement() -> Any:
    """The statement `_prior` runs: the inquiries, the withdrawals, the directory's token (a row
    each, told apart by `what`; the inquiries' columns give the types), with bound parameters
    only, so it is built once."""
    person_hash: Any = bindparam("person_hash")
    care_unit_id = care_unit_id_of(bindparam("care_unit"))
    inquiries = select(
        literal_column("'i'", String).label("what"), Inquiry.id, Inquiry.created_at,
        type_coerce(null(), Date).label("withdrawn_on"),
    ).where(or_(Inquiry.id == bindparam("inquiry_id"),
                _about(person_hash, care_unit_id, bindparam("form_type"))))
    token = version_token_query(
        select(literal_column("'v'", String), DirectoryVersion.token, null(), null()))
    withdrawals = select(
        literal_column("'w'", String), null(), null(), ConsentWithdrawal.withdrawn_on
    ).where(_blocking(person_hash, care_unit_id, sender_unit_id_of(bindparam("sender_address"))))
    # The token last: PostgreSQL types a UNION's columns pair by pair, and two untyped NULLs
    # first would make the withdrawals' dates text.
    return union_all(inquiries, withdrawals, token)


def _stored(session: Session, inquiry_id: str) -> Inquiry | None:
    query = select(Inquiry).where(Inquiry.id == inquiry_id).execution_options(
        populate_existing=True
    )
    return session.scalars(query).one_or_none()


def _resend(stored: Inquiry, digest: str) -> IntakeResult:
    if stored.content_digest != digest:
        kind = handling_for(stored.form_type).kind
        detail = (
            f"En {kind.title} med id {stored.id} har redan tagits emot med annat innehåll. "
            "Ge en ny förfrågan ett nytt id."
        )
        raise GatewayError.at(
            codes.ID_CONFLICT, detail, f"/{kind.root}/id", status=409
        )
    return IntakeResult(stored, created=False)


def _number(session: Session, inquiry: Inquiry, prefix: str) -> None:
    """Give the inquiry its reference. Counting locks the year's counter until the commit
    (numbers have no gaps), so every concurrent intake waits for it: it is taken last, with
    only the audit entry and the day counts after it, not before the inquiry's other rows."""
    reference = number_inquiry(session, inquiry.id, inquiry.created_at, prefix)
    # Written by Core, not the ORM: the object is told the value as committed, not flushed again.
    set_committed_value(inquiry, "reference", reference)


# --- the accepted inquiry --------------------------------------------------------------------


@dataclass(frozen=True)
class _Accepted:
    """Everything known about a form that passed every check, before it is stored."""

    handling: Handling
    form: IntakeForm
    data: bytes
    digest: str
    person_hash: str
    submitter: Submitter
    channel: str
    now: dt.datetime
    sender_unit: SenderUnitInfo
    care_unit: CareUnitInfo
    decision: RouteDecision
    # The earlier inquiries about the person to the care unit, newest first (the repeat check).
    earlier: list[tuple[str, dt.datetime]]


@dataclass(frozen=True)
class Routed:
    """What routing an inquiry to a care unit now gives it: flags, deadline, signed receipt."""

    flags: list[dict[str, Any]]
    deadline: dt.date
    receipt: bytes
    receipt_signature: bytes
    repeat_of: str | None


def routed(
    session: Session, *, handling: Handling, form: IntakeForm, person_hash: str,
    care_unit_id: int, decision: RouteDecision, digest: str, now: dt.datetime,
    earlier: list[tuple[str, dt.datetime]] | None = None,
) -> Routed:
    """Return the flags (repeat at this care unit, no active REKO), the deadline (the form
    type's, from `now`) and the signed receipt of the form routed by `decision` to the care unit
    with id `care_unit_id` at `now`: at intake, and again when the sender sends it on to another
    VC."""
    config = current_app.config
    repeat_of = _earlier_inquiry(session, person_hash, care_unit_id, now, config["REPEAT_DAYS"],
                                 handling.form_type, earlier)
    flags = _flags(decision, repeat_of, config["REPEAT_DAYS"])
    deadline = handling.deadline(form, now, config)
    signer = receipt_signer()
    receipt, signature = signer.sign(receipt_fields(
        inquiry_id=form.id, received_at=now, routed_to=decision.functional_address,
        care_unit=decision.care_unit_hsa_id, deadline=deadline, content_sha256=digest,
        flags=flags, issuer=signer.organisation,
    ))
    return Routed(flags, deadline, receipt, signature, repeat_of)


def _new_inquiry(session: Session, accepted: _Accepted) -> Inquiry:
    """Return the inquiry to insert: sealed content, flags and its signed receipt."""
    form, decision, now = accepted.form, accepted.decision, accepted.now
    form_type = accepted.handling.form_type
    facts = routed(session, handling=accepted.handling, form=form,
                   person_hash=accepted.person_hash, care_unit_id=accepted.care_unit.id,
                   decision=decision, digest=accepted.digest, now=now,
                   earlier=accepted.earlier)
    vault = get_vault()
    return Inquiry(
        id=form.id,
        form_type=form_type,
        sender_unit_id=accepted.sender_unit.id,
        care_unit_id=accepted.care_unit.id,
        routed_to=decision.functional_address,
        reply_to=form.avsandare.funktionsadress,
        content_digest=accepted.digest,
        content=vault.seal(accepted.data, f"inquiries.content:{form.id}"),
        personnummer=vault.seal(
            form.person.personnummer.encode("ascii"), f"inquiries.personnummer:{form.id}"
        ),
        person_hash=accepted.person_hash,
        receipt=facts.receipt,
        receipt_signature=facts.receipt_signature,
        channel=accepted.channel,
        flags=facts.flags,
        deadline=facts.deadline,
        consent_valid_to=form.samtycke.giltigt_till,
        repeat_of=facts.repeat_of,
        submitted_by=accepted.submitter.actor,
        created_at=now,
    )


def withdrawal_dates(
    session: Session, person_hash: str, care_unit_id: int, sender_unit_id: int
) -> list[dt.date]:
    """Return the dates of the person's consent withdrawals towards the care unit that block the
    sender unit's inquiries (rule C7): its own, and those registered without a unit."""
    return list(session.scalars(
        select(ConsentWithdrawal.withdrawn_on).where(
            _blocking(person_hash, care_unit_id, sender_unit_id))
    ))


def _blocking(person_hash: Any, care_unit_id: Any, sender_unit_id: Any) -> ColumnElement[bool]:
    """The withdrawals `withdrawal_dates` returns; each a value or a bound parameter."""
    withdrawal = ConsentWithdrawal
    return and_(withdrawal.person_hash == person_hash, withdrawal.care_unit_id == care_unit_id,
                or_(withdrawal.sender_unit_id == sender_unit_id,
                    withdrawal.sender_unit_id.is_(None)))


def find_earlier_inquiry(
    session: Session, personnummer: str, care_unit_id: int, now: dt.datetime
) -> Inquiry | None:
    """Return the earlier inquiry a new one about the person to the care unit would be flagged
    as a repeat of (DESIGN 6: received within REPEAT_DAYS, or still open), or None; what the
    web form warns about before sending."""
    found = _earlier_inquiry(session, get_vault().keyed_hash(personnummer), care_unit_id, now,
                             current_app.config["REPEAT_DAYS"])
    return session.get(Inquiry, found) if found is not None else None


def _earlier_inquiry(
    session: Session, person_hash: str, care_unit_id: int, now: dt.datetime, repeat_days: int,
    form_type: FormType = FormType.HALSOFORFRAGAN,
    earlier: list[tuple[str, dt.datetime]] | None = None,
) -> str | None:
    """Return the newest earlier inquiry of the form type about the person to the care unit
    that was received within `repeat_days` or still waits for the care unit, or None; from
    `earlier` (those inquiries, newest first) where the caller has read them (`_prior`)."""
    since = now - dt.timedelta(days=repeat_days)
    machine = machine_for(form_type)
    rows = earlier if earlier is not None else [
        (str(inquiry_id), received) for inquiry_id, received in session.execute(
            select(Inquiry.id, Inquiry.created_at).where(_about(person_hash, care_unit_id,
                                                                form_type))
            .order_by(Inquiry.created_at.desc())
        )
    ]
    for inquiry_id, received in rows:
        if received >= since:
            return str(inquiry_id)
        if machine.derive(leg.kind for leg in legs_of(session, inquiry_id)) in machine.waiting:
            return str(inquiry_id)
    return None


def _flags(
    decision: RouteDecision, repeat_of: str | None, repeat_days: int
) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = []
    if repeat_of is not None:
        flags.append({
            "code": FLAG_REPEAT,
            "title": "Upprepad förfrågan",
            "detail": f"En förfrågan om samma person till samma vårdcentral togs emot inom "
                      f"{repeat_days} dagar eller är fortfarande öppen.",
            "inquiry": repeat_of,
        })
    if FLAG_NO_ACTIVE_REKO in decision.flags:
        flags.append({
            "code": FLAG_NO_ACTIVE_REKO,
            "title": "Ingen aktiv REKO",
            "detail": "Ingen rehabkoordinator är aktiv på vårdcentralen i dag; förfrågan går till "
                      "vårdcentralens funktionsadress och chefen meddelas.",
        })
    return flags


def _record_journey(session: Session, inquiry: Inquiry, accepted: _Accepted) -> None:
    """Give the inquiry its reference and (last: it locks the chain) write the audit entry."""
    decision = accepted.decision
    _number(session, inquiry, accepted.handling.reference_prefix)
    record(
        session, actor=accepted.submitter.actor, action=accepted.handling.received_action,
        object_type="inquiry", object_id=inquiry.id,
        detail={
            "channel": accepted.channel,
            "care_unit": decision.care_unit_hsa_id,
            "routed_to": decision.functional_address,
            "flags": [f["code"] for f in inquiry.flags],
            "repeat_of": inquiry.repeat_of,
        },
    )
    session.flush()
