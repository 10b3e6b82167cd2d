"""The auditor's view of the audit log: search (by person, actor, unit, action, period), one
entry, the chain's state and a person's log extract (Patientdatalagen 4 kap. 3 §, 8 kap. 1 §).

The log itself (gateway.audit) knows no domain; this module finds what the entries are about:
a person's entries are those about the person's inquiries (found by the vault's keyed hash of
the personnummer, as repeats are), about their consent withdrawals, and the auditor's own
searches for the person. A unit's entries are those about inquiries of that unit (a sender
unit's, or a VC's as the inquiry stands now) and, for a VC, those about the VC itself (its
directory changes, consent withdrawals registered towards it); not what the unit's staff did
elsewhere (their logins, say): search by user for that.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from forms.dates import local_clock
from forms.identifiers import parse_personnummer
from gateway.audit.anchoring import AnchorReport, verify_anchors
from gateway.audit.models import AuditAnchor, AuditEntry
from gateway.audit.service import ChainReport, Head, latest_anchor, read_head, record, verify
from gateway.auth.models import Role, User
from gateway.auth.users import display_names
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries.models import ConsentWithdrawal, Inquiry
from gateway.stats.sqltime import start_of_day_utc
from gateway.vault.service import get_vault

PERSON_HASH = re.compile(r"[0-9a-f]{64}")
SENDER_UNIT, CARE_UNIT = "s", "v"
# A consent withdrawal's audit entry is appended in the transaction that registers it, a moment
# after the time the withdrawal records: the first such entry within this window is its own.
WITHDRAWAL_WINDOW = dt.timedelta(minutes=1)
# A person's log extract lists at most this many entries (far more than one person's inquiries
# give); the page says when it is cut.
EXTRACT_LIMIT = 5000
VERIFY_ACTION = "audit.verify"


def local_time(at: dt.datetime) -> str:
    """An instant as Swedish wall-clock time with seconds (2026-12-02 15:04:05)."""
    return local_clock(at, seconds=True)


def person_key(typed: str) -> str:
    """Return the vault's keyed hash of the personnummer typed (12 digits, a hyphen allowed),
    as the intake stores it; raise IdentifierError for an invalid number."""
    number = "".join(typed.split()).replace("-", "")
    return get_vault().keyed_hash(parse_personnummer(number).value)


# --- filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the auditor searches for; empty fields do not filter. `person` is the keyed hash of
    a personnummer, never the number."""

    person: str = ""
    actor: str = ""
    unit: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters from a query string; what cannot be read is dropped, with why."""
        errors: list[str] = []
        person = args.get("person", "")
        if person and not PERSON_HASH.fullmatch(person):
            errors.append("Personsökningen kunde inte läsas. Ange personnumret igen.")
            person = ""
        unit = args.get("enhet", "")
        if unit and not re.fullmatch(r"[sv]:[\w-]{1,40}", unit):
            unit = ""
        date_from = _date(args.get("fran", ""), "Från", errors)
        date_to = _date(args.get("till", ""), "Till", errors)
        if date_from and date_to and date_to < date_from:
            errors.append("Till-datumet ligger före från-datumet.")
        return cls(person=person, actor=args.get("anvandare", "").strip()[:200], unit=unit,
                   action=args.get("handelse", "")[:60], date_from=date_from,
                   date_to=date_to, errors=tuple(errors))

    def query_args(self) -> dict[str, str]:
        """The filters as a query string's values (for links to other pages of the result)."""
        values = {
            "person": self.person, "anvandare": self.actor, "enhet": self.unit,
            "handelse": self.action,
            "fran": self.date_from.isoformat() if self.date_from else "",
            "till": self.date_to.isoformat() if self.date_to else "",
        }
        return {name: value for name, value in values.items() if value}

    def audit_detail(self) -> dict[str, str]:
        """The filters for the auditor's own audit entry: the person only as its hash, which is
        the entry's object, so it is left out here."""
        return {name: value for name, value in self.query_args().items() if name != "person"}

    @property
    def any(self) -> bool:
        return bool(self.query_args())


def _date(text: str, name: str, errors: list[str]) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}-datumet ska skrivas ÅÅÅÅ-MM-DD.")
        return None


# --- which entries --------------------------------------------------------------------------


def _about_inquiries(ids: Any) -> ColumnElement[bool]:
    return and_(AuditEntry.object_type == "inquiry", AuditEntry.object_id.in_(ids))


def _withdrawal_entries(session: Session, withdrawals: Sequence[ConsentWithdrawal]) -> list[int]:
    """Return the seq of each withdrawal's own audit entry (see WITHDRAWAL_WINDOW)."""
    found = []
    for withdrawal in withdrawals:
        hsa_id = session.scalar(select(CareUnit.hsa_id).where(
            CareUnit.id == withdrawal.care_unit_id))
        seq = session.scalar(select(func.min(AuditEntry.seq)).where(
            AuditEntry.action == "consent.withdrawn", AuditEntry.object_type == "care_unit",
            AuditEntry.object_id == hsa_id, AuditEntry.actor == withdrawal.registered_by,
            AuditEntry.at >= withdrawal.registered_at,
            AuditEntry.at < withdrawal.registered_at + WITHDRAWAL_WINDOW,
        ))
        if seq is not None:
            found.append(int(seq))
    return found


def person_clause(session: Session, person: str) -> ColumnElement[bool]:
    """The entries about the person whose keyed hash is `person`."""
    inquiries = select(Inquiry.id).where(Inquiry.person_hash == person)
    withdrawals = session.scalars(select(ConsentWithdrawal).where(
        ConsentWithdrawal.person_hash == person).order_by(ConsentWithdrawal.id)).all()
    seqs = _withdrawal_entries(session, withdrawals)
    return or_(
        _about_inquiries(inquiries),
        and_(AuditEntry.object_type == "person", AuditEntry.object_id == person),
        AuditEntry.seq.in_(seqs) if seqs else false(),
    )


def unit_clause(unit: str) -> ColumnElement[bool]:
    """The entries about inquiries of a sender unit ("s:<id>") or of a VC ("v:<HSA-id>"), and
    for a VC those about the VC itself (directory changes, consent withdrawals towards it)."""
    kind, _, key = unit.partition(":")
    if kind == SENDER_UNIT and key.isdigit():
        return _about_inquiries(select(Inquiry.id).where(Inquiry.sender_unit_id == int(key)))
    if kind == CARE_UNIT:
        care_unit = select(CareUnit.id).where(CareUnit.hsa_id == key).scalar_subquery()
        return or_(
            _about_inquiries(select(Inquiry.id).where(Inquiry.care_unit_id == care_unit)),
            and_(AuditEntry.object_type == "care_unit", AuditEntry.object_id == key),
        )
    return false()


def actor_forms(text: str) -> list[str]:
    """The actors the auditor may mean by `text`: itself, or a username or API client id."""
    return [text, f"user:{text}", f"client:{text}"]


def conditions(session: Session, filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.person:
        found.append(person_clause(session, filters.person))
    if filters.actor:
        found.append(AuditEntry.actor.in_(actor_forms(filters.actor)))
    if filters.unit:
        found.append(unit_clause(filters.unit))
    if filters.action:
        found.append(AuditEntry.action == filters.action)
    if filters.date_from:
        found.append(AuditEntry.at >= start_of_day_utc(filters.date_from))
    if filters.date_to:
        found.append(AuditEntry.at < start_of_day_utc(filters.date_to + dt.timedelta(days=1)))
    return found


def count(session: Session, filters: Filters) -> int:
    where = conditions(session, filters)
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)


def search(session: Session, filters: Filters, *, offset: int, limit: int) -> list[AuditEntry]:
    """Return the entries matching `filters`, newest first, `limit` from `offset`."""
    query = (select(AuditEntry).where(*conditions(session, filters))
             .order_by(AuditEntry.seq.desc()).offset(offset).limit(limit))
    return list(session.scalars(query))


# --- the words around the entries -----------------------------------------------------------


def user_names(session: Session, entries: Sequence[AuditEntry]) -> dict[str, str]:
    """Return {username: display name} of the users acting in `entries`."""
    return display_names(session, [entry.actor for entry in entries])


def unit_options(session: Session) -> list[tuple[str, str]]:
    """Return (value, label) of every sender unit and VC, for the unit filter."""
    senders = session.execute(select(SenderUnit.id, SenderUnit.name).order_by(SenderUnit.name))
    cares = session.execute(select(CareUnit.hsa_id, CareUnit.name).order_by(CareUnit.name))
    return ([(f"{SENDER_UNIT}:{id_}", f"Avsändarenhet: {name}") for id_, name in senders]
            + [(f"{CARE_UNIT}:{hsa}", f"Vårdcentral: {name} ({hsa})") for hsa, name in cares])


def actor_units(session: Session, entries: Sequence[AuditEntry]) -> dict[int, str]:
    """Return {seq: the unit the actor acted for} where it is known: a case worker's sender
    unit, or for a REKO the VC of the inquiry the entry is about."""
    users = {entry.actor.partition(":")[2] for entry in entries if entry.actor.startswith("user:")}
    inquiry_ids = {entry.object_id for entry in entries if entry.object_type == "inquiry"}
    roles: dict[str, tuple[Role, str]] = {}
    if users:
        people = session.execute(select(User.username, User.role, SenderUnit.name)
                                 .outerjoin(SenderUnit, SenderUnit.id == User.sender_unit_id)
                                 .where(User.username.in_(users)))
        roles = {username: (role, unit or "") for username, role, unit in people}
    care_units: dict[str, str] = {}
    if inquiry_ids:
        inquiries = session.execute(select(Inquiry.id, CareUnit.name)
                                    .join(CareUnit, CareUnit.id == Inquiry.care_unit_id)
                                    .where(Inquiry.id.in_(inquiry_ids)))
        care_units = {inquiry_id: name for inquiry_id, name in inquiries}
    found = {}
    for entry in entries:
        if not entry.actor.startswith("user:"):
            continue
        role, unit = roles.get(entry.actor.partition(":")[2], (None, ""))
        if role is Role.COORDINATOR:
            unit = care_units.get(entry.object_id, "") if entry.object_type == "inquiry" else ""
        if unit:
            found[entry.seq] = unit
    return found


# --- the chain ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainState:
    """The chain's head, its latest anchor, how many entries came after it, and the latest
    verification (an audit.verify entry), all read without walking the chain."""

    head: Head | None
    anchor: AuditAnchor | None
    last_check: AuditEntry | None

    @property
    def entries(self) -> int:
        return self.head.seq if self.head else 0

    @property
    def unanchored(self) -> int:
        return self.entries - (self.anchor.seq if self.anchor else 0)


def chain_state(session: Session) -> ChainState:
    last_check = session.scalars(select(AuditEntry).where(AuditEntry.action == VERIFY_ACTION)
                                 .order_by(AuditEntry.seq.desc()).limit(1)).first()
    return ChainState(read_head(session), latest_anchor(session), last_check)


def verify_chain(session: Session, app: Flask, *, actor: str,
                 purpose: str) -> tuple[ChainReport, AnchorReport]:
    """Walk the whole chain and check the anchors (as `gateway audit verify` does), record the
    verdict as the auditor's audit.verify entry in the caller's transaction, and return it."""
    report = verify(session)
    anchors = verify_anchors(session, app)
    record(session, actor=actor, action=VERIFY_ACTION, object_type="audit_log", detail={
        "ok": report.ok, "checked": report.checked, "first_broken": report.first_broken,
        "anchors_ok": anchors.ok, "anchors_checked": anchors.checked,
        "purpose": purpose, "channel": "web",
    })
    return report, anchors
