"""The directory's read API and the route preview over HTTP: refusals first, then the answers."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import create_client
from gateway.db import get_session
from gateway.directory.importexport import import_directory
from gateway.directory.service import stockholm_today
from tests.support.clock import FROZEN_TODAY

# Dates are the frozen clock's, so that no test sees a day change under it.
pytestmark = pytest.mark.usefixtures("frozen_clock")
TODAY = FROZEN_TODAY
YESTERDAY = TODAY - dt.timedelta(days=1)
SKANE, MALMO, PRIVATE_ORG = "0203:skane.se", "0203:malmo.se", "0007:5561234567"
K001, K002, PRIVATE = "SE2321000255-K001", "SE2321000255-K002", "SE5561234567-V001"
ANNA, BERTIL, CECILIA = "SE2321000255-P001", "SE2321000255-P002", "SE2321000255-P003"
EBB = "sdk:ebb-oster:0203:malmo.se"
CONTACT = "Telefon 040-00 00 90, Exempelvägen 1, Malmö"
ABSENCE_START = TODAY + dt.timedelta(days=20)
ENDPOINTS = [
    "/api/v1/directory/care-units",
    f"/api/v1/directory/care-units/{K001}",
    "/api/v1/directory/functional-addresses",
    "/api/v1/directory/sender-units",
    "/api/v1/directory/coordinators",
    f"/api/v1/directory/route?care_unit={K001}",
]


def care_unit(hsa_id: str, slug: str) -> dict[str, Any]:
    return {
        "hsa_id": hsa_id,
        "name": f"Vårdcentralen {slug.title()}",
        "organisation": SKANE,
        "connected": True,
        "functional_address": f"sdk:reko-{slug}:{SKANE}",
        "manager_email": f"chef.{slug}@example.org",
    }


def assignment(who: str, where: str, role: str, start: str, end: str | None) -> dict[str, Any]:
    return {"coordinator": who, "care_unit": where, "role": role, "valid_from": start,
            "valid_to": end}


DOCUMENT: dict[str, Any] = {
    "organisations": [
        {"id": SKANE, "name": "Region Skåne"},
        {"id": MALMO, "name": "Malmö stad"},
        {"id": PRIVATE_ORG, "name": "Privat Vårdcentral AB"},
    ],
    "care_units": [
        care_unit(K001, "kryddgarden"),
        care_unit(K002, "rosengard"),
        {
            "hsa_id": PRIVATE, "name": "Privata Vårdcentralen Ribersborg",
            "organisation": PRIVATE_ORG, "connected": False, "functional_address": None,
            "manager_email": "chef@ribersborg.example.org", "contact": CONTACT,
        },
    ],
    "coordinators": [
        {"hsa_id": ANNA, "name": "Anna Rekosson", "email": "anna.rekosson@example.org",
         "phone": "040-00 00 01"},
        {"hsa_id": BERTIL, "name": "Bertil Exempelsson", "email": "bertil@example.org"},
        {"hsa_id": CECILIA, "name": "Cecilia Testsson", "email": "cecilia@example.org"},
    ],
    "assignments": [
        assignment(ANNA, K001, "primary", "2024-09-01", None),
        assignment(BERTIL, K001, "deputy", "2024-09-01", None),
        # Cecilia's assignment to Rosengård ended yesterday: nobody covers it today.
        assignment(CECILIA, K002, "primary", "2024-01-01", YESTERDAY.isoformat()),
    ],
    "absences": [
        {"coordinator": ANNA, "starts_on": ABSENCE_START.isoformat(),
         "ends_on": (ABSENCE_START + dt.timedelta(days=9)).isoformat(), "note": "semester"},
    ],
    "sender_units": [
        {"name": "EBB Öster", "organisation": MALMO, "kind": "socialtjanst",
         "functional_address": EBB},
    ],
}


@pytest.fixture
def token(app: Flask, client: FlaskClient) -> str:
    """A bearer token of a client with no special scope, on the test directory."""
    session = get_session()
    import_directory(session, DOCUMENT, actor="cli:test")
    model, secret = create_client(
        session, organisation=MALMO, functional_addresses=[EBB], scopes=None, actor="cli:test"
    )
    client_id = model.client_id
    session.commit()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def call(client: FlaskClient, token: str, path: str) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert response is an RFC 7807 problem with status and code; return its body."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in text
    body: dict[str, Any] = response.get_json()
    assert body["type"] == f"urn:kryddgarden:problem:{code}"
    assert body["status"] == status
    return body


def issue_in(body: dict[str, Any]) -> str:
    return str(body["eventIssues"][0].get("in", ""))


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_needs_a_bearer_token(client: FlaskClient, token: str, path: str) -> None:
    problem(client.get(path), 401, "TOKEN_MISSING")
    problem(call(client, "not-a-real-token", path), 401, "TOKEN_INVALID")


def test_a_refused_call_is_audited(client: FlaskClient, token: str) -> None:
    client.get("/api/v1/directory/coordinators")
    denied = get_session().scalars(
        select(AuditEntry).where(AuditEntry.action == "api.access", AuditEntry.outcome == "denied")
    ).all()
    assert [e.object_id for e in denied] == ["directory_api.coordinators"]


@pytest.mark.parametrize(
    "hsa_id",
    ["K001", "SE2321000255", "SE232100025-K001", "se2321000255-k001", "x" * 200,
     "SE2321000255-K%00"],
)
def test_malformed_hsa_id_is_400_naming_it(client: FlaskClient, token: str, hsa_id: str) -> None:
    body = problem(call(client, token, f"/api/v1/directory/care-units/{hsa_id}"), 400,
                   "INVALID_HSA_ID")
    assert issue_in(body) == "hsa_id"


def test_unknown_care_unit_is_404(client: FlaskClient, token: str) -> None:
    body = problem(call(client, token, "/api/v1/directory/care-units/SE2321000255-K999"), 404,
                   "UNKNOWN_CARE_UNIT")
    assert "SE2321000255-K999" in body["detail"]


@pytest.mark.parametrize(
    ("query", "code", "parameter"),
    [
        ("", "MISSING_PARAMETER", "care_unit"),
        ("care_unit=", "MISSING_PARAMETER", "care_unit"),
        (f"date={TODAY.isoformat()}", "MISSING_PARAMETER", "care_unit"),
        ("care_unit=K001", "INVALID_HSA_ID", "care_unit"),
        ("care_unit=SE2321000255-K%00", "INVALID_HSA_ID", "care_unit"),
        (f"care_unit={K001}&date=", "INVALID_DATE", "date"),
        (f"care_unit={K001}&date=2025-13-01", "INVALID_DATE", "date"),
        (f"care_unit={K001}&date=2025-02-30", "INVALID_DATE", "date"),
        (f"care_unit={K001}&date=10/03/2025", "INVALID_DATE", "date"),
        (f"care_unit={K001}&date=20250310", "INVALID_DATE", "date"),
        (f"care_unit={K001}&date=2025-03-10T00:00", "INVALID_DATE", "date"),
        (f"care_unit={K001}&datum=2025-03-10", "UNKNOWN_PARAMETER", "datum"),
        (f"care_unit={K001}&care_unit={K002}", "REPEATED_PARAMETER", "care_unit"),
    ],
    ids=[
        "no-parameters", "empty-care-unit", "only-date", "malformed-hsa-id", "nul", "empty-date",
        "month-13", "february-30", "swedish-slashes", "no-dashes", "datetime", "misspelt",
        "repeated",
    ],
)
def test_route_preview_bad_parameters_are_400_naming_the_parameter(
    client: FlaskClient, token: str, query: str, code: str, parameter: str
) -> None:
    body = problem(call(client, token, f"/api/v1/directory/route?{query}"), 400, code)
    assert issue_in(body) == parameter
    assert parameter in body["detail"]


def test_route_preview_unknown_care_unit_is_404(client: FlaskClient, token: str) -> None:
    response = call(client, token, "/api/v1/directory/route?care_unit=SE2321000255-K999")
    problem(response, 404, "UNKNOWN_CARE_UNIT")


def test_route_preview_not_connected_is_422_with_contact(client: FlaskClient, token: str) -> None:
    response = call(client, token, f"/api/v1/directory/route?care_unit={PRIVATE}")
    body = problem(response, 422, "CARE_UNIT_NOT_CONNECTED")
    assert body["care_unit"]["hsa_id"] == PRIVATE
    assert body["care_unit"]["contact"] == CONTACT
    assert CONTACT in body["detail"]


# --- the address book -----------------------------------------------------------------------


def test_care_units_list_shows_contact_only_for_units_not_connected(
    client: FlaskClient, token: str
) -> None:
    response = call(client, token, "/api/v1/directory/care-units")
    assert response.status_code == 200
    body = response.get_json()
    units = {u["hsa_id"]: u for u in body["care_units"]}
    assert body["count"] == 3
    assert units[K001] == {
        "hsa_id": K001, "name": "Vårdcentralen Kryddgarden", "organisation": SKANE,
        "connected": True, "functional_address": f"sdk:reko-kryddgarden:{SKANE}",
    }
    assert units[PRIVATE]["connected"] is False
    assert units[PRIVATE]["contact"] == CONTACT
    # Manager e-mail addresses are not part of the address book.
    assert "chef" not in response.get_data(as_text=True)


def test_care_unit_detail_lists_its_rekos_primary_first(client: FlaskClient, token: str) -> None:
    body = call(client, token, f"/api/v1/directory/care-units/{K001}").get_json()
    assert body["hsa_id"] == K001
    assert [(c["hsa_id"], c["role"]) for c in body["coordinators"]] == [
        (ANNA, "primary"), (BERTIL, "deputy"),
    ]
    assert body["coordinators"][0]["email"] == "anna.rekosson@example.org"
    assert body["coordinators"][0]["phone"] == "040-00 00 01"


def test_ended_assignments_are_not_listed(client: FlaskClient, token: str) -> None:
    body = call(client, token, f"/api/v1/directory/care-units/{K002}").get_json()
    assert body["coordinators"] == []


def test_functional_addresses_name_their_owner_and_user(client: FlaskClient, token: str) -> None:
    body = call(client, token, "/api/v1/directory/functional-addresses").get_json()
    addresses = {a["address"]: a for a in body["functional_addresses"]}
    assert addresses[EBB]["organisation"] == MALMO
    assert addresses[EBB]["used_by"] == {"type": "sender_unit", "name": "EBB Öster"}
    reko = addresses[f"sdk:reko-kryddgarden:{SKANE}"]
    assert reko["used_by"]["hsa_id"] == K001
    assert body["count"] == len(addresses) == 3


def test_sender_units(client: FlaskClient, token: str) -> None:
    body = call(client, token, "/api/v1/directory/sender-units").get_json()
    assert body["sender_units"] == [
        {"name": "EBB Öster", "organisation": MALMO, "kind": "socialtjanst",
         "functional_address": EBB},
    ]


def test_coordinators_carry_work_contacts_and_units_only(client: FlaskClient, token: str) -> None:
    response = call(client, token, "/api/v1/directory/coordinators")
    people = {c["hsa_id"]: c for c in response.get_json()["coordinators"]}
    assert set(people[ANNA]) == {"hsa_id", "name", "email", "phone", "care_units"}
    assert [(u["hsa_id"], u["role"]) for u in people[ANNA]["care_units"]] == [(K001, "primary")]
    assert people[BERTIL]["care_units"][0]["name"] == "Vårdcentralen Kryddgarden"
    assert people[CECILIA]["care_units"] == []
    # Absences are the REKO's own business, not the address book's.
    assert "semester" not in response.get_data(as_text=True)


# --- route preview --------------------------------------------------------------------------


def preview(client: FlaskClient, token: str, hsa_id: str, on: dt.date) -> dict[str, Any]:
    response = call(client, token, f"/api/v1/directory/route?care_unit={hsa_id}&date={on}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_route_preview_primary(client: FlaskClient, token: str) -> None:
    body = preview(client, token, K001, TODAY)
    assert body["care_unit"] == K001
    assert body["functional_address"] == f"sdk:reko-kryddgarden:{SKANE}"
    assert body["coordinators"] == [
        {"hsa_id": ANNA, "name": "Anna Rekosson", "role": "primary"},
        {"hsa_id": BERTIL, "name": "Bertil Exempelsson", "role": "deputy"},
    ]
    assert "Anna Rekosson är primär REKO" in body["reason"]


def test_route_preview_deputy_covers_an_absence(client: FlaskClient, token: str) -> None:
    body = preview(client, token, K001, ABSENCE_START + dt.timedelta(days=2))
    assert [(c["hsa_id"], c["role"]) for c in body["coordinators"]] == [(BERTIL, "deputy")]
    assert "frånvarande" in body["reason"]
    assert "Bertil Exempelsson täcker" in body["reason"]


def test_route_preview_assignment_ended_yesterday(client: FlaskClient, token: str) -> None:
    assert preview(client, token, K002, YESTERDAY)["coordinators"][0]["hsa_id"] == CECILIA
    today = preview(client, token, K002, TODAY)
    assert today["coordinators"] == []
    assert "NO_ACTIVE_REKO" in today["flags"]
    assert "chef.rosengard@example.org" in today["reason"]


def test_route_preview_defaults_to_today_in_sweden(client: FlaskClient, token: str) -> None:
    response = call(client, token, f"/api/v1/directory/route?care_unit={K001}")
    assert response.status_code == 200
    assert response.get_json()["date"] == stockholm_today().isoformat()
