"""The log holds no personal data: a whole journey (inquiries in over the API and over SMTP, a
refusal, routed and notified, opened by the REKO, answered over the API and by mail, the answer
read by the case worker) logged at DEBUG, every logger included, names no person, personnummer
or free text of the form; and every line is one JSON object with the request's id."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import pytest
from flask import Flask

from gateway.auth.clients import create_client
from gateway.auth.models import Role
from gateway.db import database, get_session
from gateway.inquiries.models import Inquiry
from gateway.inquiries.notify import reply_address
from gateway.logs import JsonFormatter
from gateway.mail.listener import SmtpListener
from gateway.mail.mailer import make_transport
from gateway.mail.sink import MailSink
from tests.support.forms import (
    EBB_OSTER,
    KRYDDGARDEN_ADDRESS,
    MALMO,
    SKANE,
    halsoforfragan,
    personnummer,
)
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA, parties, post_answer, run_jobs, signed_answer
from tests.support.web import logged_in_browser

# What a form says about people, and its free text: none of it may reach the log.
PEOPLE = [
    {"personnummer": personnummer(dt.date(1971, 3, 14), 817),
     "person_namn": "Zelmira Hjortsbergsson", "person_telefon": "070-918 27 36",
     "handlaggare_namn": "Ingvild Ödmark", "handlaggare_telefon": "040-77 66 55",
     "epost": "ingvild.odmark@malmo.se", "dokumenterat_av": "Ingvild Ödmark",
     "bakgrund": "Bakgrundstext som bara finns i formuläret (vitsippa).",
     "planerade_insatser": "Insatsplanen som bara finns i formuläret (rabarber).",
     "fragor": (("AKTIVITETSFORMAGA", None), ("OVRIGT", "Fritext till vården (lingon)?"))},
    {"personnummer": personnummer(dt.date(1984, 11, 2), 436),
     "person_namn": "Olvard Tranbärsson", "person_telefon": "073-555 01 02",
     "handlaggare_namn": "Ragnfrid Skogh", "handlaggare_telefon": "040-11 22 33",
     "epost": "ragnfrid.skogh@malmo.se", "dokumenterat_av": "Ragnfrid Skogh",
     "bakgrund": "Annan bakgrund som bara finns i formuläret (hjortron).",
     "planerade_insatser": "Annan plan som bara finns i formuläret (krusbär).",
     "fragor": (("BEGRANSNINGAR", None), ("OVRIGT", "Annan fråga till vården (nypon)?"))},
]


def forbidden(person: dict[str, Any]) -> list[str]:
    """Return every text of the person's form that must not be logged, in the forms a log
    could show it (personnummer with and without century and hyphen)."""
    pnr = person["personnummer"]
    texts = [pnr, pnr[2:], f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}"]
    for key in ("person_namn", "person_telefon", "handlaggare_namn", "handlaggare_telefon",
                "epost", "bakgrund", "planerade_insatser"):
        texts.append(person[key])
    texts += [name for name in person["person_namn"].split()]
    texts += [text for _code, text in person["fragor"] if text]
    # The distinctive word of each free text, so that a shortened quote is caught too.
    texts += ["vitsippa", "rabarber", "lingon", "hjortron", "krusbär", "nypon"]
    return texts


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[str]]]:
    """Every record of every logger at DEBUG, formatted as production formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = {logger.name: logger.level for logger in loggers}
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        root.removeHandler(handler)
        for logger in loggers:
            logger.setLevel(levels[logger.name])


def smtp_send(port: int, ca_file: str, login: tuple[str, str], to: str,
              attachment: tuple[bytes, str, str]) -> tuple[int, str]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "system@example.org", to, "Bifogat"
    message.set_content("Se bifogad fil.")
    data, subtype, filename = attachment
    message.add_attachment(data, maintype="application", subtype=subtype, filename=filename)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=ca_file))
        smtp.login(*login)
        assert smtp.mail("system@example.org")[0] == 250
        code, text = smtp.rcpt(to)
        if code == 250:
            code, text = smtp.data(message.as_bytes(policy=SMTP_POLICY))
    return code, text.decode("utf-8")


def inquiry_id_in(reply: str) -> str:
    """Return the inquiry id in the listener's 250 reply."""
    found = re.search(r"hälsoförfrågan ([0-9a-f-]{36})", reply)
    assert found, reply
    return found.group(1)


def test_a_whole_journey_logs_no_personal_data(
    committing_app: Flask, installed_pki: TestPki, log_lines: Callable[[], list[str]]
) -> None:
    app = committing_app
    with MailSink() as sink:
        app.config["SMTP_RELAY"] = f"127.0.0.1:{sink.port}"
        app.extensions["gateway.mail"] = make_transport(app.config)
        with app.app_context():
            tokens = parties()
            session = get_session()
            smtp_client, smtp_secret = create_client(
                session, organisation=MALMO, functional_addresses=[EBB_OSTER], actor="cli:test")
            reko_client, reko_secret = create_client(
                session, organisation=SKANE, functional_addresses=[KRYDDGARDEN_ADDRESS],
                actor="cli:test")
            logins = {"ebb": (smtp_client.client_id, smtp_secret),
                      "reko": (reko_client.client_id, reko_secret)}
            session.commit()
        web = app.test_client()
        listener = SmtpListener(app, "127.0.0.1", 0)
        port = listener.start()
        ca_file = str(installed_pki.layout.ca_cert)
        try:
            # in over the API, and a refusal (consent expired) over the API
            sent = web.post("/api/v1/inquiries", data=halsoforfragan(**PEOPLE[0]),
                            headers={**bearer(tokens.sender), "X-Request-Id": "journey-0001"},
                            content_type="application/xml")
            assert sent.status_code == 201, sent.get_data(as_text=True)
            assert sent.headers["X-Request-Id"] == "journey-0001"
            api_id = sent.get_json()["id"]
            refused = web.post("/api/v1/inquiries",
                               data=halsoforfragan(**PEOPLE[1], giltigt_till="2001-01-01"),
                               headers=bearer(tokens.sender), content_type="application/xml")
            assert refused.status_code == 422, refused.get_data(as_text=True)
            # in over SMTP
            code, text = smtp_send(port, ca_file, logins["ebb"], "halsoforfragan@localhost",
                                   (halsoforfragan(**PEOPLE[1]), "xml", "form.xml"))
            assert code == 250, text
            with app.app_context():
                smtp_inquiry = get_session().get(Inquiry, inquiry_id_in(text))
                assert smtp_inquiry is not None
                smtp_id, reply_to = smtp_inquiry.id, reply_address(smtp_inquiry, app.config)

            # routed and notified
            with app.app_context():
                assert run_jobs(app) >= 2
            assert sink.messages

            # the REKO opens both
            with app.app_context():
                browser = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
            for inquiry_id in (api_id, smtp_id):
                page = browser.get(f"/inkorg/{inquiry_id}")
                assert page.status_code == 200
                assert PEOPLE[0 if inquiry_id == api_id else 1]["person_namn"] in page.get_data(
                    as_text=True)

            # answered: over the API, and by mail to the reply address
            with app.app_context():
                api_pdf = signed_answer(installed_pki, api_id)
                mail_pdf = signed_answer(installed_pki, smtp_id)
            accepted = post_answer(web, tokens.reko, api_id, api_pdf)
            assert accepted.status_code == 201, accepted.get_data(as_text=True)
            code, text = smtp_send(port, ca_file, logins["reko"], reply_to,
                                   (mail_pdf, "pdf", "svar.pdf"))
            assert code == 250, text

            # the case worker reads the answer
            fetched = web.get(f"/api/v1/inquiries/{api_id}/answer", headers=bearer(tokens.sender))
            assert fetched.status_code == 200
            assert fetched.get_data() == api_pdf
            with app.app_context():
                run_jobs(app)  # the answer's notification, if any
        finally:
            listener.stop()
            with app.app_context():
                database(app).engine.dispose()

    lines = log_lines()
    assert len(lines) > 20
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    leaked = [(text, line) for person in PEOPLE for text in forbidden(person)
              for line in lines if text.lower() in line.lower()]
    assert leaked == [], "\n".join(f"{t!r}: {line[:300]}" for t, line in leaked)
    access = [r for r in records if r["logger"] == "gateway.access"]
    assert {"method", "path", "status", "duration_ms", "request_id"} <= set(access[0])
    assert any(r.get("request_id") == "journey-0001" and r["status"] == 201 for r in access)
    # The SMTP intake's lines carry an id of their own message too.
    assert any(r["logger"].startswith("gateway.mail") and r.get("request_id") for r in records)

