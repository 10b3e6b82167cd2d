"""The REKO answers a SIP invitation in headless Chromium: pick the unit, filter the inbox to SIP,
open the invitation, click "Jag kommer" and see the reply recorded; axe-core finds no WCAG 2.1
AA violation on the inbox and the SIP page, at 1280 and at 375 px."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry, SipMeeting
from tests.support.chromium import chromium_page, log_in
from tests.support.forms import KRYDDGARDEN
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA
from tests.support.reko import submit as submit_api
from tests.support.sip import sip_kallelse
from tests.support.web import add_user, live_server
from tests.test_reko_inbox_browser import WIDE, checked, rows

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def test_the_reko_filters_to_sip_opens_it_and_replies_jag_kommer(
    committing_app: Flask, live: str
) -> None:
    secret = add_user("anna", Role.COORDINATOR, display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    token = new_client(get_session())
    http = committing_app.test_client()
    submit_api(http, token)
    invited = http.post("/api/v1/sip", data=sip_kallelse(), content_type="application/xml",
                        headers=bearer(token))
    assert invited.status_code == 201, invited.get_data(as_text=True)
    sip_id = invited.get_json()["id"]
    reference = get_session().scalar(select(Inquiry.reference).where(Inquiry.id == sip_id))
    get_session().rollback()  # end the read: the server writes next (SQLite)
    found: dict[str, list[str]] = {}

    with chromium_page() as page:
        page.set_viewport_size(WIDE)
        log_in(page, live, "anna", secret)
        page.goto(f"{live}/inkorg")
        page.select_option("#enhet", KRYDDGARDEN)
        page.click("text=Välj vårdenhet >> nth=-1")
        page.wait_for_selector("table.inbox")
        assert len(rows(page)) == 2
        checked(page, "inbox with a SIP", found)

        page.select_option("#typ", "sip")
        page.click("text=Sök och filtrera")
        page.wait_for_selector("text=Visar 1 av 1")
        assert rows(page) == [reference]
        assert "SIP-kallelse" in page.locator("table.inbox tbody").inner_text()
        checked(page, "inbox filtered to SIP", found)

        page.click(f"text={reference}")
        page.wait_for_selector(f"h1:has-text('SIP-kallelse {reference}')")
        checked(page, "SIP page", found)
        page.click("button:has-text('Jag kommer')")
        page.wait_for_selector("text=Ditt svar är skickat: Vi kommer.")
        assert "Vi kommer" in page.locator(".reply-state").inner_text()
        checked(page, "SIP page replied", found)

    meeting = get_session().get(SipMeeting, sip_id)
    assert meeting is not None and meeting.decision == "KOMMER"
    assert found == {}, found
