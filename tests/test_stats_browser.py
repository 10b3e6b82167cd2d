"""The statistics page in headless Chromium with the demo histories: a statistician logs in,
measures as of 2024-03-31 and reads the SIP section beside the inquiries; axe-core (WCAG 2.1 AA)
finds no violations at 1280 and 375 px."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import database
from gateway.directory.demo import load_demo_directory
from gateway.stats.demo import load_demo_history, load_demo_sip_history
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask) -> Iterator[str]:
    """The demo directory and both demo histories, and the app on a loopback port."""
    with database(committing_app).transaction() as session:
        load_demo_directory(session, actor="cli:test", today=dt.date(2024, 1, 1))
        load_demo_history(session, actor="cli:test")
        load_demo_sip_history(session, actor="cli:test")
    with live_server(committing_app) as base_url:
        yield base_url


def test_a_statistician_reads_the_sip_figures_and_the_page_is_accessible(
    committing_app: Flask, live: str
) -> None:
    secret = add_user("statistiker", Role.STATISTICIAN)
    found: dict[str, list[str]] = {}
    with chromium_page() as page:
        log_in(page, live, "statistiker", secret)
        page.goto(f"{live}/statistik")
        page.fill("#as_of", "2024-03-31")
        page.select_option("#year", "2024")
        page.click("form.stats-filter button[type=submit]")
        page.wait_for_selector("text=Mätning gjord 2024-03-31")
        section = page.locator("section[aria-labelledby=sip-heading]").inner_text()
        assert "2022: 60,0 st/månad, 2023: 68,0 st/månad, 2024: 67,0 st/månad (jan–mars)" in (
            " ".join(section.split())
        )
        assert "SIP 2024 i detalj" in section
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            found[f"statistik @ {width}"] = axe_violations(page)
    assert found == {"statistik @ 1280": [], "statistik @ 375": []}
