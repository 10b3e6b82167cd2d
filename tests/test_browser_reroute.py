"""The case worker sends an inquiry the VC closed as RELISTED on to another VC in headless
Chromium: the link on the inquiry's page, the VC chosen by name and HSA-id, the new consent, an
error shown in the summary and on its field, the confirmation, done; axe-core (WCAG 2.1 AA)
finds no violations on the form, the error, the confirmation or the inquiry's page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session, utcnow
from gateway.directory.service import stockholm_today
from gateway.inquiries.access import Side
from gateway.inquiries.closing import close_inquiry
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import CloseReason, Inquiry
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan
from tests.support.intake import load_directory
from tests.support.pdfs import TestPki
from tests.support.reko import HUSIE
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow
DAY = dt.timedelta(days=1)


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def test_send_a_relisted_inquiry_on_to_another_vc(committing_app: Flask, live: str) -> None:
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit="EBB Öster")
    session = get_session()
    inquiry = submit(session, halsoforfragan(), submitter=Submitter(
        "client:x", MALMO, frozenset({EBB_OSTER})), channel="api", now=utcnow()).inquiry
    close_inquiry(session, inquiry, reason=CloseReason.RELISTED, text=None, actor="user:anna",
                  now=utcnow(), sides=frozenset({Side.CARE_UNIT}))
    session.commit()
    inquiry_id = inquiry.id
    today = stockholm_today()
    violations: dict[str, list[str]] = {}

    with chromium_page() as page:
        log_in(page, live, "asa", secret)
        page.goto(f"{live}/arenden/{inquiry_id}")
        page.click("text=Skicka till annan vårdcentral")
        page.wait_for_selector("h1:has-text('till annan vårdcentral')")
        violations["form"] = axe_violations(page)
        page.fill("#givet", (today - 30 * DAY).isoformat())
        page.fill("#giltigt_till", (today - DAY).isoformat())  # expired: C2
        page.select_option("#vardcentral", HUSIE)
        page.click("main form button[type=submit]")
        page.wait_for_selector(".error-summary")
        assert "gått ut" in page.locator("#giltigt_till-error").inner_text()
        violations["error"] = axe_violations(page)
        page.fill("#giltigt_till", (today + 180 * DAY).isoformat())
        page.click("main form button[type=submit]")
        page.wait_for_selector("text=Ja, skicka till Vårdcentralen Husie")
        violations["confirm"] = axe_violations(page)
        page.click("text=Ja, skicka till Vårdcentralen Husie")
        page.wait_for_selector("text=är skickad till Vårdcentralen Husie")
        assert "Vårdcentralen Husie" in page.locator("h1").inner_text()
        violations["detail"] = axe_violations(page)

    session.expire_all()
    moved = session.get(Inquiry, inquiry_id)
    assert moved is not None and moved.care_unit.hsa_id == HUSIE
    assert violations == {"form": [], "error": [], "confirm": [], "detail": []}
