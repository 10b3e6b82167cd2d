"""The REKO composes an answer, signs it with a PKCS#12 and sends it, in headless Chromium: log in
with password and TOTP through the real pages, open the inquiry from the inbox, fill one field
per question, choose the .p12 and passphrase, and see the answer accepted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session
from tests.support.chromium import chromium_page, log_in
from tests.support.intake import load_directory, new_client
from tests.support.pdfs import PASSPHRASE, TestPki
from tests.support.reko import ANNA, leg_kinds
from tests.support.reko import submit as submit_api
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def test_reko_composes_signs_and_sends_an_answer(
    committing_app: Flask, live: str, installed_pki: TestPki
) -> None:
    secret = add_user("anna", Role.COORDINATOR, display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    inquiry_id = submit_api(committing_app.test_client(), new_client(get_session()))
    p12 = installed_pki.layout.reko_pkcs12(ANNA.hsa_id)
    assert p12.exists()

    with chromium_page() as page:
        log_in(page, live, "anna", secret)
        page.goto(f"{live}/inkorg")
        page.click(f"text={inquiry_id[:8]}")
        # A click starts the navigation; wait for the new page before reading it.
        page.wait_for_selector("text=Tolvan Tolvansson")
        page.click("text=Skriv svaret här")
        page.fill("#svar_AKTIVITETSFORMAGA", "Klarar arbete på halvtid.")
        page.fill("#svar_BEGRANSNINGAR", "Inga tunga lyft.")
        page.fill("#svar_OVRIGT", "Förmiddagar går bra.")
        page.fill("#lakare_namn", "Johan Ek")
        page.set_input_files("#p12", str(p12))
        page.fill("#passphrase", PASSPHRASE)
        page.click("button[name=action][value=sign]")
        page.wait_for_selector("text=Svaret är godkänt")

    assert leg_kinds(inquiry_id)[-1] == "answered"
