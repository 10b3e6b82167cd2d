"""Hitta REKO in headless Chromium: axe-core finds no WCAG 2.1 AA violation at 1280 and 375 px,
the page does not scroll sideways at 375 px (the table becomes stacked rows), and the search
narrows the list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.intake import load_directory
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def test_hitta_reko_is_accessible_and_fits_a_phone(committing_app: Flask, live: str) -> None:
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit="EBB Öster")
    found: dict[str, list[str]] = {}
    with chromium_page() as page:
        log_in(page, live, "asa", secret)
        page.click("text=Hitta REKO")
        assert page.locator("h1").inner_text() == "Hitta REKO"
        page.set_viewport_size({"width": 1280, "height": 900})
        found["1280"] = axe_violations(page)
        page.fill("#q", "kryddgården")
        page.click("form.search button")
        page.wait_for_selector("text=Visar 1 av 18 vårdcentraler")
        assert "Anna Rekosson" in page.locator("table.rekos tbody").inner_text()
        page.goto(f"{live}/hitta-reko")
        page.set_viewport_size({"width": 375, "height": 800})
        found["375"] = axe_violations(page)
        sideways = page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth")
        stacked = page.evaluate(
            "getComputedStyle(document.querySelector('table.rekos td')).display")
    assert found == {"1280": [], "375": []}, found
    assert sideways is False
    assert stacked == "block"
