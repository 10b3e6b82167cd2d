"""Answers by mail: a REKO system sends the signed PDF to the inquiry's reply address over SMTP
(STARTTLS, AUTH as the API client); 250 on acceptance, 5xx naming the rule codes on refusal."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import create_client
from gateway.db import database, utcnow
from gateway.inquiries.answers import answer_for
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Inquiry, Leg
from gateway.inquiries.notify import reply_address
from gateway.mail.listener import SmtpListener
from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE, halsoforfragan
from tests.support.intake import load_directory
from tests.support.pdfs import TestPki, plain_pdf, sign
from tests.support.reko import (
    ANNA,
    CECILIA,
    HUSIE_ADDRESS,
    signed_answer,
)

FROM = "reko-system@skane.example"


@dataclass
class World:
    app: Flask
    port: int
    clients: dict[str, tuple[str, str]]
    pki: TestPki
    ca_file: Path

    def send(self, who: str, to: str, pdf: bytes | None) -> tuple[int, str]:
        """Send the PDF (if any) to `to` as `who`; return the RCPT refusal or DATA's reply."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = FROM, to, "Svar"
        message.set_content("Signerat svar bifogas.")
        if pdf is not None:
            message.add_attachment(pdf, maintype="application", subtype="pdf",
                                   filename="svar.pdf")
        return self.rcpt(who, to, message.as_bytes(policy=SMTP_POLICY))

    def rcpt(self, who: str, to: str, data: bytes | None = None) -> tuple[int, str]:
        """Log in as `who` and name `to` at RCPT; return its reply, or with `data` accepted
        there, DATA's reply."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.starttls(context=context)
            smtp.login(*self.clients[who])
            assert smtp.mail(FROM)[0] == 250
            code, text = smtp.rcpt(to)
            if code == 250 and data is not None:
                code, text = smtp.data(data)
        return code, text.decode("utf-8")

    def denials(self, inquiry_id: str) -> list[dict[str, Any]]:
        with database(self.app).transaction() as session:
            rows = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "answer.submit", AuditEntry.object_id == inquiry_id,
                AuditEntry.outcome == "denied").order_by(AuditEntry.seq))
            return [dict(row.detail or {}) for row in rows]

    def new_inquiry(self) -> tuple[str, str]:
        """Submit an inquiry; return its id and its reply address."""
        with self.app.app_context(), database(self.app).transaction() as session:
            result = submit(session, halsoforfragan(), channel="api", now=utcnow(),
                            submitter=Submitter("client:t", MALMO, frozenset({EBB_OSTER})))
            address = reply_address(result.inquiry, self.app.config)
            return result.inquiry.id, address

    def kinds(self, inquiry_id: str) -> list[str]:
        with database(self.app).transaction() as session:
            legs = session.scalars(select(Leg).where(Leg.inquiry_id == inquiry_id)
                                   .order_by(Leg.id))
            return [leg.kind.value for leg in legs]


@pytest.fixture
def world(committing_app: Flask, installed_pki: TestPki) -> Iterator[World]:
    clients = {}
    with database(committing_app).transaction() as session:
        load_directory(session)
    for name, organisation, address in (("reko", SKANE, KRYDDGARDEN_ADDRESS),
                                        ("husie", SKANE, HUSIE_ADDRESS),
                                        ("ebb", MALMO, EBB_OSTER)):
        with database(committing_app).transaction() as session:
            client, secret = create_client(session, organisation=organisation,
                                           functional_addresses=[address], actor="cli:test")
            clients[name] = (client.client_id, secret)
    listener = SmtpListener(committing_app, "127.0.0.1", 0)
    port = listener.start()
    try:
        yield World(committing_app, port, clients, installed_pki, installed_pki.layout.ca_cert)
    finally:
        listener.stop()


def test_a_signed_answer_to_the_reply_address_is_accepted(world: World) -> None:
    inquiry_id, address = world.new_inquiry()
    with world.app.app_context():
        pdf = signed_answer(world.pki, inquiry_id)
    code, text = world.send("reko", address, pdf)
    assert code == 250, text
    assert inquiry_id in text
    assert world.kinds(inquiry_id)[-1] == "answered"


def test_a_large_answer_is_taken_from_disk_and_stored_byte_for_byte(world: World) -> None:
    # 3 MB of PDF: its mail and its decoded attachment are spooled to disk on the way in.
    inquiry_id, address = world.new_inquiry()
    pdf = sign(plain_pdf(reference=inquiry_id, padding=3 * 1024 * 1024),
               world.pki.layout.reko_pkcs12(ANNA.hsa_id).read_bytes())
    code, text = world.send("reko", address, pdf)
    assert code == 250, text
    with world.app.app_context(), database(world.app).transaction() as session:
        stored = answer_for(session, inquiry_id)
        assert stored is not None and stored.pdf == pdf


def test_refusals_name_the_rule_and_store_nothing(world: World) -> None:
    inquiry_id, address = world.new_inquiry()
    with world.app.app_context():
        wrong_reko = signed_answer(world.pki, inquiry_id, CECILIA)
    code, text = world.send("reko", address, wrong_reko)
    assert code == 554 and "P4" in text
    code, text = world.send("reko", address, b"inte en pdf")
    assert code == 554 and "P1" in text
    code, text = world.send("reko", address, None)
    assert code == 550 and "MAIL_NO_PDF" in text
    assert "answered" not in world.kinds(inquiry_id)
    # Each refused answer is a denied attempt naming its rules (issue 14, hole 10).
    assert [(d["reason"], d["codes"], d["channel"]) for d in world.denials(inquiry_id)] == [
        ("ANSWER_REFUSED", ["P4"], "smtp"), ("ANSWER_REFUSED", ["P1"], "smtp")]


def test_another_vcs_client_and_unknown_tokens_are_refused(world: World) -> None:
    inquiry_id, address = world.new_inquiry()
    with world.app.app_context():
        pdf = signed_answer(world.pki, inquiry_id)
    # Another VC's client gets what an unknown token gets (refused at RCPT).
    code, text = world.send("husie", address, pdf)
    assert code == 550 and "5.1.1" in text
    code, _ = world.send("reko", "svar+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@localhost", pdf)
    assert code == 550
    with database(world.app).transaction() as session:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None and inquiry.reply_token_hash is not None
        assert inquiry.reply_token_hash not in address  # only the hash is stored
    assert "answered" not in world.kinds(inquiry_id)


def test_who_may_answer_is_decided_at_rcpt_before_any_data(world: World) -> None:
    inquiry_id, address = world.new_inquiry()
    unknown = "svar+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@localhost"
    # Another VC's client learns nothing more than from an unknown token: the same reply.
    assert world.rcpt("husie", address) == world.rcpt("husie", unknown)
    assert world.rcpt("husie", address)[0] == 550
    # The sender's own client knows the inquiry: it is told why.
    code, text = world.rcpt("ebb", address)
    assert code == 550 and "5.7.1" in text
    assert world.rcpt("reko", address)[0] == 250
    assert world.denials(inquiry_id) == [
        {"reason": "not_party", "channel": "smtp"},
        {"reason": "not_party", "channel": "smtp"},
        {"reason": "other_side", "channel": "smtp"},
    ]
    assert "answered" not in world.kinds(inquiry_id)
