"""The case worker's day in headless Chromium: told by mail (a link, nothing personal) that an
answer came, the start page counts it, the answer read as a statement that names the person,
marked registered; another inquiry closed only after choosing a reason and confirming what
the VC will see. axe-core finds no WCAG 2.1 AA violation on any of these page states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry
from gateway.mail.models import OutboxMail
from tests.support.chromium import axe_violations, chromium_page, log_in
from tests.support.forms import EBB_OSTER, nth_personnummer
from tests.support.pdfs import TestPki
from tests.support.reko import leg_kinds, parties, post_answer, run_jobs, signed_answer
from tests.support.reko import submit as submit_api
from tests.support.web import add_user, live_server

pytestmark = pytest.mark.slow

CASE_WORKER_EMAIL = "asa.lindqvist@malmo.se"


@pytest.fixture
def live(committing_app: Flask, installed_pki: TestPki) -> Iterator[str]:
    with live_server(committing_app) as base_url:
        yield base_url


def legs(inquiry_id: str) -> list[str]:
    """The inquiry's leg kinds; the read ends at once so the server may write (SQLite)."""
    kinds = leg_kinds(inquiry_id)
    get_session().rollback()
    return kinds


def checked(page: Any, state: str, found: dict[str, list[str]]) -> None:
    problems = axe_violations(page)
    if problems:
        found[state] = problems


def test_the_case_workers_day_told_read_register_and_close(
    committing_app: Flask, installed_pki: TestPki, live: str
) -> None:
    tokens = parties()
    http = committing_app.test_client()
    answered = submit_api(http, tokens.sender, personnummer=nth_personnummer(1),
                          person_namn="Tolvan Tolvansson")
    waiting = submit_api(http, tokens.sender, personnummer=nth_personnummer(2),
                         person_namn="Greta Exempel")
    pdf = signed_answer(installed_pki, answered)
    assert post_answer(http, tokens.reko, answered, pdf).status_code == 201
    run_jobs(committing_app)  # the mail waits in the outbox (no relay here; see test_sender_told)
    (mail,) = get_session().scalars(select(OutboxMail).where(
        OutboxMail.recipient == CASE_WORKER_EMAIL, OutboxMail.kind == "inquiry.sender.answered"))
    assert f"/arenden/{answered}" in mail.body
    for personal in ("Tolvan", nth_personnummer(1), nth_personnummer(1)[:8]):
        assert personal not in mail.subject + mail.body
    references = {i: get_session().scalar(select(Inquiry.reference).where(Inquiry.id == i))
                  for i in (answered, waiting)}
    get_session().rollback()  # end the read: the server writes next (SQLite)
    secret = add_user("asa", Role.CASE_WORKER, display_name="Åsa Lindqvist", unit=EBB_OSTER)
    found: dict[str, list[str]] = {}

    with chromium_page() as page:
        log_in(page, live, "asa", secret)
        assert "1 nytt svar" in page.content()
        checked(page, "start page", found)
        # The link in the mail, as the case worker follows it.
        page.goto(f"{live}/arenden/{answered}")
        page.wait_for_selector(f"dd:has-text('{references[answered]}')")
        checked(page, "inquiry with answer", found)
        page.click("text=Läs svaret")
        page.wait_for_selector("h1:has-text('Svar på hälsoförfrågan')")
        assert "Tolvan Tolvansson" in page.content()
        statement = page.content()
        hyphenated = f"{nth_personnummer(1)[:8]}-{nth_personnummer(1)[8:]}"
        assert hyphenated in statement and "Vårdcentralen Kryddgården" in statement
        checked(page, "answer statement", found)
        assert "answer_delivered" in legs(answered)
        page.goto(f"{live}/arenden/{answered}")
        page.click("text=Markera som registrerad")
        page.wait_for_selector("text=Svaret är markerat som registrerat.")
        assert legs(answered)[-1] == "registered"

        page.goto(f"{live}/arenden/{waiting}")
        page.click("text=Gå vidare till bekräftelse")
        page.wait_for_selector("text=Välj varför förfrågan avslutas utan svar")
        assert "closed" not in legs(waiting)
        checked(page, "close without a reason", found)
        page.check("text=Återkallad av avsändaren")
        page.click("text=Gå vidare till bekräftelse")
        page.wait_for_selector("text=Det här ser den andra parten")
        assert "closed" not in legs(waiting)
        checked(page, "close confirmation", found)
        page.click("text=Ja, avsluta utan svar")
        page.wait_for_selector(f"text=Förfrågan {references[waiting]} är avslutad utan svar")
        assert legs(waiting)[-1] == "closed"

    assert found == {}
