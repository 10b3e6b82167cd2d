"""In headless Chromium: the web form's error summary (in the form's order, groups by their
legend) and the language chosen by name, the case worker's own contact page, and the inquiry
printed (the note shown, navigation and forms hidden); axe-core (WCAG 2.1 AA) finds no
violations on any of these page states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.intake import load_directory
from tests.support.pdfs import TestPki
from tests.support.web import add_user, live_server
from tests.test_browser_intake import _fill_form

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


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
