"""The REKO composes an answer and signs it in headless Chromium: log in with password and TOTP
through the real pages, open the inquiry from the inbox, fill one field per question, choose the
.p12 and type its passphrase; the browser signs with WebCrypto and neither the file nor the
passphrase is in any request it makes. The answer is accepted, and poppler's pdfsig agrees."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.answers import answer_for
from signing.certificates import load_pkcs12
from tests.support.chromium import chromium_page, log_in
from tests.support.intake import load_directory, new_client
from tests.support.pdfs import PASSPHRASE, TestPki, nss_db, pdfsig_verify
from tests.support.reko import ANNA, CECILIA, leg_kinds
from tests.support.reko import submit as submit_api
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow

BUNDLE = Path(__file__).parents[1] / "gateway" / "static" / "js" / "signing.js"
# A passphrase that cannot turn up in a request by chance.
SECRET = "Kryddgarden-hemligt-4711"


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    """The app with the demo directory, served on a loopback port; yields its base URL."""
    assert BUNDLE.exists(), "the browser's signing code is not built: run `make assets`"
    load_directory(get_session())
    with live_server(committing_app) as base_url:
        yield base_url


def own_p12(pki: TestPki, hsa_id: str, folder: Path) -> tuple[Path, bytes]:
    """The REKO's PKCS#12 from the development PKI, under SECRET; its path and bytes."""
    issued = load_pkcs12(pki.layout.reko_pkcs12(hsa_id).read_bytes(), PASSPHRASE)
    data = issued.to_pkcs12(SECRET)
    path = folder / f"{hsa_id}.p12"
    path.write_bytes(data)
    return path, data


def compose(page: Any, live: str, inquiry_id: str) -> None:
    # Straight to the case: the inbox's own steps (unit, search, open) have their browser test.
    page.goto(f"{live}/inkorg/{inquiry_id}")
    page.wait_for_selector("text=Tolvan Tolvansson")
    page.click("text=Skriv svaret här")
    page.fill("#svar_AKTIVITETSFORMAGA", "Klarar arbete på halvtid.")
    page.fill("#svar_BEGRANSNINGAR", "Inga tunga lyft.")
    page.fill("#svar_OVRIGT", "Förmiddagar går bra.")
    page.fill("#lakare_namn", "Johan Ek")


def sign(page: Any, p12: Path, passphrase: str) -> None:
    page.set_input_files("#p12", str(p12))
    page.fill("#passphrase", passphrase)
    page.click("#signera-knapp")


def test_reko_signs_in_the_browser_and_the_key_never_leaves_it(
    committing_app: Flask, live: str, installed_pki: TestPki, tmp_path: Path
) -> None:
    secret = add_user("anna", Role.COORDINATOR, display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    inquiry_id = submit_api(committing_app.test_client(), new_client(get_session()))
    p12, p12_bytes = own_p12(installed_pki, ANNA.hsa_id, tmp_path)
    sent: list[tuple[str, str, bytes]] = []

    with chromium_page() as page:
        page.on("request",
                lambda r: sent.append((r.method, r.url, r.post_data_buffer or b"")))
        log_in(page, live, "anna", secret)
        compose(page, live, inquiry_id)
        sign(page, p12, "fel lösenord")
        page.wait_for_selector("#signera-fel >> text=Fel lösenord")
        sign(page, p12, SECRET)
        page.wait_for_selector("text=Svaret är godkänt")

    assert leg_kinds(inquiry_id)[-1] == "answered"
    posts = [url for method, url, _ in sent if method == "POST" and "/svara" in url]
    # Prepare, then finish; a wrong passphrase sent nothing.
    assert [url.rsplit("/", 1)[-1] for url in posts] == ["forbered", "svara"]
    for _, url, body in sent:
        for secret_bytes in (p12_bytes, base64.b64encode(p12_bytes), SECRET.encode()):
            assert secret_bytes not in body and secret_bytes.decode("latin-1") not in url
        # Not even a part of the file: its encrypted key bag is its last few hundred bytes.
        assert p12_bytes[-600:-400] not in body

    stored = answer_for(get_session(), inquiry_id)
    assert stored is not None and stored.report.ok
    checked = pdfsig_verify(stored.pdf, nss_db(tmp_path / "nss", installed_pki, []), tmp_path)
    assert "Signature is Valid." in checked and "Certificate is Trusted." in checked


def test_a_refused_browser_signature_shows_the_rule_and_keeps_the_answer(
    committing_app: Flask, live: str, installed_pki: TestPki, tmp_path: Path
) -> None:
    secret = add_user("anna", Role.COORDINATOR, display_name="Anna Rekosson", hsa_id=ANNA.hsa_id)
    inquiry_id = submit_api(committing_app.test_client(), new_client(get_session()))
    # Cecilia is the REKO of another VC: her signature is valid, but not this inquiry's (P4).
    p12, _ = own_p12(installed_pki, CECILIA.hsa_id, tmp_path)

    with chromium_page() as page:
        log_in(page, live, "anna", secret)
        compose(page, live, inquiry_id)
        sign(page, p12, SECRET)
        page.wait_for_selector("#signera-fel-server >> text=P4")
        assert page.input_value("#svar_BEGRANSNINGAR") == "Inga tunga lyft."
        assert page.input_value("#lakare_namn") == "Johan Ek"

    assert "answered" not in leg_kinds(inquiry_id)
