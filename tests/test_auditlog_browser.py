"""The auditor's day in headless Chromium (issue 15): log in, search a person's log by
personnummer, open an entry, check the chain, open the log extract; axe-core (WCAG 2.1 AA) finds
no violations on the audit log pages at 1280 and 375 px, and none scrolls sideways at 375 px."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import parties, submit
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow

WIDTHS = (1280, 375)


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """One inquiry, read by the VC's system, and the app served on a loopback port."""
    tokens = parties()
    http = committing_app.test_client()
    inquiry_id = submit(http, tokens.sender)
    assert http.get(f"/api/v1/inquiries/{inquiry_id}",
                    headers=bearer(tokens.reko)).status_code == 200
    get_session().commit()
    with live_server(committing_app) as base_url:
        yield base_url


def _scrolls_sideways(page: Any) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"))


def _check(page: Any, found: dict[str, list[str]], name: str) -> None:
    """Run axe and the sideways-scroll check at every width on the page as it stands."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems = axe_violations(page)
        if width == 375 and _scrolls_sideways(page):
            problems.append("scrolls sideways at 375 px")
        found[f"{name} @ {width}"] = problems


def test_the_auditors_day_and_accessibility(committing_app: Flask, live: str) -> None:
    secret = add_user("granskare", Role.AUDITOR, display_name="Gun Granskare")
    found: dict[str, list[str]] = {}
    with chromium_page() as page:
        log_in(page, live, "granskare", secret)
        page.click("text=Granskningslogg")
        page.wait_for_selector("h1:text('Granskningslogg')")
        _check(page, found, "log")
        page.fill("#personnummer", "19121212-1212")
        page.click("form.audit-search button[type=submit]")
        page.wait_for_selector("text=Loggutdrag för personen")
        assert "19121212" not in page.url
        assert "Läsa hälsoförfrågan" in page.locator("table.audit tbody").inner_text()
        _check(page, found, "person")
        page.click("table.audit tbody tr >> nth=0 >> a")
        page.wait_for_selector("h1:text('Loggpost')")
        _check(page, found, "entry")
        page.goto(f"{live}/granskning/kedjan")
        page.click("text=Kontrollera hela kedjan nu")
        page.wait_for_selector("text=Kedjan är hel")
        _check(page, found, "chain")
        page.go_back()
        page.go_back()
        page.go_back()
        page.wait_for_selector("text=Loggutdrag för personen")
        page.click("text=utskrift")
        page.wait_for_selector("h1:text('Loggutdrag för en person')")
        _check(page, found, "extract")
    assert {name: problems for name, problems in found.items() if problems} == {}
