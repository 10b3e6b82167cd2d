"""The answer identifies the person: the PDF the composer renders names the person (with a
hyphenated personnummer), the VC and its HSA-id, the REKO, the physician, the questions with
their answers, the reference and the dates; the case worker's answer page shows the same, and
reading it is audited (and delivers the answer) as downloading the PDF is."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import select

from forms.dates import local_date, stockholm_today
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, KRYDDGARDEN
from tests.support.holder import chain_of, sign_with
from tests.support.pdfs import TestPki, pdftotext
from tests.support.reko import ANNA, Parties, leg_kinds, parties, post_answer, signed_answer, submit
from tests.support.web import Browser, logged_in_browser, print_note

ANSWERS = {
    "svar_AKTIVITETSFORMAGA": "Klarar halvtid med pauser.",
    "svar_BEGRANSNINGAR": "Inga tunga lyft.",
    "svar_OVRIGT": "Förmiddagar går bra.",
    "sip": "ja",
    "lakare_namn": "Johan Ek",
    "lakare_hsa": "SE2321000255-L001",
}


def expected_facts(inquiry: Inquiry) -> list[str]:
    """What both the PDF and the case worker's page must say."""
    return [
        "Tolvan Tolvansson",
        "19121212-1212",
        "Vårdcentralen Kryddgården",
        KRYDDGARDEN,
        "Anna Rekosson",
        ANNA.hsa_id,
        "Johan Ek",
        "SE2321000255-L001",
        "Aktivitetsförmåga",
        "Klarar halvtid med pauser.",
        "Begränsningar",
        "Inga tunga lyft.",
        "Förmiddagar går bra.",
        inquiry.reference,  # the reference people quote (the id is in the metadata, P7)
        local_date(inquiry.created_at).isoformat(),
        inquiry.deadline.isoformat(),
        "Ekonomiskt bistånd och boende Öster",
    ]


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> tuple[Flask, Parties, Browser]:
    app = make_app()
    with app.app_context():
        tokens = parties()
        anna = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    return app, tokens, anna


def compose(anna: Browser, inquiry_id: str, path: str = "", **extra: Any) -> Any:
    """Post the composer's fields (and `extra`) to the composer, or to its `path` below it."""
    page = f"/inkorg/{inquiry_id}/svara"
    fields = cast(dict[str, str], {"csrf_token": anna.token(page), **ANSWERS, **extra})
    return anna.post(page + path, fields, content_type="multipart/form-data")


def sign_in_composer(anna: Browser, inquiry_id: str, p12: bytes) -> Any:
    """Sign as the browser does: send the chain, sign the prepared bytes, send the value."""
    prepared = compose(anna, inquiry_id, path="/forbered",
                       kedja=[base64.b64encode(c).decode() for c in chain_of(p12)])
    assert prepared.status_code == 200, prepared.get_data(as_text=True)
    body = prepared.get_json()
    value = sign_with(p12, base64.b64decode(body["to_sign"]))
    return compose(anna, inquiry_id, action="finish", signatur_id=body["id"],
                   signatur=base64.b64encode(value).decode())


def test_the_composed_pdf_names_the_person_the_vc_the_reko_and_the_answers(
    world: tuple[Flask, Parties, Browser], tmp_path: Path
) -> None:
    app, tokens, anna = world
    with app.app_context():
        inquiry_id = submit(app.test_client(), tokens.sender)
        inquiry = get_session().get(Inquiry, inquiry_id)
        assert inquiry is not None
        download = compose(anna, inquiry_id, action="download")
        assert download.status_code == 200, download.get_data(as_text=True)
        text = pdftotext(download.get_data(), tmp_path)
        for fact in expected_facts(inquiry):
            assert fact in text, fact
        assert "191212121212" not in text  # written with its hyphen
        assert f"Besvarad {stockholm_today().isoformat()}" in text


def test_the_case_worker_reads_the_same_answer_and_the_read_is_audited(
    world: tuple[Flask, Parties, Browser], installed_pki: TestPki
) -> None:
    app, tokens, anna = world
    with app.app_context():
        inquiry_id = submit(app.test_client(), tokens.sender)
        signed = sign_in_composer(anna, inquiry_id,
                                  installed_pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes())
        assert signed.status_code == 302, signed.get_data(as_text=True)
        inquiry = get_session().get(Inquiry, inquiry_id)
        assert inquiry is not None
        worker = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        detail = worker.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
        assert f"/arende/{inquiry_id}/svar\"" in detail  # the panel links to the page
        page = worker.get(f"/arende/{inquiry_id}/svar")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for fact in expected_facts(inquiry):
            assert fact in html, fact
        assert "SIP rekommenderas" in html
        # Printed, the statement says who printed it, when, and that it is confidential.
        note = print_note(html)
        assert "asa" in note and "sekretess" in note and "OSL" in note, note
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d svensk tid", note), note
        # The REKO's page of the same inquiry, answered, prints the same way with their name.
        assert "anna" in print_note(anna.get(f"/inkorg/{inquiry_id}").get_data(
            as_text=True))
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "answer.read", AuditEntry.object_id == inquiry_id))
        assert len(list(reads)) == 1
        assert "answer_delivered" in leg_kinds(inquiry_id)
        # Only the sender reads the answer page.
        assert anna.get(f"/arende/{inquiry_id}/svar").status_code == 403


def test_an_uploaded_answer_without_its_structured_part_points_to_the_pdf(
    world: tuple[Flask, Parties, Browser], installed_pki: TestPki
) -> None:
    app, tokens, _ = world
    with app.app_context():
        client = app.test_client()
        inquiry_id = submit(client, tokens.sender)
        pdf = signed_answer(installed_pki, inquiry_id)
        assert post_answer(client, tokens.reko, inquiry_id, pdf).status_code == 201
        worker = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        html = worker.get(f"/arende/{inquiry_id}/svar").get_data(as_text=True)
        assert "Tolvan Tolvansson" in html and "19121212-1212" in html
        assert "utan strukturerade uppgifter" in html
