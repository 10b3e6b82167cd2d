"""Routing: a VC's HSA-id and a date give its functional address and REKOs, or a clear refusal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from gateway.db import get_session
from gateway.directory.demo import load_demo_directory
from gateway.directory.importexport import import_directory
from gateway.directory.routing import RouteDecision, route, route_preview_json
from gateway.directory.service import DirectoryError

DAY = dt.date(2025, 3, 10)
YESTERDAY = DAY - dt.timedelta(days=1)
TOMORROW = DAY + dt.timedelta(days=1)
SKANE = "0203:skane.se"
K001, K002 = "SE2321000255-K001", "SE2321000255-K002"
PRIVATE = "SE5561234567-V001"
ANNA, BERTIL, CECILIA, DAVID = (f"SE2321000255-P00{i}" for i in range(1, 5))
ACTOR = "user:katalogansvarig"


def unit(hsa_id: str, slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "hsa_id": hsa_id,
        "name": f"Vårdcentralen {slug.title()}",
        "organisation": SKANE,
        "connected": True,
        "functional_address": f"sdk:reko-{slug}:{SKANE}",
        "manager_email": f"chef.{slug}@example.org",
        **extra,
    }


def reko(hsa_id: str, name: str) -> dict[str, Any]:
    email = name.lower().replace(" ", ".") + "@example.org"
    return {"hsa_id": hsa_id, "name": name, "email": email, "phone": None}


def assign(
    who: str, where: str, role: str, start: dt.date, end: dt.date | None = None
) -> dict[str, Any]:
    return {
        "coordinator": who,
        "care_unit": where,
        "role": role,
        "valid_from": start.isoformat(),
        "valid_to": end.isoformat() if end else None,
    }


@pytest.fixture
def directory(app: Flask) -> None:
    """Kryddgården: Anna primary, Bertil deputy; Cecilia's primary assignment ended yesterday,
    David's starts tomorrow. Rosengård: nobody. A private VC that is not connected."""
    import_directory(
        get_session(),
        {
            "organisations": [
                {"id": SKANE, "name": "Region Skåne"},
                {"id": "0007:5561234567", "name": "Privat Vårdcentral AB"},
            ],
            "care_units": [
                unit(K001, "kryddgarden"),
                unit(K002, "rosengard"),
                {
                    "hsa_id": PRIVATE,
                    "name": "Privata Vårdcentralen Ribersborg",
                    "organisation": "0007:5561234567",
                    "connected": False,
                    "functional_address": None,
                    "manager_email": None,
                    "contact": "Telefon 040-00 00 90, Exempelvägen 1, Malmö",
                },
            ],
            "coordinators": [
                reko(ANNA, "Anna Rekosson"),
                reko(BERTIL, "Bertil Exempelsson"),
                reko(CECILIA, "Cecilia Testberg"),
                reko(DAVID, "David Demoström"),
            ],
            "assignments": [
                assign(ANNA, K001, "primary", dt.date(2024, 9, 1)),
                assign(BERTIL, K001, "deputy", dt.date(2024, 9, 1)),
                assign(CECILIA, K001, "primary", dt.date(2024, 1, 1), YESTERDAY),
                assign(DAVID, K001, "primary", TOMORROW),
            ],
        },
        actor=ACTOR,
    )


def absent(who: str, start: dt.date, end: dt.date) -> None:
    import_directory(
        get_session(),
        {
            "absences": [
                {
                    "coordinator": who,
                    "starts_on": start.isoformat(),
                    "ends_on": end.isoformat(),
                    "note": "Semester",
                }
            ]
        },
        actor=ACTOR,
    )


def who(decision: RouteDecision) -> list[tuple[str, str]]:
    return [(c.hsa_id, c.role) for c in decision.coordinators]


# --- refusals first ---------------------------------------------------------------------------


def test_unknown_care_unit_is_404(directory: None) -> None:
    with pytest.raises(DirectoryError) as excinfo:
        route(get_session(), "SE2321000255-K999", DAY)
    assert (excinfo.value.code, excinfo.value.status) == ("UNKNOWN_CARE_UNIT", 404)
    assert "SE2321000255-K999" in excinfo.value.detail


@pytest.mark.parametrize("bad", ["", "SE123", "K001", "SE2321000255-K001; DROP TABLE", "x" * 500])
def test_malformed_hsa_id_is_400(directory: None, bad: str) -> None:
    with pytest.raises(DirectoryError) as excinfo:
        route(get_session(), bad, DAY)
    assert (excinfo.value.code, excinfo.value.status) == ("INVALID_HSA_ID", 400)


def test_not_connected_is_refused_with_its_contact_details(directory: None) -> None:
    with pytest.raises(DirectoryError) as excinfo:
        route(get_session(), PRIVATE, DAY)
    error = excinfo.value
    assert (error.code, error.status) == ("CARE_UNIT_NOT_CONNECTED", 422)
    assert "Telefon 040-00 00 90" in error.detail
    problem = error.problem("/api/v1/directory/route")
    assert problem["care_unit"]["contact"] == "Telefon 040-00 00 90, Exempelvägen 1, Malmö"
    assert problem["care_unit"]["name"] == "Privata Vårdcentralen Ribersborg"


# --- decisions --------------------------------------------------------------------------------


def test_primary_first_then_deputy(directory: None) -> None:
    decision = route(get_session(), K001, DAY)
    assert decision.functional_address == "sdk:reko-kryddgarden:0203:skane.se"
    assert who(decision) == [(ANNA, "primary"), (BERTIL, "deputy")]
    assert decision.code == "PRIMARY" and decision.flags == ()
    assert "Anna Rekosson" in decision.reason and "primär" in decision.reason


def test_an_assignment_that_ended_yesterday_no_longer_routes(directory: None) -> None:
    assert CECILIA not in dict(who(route(get_session(), K001, DAY)))
    assert (CECILIA, "primary") in who(route(get_session(), K001, YESTERDAY))


def test_an_assignment_starting_tomorrow_does_not_route_yet(directory: None) -> None:
    assert DAVID not in dict(who(route(get_session(), K001, DAY)))
    assert (DAVID, "primary") in who(route(get_session(), K001, TOMORROW))


def test_a_deputy_covers_an_absence_and_the_reason_says_so(directory: None) -> None:
    absent(ANNA, DAY, DAY + dt.timedelta(days=5))

    decision = route(get_session(), K001, DAY)

    assert who(decision) == [(BERTIL, "deputy")]
    assert decision.code == "DEPUTY_COVERS_ABSENCE"
    assert "Anna Rekosson är frånvarande 2025-03-10–2025-03-15" in decision.reason
    assert "Bertil Exempelsson täcker" in decision.reason
    assert "frånvarande primär" in decision.coordinators[0].why
    back = route(get_session(), K001, DAY + dt.timedelta(days=6))
    assert back.code == "PRIMARY" and who(back)[0] == (ANNA, "primary")


def test_no_active_reko_still_routes_to_the_manager_and_is_flagged(directory: None) -> None:
    decision = route(get_session(), K002, DAY)
    assert decision.coordinators == ()
    assert decision.code == "NO_ACTIVE_REKO_MANAGER"
    assert decision.flags == ("NO_ACTIVE_REKO",)
    assert decision.manager_email == "chef.rosengard@example.org"
    assert decision.functional_address == "sdk:reko-rosengard:0203:skane.se"
    assert "chef.rosengard@example.org" in decision.reason


def test_everyone_absent_means_no_active_reko(directory: None) -> None:
    absent(ANNA, DAY, DAY)
    absent(BERTIL, YESTERDAY, TOMORROW)
    decision = route(get_session(), K001, DAY)
    assert decision.code == "NO_ACTIVE_REKO_MANAGER" and decision.flags == ("NO_ACTIVE_REKO",)
    assert "alla tilldelade REKO är frånvarande" in decision.reason


def test_deputies_only_when_no_primary_is_assigned(directory: None) -> None:
    import_directory(
        get_session(), {"assignments": [assign(BERTIL, K002, "deputy", DAY)]}, actor=ACTOR
    )
    decision = route(get_session(), K002, DAY)
    assert who(decision) == [(BERTIL, "deputy")] and decision.code == "DEPUTY_NO_PRIMARY"


def test_route_preview_has_the_design_shape(directory: None) -> None:
    preview = route_preview_json(route(get_session(), K001, DAY))
    assert {"care_unit", "functional_address", "coordinators", "reason"} <= set(preview)
    assert preview["care_unit"] == K001
    assert preview["coordinators"] == [
        {"hsa_id": ANNA, "name": "Anna Rekosson", "role": "primary"},
        {"hsa_id": BERTIL, "name": "Bertil Exempelsson", "role": "deputy"},
    ]
    assert preview["date"] == "2025-03-10"


def test_the_leg_records_the_decision_without_names(directory: None) -> None:
    detail = route(get_session(), K001, DAY).leg_detail()
    assert detail["code"] == "PRIMARY" and detail["reason"]
    assert detail["coordinators"] == [
        {"hsa_id": ANNA, "role": "primary"},
        {"hsa_id": BERTIL, "role": "deputy"},
    ]
    assert "name" not in str(detail["coordinators"]) and "@" not in str(detail["coordinators"])


def test_demo_directory_shows_a_deputy_covering_today(app: Flask) -> None:
    session = get_session()
    load_demo_directory(session, "cli:demo", today=DAY)
    # Eva Fiktivsdotter (P005), primary at Möllevången (K009), is on leave around the demo day.
    decision = route(session, "SE2321000255-K009", DAY)
    assert decision.code == "DEPUTY_COVERS_ABSENCE"
    assert who(decision) == [("SE2321000255-P006", "deputy")]
    assert not load_demo_directory(session, "cli:demo", today=DAY).changed
