"""The REKO composes an answer, signs it with a PKCS#12 and sends it, in headless Chromium: log in
with password and TOTP through the real pages, open the inquiry from the inbox, fill one field
per question, choose the .p12 and passphrase, and see the answer accepted."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from werkzeug.serving import make_server

from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import get_session
from tests.support.intake import load_directory
from tests.support.pdfs import PASSPHRASE
from tests.support.reko import ANNA, leg_kinds, reko_pki_template  # noqa: F401 - fixture
from tests.support.reko import submit as submit_api
from tests.support.web import PASSWORD

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def live(committing_app: Flask, instance: Path,
         reko_pki_template: Path) -> Iterator[str]:  # noqa: F811
    """The app served on a loopback port from a thread; yields its base URL."""
    shutil.copytree(reko_pki_template, instance / "pki")
    load_directory(get_session())
    server = make_server("127.0.0.1", 0, committing_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_reko_composes_signs_and_sends_an_answer(
    committing_app: Flask, live: str, instance: Path
) -> None:
    from tests.support.intake import new_client

    session = get_session()
    _, secret = create_user(session, username="anna", role=Role.COORDINATOR, password=PASSWORD,
                            display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    session.commit()
    inquiry_id = submit_api(committing_app.test_client(), new_client(get_session()))
    p12 = instance / "pki" / "reko" / f"{ANNA.hsa_id}.p12"
    assert p12.exists()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(locale="sv-SE")
            page.goto(f"{live}/login")
            page.fill("#username", "anna")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("form button[type=submit]")
            page.goto(f"{live}/inkorg")
            page.click(f"text={inquiry_id[:8]}")
            assert "Tolvan Tolvansson" in page.content()
            page.click("text=Skriv svaret här")
            page.fill("#svar_AKTIVITETSFORMAGA", "Klarar arbete på halvtid.")
            page.fill("#svar_BEGRANSNINGAR", "Inga tunga lyft.")
            page.fill("#svar_OVRIGT", "Förmiddagar går bra.")
            page.fill("#lakare_namn", "Johan Ek")
            page.set_input_files("#p12", str(p12))
            page.fill("#passphrase", PASSPHRASE)
            page.click("button[name=action][value=sign]")
            assert "Svaret är godkänt" in page.content()
        finally:
            browser.close()

    assert leg_kinds(inquiry_id)[-1] == "answered"
