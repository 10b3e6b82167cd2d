"""The same hälsoförfrågan accepted over POST /api/v1/inquiries, POST /v1/sdk/messages and the
web form in headless Chromium (log in with password and TOTP through the real pages, fill the
form, confirm the repeat warning, see it in Mina ärenden); axe-core (WCAG 2.1 AA) finds no
violations on the compose and Mina ärenden pages."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import get_session
from gateway.directory.service import stockholm_today
from gateway.inquiries.models import Inquiry
from tests.support.forms import KRYDDGARDEN, halsoforfragan
from tests.support.intake import bearer, install_pki, load_directory, make_pki, new_client
from tests.support.sdk import MESSAGES, message_body
from tests.support.web import PASSWORD

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def live(committing_app: Flask, instance: Path, tmp_path: Path) -> Iterator[str]:
    """The app served on a loopback port from a thread; yields its base URL."""
    install_pki(instance, make_pki(tmp_path))
    load_directory(get_session())
    server = make_server("127.0.0.1", 0, committing_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _user() -> str:
    session = get_session()
    _, secret = create_user(session, username="asa", role=Role.CASE_WORKER, password=PASSWORD,
                            display_name="Åsa Lindqvist", unit="EBB Öster")
    session.commit()
    return secret


def _axe(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    assert results.response["passes"], "axe checked nothing"
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})"
            for v in results.response["violations"]]


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
    secret = _user()
    token = new_client(get_session())
    http = committing_app.test_client()
    over_api = http.post("/api/v1/inquiries", data=halsoforfragan(), headers=bearer(token),
                         content_type="application/xml")
    assert over_api.status_code == 201, over_api.get_json()
    over_sdk = http.post(MESSAGES, json=message_body(halsoforfragan()), headers=bearer(token))
    assert over_sdk.status_code == 201, over_sdk.get_json()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(locale="sv-SE")
            page.goto(f"{live}/login")
            page.fill("#username", "asa")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("form button[type=submit]")
            page.goto(f"{live}/arenden/ny")
            assert page.locator("h1").inner_text() == "Ny hälsoförfrågan"
            compose_violations = _axe(page)
            _fill_form(page)
            page.click("form[enctype] button[type=submit]")
            # The API and SDK sends were about the same person to the same VC.
            warning = page.locator("#repeat-warning")
            assert "Det finns redan en förfrågan" in warning.inner_text()
            warning_violations = _axe(page)
            page.check("#confirm_repeat")
            page.click("form[enctype] button[type=submit]")
            assert "Hälsoförfrågan är skickad" in page.content()
            page.goto(f"{live}/arenden")
            assert "Visar 3 av 3 förfrågningar" in page.content()
            mine_violations = _axe(page)
        finally:
            browser.close()

    channels = sorted(get_session().scalars(select(Inquiry.channel)))
    assert channels == ["api", "sdk", "web"]
    assert compose_violations == [], compose_violations
    assert warning_violations == [], warning_violations
    assert mine_violations == [], mine_violations
