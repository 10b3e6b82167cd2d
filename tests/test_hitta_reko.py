"""Hitta REKO: every VC's primary REKO and deputy today with phone and e-mail, absences marked,
search by VC name or HSA-id, for anyone logged in (anonymous users go to the login); a fixed
number of queries; the web form shows the chosen VC's REKO and phone, and the repeat warning
offers the call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from forms.dates import stockholm_today
from gateway.auth.models import Role
from gateway.db import database, get_session
from gateway.directory.contacts import unit_contacts
from gateway.directory.models import Absence, Coordinator
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, KRYDDGARDEN, ROSENGARD
from tests.support.intake import load_directory
from tests.support.reko import ANNA, ANNA_EMAIL, DEPUTY_EMAIL
from tests.support.web import Browser, logged_in_browser

ANNA_PHONE = "040-00 00 01"
BERTIL_PHONE = "040-00 00 02"


@pytest.fixture
def app(make_app: AppMaker) -> Iterator[Flask]:
    application = make_app()
    with application.app_context():
        load_directory(get_session())
        yield application


def rows(page: str) -> list[str]:
    """The table's body rows, one string each."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row for row in body.split("<tr>")[1:]]


def row_of(page: str, unit: str) -> str:
    found = [row for row in rows(page) if unit in row]
    assert len(found) == 1, unit
    return found[0]


def test_anonymous_users_are_sent_to_the_login(app: Flask) -> None:
    response = app.test_client().get("/hitta-reko")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.COORDINATOR, Role.STATISTICIAN])
def test_every_vc_lists_primary_and_deputy_with_phone_and_email(app: Flask, role: Role) -> None:
    extra: dict[str, Any] = {"unit": EBB_OSTER} if role is Role.CASE_WORKER else {}
    if role is Role.COORDINATOR:
        extra = {"hsa_id": ANNA.hsa_id}
    browser = logged_in_browser(app, "someone", role, **extra)
    page = browser.get("/hitta-reko").get_data(as_text=True)
    assert "<h1>Hitta REKO</h1>" in page
    assert stockholm_today().isoformat() in page
    units = unit_contacts(get_session(), stockholm_today())
    assert len(rows(page)) == len(units) == 18
    assert f"Visar {len(units)} av {len(units)} vårdcentraler" in page
    kryddgarden = row_of(page, KRYDDGARDEN)
    primary, deputy = kryddgarden.split('data-label="Ersättare"')
    assert "Anna Rekosson" in primary and ANNA_PHONE in primary and ANNA_EMAIL in primary
    assert "Bertil Exempelsson" in deputy and BERTIL_PHONE in deputy and DEPUTY_EMAIL in deputy
    assert 'href="tel:040000001"' in primary
    assert "Frånvarande" not in kryddgarden


def test_an_absent_reko_is_marked_with_the_day_they_are_back(
    app: Flask
) -> None:
    today = stockholm_today()
    session = get_session()
    anna = session.scalars(select(Coordinator).where(Coordinator.hsa_id == ANNA.hsa_id)).one()
    session.add(Absence(coordinator_id=anna.id, starts_on=today - dt.timedelta(days=1),
                        ends_on=today + dt.timedelta(days=6), note="Semester"))
    session.commit()
    browser = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
    page = browser.get("/hitta-reko").get_data(as_text=True)
    primary = row_of(page, KRYDDGARDEN).split('data-label="Ersättare"')[0]
    back = (today + dt.timedelta(days=6)).isoformat()
    assert f"Frånvarande till och med {back}" in primary
    assert "Semester" not in page  # the admin's note is not for everyone


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param("KRYDDGÅRDEN", [KRYDDGARDEN], id="name-any-case-with-å"),
    pytest.param(ROSENGARD.lower(), [ROSENGARD], id="hsa-id"),
    pytest.param("finns inte", [], id="nothing"),
])
def test_search_by_vc_name_or_hsa_id(app: Flask, query: str, expected: list[str]) -> None:
    browser = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
    page = browser.get("/hitta-reko", query_string={"q": query}).get_data(as_text=True)
    found = [hsa for hsa in (KRYDDGARDEN, ROSENGARD) if hsa in "".join(rows(page))]
    assert found == expected
    assert f"Visar {len(expected)} av 18 vårdcentraler" in page
    if not expected:
        assert "Ingen vårdcentral matchar sökningen." in page


def test_the_list_costs_the_same_few_queries_whatever_the_number_of_units(app: Flask) -> None:
    statements: list[str] = []
    engine = database(app).engine

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        units = unit_contacts(get_session(), stockholm_today())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(units) == 18
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 5


def compose_page(browser: Browser, **data: str) -> str:
    page = browser.submit("/arenden/ny", "/arenden/ny", data)
    return str(page.get_data(as_text=True))


def test_the_web_form_shows_the_chosen_vcs_reko_and_phone(app: Flask) -> None:
    browser = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER,
                                display_name="Åsa Lindqvist")
    blank = browser.get("/arenden/ny").get_data(as_text=True)
    assert f"Vårdcentralen Kryddgården (REKO Anna Rekosson, {ANNA_PHONE})" in blank
    assert 'id="recipient-reko"' not in blank
    # The form comes back (here with errors) showing whom to call at the chosen VC.
    page = compose_page(browser, vardcentral=KRYDDGARDEN)
    block = page.split('id="recipient-reko"', 1)[1].split("</div>", 1)[0]
    assert "REKO på Vårdcentralen Kryddgården i dag" in block
    assert "Anna Rekosson" in block and ANNA_PHONE in block and 'href="tel:040000001"' in block
