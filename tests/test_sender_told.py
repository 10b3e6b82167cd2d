"""Everyone is told: the case worker (the handläggare's e-mail in the form) gets one mail, through
a real relay on loopback, when an answer arrives, when the VC closes the inquiry and when it is
re-routed, with no personal data and a link; asking again or running the worker again mails
nothing more; the start pages count what waits; the REKO's reminders name their counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Inquiry
from gateway.inquiries.notify import SenderEvent, tell_sender
from gateway.jobs.worker import Worker
from gateway.mail.models import OutboxMail
from gateway.mail.sink import MailSink, ReceivedMail
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO, TOLVAN, halsoforfragan, nth_personnummer
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    ANNA_EMAIL,
    Parties,
    parties,
    post_answer,
    run_jobs,
    signed_answer,
)
from tests.support.reko import submit as submit_api
from tests.support.web import logged_in_browser

pytestmark = pytest.mark.usefixtures("installed_pki")
CASE_WORKER_EMAIL = "asa.lindqvist@malmo.se"
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))
# What must never be in a mail: the person, the form's free text, the answer.
PERSONAL = ("Tolvan", TOLVAN, "19121212-1212", "ekonomiskt bistånd", "Klarar", "070-123")


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as running:
        yield running


@pytest.fixture
def app(make_app: AppMaker, sink: MailSink) -> Iterator[Flask]:
    application = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
    with application.app_context():
        yield application


@pytest.fixture
def tokens(app: Flask) -> Parties:
    return parties()


def to_case_worker(sink: MailSink) -> list[ReceivedMail]:
    return [m for m in sink.messages if CASE_WORKER_EMAIL in m.rcpt_tos]


def assert_no_personal_data(mail: ReceivedMail) -> None:
    for text in PERSONAL:
        assert text.lower() not in (mail.subject + mail.body).lower(), text


def test_an_answer_mails_the_case_worker_once_with_a_link_and_nothing_personal(
    app: Flask, tokens: Parties, sink: MailSink, installed_pki: TestPki
) -> None:
    client = app.test_client()
    inquiry_id = submit_api(client, tokens.sender)
    pdf = signed_answer(installed_pki, inquiry_id)
    assert post_answer(client, tokens.reko, inquiry_id, pdf).status_code == 201
    run_jobs(app)
    mails = to_case_worker(sink)
    assert len(mails) == 1
    assert mails[0].subject == "Svar från Vårdcentralen Kryddgården på en hälsoförfrågan"
    assert f"http://localhost/arenden/{inquiry_id}" in mails[0].body
    assert_no_personal_data(mails[0])
    # Asked again (a retried request, a second call) and the worker run again: nothing more.
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None
    tell_sender(get_session(), inquiry, SenderEvent.ANSWERED)
    get_session().commit()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    run_jobs(app, later)
    assert len(to_case_worker(sink)) == 1
    rows = get_session().scalars(select(OutboxMail).where(
        OutboxMail.recipient == CASE_WORKER_EMAIL))
    assert [row.kind for row in rows] == ["inquiry.sender.answered"]


def test_closing_by_the_vc_mails_the_reason_in_words_but_not_its_text(
    app: Flask, tokens: Parties, sink: MailSink
) -> None:
    client = app.test_client()
    inquiry_id = submit_api(client, tokens.sender)
    closed = client.post(f"/api/v1/inquiries/{inquiry_id}/close", headers=bearer(tokens.reko),
                         json={"reason": "OTHER", "text": "Tolvan ringde och sa nej"})
    assert closed.status_code == 200, closed.get_json()
    run_jobs(app)
    mails = to_case_worker(sink)
    assert len(mails) == 1
    assert mails[0].subject == "Hälsoförfrågan avslutad utan svar av Vårdcentralen Kryddgården"
    assert "Anledning: Annan anledning" in mails[0].body
    assert "ringde" not in mails[0].body
    assert_no_personal_data(mails[0])


def test_closing_by_the_senders_own_side_mails_nobody(
    app: Flask, tokens: Parties, sink: MailSink
) -> None:
    client = app.test_client()
    inquiry_id = submit_api(client, tokens.sender)
    closed = client.post(f"/api/v1/inquiries/{inquiry_id}/close",
                         headers=bearer(tokens.sender), json={"reason": "WITHDRAWN_BY_SENDER"})
    assert closed.status_code == 200, closed.get_json()
    run_jobs(app)
    assert to_case_worker(sink) == []


def test_a_reroute_mails_the_case_worker_once_per_reroute(
    app: Flask, tokens: Parties, sink: MailSink
) -> None:
    # A re-route through the service is refused by C4 for every consent that passed intake
    # (the consent names the first VC), so the re-route's own mail is queued as reroute does.
    inquiry_id = submit_api(app.test_client(), tokens.sender)
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None
    for occurrence in (1, 1, 2):
        tell_sender(get_session(), inquiry, SenderEvent.REROUTED, occurrence=occurrence)
    get_session().commit()
    run_jobs(app)
    mails = to_case_worker(sink)
    assert len(mails) == 2
    assert {m.subject for m in mails} == {
        "Hälsoförfrågan skickad vidare till Vårdcentralen Kryddgården"}
    for mail in mails:
        assert_no_personal_data(mail)


def received_days_ago(days: int, nth: int) -> str:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    result = submit(get_session(), halsoforfragan(moment, personnummer=nth_personnummer(nth)),
                    submitter=SUBMITTER, channel="api", now=moment)
    get_session().commit()
    return result.inquiry.id


def test_the_start_pages_count_what_waits(
    app: Flask, tokens: Parties, installed_pki: TestPki
) -> None:
    from tests.support.reko import ANNA

    client = app.test_client()
    answered = [received_days_ago(2, n) for n in (1, 2)]
    for inquiry_id in answered:
        pdf = signed_answer(installed_pki, inquiry_id)
        assert post_answer(client, tokens.reko, inquiry_id, pdf).status_code == 201
    received_days_ago(40, 3)  # overdue
    received_days_ago(1, 4)
    worker = logged_in_browser(app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
    page = worker.get("/").get_data(as_text=True)
    assert "2 nya svar" in page and "2 väntar på svar" in page and "1 försenad" in page
    worker.get(f"/arende/{answered[0]}/svar.pdf")  # read: no longer new
    assert "1 nytt svar" in worker.get("/").get_data(as_text=True)
    anna = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    reko_page = anna.get("/").get_data(as_text=True)
    assert "2 väntar på svar" in reko_page and "1 försenad" in reko_page
    assert "nya svar" not in reko_page


def test_the_reko_reminder_names_how_many_wait_and_how_many_are_overdue(
    app: Flask, tokens: Parties, sink: MailSink
) -> None:
    received_days_ago(21, 1)
    received_days_ago(35, 2)
    received_days_ago(3, 3)
    Worker(app, "test:scan").run(once=True)  # the scan queues; the next run sends
    run_jobs(app)
    reminders = [m for m in sink.messages
                 if ANNA_EMAIL in m.rcpt_tos and m.subject.startswith("Påminnelse")]
    assert len(reminders) == 1
    assert ("Du har 3 hälsoförfrågningar som väntar på svar på dina vårdcentraler, varav 1 "
            "har passerat sista svarsdag.") in reminders[0].body
    assert_no_personal_data(reminders[0])
