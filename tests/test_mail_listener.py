"""The SMTP listener with real clients over loopback (smtplib and swaks): the session rules,
refusals with the intake's codes, and a valid form stored and visible over the API."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from forms.sip import parse_sip_kallelse
from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES, create_client, revoke_client
from gateway.db import database
from gateway.directory.service import stockholm_today
from gateway.errors import GatewayError, Issue
from gateway.inquiries.models import FormType, Inquiry, SipMeeting
from gateway.jobs.models import Job
from gateway.mail.cli import smtp_command
from gateway.mail.listener import DATA_SIZE_LIMIT, SmtpListener, refusal_reply
from gateway.mail.mailer import SEND_JOB
from gateway.mail.models import OutboxMail
from signing.devpki import PkiLayout
from tests.support.forms import AMA, halsoforfragan
from tests.support.intake import (
    bearer,
    issue_token,
    load_directory,
)
from tests.support.pki import install_pki
from tests.support.sip import sip_kallelse

SENDER = "ebb.oster@malmo.example"
INTAKE = "halsoforfragan@localhost"
MIB = 1024 * 1024
DAY = dt.timedelta(days=1)


@dataclass
class World:
    """A running listener on the committing app, and an EBB Öster client's credentials."""

    app: Flask
    port: int
    client_id: str
    secret: str
    client_pk: int
    ca_file: Path

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def connect(self, *, starttls: bool = True, login: bool = True) -> smtplib.SMTP:
        smtp = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=30)
        smtp.ehlo()
        if starttls:
            smtp.starttls(context=self.tls())
            smtp.ehlo()
        if login:
            smtp.login(self.client_id, self.secret)
        return smtp

    def count(self, model: Any, *where: Any) -> int:
        with database(self.app).transaction() as session:
            query = select(func.count()).select_from(model).where(*where)
            return int(session.scalar(query) or 0)


@pytest.fixture
def world(committing_app: Flask, instance: Path, pki_template: Path) -> Iterator[World]:
    install_pki(instance, pki_template)
    with database(committing_app).transaction() as session:
        load_directory(session)
    with database(committing_app).transaction() as session:
        client, secret = create_client(
            session, organisation="0203:malmo.se",
            functional_addresses=["sdk:ebb-oster:0203:malmo.se"], actor="cli:test",
        )
        client_id, client_pk = client.client_id, client.id
    listener = SmtpListener(committing_app, "127.0.0.1", 0)
    port = listener.start()
    try:
        yield World(committing_app, port, client_id, secret, client_pk,
                    PkiLayout.for_instance(instance).ca_cert)
    finally:
        listener.stop()


def form_mail(xml: bytes | None, *, filename: str = "halsoforfragan.xml") -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = INTAKE
    message["Subject"] = "Hälsoförfrågan"
    message.set_content("Se bifogad hälsoförfrågan.")
    if xml is not None:
        message.add_attachment(xml, maintype="application", subtype="xml", filename=filename)
    return message.as_bytes(policy=SMTP_POLICY)


def send(world: World, data: bytes, *, to: str = INTAKE) -> tuple[int, str]:
    """Send data in an authenticated session; return the reply to DATA."""
    with world.connect() as smtp:
        assert smtp.mail(SENDER)[0] == 250
        assert smtp.rcpt(to)[0] == 250
        code, text = smtp.data(data)
    return code, text.decode("utf-8")


# --- the session rules -----------------------------------------------------------------------


def test_mail_before_starttls_is_refused_with_530(world: World) -> None:
    with world.connect(starttls=False, login=False) as smtp:
        assert "starttls" in smtp.esmtp_features
        assert "auth" not in smtp.esmtp_features  # AUTH is offered only after STARTTLS
        code, text = smtp.mail(SENDER)
        assert code == 530
        assert b"STARTTLS" in text
        assert smtp.docmd("AUTH", "PLAIN")[0] == 530
        assert smtp.noop()[0] == 250  # NOOP is allowed before TLS


def test_mail_before_auth_is_refused_with_530(world: World) -> None:
    with world.connect(login=False) as smtp:
        code, text = smtp.mail(SENDER)
    assert code == 530
    assert b"Authentication required" in text


@pytest.mark.parametrize("who", ["wrong_secret", "unknown_client", "revoked"])
def test_wrong_credentials_are_refused_with_535_and_audited(world: World, who: str) -> None:
    client_id, secret = world.client_id, world.secret
    if who == "wrong_secret":
        secret = "not-the-secret"
    elif who == "unknown_client":
        client_id = "gw-nobody"
    else:
        with database(world.app).transaction() as session:
            revoke_client(session, world.client_id, actor="cli:test")
    with world.connect(login=False) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            smtp.login(client_id, secret)
        assert raised.value.smtp_code == 535
        assert smtp.mail(SENDER)[0] == 530
    with database(world.app).transaction() as session:
        denials = list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "smtp.auth")
        ))
    # smtplib tries each mechanism offered (PLAIN, then LOGIN): one denial per attempt.
    assert {d.detail["mechanism"] for d in denials} == {"PLAIN", "LOGIN"}
    expected_actor = "anonymous:127.0.0.1" if who == "unknown_client" else f"client:{client_id}"
    reasons = {"wrong_secret": "wrong_secret", "unknown_client": "unknown_client",
               "revoked": "inactive_client"}
    for denial in denials:
        assert denial.outcome == "denied"
        assert denial.actor == expected_actor
        assert denial.detail["reason"] == reasons[who]
        assert secret not in str(denial.detail)


def test_failed_auth_is_throttled_across_connections_with_454(world: World) -> None:
    world.app.config["LOGIN_MAX_FAILURES"] = 2
    # smtplib tries PLAIN, then LOGIN: two failures on one connection.
    with world.connect(login=False) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login(world.client_id, "not-the-secret")
    # A new connection, now with the right secret: still too soon.
    with world.connect(login=False) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            smtp.login(world.client_id, world.secret)
        assert raised.value.smtp_code == 454
        assert "försök igen om" in raised.value.smtp_error.decode("utf-8", "replace")
    with database(world.app).transaction() as session:
        reasons = [d.detail["reason"] for d in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "smtp.auth"))]
    assert reasons[-1] == "throttled"


def test_auth_login_works_as_well_as_plain(world: World) -> None:
    with world.connect(login=False) as smtp:
        smtp.user, smtp.password = world.client_id, world.secret
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235
        assert smtp.mail(SENDER)[0] == 250


def test_malformed_auth_gets_501_not_a_crash(world: World) -> None:
    with world.connect(login=False) as smtp:
        assert smtp.docmd("AUTH", "PLAIN not-base64!")[0] == 501
        assert smtp.docmd("AUTH", "PLAIN dGhyZWUtcGFydHMtbWlzc2luZw==")[0] == 501
        assert smtp.noop()[0] == 250


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("postmaster@localhost", "Okänd mottagare"),
        ("halsoforfragan@elsewhere.example", "Okänd mottagare"),
    ],
)
def test_unknown_recipients_are_refused_at_rcpt_with_550(
    world: World, address: str, expected: str
) -> None:
    with world.connect() as smtp:
        smtp.mail(SENDER)
        code, text = smtp.rcpt(address)
    assert code == 550
    assert expected in text.decode("utf-8")


def test_a_sender_address_no_receipt_can_go_to_is_refused(world: World) -> None:
    with world.connect() as smtp:
        code, _ = smtp.mail("not-an-address")
    assert code == 553


def test_a_declared_size_over_30_mb_is_refused_at_mail_from(world: World) -> None:
    with world.connect() as smtp:
        code, _ = smtp.mail(SENDER, [f"SIZE={31 * MIB}"])
    assert code == 552


def test_31_mb_of_data_is_refused_with_552_and_nothing_stored(world: World) -> None:
    line = b"x" * 998 + b"\r\n"
    data = form_mail(b"<a/>") + line * ((31 * MIB) // len(line))
    assert len(data) > DATA_SIZE_LIMIT
    code, _ = send(world, data)
    assert code == 552
    assert world.count(Inquiry) == 0


def test_a_mail_without_an_xml_attachment_is_refused_with_550_naming_why(world: World) -> None:
    code, text = send(world, form_mail(None))
    assert code == 550
    assert "MAIL_NO_XML" in text
    assert "saknar XML-bilaga" in text


# --- through the intake ----------------------------------------------------------------------


def test_a_valid_form_is_stored_answered_250_and_visible_over_the_api(world: World) -> None:
    code, text = send(world, form_mail(halsoforfragan()))
    assert code == 250, text
    assert "Mottagen: hälsoförfrågan" in text
    with database(world.app).transaction() as session:
        inquiry = session.scalars(select(Inquiry)).one()
        inquiry_id, channel = inquiry.id, inquiry.channel
        receipts = [session.get(OutboxMail, job.payload["outbox_id"])
                    for job in session.scalars(select(Job).where(Job.kind == SEND_JOB))]
        token = issue_token(session, world.client_pk, tuple(SDK_SCOPES))
    assert inquiry_id in text
    assert channel == "smtp"
    # A receipt to the envelope sender, with the id and no personal data.
    assert [mail.recipient for mail in receipts if mail] == [SENDER]
    assert receipts[0] and inquiry_id in receipts[0].body
    assert "Tolvan" not in receipts[0].body
    with world.app.app_context():
        response = world.app.test_client().get(
            f"/api/v1/inquiries/{inquiry_id}", headers=bearer(token)
        )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id"] == inquiry_id


def test_sending_the_same_form_again_is_acknowledged_once(world: World) -> None:
    data = form_mail(halsoforfragan())
    assert send(world, data)[0] == 250
    code, text = send(world, data)
    assert code == 250
    assert "Redan mottagen" in text
    assert world.count(Inquiry) == 1
    assert world.count(Job, Job.kind == SEND_JOB) == 1


def test_expired_consent_is_refused_with_5xx_naming_c2(world: World) -> None:
    today = stockholm_today()
    xml = halsoforfragan(givet=(today - 60 * DAY).isoformat(),
                         giltigt_till=(today - DAY).isoformat())
    code, text = send(world, form_mail(xml))
    assert code == 554
    lines = text.splitlines()
    assert lines[0].startswith("5.7.0 CONSENT_INVALID")
    assert any(line.startswith("5.7.0 C2: ") and "har gått ut" in line for line in lines)
    assert world.count(Inquiry) == 0
    assert world.count(Job, Job.kind == SEND_JOB) == 0


def test_a_form_from_another_units_address_is_refused_as_over_http(world: World) -> None:
    code, text = send(world, form_mail(halsoforfragan(funktionsadress=AMA)))
    assert code == 554
    assert text.startswith("5.7.1 SENDER_NOT_ALLOWED")
    assert world.count(Inquiry) == 0


def test_unreadable_xml_is_refused_with_the_intakes_code(world: World) -> None:
    code, text = send(world, form_mail(b"<halsoforfragan><oavslutad>"))
    assert code == 554
    assert text.startswith("5.6.0 XML_INVALID")


def test_a_client_revoked_during_its_session_cannot_submit(world: World) -> None:
    with world.connect() as smtp:
        with database(world.app).transaction() as session:
            revoke_client(session, world.client_id, actor="cli:test")
        smtp.mail(SENDER)
        smtp.rcpt(INTAKE)
        code, _ = smtp.data(form_mail(halsoforfragan()))
    assert code == 554
    assert world.count(Inquiry) == 0


# --- swaks, an independent client ------------------------------------------------------------


# --- SIP invitations to sip@<domain> (DESIGN 5.8): the same intake ------------------------------

SIP_ADDRESS = "sip@localhost"


def test_an_invitation_breaking_s3_is_refused_naming_it(world: World) -> None:
    code, text = send(world, form_mail(sip_kallelse(deltagare=(("SOCIALTJANST", "Åsa"),)),
                                       filename="sip.xml"), to=SIP_ADDRESS)
    assert code >= 500
    assert any(line.startswith("5.7.0 S3: ") or " S3: " in line for line in text.splitlines())
    assert world.count(Inquiry) == 0


def test_a_halsoforfragan_to_the_sip_address_is_refused(world: World) -> None:
    code, text = send(world, form_mail(halsoforfragan()), to=SIP_ADDRESS)
    assert code >= 500
    assert "XML_NAMESPACE" in text
    assert world.count(Inquiry) == 0


def test_an_invitation_to_the_sip_address_is_taken_in(world: World) -> None:
    data = sip_kallelse()
    sip_id = parse_sip_kallelse(data).id
    code, text = send(world, form_mail(data, filename="sip.xml"), to=SIP_ADDRESS)
    assert code == 250, text
    assert f"Mottagen: SIP-kallelse {sip_id}" in text
    with database(world.app).transaction() as session:
        inquiry = session.scalars(select(Inquiry)).one()
        assert (inquiry.id, inquiry.form_type, inquiry.channel) == (sip_id, FormType.SIP, "smtp")
        assert inquiry.reference.startswith("SIP-")
        assert session.get(SipMeeting, sip_id) is not None


def swaks(world: World, *args: str, attach: Path | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed (Debian package swaks)")
    command = [
        "swaks", "--server", "127.0.0.1", "--port", str(world.port), "--from", SENDER,
        "--to", INTAKE, "--helo", "client.test", "--timeout", "30", *args,
    ]
    if attach is not None:
        command += ["--attach-type", "application/xml", "--attach", f"@{attach}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def replied(result: subprocess.CompletedProcess[str], text: str) -> bool:
    """Return whether swaks shows a server reply starting with text (plain "<-"/"<**", after
    TLS "<~ "/"<~*")."""
    return re.search(rf"^<[-~*][ *] {re.escape(text)}", result.stdout, re.MULTILINE) is not None


def tls_args(world: World) -> list[str]:
    return ["-tls", "--tls-verify", "--tls-ca-path", str(world.ca_file)]


def auth_args(world: World, secret: str | None = None) -> list[str]:
    return ["--auth", "PLAIN", "--auth-user", world.client_id,
            "--auth-password", secret or world.secret]


def test_swaks_without_starttls_gets_530(world: World) -> None:
    result = swaks(world)
    assert result.returncode == 23, result.stdout  # error in the MAIL transaction
    assert replied(result, "530"), result.stdout


def test_swaks_without_auth_gets_530(world: World) -> None:
    result = swaks(world, *tls_args(world))
    assert result.returncode == 23, result.stdout
    assert replied(result, "530"), result.stdout


def test_swaks_with_a_wrong_password_gets_535(world: World) -> None:
    result = swaks(world, *tls_args(world), *auth_args(world, "fel-lösenord"))
    assert result.returncode == 28, result.stdout  # error in the AUTH transaction
    assert replied(result, "535"), result.stdout


def test_swaks_to_an_unknown_recipient_gets_550(world: World) -> None:
    result = swaks(world, *tls_args(world), *auth_args(world), "--to", "okand@localhost")
    assert result.returncode == 24, result.stdout  # no RCPT accepted
    assert replied(result, "550"), result.stdout


def test_swaks_submits_a_valid_form(world: World, tmp_path: Path) -> None:
    form = tmp_path / "halsoforfragan.xml"
    form.write_bytes(halsoforfragan())
    result = swaks(world, *tls_args(world), *auth_args(world), attach=form)
    assert result.returncode == 0, result.stdout
    assert replied(result, "250 2.0.0 Mottagen"), result.stdout
    assert world.count(Inquiry) == 1


def test_swaks_with_expired_consent_gets_554_naming_c2(world: World, tmp_path: Path) -> None:
    today = stockholm_today()
    form = tmp_path / "halsoforfragan.xml"
    form.write_bytes(halsoforfragan(givet=(today - 60 * DAY).isoformat(),
                                    giltigt_till=(today - DAY).isoformat()))
    result = swaks(world, *tls_args(world), *auth_args(world), attach=form)
    assert result.returncode == 26, result.stdout  # mail not accepted after DATA
    assert replied(result, "554-5.7.0 CONSENT_INVALID"), result.stdout
    assert replied(result, "554 5.7.0 C2: ") or replied(result, "554-5.7.0 C2: "), result.stdout


# --- the command -----------------------------------------------------------------------------


def test_gateway_smtp_without_a_certificate_says_to_run_pki_init(
    committing_app: Flask, instance: Path
) -> None:
    env = {
        "GATEWAY_INSTANCE_PATH": str(instance),
        "GATEWAY_DATABASE_URL": committing_app.config["DATABASE_URL"],
        "GATEWAY_SECRET_KEY": "test-secret-key",
    }
    result = CliRunner().invoke(smtp_command, ["--port", "0"], env=env)
    assert result.exit_code == 1
    assert "gateway pki init" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--port", "70000"], ["--port", "x"], ["--bogus"]])
def test_gateway_smtp_refuses_bad_options(args: list[str]) -> None:
    result = CliRunner().invoke(smtp_command, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# --- reply shapes ----------------------------------------------------------------------------


def test_refusal_replies_keep_within_smtp_line_limits() -> None:
    issues = [Issue(f"C{n}", "Regel bruten", "ö" * 600 + "\r\nBcc: x", "/x") for n in range(30)]
    reply = refusal_reply(GatewayError("CONSENT_INVALID", "Samtycket", status=422, issues=issues))
    lines = reply.split("\r\n")
    assert all(len(line.encode("utf-8")) <= 512 for line in lines)
    assert all(line.startswith("554-5.7.0 ") for line in lines[:-1])
    assert lines[-1].startswith("554 5.7.0 och 10 fel till")
    assert len(lines) == 1 + 20 + 1


@pytest.mark.parametrize(
    ("status", "start"),
    [(413, "552 5.3.4 XML_TOO_LARGE"), (503, "451 4.3.0 "), (409, "554 5.6.0 ")],
)
def test_refusal_reply_codes_follow_the_http_status(status: int, start: str) -> None:
    reply = refusal_reply(GatewayError("XML_TOO_LARGE", "För stort", "detalj", status=status))
    assert reply.startswith(start)
    assert "\r\n" not in reply
