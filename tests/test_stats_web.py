"""The statistics page, its exports and the JSON API: statisticians only, aggregates only."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import get_session
from gateway.directory.demo import load_demo_directory
from gateway.stats.demo import load_demo_history, load_demo_sip_history
from tests.support.excel import swedish_excel_rows

API = "/api/v1/stats/response-times"
SIP_API = "/api/v1/stats/sip"
PAGE = "/statistik"
MEASURED = "as_of=2024-04-30"
ROLES = {
    Role.CASE_WORKER: {"unit": "EBB Öster"},
    Role.COORDINATOR: {"hsa_id": "SE2321000255-P001"},
    Role.DIRECTORY_ADMIN: {},
    Role.STATISTICIAN: {},
    Role.AUDITOR: {},
}
OTHER_ROLES = [role for role in ROLES if role != Role.STATISTICIAN]
EXPORTS = [PAGE, f"{PAGE}/export.csv", f"{PAGE}/export.xlsx", f"{PAGE}/export-sip.csv"]


@pytest.fixture
def directory(app: Flask) -> None:
    session = get_session()
    load_demo_directory(session, actor="cli:test", today=dt.date(2024, 1, 1))
    session.commit()


@pytest.fixture
def history(directory: None) -> None:
    session = get_session()
    load_demo_history(session, actor="cli:test")
    load_demo_sip_history(session, actor="cli:test")
    session.commit()


def log_in(client: FlaskClient, role: Role) -> None:
    """Create a user of role and put a logged-in session in the client's cookie.

    The login flow itself (password and TOTP) has tests of its own.
    """
    session = get_session()
    user, _secret = create_user(
        session, username=role.value, role=role, password="korrekt häst batteri", **ROLES[role]
    )
    session.commit()
    # Read before the session transaction: its request context ends the database session.
    session_id = user.get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["started"] = session["last_seen"] = time.time()


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    """GET in an app context of its own, as in production (no user or session carried over)."""
    with client.application.app_context():
        return client.get(path, **kwargs)


def denied(action: str) -> list[AuditEntry]:
    session = get_session()
    session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.outcome == "denied")
    return list(session.scalars(query))


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXPORTS)
def test_the_page_and_exports_send_visitors_to_the_login(
    client: FlaskClient, directory: None, path: str
) -> None:
    response = get(client, path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=[r.value for r in OTHER_ROLES])
@pytest.mark.parametrize("path", EXPORTS)
def test_other_roles_get_403_on_the_page_and_exports(
    client: FlaskClient, directory: None, role: Role, path: str
) -> None:
    log_in(client, role)
    response = get(client, path)
    assert response.status_code == 403
    assert "Behörighet saknas" in response.get_data(as_text=True)
    assert [entry.actor for entry in denied("web.access")] == [f"user:{role.value}"]


@pytest.mark.parametrize("path", [API, SIP_API])
def test_the_api_without_a_session_is_401_and_audited(
    client: FlaskClient, directory: None, path: str
) -> None:
    response = get(client, path, headers={"Authorization": "Bearer not-a-session"})
    assert response.status_code == 401
    assert problem(response)["status"] == 401
    assert [entry.actor for entry in denied("api.access")] == ["anonymous:127.0.0.1"]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=[r.value for r in OTHER_ROLES])
@pytest.mark.parametrize("path", [API, SIP_API])
def test_the_api_refuses_other_roles(
    client: FlaskClient, directory: None, role: Role, path: str
) -> None:
    log_in(client, role)
    response = get(client, f"{path}?year=2023&{MEASURED}")
    assert response.status_code == 403
    assert problem(response)["title"] == "Behörighet saknas"
    entry = denied("api.access")[-1]
    assert (entry.actor, entry.detail) == (f"user:{role.value}", {"role": role.value})


@pytest.mark.parametrize(
    ("query", "code", "parameter"),
    [
        ("year=23", "INVALID_YEAR", "year"),
        ("year=2023&as_of=2024-13-01", "INVALID_DATE", "as_of"),
        ("year=2023&as_of=30/4/2024", "INVALID_DATE", "as_of"),
        ("year=2025&as_of=2024-04-30", "YEAR_OUT_OF_RANGE", "year"),
        ("year=2023&as_of=2999-01-01", "FUTURE_DATE", "as_of"),
        ("year=2023&year=2022", "REPEATED_PARAMETER", "year"),
        ("year=2023&asof=2024-04-30", "UNKNOWN_PARAMETER", "asof"),
    ],
    ids=["short-year", "bad-month", "swedish-date", "year-after", "future", "repeated", "unknown"],
)
@pytest.mark.parametrize("path", [API, SIP_API])
def test_bad_parameters_are_400_naming_the_parameter(
    client: FlaskClient, directory: None, query: str, code: str, parameter: str, path: str
) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{path}?{query}")
    assert response.status_code == 400
    issue = problem(response)["eventIssues"][0]
    assert (issue["typeCode"], issue["in"]) == (code, parameter)


def test_a_bad_date_on_the_page_is_a_swedish_error_page(
    client: FlaskClient, directory: None
) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{PAGE}?as_of=igår")
    assert response.status_code == 400
    assert "Ogiltigt datum" in response.get_data(as_text=True)


# --- what a statistician sees -----------------------------------------------------------------


def test_the_api_gives_the_designs_json(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{API}?year=2023&{MEASURED}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body)[:5] == ["year", "as_of", "total", "per_month", "buckets"]
    assert (body["year"], body["as_of"], body["total"], body["per_month"]) == (
        2023, "2024-04-30", 276, 23.0
    )
    assert body["buckets"]["1-39"] == {"percent": 38, "count": 105}
    assert [body["buckets"][b]["percent"] for b in body["buckets"]] == [38, 15, 26, 14, 7]


def test_the_sip_api_gives_the_projects_monthly_averages(
    client: FlaskClient, history: None
) -> None:
    log_in(client, Role.STATISTICIAN)
    per_month = {}
    for year in (2022, 2023, 2024):
        response = get(client, f"{SIP_API}?year={year}&as_of=2024-03-31")
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        per_month[year] = (body["per_month"], body["volume"]["label"])
    assert per_month == {2022: (60.0, "jan–dec"), 2023: (68.0, "jan–dec"), 2024: (67.0, "jan–mars")}
    assert list(body)[:6] == ["year", "as_of", "held", "per_month", "reko_attended", "cancelled"]
    assert set(body["reko_attended"]) >= {"count", "percent"}


def test_the_page_shows_the_sips_beside_the_inquiries(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    page = get(client, f"{PAGE}?year=2024&as_of=2024-03-31").get_data(as_text=True)
    assert "SIP – samordnad individuell plan" in page
    assert "2022: 60,0 st/månad, 2023: 68,0 st/månad, 2024: 67,0 st/månad (jan–mars)" in page
    assert "SIP per vårdcentral 2024 efter utfall" in page
    assert "Hölls, REKO deltog" in page and "orsak ej registrerad" in page
    assert "SIP-2024-" not in page


@pytest.mark.parametrize("api", [API, SIP_API])
def test_a_client_with_the_statistics_scope_reads_the_same_report(
    client: FlaskClient, history: None, api: str
) -> None:
    from gateway.auth.clients import STATS_SCOPE, create_client
    from tests.support.intake import bearer, issue_token

    session = get_session()
    reader, _ = create_client(session, organisation="0203:malmo.se",
                              functional_addresses=["sdk:ebb-oster:0203:malmo.se"],
                              scopes=[STATS_SCOPE], actor="cli:test")
    sdk_only, _ = create_client(session, organisation="0203:malmo.se",
                                functional_addresses=["sdk:ebb-oster:0203:malmo.se"],
                                scopes=None, actor="cli:test")
    session.commit()
    assert STATS_SCOPE not in sdk_only.scopes.split()  # not given unless asked for
    allowed = get(client, f"{api}?year=2023&{MEASURED}",
                  headers=bearer(issue_token(session, reader.id, (STATS_SCOPE,))))
    assert allowed.status_code == 200
    log_in(client, Role.STATISTICIAN)
    assert allowed.get_json() == get(client, f"{api}?year=2023&{MEASURED}").get_json()
    refused = get(client, f"{api}?year=2023&{MEASURED}",
                  headers=bearer(issue_token(session, sdk_only.id,
                                             ("urn:sdk.api:getMessage",))))
    assert refused.status_code == 403
    assert problem(refused)["eventIssues"][0]["typeCode"] == "INSUFFICIENT_SCOPE"
    assert [e.actor for e in denied("api.access")] == [f"client:{sdk_only.client_id}"]


def test_the_page_shows_the_years_side_by_side_as_the_project_did(
    client: FlaskClient, history: None
) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{PAGE}?year=2023&{MEASURED}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Mätning gjord 2024-04-30" in page
    assert '<th scope="col" class="num">2022</th>' in page
    assert '<th scope="col" class="num">2024</th>' in page
    row = page.split("Ej svar, ok anledning</th>")[1].split("</tr>")[0]
    assert [cell.split(" %")[0].split(">")[-1] for cell in row.split("</td>")[:2]] == ["21", "14"]
    assert "2022: 11,0 st/månad, 2023: 23,0 st/månad, 2024: 21,0 st/månad (jan–april)" in page
    assert 'role="img"' in page and "<title id=" in page and "<desc id=" in page
    assert "Vårdcentralen Kryddgården" in page
    assert "&lt;5" in page
    assert 'href="/statistik/export.xlsx?year=2023&amp;as_of=2024-04-30"' in page


def test_a_measurement_on_a_months_last_day_counts_that_month_everywhere(
    client: FlaskClient, history: None
) -> None:
    log_in(client, Role.STATISTICIAN)
    query = "year=2024&as_of=2024-03-31"
    page = get(client, f"{PAGE}?{query}").get_data(as_text=True)
    assert "2024: 21,0 st/månad (jan–mars)" in page
    body = get(client, f"{API}?{query}").get_json()
    assert (body["per_month"], body["volume"]["months"], body["volume"]["label"]) == (
        21.0, 3, "jan–mars"
    )
    rows = swedish_excel_rows(get(client, f"{PAGE}/export.csv?{query}").get_data())
    volume = {r["Mått"]: r["Antal"] for r in rows if r["Avsnitt"] == "Volym" and r["År"] == "2024"}
    assert (volume["Månader i snittet"], volume["Antal per månad"]) == ("3", "21,0")
    book = load_workbook(io.BytesIO(get(client, f"{PAGE}/export.xlsx?{query}").get_data()))
    rows = {row[0]: row[1:] for row in book["Översikt"].iter_rows(values_only=True)}
    assert rows["Antal per månad"][-1] == 21.0
    assert rows["Månader i snittet"][-1] == "jan–mars"


def test_the_start_page_links_the_statistics(client: FlaskClient, directory: None) -> None:
    log_in(client, Role.STATISTICIAN)
    page = get(client, "/").get_data(as_text=True)
    assert f'href="{PAGE}"' in page


def test_the_csv_export_opens_in_swedish_excel(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{PAGE}/export.csv?year=2023&{MEASURED}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "svarstider-2023-matning-2024-04-30.csv" in response.headers["Content-Disposition"]
    rows = swedish_excel_rows(response.get_data())
    assert list(rows[0]) == ["Avsnitt", "År", "Mätdatum", "Nyckel", "Namn", "Mått", "Antal",
                             "Procent"]
    overview = {(r["År"], r["Mått"]): r["Procent"] for r in rows if r["Avsnitt"] == "Översikt"}
    assert [overview[("2022", b)] for b in ("1–39 dagar", "40–59 dagar", "60+ dagar",
                                            "Ej svar, ok anledning", "Pågående")] == [
        "43", "6", "30", "21", "0"
    ]
    assert [overview[("2023", b)] for b in ("1–39 dagar", "40–59 dagar", "60+ dagar",
                                            "Ej svar, ok anledning", "Pågående")] == [
        "38", "15", "26", "14", "7"
    ]
    per_month = {r["År"]: r["Antal"] for r in rows if r["Mått"] == "Antal per månad"}
    assert per_month == {"2022": "11,0", "2023": "23,0", "2024": "21,0"}
    sections = {r["Avsnitt"] for r in rows if r["År"] == "2023"}
    assert sections == {"Översikt", "Volym", "Månad", "Vårdcentral", "Avsändande enhet"}
    assert "<5" in {r["Antal"] for r in rows if r["Avsnitt"] == "Vårdcentral"}


def test_sip_csv_export(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    page = get(client, f"{PAGE}?year=2024&as_of=2024-03-31").get_data(as_text=True)
    assert 'href="/statistik/export-sip.csv?year=2024&amp;as_of=2024-03-31"' in page
    response = get(client, f"{PAGE}/export-sip.csv?year=2024&as_of=2024-03-31")
    assert response.status_code == 200
    assert "sip-2024-matning-2024-03-31.csv" in response.headers["Content-Disposition"]
    rows = swedish_excel_rows(response.get_data())
    volume = {r["Mått"]: r["Antal"] for r in rows if r["Avsnitt"] == "Volym"}
    assert volume == {"Hållna": "201", "Månader i snittet": "3", "Antal per månad": "67,0"}
    assert "SIP-2024-" not in response.get_data(as_text=True)


def test_xlsx_export(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    response = get(client, f"{PAGE}/export.xlsx?year=2023&{MEASURED}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == [
        "Översikt", "Månader 2023", "Vårdcentraler 2023", "Enheter 2023", "Om statistiken",
    ]
    rows = list(book["Översikt"].iter_rows(values_only=True))
    assert rows[1] == ("Svarstid", 2022, 2023, 2024)
    assert rows[2][:3] == ("1–39 dagar (%)", 43, 38)
    assert rows[7][:3] == ("Antal förfrågningar", 132, 276)


def test_exports_keep_names_from_becoming_formulas(client: FlaskClient, history: None) -> None:
    from gateway.stats.history import HEADER, import_history_csv

    session = get_session()
    rows = "\n".join(
        f"F{n},SE2321000255-K001,=HYPERLINK(\"x\"),2023-01-0{n + 1},,," for n in range(5)
    )
    import_history_csv(session, f"{HEADER}\n{rows}\n".encode(), actor="cli:test", source="f")
    session.commit()
    log_in(client, Role.STATISTICIAN)
    body = get(client, f"{PAGE}/export.csv?year=2023&{MEASURED}").get_data()
    names = {row["Namn"] for row in swedish_excel_rows(body)}
    assert "'=HYPERLINK(\"x\")" in names
    data = get(client, f"{PAGE}/export.xlsx?year=2023&{MEASURED}").get_data()
    sheet = load_workbook(io.BytesIO(data))["Enheter 2023"]
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert '=HYPERLINK("x")' in names
    cell = next(c for c in sheet["A"] if c.value == '=HYPERLINK("x")')
    assert cell.data_type == "s"


def test_outputs_hold_no_inquiry_or_person(client: FlaskClient, history: None) -> None:
    log_in(client, Role.STATISTICIAN)
    outputs = [
        json.dumps(get(client, f"{API}?year=2023&{MEASURED}").get_json(), ensure_ascii=False),
        get(client, f"{PAGE}?year=2023&{MEASURED}").get_data(as_text=True),
        get(client, f"{PAGE}/export.csv?year=2023&{MEASURED}").get_data(as_text=True),
    ]
    for output in outputs:
        # History references identify cases; the report never lists a single inquiry.
        assert "MAL-2023-" not in output
