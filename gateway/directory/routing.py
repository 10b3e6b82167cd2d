"""Routing: which functional address and which REKOs receive an inquiry to a care unit on a date.

The intake calls `route()` for every inquiry and records the decision (its code and reason) in
the `routed` leg; the route preview (DESIGN 5.4) shows the same decision. Refusals:

- unknown care unit: 404 `UNKNOWN_CARE_UNIT`;
- care unit known but not connected: 422 `CARE_UNIT_NOT_CONNECTED`, with the unit's contact
  details in the problem (`care_unit`), so the case worker can phone or post instead. 422, not
  409: the request is well formed but names a recipient the gateway cannot deliver to, and no
  retry of the same request will change that (409 would suggest a state the sender can resolve).

No active REKO is not a refusal: the inquiry still goes to the unit's functional address, the
unit's manager is told (`manager_email`), and the decision carries the flag `NO_ACTIVE_REKO` for
the admin dashboard and the receipt to the sender.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gateway import codes
from gateway.directory.cache import DirectoryView, directory_view
from gateway.directory.identifiers import check_hsa_id
from gateway.directory.models import Absence, Assignment, AssignmentRole, CareUnit
from gateway.directory.service import (
    DirectoryError,
    absences_on,
    active_assignments,
    care_unit_by_hsa_id,
)

PRIMARY = "PRIMARY"
DEPUTY_COVERS_ABSENCE = "DEPUTY_COVERS_ABSENCE"
DEPUTY_NO_PRIMARY = "DEPUTY_NO_PRIMARY"
NO_ACTIVE_REKO_MANAGER = "NO_ACTIVE_REKO_MANAGER"
FLAG_NO_ACTIVE_REKO = "NO_ACTIVE_REKO"

@dataclass(frozen=True)
class RoutedCoordinator:
    """A REKO who receives the inquiry, and why."""

    hsa_id: str
    name: str
    email: str
    role: str
    why: str


@dataclass(frozen=True)
class RouteDecision:
    """Who receives an inquiry to one care unit on one date, with a machine code and a reason."""

    care_unit_hsa_id: str
    care_unit_name: str
    functional_address: str
    on: dt.date
    coordinators: tuple[RoutedCoordinator, ...]
    code: str
    reason: str
    manager_email: str | None = None
    flags: tuple[str, ...] = field(default=())

    def leg_detail(self) -> dict[str, Any]:
        """Return what the `routed` leg records: the decision without names or e-mail addresses."""
        return {
            "care_unit": self.care_unit_hsa_id,
            "functional_address": self.functional_address,
            "date": self.on.isoformat(),
            "code": self.code,
            "reason": self.reason,
            "coordinators": [{"hsa_id": c.hsa_id, "role": c.role} for c in self.coordinators],
            "flags": list(self.flags),
        }


def route_preview_json(decision: RouteDecision) -> dict[str, Any]:
    """Return the route preview of DESIGN 5.4 (plus the date, code and flags)."""
    return {
        "care_unit": decision.care_unit_hsa_id,
        "functional_address": decision.functional_address,
        "coordinators": [
            {"hsa_id": c.hsa_id, "name": c.name, "role": c.role} for c in decision.coordinators
        ],
        "reason": decision.reason,
        "care_unit_name": decision.care_unit_name,
        "date": decision.on.isoformat(),
        "code": decision.code,
        "flags": list(decision.flags),
    }


def _span(absence: Absence) -> str:
    return f"{absence.starts_on.isoformat()}–{absence.ends_on.isoformat()}"


def _unit_or_refuse(session: Session, hsa_id: str) -> CareUnit:
    if check_hsa_id(hsa_id) is not None:
        raise DirectoryError.at(
            codes.INVALID_HSA_ID, f"{hsa_id[:40]!r} är inte ett HSA-id.", status=400,
        )
    unit = care_unit_by_hsa_id(session, hsa_id)
    if unit is None:
        raise DirectoryError.at(
            codes.UNKNOWN_CARE_UNIT, f"Ingen vårdcentral med HSA-id {hsa_id} finns i katalogen.",
            status=404,
        )
    if not unit.connected or unit.functional_address is None:
        raise not_connected(unit)
    return unit


def not_connected(unit: CareUnit) -> DirectoryError:
    """The refusal for a unit outside the model, carrying what the directory has to reach it by:
    `manager_email`, and `contact` where the directory holds one."""
    care_unit: dict[str, str | None] = {
        "hsa_id": unit.hsa_id,
        "name": unit.name,
        "organisation": unit.organisation_id,
        "manager_email": unit.manager_email,
    }
    if unit.contact:
        care_unit["contact"] = unit.contact
    reachable = [value for value in (unit.contact, unit.manager_email) if value]
    contact = ", ".join(reachable) or "kontaktuppgifter saknas i katalogen"
    return DirectoryError.at(
        codes.CARE_UNIT_NOT_CONNECTED,
        f"{unit.name} ({unit.hsa_id}) tar inte emot hälsoförfrågningar digitalt. "
        f"Kontakta vårdcentralen på annat sätt: {contact}",
        status=422,
        extra={"care_unit": care_unit},
    )


def _present(
    assignments: list[Assignment], absences: dict[int, Absence]
) -> tuple[list[Assignment], list[Assignment], list[Assignment]]:
    """Split into present primaries, present deputies and absent REKOs (one row per REKO)."""
    seen: set[int] = set()
    primaries, deputies, absent = [], [], []
    for a in assignments:  # primaries come first, so a REKO listed twice counts as primary
        if a.coordinator_id in seen:
            continue
        seen.add(a.coordinator_id)
        if a.coordinator_id in absences:
            absent.append(a)
        elif a.role == AssignmentRole.PRIMARY:
            primaries.append(a)
        else:
            deputies.append(a)
    return primaries, deputies, absent


def _routed(a: Assignment, why: str) -> RoutedCoordinator:
    c = a.coordinator
    return RoutedCoordinator(c.hsa_id, c.name, c.email, a.role.value, why)


def route(session: Session, care_unit_hsa_id: str, on: dt.date,
          view: DirectoryView | None = None) -> RouteDecision:
    """Decide who receives an inquiry to the care unit on `on` (all dates inclusive), in the
    directory `view` (by default: as the session sees it now), where each decision is made once
    per directory version (gateway.directory.cache).

    Present primaries come first, then present deputies; an absent primary is skipped and the
    reason says who covers. Raises DirectoryError for a malformed HSA-id (400), an unknown unit
    (404) and a unit that is not connected (422).
    """
    view = view if view is not None else directory_view(session)
    return view.cached(("route", care_unit_hsa_id, on),
                       lambda: _decide(session, care_unit_hsa_id, on))


def _decide(session: Session, care_unit_hsa_id: str, on: dt.date) -> RouteDecision:
    unit = _unit_or_refuse(session, care_unit_hsa_id)
    assignments = active_assignments(session, unit, on)
    absences = absences_on(session, [a.coordinator_id for a in assignments], on)
    primaries, deputies, absent = _present(assignments, absences)
    code, reason = _reason(unit, on, primaries, deputies, absent, absences)
    if primaries:
        why_deputy = "ersättare"
    elif any(a.role == AssignmentRole.PRIMARY for a in absent):
        why_deputy = "ersättare, täcker för frånvarande primär REKO"
    else:
        why_deputy = "ersättare, ingen primär REKO tilldelad"
    coordinators = [_routed(a, AssignmentRole.PRIMARY.label) for a in primaries]
    coordinators += [_routed(a, why_deputy) for a in deputies]
    assert unit.functional_address is not None
    return RouteDecision(
        care_unit_hsa_id=unit.hsa_id,
        care_unit_name=unit.name,
        functional_address=unit.functional_address.address,
        on=on,
        coordinators=tuple(coordinators),
        code=code,
        reason=reason,
        manager_email=unit.manager_email,
        flags=() if coordinators else (FLAG_NO_ACTIVE_REKO,),
    )


def _names(assignments: list[Assignment]) -> str:
    return ", ".join(a.coordinator.name for a in assignments)


def _reason(
    unit: CareUnit,
    on: dt.date,
    primaries: list[Assignment],
    deputies: list[Assignment],
    absent: list[Assignment],
    absences: dict[int, Absence],
) -> tuple[str, str]:
    """Return the decision's code and its reason in Swedish."""
    day = on.isoformat()
    if primaries:
        return PRIMARY, f"{_names(primaries)} är primär REKO för {unit.name} {day}."
    absent_primaries = [a for a in absent if a.role == AssignmentRole.PRIMARY]

    def away(rows: list[Assignment]) -> str:
        return "; ".join(
            f"{a.coordinator.name} är frånvarande {_span(absences[a.coordinator_id])}" for a in rows
        )

    if deputies and absent_primaries:
        return DEPUTY_COVERS_ABSENCE, (
            f"Primär REKO för {unit.name} är frånvarande {day} ({away(absent_primaries)}); "
            f"ersättare {_names(deputies)} täcker."
        )
    if deputies:
        return DEPUTY_NO_PRIMARY, (
            f"Ingen primär REKO är tilldelad {unit.name} {day}; "
            f"ersättare {_names(deputies)} tar emot."
        )
    manager = unit.manager_email or "vårdcentralens chef"
    why = (
        f"alla tilldelade REKO är frånvarande ({away(absent)})"
        if absent
        else "ingen REKO är tilldelad"
    )
    return NO_ACTIVE_REKO_MANAGER, (
        f"Ingen aktiv REKO för {unit.name} {day}: {why}. "
        f"Förfrågan levereras till vårdcentralens funktionsadress och chefen ({manager}) meddelas."
    )
