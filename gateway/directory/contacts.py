"""Who to call at each VC on a day: every connected care unit's primary REKOs and deputies with
phone, e-mail and absence, from the directory in a fixed number of queries (the REKO list that
replaces the SharePoint page, and the web form's recipient)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gateway.directory.models import AssignmentRole
from gateway.directory.service import absences_on, assignments_on, connected_care_units


@dataclass(frozen=True)
class RekoContact:
    """A REKO as the list shows them: `away_until` is the last day of an absence covering the
    day asked about (None: present)."""

    name: str
    hsa_id: str
    phone: str | None
    email: str
    away_until: dt.date | None = None

    @property
    def present(self) -> bool:
        return self.away_until is None


@dataclass(frozen=True)
class UnitContacts:
    """One care unit and its REKOs on the day, primaries and deputies each in directory order."""

    name: str
    hsa_id: str
    manager_email: str | None
    primaries: list[RekoContact] = field(default_factory=list)
    deputies: list[RekoContact] = field(default_factory=list)

    def matches(self, search: str) -> bool:
        """Return whether the unit's name or HSA-id contains `search` (any case; all match an
        empty one). Done here, not in SQL: SQLite's lower() leaves å, ä, ö as they are."""
        wanted = search.strip().casefold()
        return not wanted or wanted in self.name.casefold() or wanted in self.hsa_id.casefold()

    @property
    def reachable(self) -> RekoContact | None:
        """Return whom to call: the first present primary, else the first present deputy."""
        return next((c for c in [*self.primaries, *self.deputies] if c.present), None)


def unit_contacts(session: Session, on: dt.date) -> list[UnitContacts]:
    """Return the connected care units by name, each with its REKOs in force on `on`.

    A fixed number of queries whatever the number of units: the units; the day's assignments
    with their REKOs and units; the REKOs' absences.
    """
    units = connected_care_units(session)
    listed = {unit.id: UnitContacts(unit.name, unit.hsa_id, unit.manager_email)
              for unit in units}
    assignments = [a for a in assignments_on(session, on) if a.care_unit_id in listed]
    away = absences_on(session, sorted({a.coordinator_id for a in assignments}), on)
    for assignment in assignments:
        person = assignment.coordinator
        absence = away.get(person.id)
        contact = RekoContact(person.name, person.hsa_id, person.phone, person.email,
                              absence.ends_on if absence is not None else None)
        entry = listed[assignment.care_unit_id]
        group = entry.primaries if assignment.role == AssignmentRole.PRIMARY else entry.deputies
        if all(c.hsa_id != contact.hsa_id for c in group):
            group.append(contact)
    return list(listed.values())


def contacts_of(session: Session, hsa_id: str, on: dt.date) -> UnitContacts | None:
    """Return one care unit's contacts on `on`, or None when it is not a connected unit."""
    return next((u for u in unit_contacts(session, on) if u.hsa_id == hsa_id), None)
