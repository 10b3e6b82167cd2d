"""`directory check`: errors for units no REKO covers, warnings for what soon needs attention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from gateway.db import get_session
from gateway.directory.check import CheckReport, check_directory
from gateway.directory.importexport import import_directory, import_json
from gateway.directory.models import Assignment, Coordinator
from gateway.directory.service import assignments_on, covered_units

DEMO = Path(__file__).parents[1] / "gateway" / "directory" / "demo_directory.json"
DAY = dt.date(2025, 3, 10)
SKANE = "0203:skane.se"
K001, K002 = "SE2321000255-K001", "SE2321000255-K002"
ANNA, BERTIL = "SE2321000255-P001", "SE2321000255-P002"
ACTOR = "user:katalogansvarig"


def unit(hsa_id: str, slug: str) -> dict[str, Any]:
    return {
        "hsa_id": hsa_id,
        "name": f"Vårdcentralen {slug.title()}",
        "organisation": SKANE,
        "connected": True,
        "functional_address": f"sdk:reko-{slug}:{SKANE}",
        "manager_email": f"chef.{slug}@example.org",
    }


def base(**sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "organisations": [{"id": SKANE, "name": "Region Skåne"}],
        "care_units": [unit(K001, "kryddgarden")],
        "coordinators": [
            {"hsa_id": ANNA, "name": "Anna Rekosson", "email": "anna.rekosson@example.org"},
            {"hsa_id": BERTIL, "name": "Bertil Exempelsson", "email": "bertil@example.org"},
        ],
        "assignments": [
            {
                "coordinator": ANNA,
                "care_unit": K001,
                "role": "primary",
                "valid_from": "2024-09-01",
                "valid_to": None,
            }
        ],
    }
    doc.update(sections)
    return doc


def checked(doc: dict[str, Any], **kwargs: Any) -> CheckReport:
    session = get_session()
    import_directory(session, doc, actor=ACTOR)
    return check_directory(session, DAY, **kwargs)


def codes(report: CheckReport) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.subject) for f in report.findings]


def test_a_unit_without_an_active_reko_is_an_error(app: Flask) -> None:
    doc = base()
    doc["care_units"].append(unit(K002, "rosengard"))
    report = checked(doc)
    assert not report.ok
    assert codes(report) == [("error", "NO_ACTIVE_REKO", K002)]
    assert "no REKO is assigned" in report.errors[0].message


def test_a_unit_whose_rekos_are_all_absent_is_an_error(app: Flask) -> None:
    report = checked(
        base(absences=[{"coordinator": ANNA, "starts_on": "2025-03-01", "ends_on": "2025-03-20"}])
    )
    assert codes(report) == [("error", "NO_ACTIVE_REKO", K001)]
    assert "absent" in report.errors[0].message


def test_a_unit_that_is_not_connected_needs_no_reko(app: Flask) -> None:
    private = {
        "hsa_id": "SE5561234567-V001",
        "name": "Privat VC",
        "organisation": SKANE,
        "connected": False,
        "contact": "Telefon 040-00 00 90",
    }
    doc = base()
    doc["care_units"].append(private)
    assert checked(doc).ok and checked(doc).findings == ()


def test_an_assignment_ending_within_14_days_is_a_warning(app: Flask) -> None:
    soon = {
        "coordinator": BERTIL,
        "care_unit": K001,
        "role": "deputy",
        "valid_from": "2024-09-01",
        "valid_to": (DAY + dt.timedelta(days=14)).isoformat(),
    }
    later = {**soon, "coordinator": ANNA, "valid_to": (DAY + dt.timedelta(days=15)).isoformat()}
    doc = base()
    doc["assignments"] += [soon, later]
    report = checked(doc)
    assert report.ok
    assert codes(report) == [("warning", "ASSIGNMENT_ENDING", f"{BERTIL}/{K001}")]
    assert "2025-03-24" in report.warnings[0].message


def test_unused_addresses_and_shared_emails_are_warnings(app: Flask) -> None:
    doc = base(functional_addresses=[{"address": "sdk:reko-reserv:0203:skane.se", "label": ""}])
    doc["coordinators"][1]["email"] = "ANNA.rekosson@example.org"
    report = checked(doc)
    assert report.ok
    assert codes(report) == [
        ("warning", "UNUSED_FUNCTIONAL_ADDRESS", "sdk:reko-reserv:0203:skane.se"),
        ("warning", "DUPLICATE_EMAIL", "anna.rekosson@example.org"),
    ]


def test_deputies_without_a_primary_are_a_warning(app: Flask) -> None:
    doc = base()
    doc["assignments"][0]["role"] = "deputy"
    assert codes(checked(doc)) == [("warning", "NO_PRIMARY_REKO", K001)]


def test_certificate_identity_is_reported_only_when_fingerprints_are_required(app: Flask) -> None:
    assert checked(base()).findings == ()
    report = check_directory(get_session(), DAY, require_fingerprints=True)
    # Bertil has no assignment, so no answers to sign: only Anna is reported.
    assert codes(report) == [("warning", "NO_CERTIFICATE_IDENTITY", ANNA)]
    doc = base()
    doc["coordinators"][0]["certificate_fingerprints"] = ["12" * 32]
    assert checked(doc, require_fingerprints=True).findings == ()


def test_the_demo_directory_passes_without_findings(app: Flask) -> None:
    session = get_session()
    import_json(session, DEMO.read_bytes(), actor=ACTOR)
    report = check_directory(session, DAY)
    assert report.ok and report.findings == ()


# --- one rule for "in force on a date": the row, the query and the REKO's units agree --------


def test_an_assignment_is_in_force_from_its_first_to_its_last_day_in_rows_and_queries(
    app: Flask,
) -> None:
    session = get_session()
    ending = {"coordinator": BERTIL, "care_unit": K001, "role": "deputy",
              "valid_from": "2025-03-01", "valid_to": "2025-03-10"}
    import_directory(session, base(assignments=[ending]), actor=ACTOR)
    bertil = session.scalars(select(Coordinator).where(Coordinator.hsa_id == BERTIL)).one()
    [row] = session.scalars(select(Assignment)).all()
    for day, expected in [(dt.date(2025, 2, 28), False), (dt.date(2025, 3, 1), True),
                          (dt.date(2025, 3, 10), True), (dt.date(2025, 3, 11), False)]:
        assert row.active_on(day) is expected, day
        assert (assignments_on(session, day) == [row]) is expected, day
        names = [u.hsa_id for u in covered_units(session, bertil.id, day)]
        assert names == ([K001] if expected else []), day
    assert covered_units(session, None, DAY) == []
