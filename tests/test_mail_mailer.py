"""Outgoing mail: the outbox refuses personal data, waits while the relay is away, and delivers
each mail exactly once when it is back (STARTTLS and AUTH when the relay asks for them)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from gateway import create_app
from gateway.db import database, get_session
from gateway.errors import ConfigError
from gateway.jobs.models import Job, JobState
from gateway.jobs.service import enqueue
from gateway.jobs.worker import Worker
from gateway.mail.mailer import SEND_JOB, MailRefused, looks_like_personnummer, queue_mail
from gateway.mail.models import OutboxMail
from gateway.mail.outbox import send_mail
from gateway.mail.sink import MailSink
from tests.conftest import AppMaker, test_config
from tests.support.clock import Clock
from tests.support.pdfs import TestPki

RECIPIENT = "reko.kryddgarden@example.org"
BODY = "En ny hälsoförfrågan väntar på dig: http://localhost/inkorg\n"


def free_port() -> int:
    """Return a loopback port nobody listens on (the OS's pick, released again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def context(application: Flask) -> Iterator[None]:
    with application.app_context():
        yield


def queue(application: Flask, key: str = "notify:1", **fields: Any) -> int:
    values = {"to": RECIPIENT, "subject": "Ny hälsoförfrågan", "body": BODY,
              "kind": "inquiry.notify", "dedupe_key": key, **fields}
    with application.app_context():
        session = get_session()
        job = queue_mail(session, **values)
        session.commit()
        return job.id


def job_row(application: Flask, job_id: int) -> Job:
    with database(application).transaction() as session:
        found = session.get(Job, job_id)
        assert found is not None
        session.expunge(found)
        return found


def mail_jobs(application: Flask) -> int:
    with database(application).transaction() as session:
        query = select(func.count()).select_from(Job).where(Job.kind == SEND_JOB)
        return int(session.scalar(query) or 0)


def run_worker(application: Flask, clock: Clock) -> int:
    return Worker(application, "test:mail", clock, recurring=False).run(once=True)


# --- refusals first --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Gäller 191212121212",
        "Gäller 19121212-1212",
        "Gäller 121212-1212",
        "Gäller 20000101+1234",
        "samordningsnummer 19121272-1212",
        "pnr:191212121212.",
    ],
)
def test_queue_mail_refuses_a_body_or_subject_that_looks_like_a_personnummer(
    app: Flask, text: str
) -> None:
    session = get_session()
    for fields in ({"body": text}, {"subject": text}):
        values: dict[str, Any] = {"to": RECIPIENT, "subject": "Ny förfrågan", "body": BODY,
                                  "kind": "inquiry.notify", "dedupe_key": "pnr", **fields}
        with pytest.raises(MailRefused) as raised:
            queue_mail(session, **values)
        assert "personnummer" in str(raised.value)
        assert "1212" not in str(raised.value)  # the refusal never repeats the number
    session.commit()
    assert mail_jobs(app) == 0


@pytest.mark.parametrize(
    "text",
    [
        "Förfrågan 3f2c8d4e-9a1b-4c5d-8e7f-191212121212 väntar",  # an id, all digits at the end
        "Ring 070-123 45 67 eller 040-000000",
        "Svar senast 2024-03-31",
        "Organisation 0007:2120001355 och 212000-1355",  # month 20: an organisationsnummer
        "Ärende 12345678",
    ],
)
def test_ids_dates_phone_and_organisation_numbers_are_not_taken_for_personnummer(
    text: str,
) -> None:
    assert not looks_like_personnummer(text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "två@example.org, tre@example.org"),
        ("to", "ingen-snabel-a"),
        ("to", "reko@example.org\r\nBcc: alla@example.org"),
        ("to", "Reko <reko@example.org>"),
        ("to", "rekå@exämple.org"),
        ("to", ""),
        ("subject", "rad ett\r\nBcc: alla@example.org"),
        ("subject", ""),
        ("subject", "x" * 201),
        ("kind", "Inte en sort"),
        ("dedupe_key", ""),
        ("dedupe_key", "k" * 200),
    ],
)
def test_queue_mail_refuses_unusable_fields_and_queues_nothing(
    app: Flask, field: str, value: str
) -> None:
    values: dict[str, Any] = {"to": RECIPIENT, "subject": "Ny förfrågan", "body": BODY,
                              "kind": "inquiry.notify", "dedupe_key": "bad", field: value}
    with pytest.raises(MailRefused):
        queue_mail(get_session(), **values)
    assert mail_jobs(app) == 0


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"SMTP_RELAY": "127.0.0.1:25", "SMTP_RELAY_CA": "/nonexistent/ca.pem"},
         "GATEWAY_SMTP_RELAY_CA"),
        ({"SMTP_RELAY": "127.0.0.1:25", "SMTP_RELAY_USERNAME": "gw"},
         "GATEWAY_SMTP_RELAY_PASSWORD"),
        ({"SMTP_RELAY": "127.0.0.1:25", "SMTP_RELAY_USERNAME": "gw",
          "SMTP_RELAY_PASSWORD": "lösen"}, "GATEWAY_SMTP_RELAY_PASSWORD"),
        ({"MAIL_FROM": "inte en adress"}, "GATEWAY_MAIL_FROM"),
    ],
)
def test_a_bad_mail_configuration_stops_the_app_naming_the_variable(
    migrated_url: str, instance: Path, extra: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(test_config(instance, migrated_url, **extra))
    assert variable in str(raised.value)


# --- the outbox ------------------------------------------------------------------------------


def test_a_mail_queued_twice_with_one_key_is_one_job(app: Flask) -> None:
    first = queue(app, "notify:same")
    second = queue(app, "notify:same")
    assert first == second
    assert mail_jobs(app) == 1


def test_a_mail_queued_in_a_rolled_back_transaction_is_never_sent(app: Flask) -> None:
    session = get_session()
    queue_mail(session, to=RECIPIENT, subject="Ny förfrågan", body=BODY, kind="inquiry.notify",
               dedupe_key="rolled-back")
    session.rollback()
    assert mail_jobs(app) == 0


def test_without_a_relay_mail_waits_in_the_outbox(app: Flask) -> None:
    job_id = queue(app)
    run_worker(app, Clock())
    row = job_row(app, job_id)
    assert row.state == JobState.PENDING
    assert "GATEWAY_SMTP_RELAY is not set" in (row.last_error or "")


def test_relay_down_then_back_delivers_each_mail_exactly_once(make_app: AppMaker) -> None:
    port = free_port()
    application = make_app(SMTP_RELAY=f"127.0.0.1:{port}")
    first, second = queue(application, "notify:a"), queue(application, "notify:b")
    clock = Clock()

    assert run_worker(application, clock) == 2
    for job_id in (first, second):
        row = job_row(application, job_id)
        assert row.state == JobState.PENDING
        assert row.attempts == 1
        assert "unreachable" in (row.last_error or "")
        assert "ConnectionRefusedError" in (row.last_error or "")
        assert row.run_at > clock()  # backoff: not before its time

    with MailSink(port=port) as sink:
        assert run_worker(application, clock) == 0  # still waiting out the backoff
        clock.advance(3600)
        assert run_worker(application, clock) == 2
        clock.advance(7200)
        assert run_worker(application, clock) == 0
        received = sink.messages

    assert len(received) == 2
    assert all(mail.rcpt_tos == (RECIPIENT,) for mail in received)
    assert {job_row(application, j).state for j in (first, second)} == {JobState.DONE}
    assert received[0].subject == "Ny hälsoförfrågan"
    assert received[0].body.replace("\r\n", "\n") == BODY
    assert received[0].message_id != received[1].message_id


def test_a_mail_the_relay_accepted_is_not_sent_again_when_the_job_is_retried(
    make_app: AppMaker,
) -> None:
    # The worker dies after the relay's 250 (recorded at once), before the job is done: the
    # worker that takes the job over after the lease sends nothing more.
    with MailSink() as sink:
        application = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        job_id = queue(application)
        clock = Clock()
        doomed = Worker(application, "test:doomed", clock, recurring=False)
        claim = doomed.claim()
        assert claim is not None and claim.job_id == job_id
        with application.app_context():
            session = get_session()
            job = session.get(Job, job_id)
            assert job is not None
            send_mail(session, dict(job.payload), job)
            session.rollback()  # the "done" mark never comes
        clock.advance(application.config["JOB_LEASE_SECONDS"] + 1)
        assert run_worker(application, clock) == 1
        [mail] = sink.messages
    assert mail.message_id.endswith("@localhost>")
    row = job_row(application, job_id)
    assert row.state == JobState.DONE and row.attempts == 2
    with database(application).transaction() as session:
        [outbox] = session.scalars(select(OutboxMail))
        assert outbox.message_id == mail.message_id and outbox.sent_at is not None


def test_the_relay_refusing_the_recipient_for_good_ends_the_job(make_app: AppMaker) -> None:
    with MailSink(refuse=frozenset({RECIPIENT})) as sink:
        application = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        job_id = queue(application)
        run_worker(application, Clock())
        assert sink.messages == []
    row = job_row(application, job_id)
    assert row.state == JobState.DEAD
    assert "550" in (row.last_error or "")
    assert RECIPIENT not in (row.last_error or "")


def _relay_tls(pki: TestPki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.layout.smtp_cert, pki.layout.smtp_key)
    return context


def test_starttls_is_used_and_verified_with_the_configured_ca_then_auth(
    make_app: AppMaker, pki: TestPki
) -> None:
    credentials = ("gateway", "relay-secret")
    with MailSink(tls_context=_relay_tls(pki), credentials=credentials) as sink:
        application = make_app(
            SMTP_RELAY=f"localhost:{sink.port}", SMTP_RELAY_CA=str(pki.layout.ca_cert),
            SMTP_RELAY_USERNAME=credentials[0], SMTP_RELAY_PASSWORD=credentials[1],
        )
        job_id = queue(application)
        run_worker(application, Clock())
        assert len(sink.messages) == 1
    assert job_row(application, job_id).state == JobState.DONE


def test_a_relay_certificate_the_gateway_cannot_verify_keeps_the_mail_waiting(
    make_app: AppMaker, pki: TestPki
) -> None:
    with MailSink(tls_context=_relay_tls(pki)) as sink:
        # No SMTP_RELAY_CA: the system trust store does not know the development CA.
        application = make_app(SMTP_RELAY=f"localhost:{sink.port}")
        job_id = queue(application)
        run_worker(application, Clock())
        assert sink.messages == []
    row = job_row(application, job_id)
    assert row.state == JobState.PENDING
    assert "SSLCertVerificationError" in (row.last_error or "")


def test_the_relay_password_is_never_sent_without_starttls(make_app: AppMaker) -> None:
    with MailSink(credentials=("gateway", "hemligt")) as sink:
        application = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}",
                               SMTP_RELAY_USERNAME="gateway", SMTP_RELAY_PASSWORD="hemligt")
        job_id = queue(application)
        run_worker(application, Clock())
        assert sink.messages == []
    row = job_row(application, job_id)
    assert row.state == JobState.PENDING
    assert "STARTTLS" in (row.last_error or "")


def test_a_mail_job_queued_before_the_outbox_is_sent_with_its_own_message_id(
    make_app: AppMaker,
) -> None:
    # Jobs queued by the previous release carry the mail itself; they still go out once.
    with MailSink() as sink:
        application = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        old = {"to": RECIPIENT, "subject": "Ny hälsoförfrågan", "body": BODY,
               "kind": "inquiry.notify", "message_id": "<old-release@localhost>"}
        with database(application).transaction() as session:
            job_id = enqueue(session, SEND_JOB, old, dedupe_key="mail.send:old").id
        assert run_worker(application, Clock()) == 1
        [mail] = sink.messages
    assert mail.message_id == "<old-release@localhost>"
    assert job_row(application, job_id).state == JobState.DONE
