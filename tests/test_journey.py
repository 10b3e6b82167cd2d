"""The whole journey of one hälsoförfrågan over HTTP: submitted, notified (mail caught by a real
SMTP server on loopback), opened by the REKO, answered with a signed PDF, fetched byte for byte
by the sender and registered, with the legs in that order."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gateway.auth.models import Role
from gateway.mail.sink import MailSink
from tests.conftest import AppMaker
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    ANNA,
    ANNA_EMAIL,
    DEPUTY_EMAIL,
    parties,
    post_answer,
    run_jobs,
    signed_answer,
    submit,
)
from tests.support.web import logged_in_browser


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def test_the_full_journey_over_http(
    make_app: AppMaker, sink: MailSink, installed_pki: TestPki
) -> None:
    app = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
    with app.app_context():
        tokens = parties()
        client = app.test_client()
        inquiry_id = submit(client, tokens.sender)

        # notified: the worker hands the mail to the relay (our sink) and writes the leg
        assert run_jobs(app) == 1
        mails = sink.messages
        assert sorted(r for m in mails for r in m.rcpt_tos) == sorted([ANNA_EMAIL, DEPUTY_EMAIL])
        body = mails[0].body
        assert f"/inkorg/{inquiry_id}" in body
        assert re.search(r"svar\+[A-Za-z0-9_-]{16,}@localhost", body)
        assert "Tolvan" not in body and "191212121212" not in body

        # opened: Anna logs in and opens it from the link
        browser = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        page = browser.get(f"/inkorg/{inquiry_id}")
        assert page.status_code == 200
        assert "Tolvan Tolvansson" in page.get_data(as_text=True)

        # answered: Kryddgården's system posts Anna's signed PDF
        pdf = signed_answer(installed_pki, inquiry_id)
        accepted = post_answer(client, tokens.reko, inquiry_id, pdf)
        assert accepted.status_code == 201, accepted.get_data(as_text=True)
        assert accepted.get_json()["report"]["ok"] is True

        # fetched byte-identical by the sender, then registered
        fetched = client.get(f"/api/v1/inquiries/{inquiry_id}/answer",
                             headers=bearer(tokens.sender))
        assert fetched.status_code == 200
        assert fetched.mimetype == "application/pdf"
        assert fetched.get_data() == pdf
        registered = client.post(f"/api/v1/inquiries/{inquiry_id}/registered",
                                 headers=bearer(tokens.sender))
        assert registered.status_code == 200, registered.get_data(as_text=True)

        status = client.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(tokens.sender))
        body_json = status.get_json()
        kinds = [leg["kind"] for leg in body_json["legs"]]
        assert kinds == ["submitted", "received", "routed", "notified", "opened", "answered",
                         "answer_delivered", "registered"]
        assert body_json["status"] == "registered"
        assert body_json["turn"] == "none"
        times = [leg["at"] for leg in body_json["legs"][1:]]
        assert times == sorted(times)
