"""The case worker sends a SIP invitation in headless Chromium: from the start page, through the
form (its own errors first), to the invitation's page; sees the REKO's reply there and records
the outcome after its confirmation. axe-core finds no WCAG 2.1 AA violation on the form, its
errors and the page in each state, at 1280 and at 375 px."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from forms.dates import stockholm_today
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import FormType, Inquiry, SipMeeting
from tests.support.chromium import chromium_page, log_in
from tests.support.forms import KRYDDGARDEN, KRYDDGARDEN_ADDRESS, SKANE
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pdfs import TestPki
from tests.support.sip import sip_svar
from tests.support.web import add_user, live_server
from tests.test_reko_inbox_browser import WIDE, checked

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def test_the_case_worker_invites_sees_the_reply_and_records_the_outcome(
    committing_app: Flask, live: str
) -> None:
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit="EBB Öster")
    vc_token = new_client(get_session(), organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
    get_session().rollback()  # end the read: the server writes next (SQLite)
    today = stockholm_today()
    meeting = today + dt.timedelta(days=7)
    found: dict[str, list[str]] = {}

    with chromium_page() as page:
        page.set_viewport_size(WIDE)
        log_in(page, live, "asa", secret)
        page.goto(f"{live}/")
        page.click("a:has-text('Ny SIP-kallelse')")
        page.wait_for_selector("h1:has-text('Ny SIP-kallelse')")
        checked(page, "new SIP form", found)

        page.fill("#handlaggare_telefon", "040-34 10 00")
        page.fill("#handlaggare_epost", "asa.lindqvist@malmo.se")
        page.fill("#personnummer", "19121212-1212")
        page.fill("#person_namn", "Tolvan Tolvansson")
        page.fill("#givet", (today - dt.timedelta(days=3)).isoformat())
        page.fill("#giltigt_till", (today + dt.timedelta(days=180)).isoformat())
        page.select_option("#vardcentral", KRYDDGARDEN)
        page.fill("#syfte", "Personen behöver samordnat stöd från socialtjänst och vård.")
        page.fill("#mote_datum", meeting.isoformat())
        page.fill("#mote_tid", "09:00")
        page.fill("#digital_lank", "http://moten.example.se/sip")
        page.fill("#svar_senast", (meeting - dt.timedelta(days=2)).isoformat())
        page.click("button:has-text('Skicka SIP-kallelsen')")
        # S4 comes back from the intake on its field, in the one summary.
        page.wait_for_selector(".error-summary")
        summary = page.locator(".error-summary").inner_text()
        assert "https" in summary, summary
        assert page.locator(".error-summary a[href='#digital_lank']").count() == 1
        checked(page, "new SIP form with an error", found)

        page.fill("#digital_lank", "https://moten.example.se/sip")
        page.click("button:has-text('Skicka SIP-kallelsen')")
        page.wait_for_selector("h1:has-text('SIP-kallelse SIP-')")
        assert "är skickad till Vårdcentralen Kryddgården" in page.content()
        assert "Vårdcentralen har inte svarat än" in page.locator("#reply-state").inner_text()
        checked(page, "SIP page sent", found)
        sip_id = page.url.rsplit("/", 1)[-1]

        replied = committing_app.test_client().post(
            f"/api/v1/sip/{sip_id}/reply", headers=bearer(vc_token),
            data=sip_svar(sip_id, deltagare=("Anna Rekosson", "Johan Ek, läkare")),
            content_type="application/xml")
        assert replied.status_code == 201, replied.get_data(as_text=True)
        page.reload()
        assert "Vårdcentralen kommer" in page.locator("#reply-state").inner_text()
        assert "Johan Ek, läkare" in page.content()
        assert page.locator("#sip-turn").inner_text().startswith("Er tur")
        checked(page, "SIP page replied", found)

        page.fill("#held_on", today.isoformat())
        page.click("button:has-text('Registrera utfall')")
        page.wait_for_selector("#outcome-confirm")
        assert "REKO kom." in page.locator("#outcome-confirm").inner_text()
        checked(page, "SIP outcome confirmation", found)
        page.click("button:has-text('Ja, registrera utfallet')")
        page.wait_for_selector("#outcome-state")
        assert f"Mötet hölls {today.isoformat()}. REKO kom." in page.locator(
            "#outcome-state").inner_text()
        assert page.locator("#plan").count() == 1
        checked(page, "SIP page held", found)

        page.goto(f"{live}/arenden")
        assert "SIP" in page.locator("table tbody").inner_text()
        checked(page, "Mina ärenden with a SIP", found)

    session = get_session()
    inquiry = session.scalar(select(Inquiry).where(Inquiry.id == sip_id))
    assert inquiry is not None and inquiry.form_type == FormType.SIP
    held = session.get(SipMeeting, sip_id)
    assert held is not None and held.held_on == today and held.reko_attended is True
    assert found == {}, found
