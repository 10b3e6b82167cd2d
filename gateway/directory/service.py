"""The directory service: entities as plain records, their history, export and shared lookups.

Every entity has a *record*: the dict that the JSON format of DESIGN 5.6 holds for it (dates
as ISO strings). Import, export, history (`DirectoryChange.before/after`) and, later, the HTTP
read API and the admin UI all speak records, so one shape serves every edge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session, selectinload

# Re-exported for the directory's callers (Swedish time lives in forms.dates).
from forms.dates import STOCKHOLM as STOCKHOLM
from forms.dates import stockholm_today as stockholm_today
from gateway.audit.service import record as audit_record
from gateway.db import AnySelect
from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    CoordinatorCertificate,
    DirectoryChange,
    FunctionalAddress,
    Organisation,
    SenderUnit,
)
from gateway.errors import GatewayError

Record = dict[str, Any]
Key = tuple[str, ...]

# The sections of the JSON file in the order they depend on each other.
SECTIONS = (
    "organisations",
    "functional_addresses",
    "care_units",
    "coordinators",
    "sender_units",
    "assignments",
    "absences",
)

# The entity name written to DirectoryChange and the audit log, per section.
ENTITY = {
    "organisations": "organisation",
    "functional_addresses": "functional_address",
    "care_units": "care_unit",
    "coordinators": "coordinator",
    "sender_units": "sender_unit",
    "assignments": "assignment",
    "absences": "absence",
}

# The natural key of each section: how a file entry finds its row.
KEYS: dict[str, tuple[str, ...]] = {
    "organisations": ("id",),
    "functional_addresses": ("address",),
    "care_units": ("hsa_id",),
    "coordinators": ("hsa_id",),
    "sender_units": ("name",),
    "assignments": ("coordinator", "care_unit", "role", "valid_from"),
    "absences": ("coordinator", "starts_on"),
}

# Keys left out of an exported record when they hold nothing (the format's optional extras).
OMIT_WHEN_EMPTY = {
    "organisations": ("endpoint", "signing_certificate", "encryption_certificate"),
    "care_units": ("contact",),
    "coordinators": ("certificate_fingerprints",),
}


class DirectoryError(GatewayError):
    """A refusal by the directory: an invalid file, an unknown entry, an impossible change."""


def key_of(section: str, record: Record) -> Key:
    return tuple(str(record.get(name, "")) for name in KEYS[section])


def key_text(key: Key) -> str:
    return "/".join(key)


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def organisation_record(org: Organisation) -> Record:
    return {
        "id": org.id,
        "name": org.name,
        "endpoint": org.endpoint,
        "signing_certificate": org.signing_certificate,
        "encryption_certificate": org.encryption_certificate,
    }


def address_record(address: FunctionalAddress) -> Record:
    return {
        "address": address.address,
        "organisation": address.organisation_id,
        "label": address.label,
    }


def care_unit_record(unit: CareUnit) -> Record:
    return {
        "hsa_id": unit.hsa_id,
        "name": unit.name,
        "organisation": unit.organisation_id,
        "connected": unit.connected,
        "functional_address": unit.functional_address.address if unit.functional_address else None,
        "manager_email": unit.manager_email,
        "contact": unit.contact,
    }


def coordinator_record(coordinator: Coordinator) -> Record:
    return {
        "hsa_id": coordinator.hsa_id,
        "name": coordinator.name,
        "email": coordinator.email,
        "phone": coordinator.phone,
        "certificate_fingerprints": sorted(c.fingerprint for c in coordinator.certificates),
    }


def sender_unit_record(unit: SenderUnit) -> Record:
    return {
        "name": unit.name,
        "organisation": unit.organisation_id,
        "kind": unit.kind.value,
        "functional_address": unit.functional_address.address,
    }


def assignment_record(assignment: Assignment) -> Record:
    return {
        "coordinator": assignment.coordinator.hsa_id,
        "care_unit": assignment.care_unit.hsa_id,
        "role": assignment.role.value,
        "valid_from": assignment.valid_from.isoformat(),
        "valid_to": _iso(assignment.valid_to),
    }


def absence_record(absence: Absence) -> Record:
    return {
        "coordinator": absence.coordinator.hsa_id,
        "starts_on": absence.starts_on.isoformat(),
        "ends_on": absence.ends_on.isoformat(),
        "note": absence.note,
    }


@dataclass(frozen=True)
class SectionKind:
    """How to load one section's rows and turn a row into its record."""

    model: type[Any]
    to_record: Callable[[Any], Record]
    options: tuple[Any, ...] = ()


SECTION_KINDS: dict[str, SectionKind] = {
    "organisations": SectionKind(Organisation, organisation_record),
    "functional_addresses": SectionKind(FunctionalAddress, address_record),
    "care_units": SectionKind(
        CareUnit, care_unit_record, (selectinload(CareUnit.functional_address),)
    ),
    "coordinators": SectionKind(
        Coordinator, coordinator_record, (selectinload(Coordinator.certificates),)
    ),
    "sender_units": SectionKind(
        SenderUnit, sender_unit_record, (selectinload(SenderUnit.functional_address),)
    ),
    "assignments": SectionKind(
        Assignment,
        assignment_record,
        (selectinload(Assignment.coordinator), selectinload(Assignment.care_unit)),
    ),
    "absences": SectionKind(Absence, absence_record, (selectinload(Absence.coordinator),)),
}


@dataclass
class DirectoryState:
    """The whole directory loaded at once (it is small): rows and records by natural key."""

    rows: dict[str, dict[Key, Any]]
    records: dict[str, dict[Key, Record]]


def load_state(session: Session) -> DirectoryState:
    """Load every directory row, keyed by section and natural key."""
    rows: dict[str, dict[Key, Any]] = {}
    records: dict[str, dict[Key, Record]] = {}
    for section in SECTIONS:
        kind = SECTION_KINDS[section]
        rows[section], records[section] = {}, {}
        for row in session.scalars(select(kind.model).options(*kind.options)):
            rec = kind.to_record(row)
            key = key_of(section, rec)
            rows[section][key] = row
            records[section][key] = rec
    return DirectoryState(rows, records)


def exported(section: str, record: Record) -> Record:
    """Return the record as the file holds it: optional extras only when they carry a value."""
    omit = OMIT_WHEN_EMPTY.get(section, ())
    return {k: v for k, v in record.items() if not (k in omit and v in (None, [], ""))}


def _sort_key(section: str, record: Record) -> tuple[Any, ...]:
    if section == "assignments":
        role_order = 0 if record["role"] == AssignmentRole.PRIMARY.value else 1
        return (record["care_unit"], role_order, record["valid_from"], record["coordinator"])
    return key_of(section, record)


def export_directory(session: Session) -> dict[str, list[Record]]:
    """Return the whole directory in the JSON format of DESIGN 5.6, in a stable order."""
    state = load_state(session)
    result: dict[str, list[Record]] = {}
    for section in SECTIONS:
        records = sorted(state.records[section].values(), key=partial(_sort_key, section))
        result[section] = [exported(section, rec) for rec in records]
    return result


def changed_fields(before: Record | None, after: Record | None) -> list[str]:
    """Return the names of the fields that differ between two records (all of them on create)."""
    names = list((after or before or {}).keys())
    return [n for n in names if (before or {}).get(n) != (after or {}).get(n)]


def record_change(
    session: Session,
    *,
    actor: str,
    section: str,
    key: Key,
    action: str,
    before: Record | None,
    after: Record | None,
) -> DirectoryChange:
    """Write one history row and its audit entry in the caller's transaction."""
    entity = ENTITY[section]
    change = DirectoryChange(
        actor=actor,
        entity=entity,
        entity_key=key_text(key),
        action=action,
        before=exported(section, before) if before is not None else None,
        after=exported(section, after) if after is not None else None,
    )
    session.add(change)
    # The audit log names the fields only; the values (names, e-mails) stay in the history.
    audit_record(
        session,
        actor=actor,
        action=f"directory.{action}",
        object_type=entity,
        object_id=key_text(key),
        detail={"fields": changed_fields(before, after)},
    )
    return change


def history(
    session: Session, *, limit: int = 50, entity: str | None = None, key: str | None = None
) -> list[DirectoryChange]:
    """Return the newest changes first, optionally for one entity type and/or natural key."""
    query = select(DirectoryChange).order_by(DirectoryChange.id.desc()).limit(limit)
    if entity:
        query = query.where(DirectoryChange.entity == entity)
    if key:
        query = query.where(DirectoryChange.entity_key == key)
    return list(session.scalars(query))


def history_count(session: Session, *, entity: str | None = None) -> int:
    """Return how many changes `history` could show (for "Visar X av Y")."""
    query = select(func.count()).select_from(DirectoryChange)
    if entity:
        query = query.where(DirectoryChange.entity == entity)
    return session.scalar(query) or 0


def connected_care_units(session: Session) -> list[CareUnit]:
    """Return the care units that are part of the model (`connected`), by name: those an
    inquiry may go to."""
    return list(session.scalars(
        select(CareUnit).where(CareUnit.connected.is_(True)).order_by(CareUnit.name)
    ))


def care_unit_by_hsa_id(session: Session, hsa_id: str) -> CareUnit | None:
    return session.scalar(_care_unit_by_hsa_id(select(CareUnit), hsa_id))


def sender_unit_by_address(session: Session, address: str) -> SenderUnit | None:
    """Return the sender unit whose functional address is `address` (the intake's sender check)."""
    return session.scalar(_sender_unit_by_address(select(SenderUnit), address))


def care_unit_id_of(hsa_id: Any) -> ScalarSelect[int]:
    """The id of the care unit `care_unit_by_hsa_id` finds, as a scalar subquery (NULL where
    there is none); `hsa_id` a value or a bound parameter."""
    return _care_unit_by_hsa_id(select(CareUnit.id), hsa_id).scalar_subquery()


def sender_unit_id_of(address: Any) -> ScalarSelect[int]:
    """The id of the sender unit `sender_unit_by_address` finds, as a scalar subquery."""
    return _sender_unit_by_address(select(SenderUnit.id), address).scalar_subquery()


def _care_unit_by_hsa_id(query: AnySelect, hsa_id: Any) -> AnySelect:
    return query.where(CareUnit.hsa_id == hsa_id)


def _sender_unit_by_address(query: AnySelect, address: Any) -> AnySelect:
    # Two sender units may share an address (the directory refuses only a care unit and a
    # sender unit sharing one): the first, every time, and one row for a scalar subquery.
    return (query.join(SenderUnit.functional_address).where(FunctionalAddress.address == address)
            .order_by(SenderUnit.id).limit(1))


def active_assignments(session: Session, unit: CareUnit, on: dt.date) -> list[Assignment]:
    """Return the unit's assignments valid on `on` (both ends inclusive), primaries first."""
    query = (
        select(Assignment)
        .options(selectinload(Assignment.coordinator))
        .where(Assignment.care_unit_id == unit.id, Assignment.active_on(on))
    )
    rows = list(session.scalars(query))
    rows.sort(key=lambda a: (a.role != AssignmentRole.PRIMARY, a.valid_from, a.coordinator.hsa_id))
    return rows


def assignments_on(
    session: Session, on: dt.date, *, coordinator_id: int | None = None
) -> list[Assignment]:
    """Return the assignments in force on `on` (of one REKO, when `coordinator_id` is given),
    with their REKO and care unit loaded, in the export's order (by unit, primaries first)."""
    query = (
        select(Assignment)
        .options(selectinload(Assignment.coordinator), selectinload(Assignment.care_unit))
        .where(Assignment.active_on(on))
    )
    if coordinator_id is not None:
        query = query.where(Assignment.coordinator_id == coordinator_id)
    rows = list(session.scalars(query))
    rows.sort(key=lambda a: (a.care_unit.hsa_id, a.role != AssignmentRole.PRIMARY, a.valid_from,
                             a.coordinator.hsa_id))
    return rows


def covered_units(session: Session, coordinator_id: int | None, on: dt.date) -> list[CareUnit]:
    """Return the care units a REKO covers on `on` (as primary or deputy), by name; none for a
    user who is no REKO (`coordinator_id` None)."""
    if coordinator_id is None:
        return []
    units = {a.care_unit.id: a.care_unit
             for a in assignments_on(session, on, coordinator_id=coordinator_id)}
    return sorted(units.values(), key=lambda unit: unit.name)


def absences_on(session: Session, coordinator_ids: list[int], on: dt.date) -> dict[int, Absence]:
    """Return, per coordinator id, an absence covering `on` (both ends inclusive)."""
    if not coordinator_ids:
        return {}
    query = select(Absence).where(
        Absence.coordinator_id.in_(coordinator_ids), Absence.starts_on <= on, Absence.ends_on >= on
    )
    return {a.coordinator_id: a for a in session.scalars(query.order_by(Absence.starts_on))}


def coordinator_for_certificate(
    session: Session, *, serial_number: str | None = None, fingerprint: str | None = None
) -> Coordinator | None:
    """Return the REKO a signing certificate identifies (P4): by registered fingerprint, then by
    the HSA-id in the subject serialNumber."""
    if fingerprint:
        found = session.scalar(
            select(Coordinator)
            .join(Coordinator.certificates)
            .where(CoordinatorCertificate.fingerprint == fingerprint.replace(":", "").lower())
        )
        if found is not None:
            return found
    if serial_number:
        return session.scalar(select(Coordinator).where(Coordinator.hsa_id == serial_number))
    return None
