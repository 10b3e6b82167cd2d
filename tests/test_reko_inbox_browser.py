"""The REKO's day in headless Chromium: pick the unit, show personuppgifter, search, filter,
sort, open a case, set its REKO-status, and close it only after choosing a reason and
confirming; axe-core finds no WCAG 2.1 AA violation on any of these page states, at 1280 and
at 375 px, and at 375 px no page scrolls sideways (the inbox table becomes stacked rows)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.forms import KRYDDGARDEN, nth_personnummer
from tests.support.intake import load_directory, new_client
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA, leg_kinds
from tests.support.reko import submit as submit_api
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow

NARROW = {"width": 375, "height": 800}
WIDE = {"width": 1280, "height": 900}


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def checked(page: Any, state: str, found: dict[str, list[str]]) -> None:
    """Run axe at both widths on the page as it stands; note sideways scrolling at 375 px."""
    for name, size in (("1280", WIDE), ("375", NARROW)):
        page.set_viewport_size(size)
        problems = axe_violations(page)
        if name == "375":
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > NARROW["width"]:
                problems.append(f"scrolls sideways: {wide} px")
        if problems:
            found[f"{state} at {name} px"] = problems
    page.set_viewport_size(WIDE)


def legs(inquiry_id: str) -> list[str]:
    """The inquiry's leg kinds; the read ends at once so the server may write (SQLite)."""
    kinds = leg_kinds(inquiry_id)
    get_session().rollback()
    return kinds


def rows(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("table.inbox tbody td:first-child a")
            .all_inner_texts()]


def test_the_rekos_day_pick_search_filter_sort_open_mark_and_close(
    committing_app: Flask, live: str
) -> None:
    secret = add_user("anna", Role.COORDINATOR, display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    token = new_client(get_session())
    http = committing_app.test_client()
    ids = [submit_api(http, token, personnummer=nth_personnummer(n), person_namn=name)
           for n, name in ((1, "Tolvan Tolvansson"), (2, "Greta Exempel"), (3, "Sven Prov"))]
    references = {i: get_session().scalar(select(Inquiry.reference).where(Inquiry.id == i))
                  for i in ids}
    get_session().rollback()  # end the read: the server writes next (SQLite)
    greta = references[ids[1]]
    found: dict[str, list[str]] = {}

    with chromium_page() as page:
        page.set_viewport_size(WIDE)
        log_in(page, live, "anna", secret)
        page.goto(f"{live}/inkorg")
        assert page.locator("h1").inner_text() == "Välj vårdenhet"
        checked(page, "unit picker", found)
        page.select_option("#enhet", KRYDDGARDEN)
        page.click("text=Välj vårdenhet >> nth=-1")
        page.wait_for_selector("table.inbox")
        assert sorted(rows(page)) == sorted(references.values())
        assert "Tolvan" not in page.content()
        checked(page, "inbox", found)

        page.click("#visa-personuppgifter")
        page.wait_for_selector("#visa-personuppgifter[aria-pressed=true]")
        assert "Greta Exempel" in page.content()
        checked(page, "inbox with personuppgifter", found)

        page.fill("#sok", "greta")
        page.click("text=Sök och filtrera")
        page.wait_for_selector("text=Visar 1 av 3")
        assert rows(page) == [greta]
        checked(page, "search", found)

        page.fill("#sok", "")
        page.select_option("#svarstid", "snart")
        page.click("text=Sök och filtrera")
        page.wait_for_selector("text=Visar 0 av 3")
        checked(page, "filter with no rows", found)
        page.select_option("#svarstid", "")
        page.click("text=Sök och filtrera")
        page.wait_for_selector("text=Visar 3 av 3")

        page.click("table.inbox thead >> text=Referens")
        page.wait_for_selector("th[aria-sort=ascending] >> text=Referens")
        assert rows(page) == sorted(references.values())
        page.click("table.inbox thead >> text=Referens")
        page.wait_for_selector("th[aria-sort=descending] >> text=Referens")
        assert rows(page) == sorted(references.values(), reverse=True)
        checked(page, "sorted", found)

        page.click(f"text={greta}")
        page.wait_for_selector(f"h1:has-text('{greta}')")
        checked(page, "case", found)
        page.select_option("#reko_status", "AKTIV")
        page.click("text=Spara REKO-status")
        page.wait_for_selector(f"text=REKO-status för {greta}: Aktiv")

        page.click("text=Gå vidare till bekräftelse")
        page.wait_for_selector("text=Välj varför förfrågan avslutas utan svar")
        checked(page, "close without a reason", found)
        page.check("text=Personen har flyttat")
        page.click("text=Gå vidare till bekräftelse")
        page.wait_for_selector("text=Det här ser den andra parten")
        assert "closed" not in legs(ids[1])
        checked(page, "close confirmation", found)
        page.click("text=Ja, avsluta utan svar")
        page.wait_for_selector(f"text=Förfrågan {greta} är avslutad utan svar")
        assert legs(ids[1])[-1] == "closed"
        page.click("text=Avslutade (1)")
        page.wait_for_selector("text=Visar 1 av 1")
        assert rows(page) == [greta]
        assert "Aktiv" in page.locator("table.inbox tbody").inner_text()
        checked(page, "closed tab", found)

    assert found == {}, found
