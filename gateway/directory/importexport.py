"""Directory import (validate everything, then apply in one transaction) and export as JSON.

The format is DESIGN 5.6 plus, so that export then import is lossless: a section
`functional_addresses` (`address`, `organisation`, `label`), a section `absences`
(`coordinator`, `starts_on`, `ends_on`, `note`: a deputy covers), and the keys
`certificate_fingerprints` (SHA-256, hex) on coordinators and the optional `contact` (how to
reach a unit that is not connected, beside its `manager_email`) on care units. Export writes
these extras only when they hold something.
Addresses a unit names but the file does not list are created, owned by the organisation the
address ends in, labelled with the unit's name; an address ending in another organisation's
id than its unit's is an error.

Semantics, documented for the directory keeper:

- An import is an upsert keyed by natural keys: organisation id, functional address, the
  HSA-ids of care units and coordinators, sender unit name, assignment (coordinator, care unit,
  role, valid_from) and absence (coordinator, starts_on).
- An optional key left out of an entry keeps the stored value (new entity: its default); `null`
  clears it. So a hand-written file in the minimal shape of DESIGN 5.6 never wipes the extras
  (contact, certificate fingerprints, labels, peer-gateway certificates).
- By default entries missing from the file are kept (merge). With `replace=True` the file is the
  whole directory and everything else is removed; a removal that something outside the directory
  still uses (an inquiry, an account, an API client) refuses the whole import. History of a
  removed entry stays in `DirectoryChange`.
- Nothing is written unless the whole file is valid; every error is named with its JSON path.
  Importing the same file twice changes nothing: no history rows, no audit entries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import codes
from gateway.directory import identifiers as ids
from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    CoordinatorCertificate,
    FunctionalAddress,
    Organisation,
    SenderKind,
    SenderUnit,
)
from gateway.directory.service import (
    ENTITY,
    SECTIONS,
    DirectoryError,
    DirectoryState,
    Key,
    Record,
    changed_fields,
    export_directory,
    key_text,
    load_state,
    record_change,
)
from gateway.directory.validation import Entry, Problems, defaults, parse_json, read_document
from gateway.errors import Issue

PEER_KEYS = ("endpoint", "signing_certificate", "encryption_certificate")


@dataclass(frozen=True)
class PlannedChange:
    """One change an import makes (or, in a dry run, would make)."""

    section: str
    key: Key
    action: str  # create | update | delete
    fields: tuple[str, ...]

    def describe(self) -> str:
        what = f"{self.action} {ENTITY[self.section]} {key_text(self.key)}"
        return what + (f" ({', '.join(self.fields)})" if self.action == "update" else "")


@dataclass(frozen=True)
class ImportResult:
    """What an import changed; empty when the directory already matched the file."""

    changes: tuple[PlannedChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        if not self.changes:
            return "nothing changed"
        return (
            f"{self.count('create')} created, {self.count('update')} updated, "
            f"{self.count('delete')} removed"
        )


def invalid_file(issues: list[Issue], source: str) -> DirectoryError:
    return DirectoryError.at(
        codes.INVALID_DIRECTORY, f"{len(issues)} fel i {source}; ingenting ändrades",
        status=422, issues=issues,
    )


class Plan:
    """The directory as it will be after the import, with where in the file each entry came from."""

    def __init__(self, state: DirectoryState, entries: list[Entry], replace: bool) -> None:
        self.state = state
        self.replace = replace
        self.desired: dict[str, dict[Key, Record]] = {
            s: ({} if replace else dict(state.records[s])) for s in SECTIONS
        }
        self.origin: dict[str, dict[Key, Entry]] = {s: {} for s in SECTIONS}
        self.entries = entries

    def build(self, problems: Problems) -> None:
        for entry in self.entries:
            if entry.key is not None:
                self._take(entry, problems)
        self._derive_addresses()

    def _take(self, entry: Entry, problems: Problems) -> None:
        section, key = entry.section, entry.key
        assert key is not None
        first = self.origin[section].get(key)
        if first is not None:
            problems.add(entry.path, f"same key ({key_text(key)}) as {first.path}", "DUPLICATE")
            return
        base = self.state.records[section].get(key) or defaults(section)
        record = {**base, **entry.given}
        if section == "functional_addresses" and record.get("organisation") is None:
            record["organisation"] = ids.address_owner(record["address"])
        self.desired[section][key] = record
        self.origin[section][key] = entry

    def _derive_addresses(self) -> None:
        """Create the addresses units use but the file does not list (label: the unit's name)."""
        addresses = self.desired["functional_addresses"]
        for section in ("care_units", "sender_units"):
            for record in self.desired[section].values():
                address = record.get("functional_address")
                if not address or (address,) in addresses:
                    continue
                stored = self.state.records["functional_addresses"].get((address,))
                addresses[(address,)] = stored or {
                    "address": address,
                    "organisation": ids.address_owner(address),
                    "label": record.get("name") or "",
                }

    def file_records(self, section: str) -> list[tuple[Entry, Record]]:
        return [(e, self.desired[section][k]) for k, e in self.origin[section].items()]

    def has(self, section: str, key: str | None) -> bool:
        return key is not None and (key,) in self.desired[section]


def _check_organisations(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("organisations"):
        present = [k for k in PEER_KEYS if record.get(k)]
        if present and len(present) < len(PEER_KEYS):
            missing = ", ".join(k for k in PEER_KEYS if k not in present)
            problems.add(
                entry.path, f"a peer gateway needs all of {', '.join(PEER_KEYS)}; missing {missing}"
            )


def _check_addresses(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("functional_addresses"):
        owner = ids.address_owner(record["address"])
        if owner is None:
            problems.add(
                entry.at("address"),
                ids.check_functional_address(record["address"], "<org id>") or "",
            )
        elif record["organisation"] != owner:
            problems.add(
                entry.at("organisation"), f"{record['address']!r} belongs to organisation {owner}"
            )
        elif not plan.has("organisations", owner):
            problems.add(
                entry.at("address"), f"unknown organisation {owner!r}", "UNKNOWN_REFERENCE"
            )


def _check_unit_address(plan: Plan, entry: Entry, record: Record, problems: Problems) -> None:
    address, organisation = record.get("functional_address"), record.get("organisation")
    if not address or not organisation:
        return
    error = ids.check_functional_address(address, organisation)
    if error:
        problems.add(entry.at("functional_address"), error)
        return
    other = "sender_units" if entry.section == "care_units" else "care_units"
    for key, rec in plan.desired[other].items():
        if rec.get("functional_address") == address:
            holder = f"{ENTITY[other].replace('_', ' ')} {key_text(key)}"
            message = f"{address!r} is already the address of {holder}"
            problems.add(entry.at("functional_address"), message, "DUPLICATE")
            return


def _check_organisation_known(plan: Plan, entry: Entry, record: Record, problems: Problems) -> None:
    organisation = record.get("organisation")
    if organisation and not plan.has("organisations", organisation):
        problems.add(
            entry.at("organisation"), f"unknown organisation {organisation!r}", "UNKNOWN_REFERENCE"
        )


def _check_care_units(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("care_units"):
        _check_organisation_known(plan, entry, record, problems)
        if record["connected"]:
            for name in ("functional_address", "manager_email"):
                if record.get(name) is None:
                    problems.add(entry.at(name), "required when connected is true", "MISSING")
        _check_unit_address(plan, entry, record, problems)
        if plan.has("coordinators", record["hsa_id"]):
            problems.add(entry.at("hsa_id"), "the same HSA-id is a coordinator's", "DUPLICATE")


def _check_coordinators(plan: Plan, problems: Problems) -> None:
    owners: dict[str, Key] = {}
    for key, record in plan.desired["coordinators"].items():
        for fingerprint in record.get("certificate_fingerprints") or []:
            owners.setdefault(fingerprint, key)
    for entry, record in plan.file_records("coordinators"):
        for fingerprint in record.get("certificate_fingerprints") or []:
            owner = owners[fingerprint]
            if owner != entry.key:
                problems.add(
                    entry.at("certificate_fingerprints"),
                    f"fingerprint {fingerprint[:16]}… is also registered to {key_text(owner)}",
                    "DUPLICATE",
                )


def _check_sender_units(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("sender_units"):
        _check_organisation_known(plan, entry, record, problems)
        _check_unit_address(plan, entry, record, problems)


def _check_period(entry: Entry, record: Record, start: str, end: str, problems: Problems) -> None:
    if record.get(start) and record.get(end) and record[end] < record[start]:
        problems.add(entry.at(end), f"before {start} ({record[end]} < {record[start]})")


def _check_coordinator_known(plan: Plan, entry: Entry, record: Record, problems: Problems) -> None:
    if not plan.has("coordinators", record.get("coordinator")):
        problems.add(
            entry.at("coordinator"),
            f"unknown coordinator {record.get('coordinator')!r}",
            "UNKNOWN_REFERENCE",
        )


def _check_assignments(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("assignments"):
        _check_coordinator_known(plan, entry, record, problems)
        if not plan.has("care_units", record.get("care_unit")):
            problems.add(
                entry.at("care_unit"),
                f"unknown care unit {record.get('care_unit')!r}",
                "UNKNOWN_REFERENCE",
            )
        _check_period(entry, record, "valid_from", "valid_to", problems)


def _check_absences(plan: Plan, problems: Problems) -> None:
    for entry, record in plan.file_records("absences"):
        _check_coordinator_known(plan, entry, record, problems)
        _check_period(entry, record, "starts_on", "ends_on", problems)


CHECKS: tuple[Callable[[Plan, Problems], None], ...] = (
    _check_organisations,
    _check_addresses,
    _check_care_units,
    _check_coordinators,
    _check_sender_units,
    _check_assignments,
    _check_absences,
)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


class Applier:
    """Writes a valid plan: removals first (so keys can move), then creates and updates in order."""

    def __init__(self, session: Session, plan: Plan, actor: str) -> None:
        self.session = session
        self.plan = plan
        self.actor = actor
        self.rows = {s: dict(plan.state.rows[s]) for s in SECTIONS}
        self.changes: list[PlannedChange] = []
        self.writers: dict[str, Callable[[Any, Record], Any]] = {
            "organisations": self._organisation,
            "functional_addresses": self._address,
            "care_units": self._care_unit,
            "coordinators": self._coordinator,
            "sender_units": self._sender_unit,
            "assignments": self._assignment,
            "absences": self._absence,
        }

    def run(self) -> None:
        if self.plan.replace:
            self._remove_missing()
        self._release_fingerprints()
        for section in SECTIONS:
            for key, record in self.plan.desired[section].items():
                before = self.plan.state.records[section].get(key)
                if before != record:
                    self._write(section, key, before, record)
            self.session.flush()

    def _note(self, section: str, key: Key, before: Record | None, after: Record | None) -> None:
        action = "create" if before is None else "delete" if after is None else "update"
        fields = tuple(changed_fields(before, after)) if action == "update" else ()
        self.changes.append(PlannedChange(section, key, action, fields))
        record_change(
            self.session,
            actor=self.actor,
            section=section,
            key=key,
            action=action,
            before=before,
            after=after,
        )

    def _write(self, section: str, key: Key, before: Record | None, record: Record) -> None:
        row = self.writers[section](self.rows[section].get(key), record)
        if before is None:
            self.session.add(row)
            self.rows[section][key] = row
        self._note(section, key, before, record)

    def _remove_missing(self) -> None:
        problems = Problems()
        for section in reversed(SECTIONS):
            for key, before in self.plan.state.records[section].items():
                if key in self.plan.desired[section]:
                    continue
                try:
                    with self.session.begin_nested():
                        self.session.delete(self.rows[section][key])
                        self.session.flush()
                except IntegrityError:
                    problems.add(
                        f"{section} {key_text(key)}",
                        "still used by inquiries, accounts or API clients; cannot be removed"
                        + (" (set connected to false instead)" if section == "care_units" else ""),
                        "IN_USE",
                    )
                    continue
                self._note(section, key, before, None)
        if problems:
            raise DirectoryError.at(
                codes.DIRECTORY_ENTRIES_IN_USE,
                f"{len(problems.issues)} poster används; ingenting ändrades",
                status=409, issues=problems.issues,
            )

    def _release_fingerprints(self) -> None:
        """Drop fingerprints a coordinator loses before any are added (one may move to another)."""
        for key, record in self.plan.desired["coordinators"].items():
            row = self.rows["coordinators"].get(key)
            if row is None:
                continue
            keep = set(record.get("certificate_fingerprints") or [])
            for cert in list(row.certificates):
                if cert.fingerprint not in keep:
                    row.certificates.remove(cert)
        self.session.flush()

    def _organisation(self, row: Organisation | None, record: Record) -> Organisation:
        row = row or Organisation(id=record["id"])
        row.name = record["name"]
        for name in PEER_KEYS:
            setattr(row, name, record.get(name))
        return row

    def _address(self, row: FunctionalAddress | None, record: Record) -> FunctionalAddress:
        row = row or FunctionalAddress(address=record["address"])
        row.organisation_id = record["organisation"]
        row.label = record.get("label") or ""
        return row

    def _care_unit(self, row: CareUnit | None, record: Record) -> CareUnit:
        row = row or CareUnit(hsa_id=record["hsa_id"])
        address = record.get("functional_address")
        row.name = record["name"]
        row.organisation_id = record["organisation"]
        row.connected = record["connected"]
        row.functional_address = self.rows["functional_addresses"][(address,)] if address else None
        row.manager_email = record.get("manager_email")
        row.contact = record.get("contact")
        return row

    def _coordinator(self, row: Coordinator | None, record: Record) -> Coordinator:
        row = row or Coordinator(hsa_id=record["hsa_id"])
        row.name = record["name"]
        row.email = record["email"]
        row.phone = record.get("phone")
        held = {c.fingerprint for c in row.certificates}
        for fingerprint in record.get("certificate_fingerprints") or []:
            if fingerprint not in held:
                row.certificates.append(CoordinatorCertificate(fingerprint=fingerprint))
        return row

    def _sender_unit(self, row: SenderUnit | None, record: Record) -> SenderUnit:
        row = row or SenderUnit(name=record["name"])
        row.organisation_id = record["organisation"]
        row.kind = SenderKind(record["kind"])
        row.functional_address = self.rows["functional_addresses"][(record["functional_address"],)]
        return row

    def _assignment(self, row: Assignment | None, record: Record) -> Assignment:
        row = row or Assignment(
            coordinator=self.rows["coordinators"][(record["coordinator"],)],
            care_unit=self.rows["care_units"][(record["care_unit"],)],
            role=AssignmentRole(record["role"]),
            valid_from=_date(record["valid_from"]),
        )
        row.valid_to = _date(record.get("valid_to"))
        return row

    def _absence(self, row: Absence | None, record: Record) -> Absence:
        row = row or Absence(
            coordinator=self.rows["coordinators"][(record["coordinator"],)],
            starts_on=_date(record["starts_on"]),
        )
        ends_on = _date(record["ends_on"])
        assert ends_on is not None
        row.ends_on = ends_on
        row.note = record.get("note") or ""
        return row


def import_directory(
    session: Session,
    document: Any,
    *,
    actor: str,
    replace: bool = False,
    source: str = "the file",
    create: bool = False,
) -> ImportResult:
    """Validate `document` (parsed JSON) fully, then apply it in the caller's transaction.

    With `create` every entry of the document is new (an admin form's "add"): it is inserted,
    never merged into an entry with the same key, and such an entry is refused by the
    database's unique constraint, so two concurrent adds cannot both win.

    Raises DirectoryError (422 INVALID_DIRECTORY) naming every problem, 409
    DIRECTORY_ENTRY_EXISTS when `create` finds an entry's key taken, or 409 when an entry to
    remove is in use or the directory changed meanwhile; the session is then as it was before.
    The caller commits (or, for a dry run, rolls back).
    """
    problems = Problems()
    entries = read_document(document, problems)
    state = load_state(session)
    if create:
        state = _without(state, entries)
    plan = Plan(state, entries, replace)
    plan.build(problems)
    for check in CHECKS:
        check(plan, problems)
    if problems:
        raise invalid_file(problems.issues, source)
    applier = Applier(session, plan, actor)
    try:
        with session.begin_nested():
            applier.run()
    except IntegrityError:
        taken = _taken(session, entries) if create else []
        if taken:
            raise DirectoryError.at(
                codes.DIRECTORY_ENTRY_EXISTS,
                ", ".join(f"{e.path}: {key_text(e.key or ())}" for e in taken), status=409,
            ) from None
        raise DirectoryError.at(
            codes.DIRECTORY_CONFLICT,
            "Någon annan ändrade katalogen samtidigt; kör importen igen.", status=409,
        ) from None
    return ImportResult(tuple(applier.changes))


def _without(state: DirectoryState, entries: list[Entry]) -> DirectoryState:
    """Return the state as if the entries' keys were free, so that the entries are inserted."""
    keys = {(e.section, e.key) for e in entries if e.key is not None}
    return DirectoryState(
        {s: {k: v for k, v in rows.items() if (s, k) not in keys}
         for s, rows in state.rows.items()},
        {s: {k: v for k, v in records.items() if (s, k) not in keys}
         for s, records in state.records.items()},
    )


def _taken(session: Session, entries: list[Entry]) -> list[Entry]:
    """Return the entries whose key the directory holds (read after a refused insert)."""
    records = load_state(session).records
    return [e for e in entries if e.key is not None and e.key in records[e.section]]


def import_json(
    session: Session,
    raw: bytes | str,
    *,
    actor: str,
    replace: bool = False,
    source: str = "the file",
) -> ImportResult:
    """Parse `raw` as the directory's JSON and import it; bad JSON raises with line and column."""
    problems = Problems()
    document = parse_json(raw, problems)
    if problems:
        raise invalid_file(problems.issues, source)
    return import_directory(session, document, actor=actor, replace=replace, source=source)


def export_json(session: Session) -> str:
    """Return the whole directory as the JSON text `import_json` reads back unchanged."""
    return json.dumps(export_directory(session), ensure_ascii=False, indent=2) + "\n"


def remove_entry(session: Session, *, actor: str, section: str, key: Key) -> None:
    """Remove one entry (admin UI); raises 404 when unknown, 409 when something still uses it."""
    state = load_state(session)
    row = state.rows.get(section, {}).get(key)
    if row is None:
        raise DirectoryError.at(codes.DIRECTORY_ENTRY_NOT_FOUND, key_text(key), status=404)
    try:
        with session.begin_nested():
            session.delete(row)
            session.flush()
    except IntegrityError:
        raise DirectoryError.at(
            codes.DIRECTORY_ENTRY_IN_USE,
            f"{ENTITY[section]} {key_text(key)} används av andra poster.", status=409,
        ) from None
    record_change(
        session,
        actor=actor,
        section=section,
        key=key,
        action="delete",
        before=state.records[section][key],
        after=None,
    )
