"""`directory check`: a report of what in the directory needs the keeper's attention.

Errors (the check fails): a connected care unit with no REKO who can take an inquiry on the
date (none assigned, or every assigned REKO absent).
Warnings: assignments ending within 14 days, REKOs without a certificate identity, functional
addresses no unit uses, REKOs sharing an e-mail address, units with deputies but no primary.

Certificate identity: SITHS certificates (and the development PKI) carry the HSA-id in the
subject serialNumber, and answers are matched by it (P4), so by default every REKO has an
identity. Where signing certificates lack it, run with `require_fingerprints=True`
(`--require-fingerprints`): then a REKO with a current or coming assignment but no registered
fingerprint is reported.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    FunctionalAddress,
    SenderUnit,
)

ERROR = "error"
WARNING = "warning"
ENDING_WITHIN_DAYS = 14


@dataclass(frozen=True)
class Finding:
    """One thing the check found: its severity, a machine code, what it concerns, and a message."""

    severity: str
    code: str
    subject: str
    message: str
    # The same finding in Swedish, for the admin dashboard (the CLI stays in English).
    swedish: str = ""

    def line(self) -> str:
        return f"{self.severity}: {self.code}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """All findings for one date; `ok` is the verdict (no errors; warnings allowed)."""

    on: dt.date
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors


def _absent(absences: list[Absence], on: dt.date) -> bool:
    return any(x.starts_on <= on <= x.ends_on for x in absences)


def _coverage(
    units: list[CareUnit],
    by_unit: dict[int, list[Assignment]],
    absences: dict[int, list[Absence]],
    on: dt.date,
) -> list[Finding]:
    findings = []
    for unit in units:
        if not unit.connected:
            continue
        active = [a for a in by_unit.get(unit.id, []) if a.active_on(on)]
        present = [a for a in active if not _absent(absences.get(a.coordinator_id, []), on)]
        if not present:
            why = "every assigned REKO is absent" if active else "no REKO is assigned"
            why_sv = "alla tilldelade REKO är frånvarande" if active else "ingen REKO är tilldelad"
            findings.append(
                Finding(
                    ERROR,
                    "NO_ACTIVE_REKO",
                    unit.hsa_id,
                    f"{unit.name}: {why} on {on.isoformat()}; inquiries go to the manager",
                    f"{unit.name}: {why_sv} {on.isoformat()}; förfrågningar går till chefen",
                )
            )
        elif not any(a.role == AssignmentRole.PRIMARY for a in active):
            findings.append(
                Finding(
                    WARNING,
                    "NO_PRIMARY_REKO",
                    unit.hsa_id,
                    f"{unit.name}: only deputies are assigned on {on.isoformat()}",
                    f"{unit.name}: bara ersättare är tilldelade {on.isoformat()}",
                )
            )
    return findings


def _ending(assignments: list[Assignment], on: dt.date) -> list[Finding]:
    horizon = on + dt.timedelta(days=ENDING_WITHIN_DAYS)
    return [
        Finding(
            WARNING,
            "ASSIGNMENT_ENDING",
            f"{a.coordinator.hsa_id}/{a.care_unit.hsa_id}",
            f"{a.role.value} assignment of {a.coordinator.name} to {a.care_unit.name} "
            f"ends {a.valid_to.isoformat()}",
            f"Uppdraget för {a.coordinator.name} som {a.role.label} på {a.care_unit.name} "
            f"upphör {a.valid_to.isoformat()}",
        )
        for a in assignments
        if a.valid_to is not None and on <= a.valid_to <= horizon
    ]


def _identities(
    coordinators: list[Coordinator],
    assignments: list[Assignment],
    on: dt.date,
    require_fingerprints: bool,
) -> list[Finding]:
    if not require_fingerprints:
        return []
    current = {a.coordinator_id for a in assignments if a.valid_to is None or a.valid_to >= on}
    return [
        Finding(
            WARNING,
            "NO_CERTIFICATE_IDENTITY",
            c.hsa_id,
            f"{c.name} has no registered certificate fingerprint",
            f"{c.name} har inget registrerat certifikatfingeravtryck",
        )
        for c in coordinators
        if c.id in current and not c.certificates
    ]


def _unused_addresses(session: Session) -> list[Finding]:
    used = set(session.scalars(select(CareUnit.functional_address_id)))
    used |= set(session.scalars(select(SenderUnit.functional_address_id)))
    return [
        Finding(
            WARNING,
            "UNUSED_FUNCTIONAL_ADDRESS",
            fa.address,
            "no care unit or sender unit uses it",
            "ingen vårdcentral eller avsändande enhet använder adressen",
        )
        for fa in session.scalars(select(FunctionalAddress).order_by(FunctionalAddress.address))
        if fa.id not in used
    ]


def _duplicate_emails(coordinators: list[Coordinator]) -> list[Finding]:
    by_email: dict[str, list[str]] = defaultdict(list)
    for c in coordinators:
        by_email[c.email.lower()].append(c.hsa_id)
    return [
        Finding(
            WARNING,
            "DUPLICATE_EMAIL",
            email,
            f"shared by coordinators {', '.join(holders)}",
            f"samma e-postadress för REKO {', '.join(holders)}",
        )
        for email, holders in sorted(by_email.items())
        if len(holders) > 1
    ]


def check_directory(
    session: Session, on: dt.date, *, require_fingerprints: bool = False
) -> CheckReport:
    """Return every finding about the directory as of `on` (errors first)."""
    units = list(session.scalars(select(CareUnit).order_by(CareUnit.hsa_id)))
    coordinators = list(
        session.scalars(
            select(Coordinator)
            .options(selectinload(Coordinator.certificates))
            .order_by(Coordinator.hsa_id)
        )
    )
    assignments = list(
        session.scalars(
            select(Assignment)
            .options(selectinload(Assignment.coordinator), selectinload(Assignment.care_unit))
            .order_by(Assignment.valid_to, Assignment.id)
        )
    )
    by_unit: dict[int, list[Assignment]] = defaultdict(list)
    for a in assignments:
        by_unit[a.care_unit_id].append(a)
    absences: dict[int, list[Absence]] = defaultdict(list)
    for x in session.scalars(select(Absence)):
        absences[x.coordinator_id].append(x)
    findings = (
        _coverage(units, by_unit, absences, on)
        + _ending(assignments, on)
        + _identities(coordinators, assignments, on, require_fingerprints)
        + _unused_addresses(session)
        + _duplicate_emails(coordinators)
    )
    findings.sort(key=lambda f: f.severity != ERROR)
    return CheckReport(on, tuple(findings))
