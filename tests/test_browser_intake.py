"""The same hälsoförfrågan accepted over POST /api/v1/inquiries, POST /v1/sdk/messages and the
web form in headless Chromium (log in with password and TOTP through the real pages, fill the
form, confirm the repeat warning, see it in Mina ärenden); axe-core (WCAG 2.1 AA) finds no
violations on the compose and Mina ärenden pages. Then the form's error summary (in the form's
order, groups by their legend), the language chosen by name, the contact page and the inquiry
printed (the note shown, navigation and forms hidden), axe-clean in every state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.directory.service import stockholm_today
from gateway.inquiries.models import Inquiry
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.forms import KRYDDGARDEN, halsoforfragan
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pdfs import TestPki
from tests.support.sdk import MESSAGES, message_body
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow

@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def _fill_form(page: Any) -> None:
    today = stockholm_today()
    page.fill("#handlaggare_telefon", "040-34 10 00")
    page.fill("#handlaggare_epost", "asa.lindqvist@malmo.se")
    page.fill("#personnummer", "19121212-1212")
    page.fill("#person_namn", "Tolvan Tolvansson")
    page.fill("#givet", today.replace(day=1).isoformat())
    page.fill("#giltigt_till", today.replace(year=today.year + 1, day=1).isoformat())
    page.fill("#bakgrund", "Personen har ekonomiskt bistånd och vi planerar arbetsträning.")
    page.check("#fraga_aktivitetsformaga")
    page.check("#fraga_ovrigt")
    page.fill("#ovrigt_text", "Finns det hinder för arbetsträning på förmiddagar?")
    page.select_option("#vardcentral", KRYDDGARDEN)


def test_three_channels_and_accessibility(committing_app: Flask, live: str) -> None:
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit="EBB Öster")
    token = new_client(get_session())
    http = committing_app.test_client()
    over_api = http.post("/api/v1/inquiries", data=halsoforfragan(), headers=bearer(token),
                         content_type="application/xml")
    assert over_api.status_code == 201, over_api.get_json()
    over_sdk = http.post(MESSAGES, json=message_body(halsoforfragan()), headers=bearer(token))
    assert over_sdk.status_code == 201, over_sdk.get_json()

    with chromium_page() as page:
        log_in(page, live, "asa", secret)
        page.goto(f"{live}/arenden/ny")
        assert page.locator("h1").inner_text() == "Ny hälsoförfrågan"
        compose_violations = axe_violations(page)
        _fill_form(page)
        page.click("form[enctype] button[type=submit]")
        # The API and SDK sends were about the same person to the same VC.
        warning = page.locator("#repeat-warning")
        assert "Det finns redan en förfrågan" in warning.inner_text()
        warning_violations = axe_violations(page)
        page.check("#confirm_repeat")
        page.click("form[enctype] button[type=submit]")
        # A click starts the navigation; wait for the new page before reading it.
        page.wait_for_selector("text=Hälsoförfrågan är skickad")
        page.goto(f"{live}/arenden")
        assert "Visar 3 av 3 ärenden" in page.content()
        mine_violations = axe_violations(page)
        # The person search finds the three and leads on to the withdrawal form, filled in.
        page.goto(f"{live}/arenden/person")
        page.fill("#personnummer", "19121212-1212")
        page.click("form.search button[type=submit]")
        page.wait_for_selector("text=Resultat för 19121212-1212")
        assert page.locator("tbody tr").count() == 3
        search_violations = axe_violations(page)
        page.click("text=Registrera återkallat samtycke för Vårdcentralen Kryddgården")
        page.wait_for_selector("h1:has-text('Registrera återkallat samtycke')")
        assert page.input_value("#personnummer") == "19121212-1212"
        assert page.input_value("#care_unit") == KRYDDGARDEN
        withdrawal_violations = axe_violations(page)

    channels = sorted(get_session().scalars(select(Inquiry.channel)))
    assert channels == ["api", "sdk", "web"]
    assert compose_violations == [], compose_violations
    assert warning_violations == [], warning_violations
    assert mine_violations == [], mine_violations
    assert search_violations == [], search_violations
    assert withdrawal_violations == [], withdrawal_violations


def test_form_errors_language_contact_and_print(live: str) -> None:
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit="EBB Öster",
                      phone="040-34 10 00", email="asa.lindqvist@malmo.se")
    violations: dict[str, list[str]] = {}
    with chromium_page() as page:
        log_in(page, live, "asa", secret)
        page.goto(f"{live}/arenden/ny")
        assert page.input_value("#handlaggare_epost") == "asa.lindqvist@malmo.se"
        page.click("form[enctype] button[type=submit]")
        summary = page.locator(".error-summary li").all_inner_texts()
        assert summary[0].startswith("Personnummer"), summary
        assert any(line.startswith("Frågor: Välj minst en fråga") for line in summary), summary
        violations["errors"] = axe_violations(page)
        _fill_form(page)
        page.select_option("#tolkbehov", label="Tigrinja")
        page.click("form[enctype] button[type=submit]")
        page.wait_for_selector("text=Hälsoförfrågan är skickad")
        assert "Tigrinja" in page.locator("main").inner_text()
        violations["detail"] = axe_violations(page)
        page.emulate_media(media="print")
        assert page.locator(".print-note").is_visible()
        assert "Åsa Lindqvist (asa)" in page.locator(".print-note").inner_text()
        assert not page.locator("header.site nav").is_visible()
        assert all(not form.is_visible() for form in page.locator("main form").all())
        page.emulate_media(media="screen")
        assert not page.locator(".print-note").is_visible()
        page.goto(f"{live}/konto/kontakt")
        page.fill("#email", "inte-en-adress")
        page.click("main form button[type=submit]")
        assert "E-post:" in page.locator(".error-summary").inner_text()
        violations["contact"] = axe_violations(page)
    assert violations == {"errors": [], "detail": [], "contact": []}, violations
