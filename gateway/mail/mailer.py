"""Outgoing mail: the outbox (`queue_mail`), the message it sends, and the relay transports."""

from __future__ import annotations

import datetime as dt
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session

from gateway.errors import ConfigError
from gateway.jobs.models import Job
from gateway.jobs.service import enqueue

SEND_JOB = "mail.send"
DEDUPE_PREFIX = f"{SEND_JOB}:"
RELAY_TIMEOUT_SECONDS = 10
MAX_SUBJECT = 200
MAX_BODY = 20_000
_KIND = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")

# A personnummer or samordningsnummer as people write it: YYYYMMDDNNNN, YYYYMMDD-NNNN or
# YYMMDD-NNNN (also with +). Bare ten digits are left out: phone numbers look like that.
_PERSONNUMMER = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:19|20)?(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})[-+](?P<n1>\d{4})"
    r"|(?:19|20)(?P<yy2>\d{2})(?P<mm2>\d{2})(?P<dd2>\d{2})(?P<n2>\d{4}))(?![0-9A-Za-z])"
)
# Inquiry ids are UUIDs, whose hex groups can be all digits; they are no personal data.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class MailRefused(ValueError):
    """queue_mail was given something no mail may carry; the message never names the value."""


class MailTemporaryError(Exception):
    """The relay could not take the message now (down, 4xx, TLS trouble); try again later."""


class RelayUnreachable(MailTemporaryError):
    """The relay did not answer (refused, timed out, hung up, failed TLS, or said 421): it is
    the relay that is away, not this one mail, so this counts towards the circuit breaker."""


class MailPermanentError(Exception):
    """The relay refused the message for good (5xx); sending it again cannot help."""


class MailTransport(Protocol):
    """How a finished message leaves the gateway."""

    def send(self, message: EmailMessage) -> None:
        """Hand message over; raise MailTemporaryError or MailPermanentError on failure."""
        ...


# --- the personal-data guard -------------------------------------------------------------------


def looks_like_personnummer(text: str) -> bool:
    """Return whether text holds something shaped like a personnummer with a plausible date."""
    for match in _PERSONNUMMER.finditer(_UUID.sub(" ", text)):
        month = int(match.group("mm") or match.group("mm2"))
        day = int(match.group("dd") or match.group("dd2"))
        # Samordningsnummer add 60 to the day.
        if 1 <= month <= 12 and (1 <= day <= 31 or 61 <= day <= 91):
            return True
    return False


# --- the message -------------------------------------------------------------------------------


def sender_address(config: Mapping[str, Any]) -> str:
    """Return the From address of outgoing mail: MAIL_FROM or gateway@<first SMTP domain>."""
    configured = config.get("MAIL_FROM")
    if configured:
        return str(configured)
    domains = config.get("SMTP_DOMAINS") or ["localhost"]
    return f"gateway@{domains[0]}"


def check_address(value: str) -> Address:
    """Return value as one mail address; raise MailRefused when it is not exactly one."""
    refused = MailRefused("the recipient is not one plain ASCII mail address")
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 254
        or not value.isascii()
        or any(c in value for c in "\r\n\t <>,;\"()")
    ):
        raise refused
    try:
        address = Address(addr_spec=value)
    except (HeaderParseError, ValueError, IndexError, TypeError):
        raise refused from None
    domain_ok = "." in address.domain or address.domain == "localhost"
    if not address.username or not address.domain or not domain_ok:
        raise refused
    return address


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    kind: str,
    msg_id: str,
    date: dt.datetime,
) -> EmailMessage:
    """Return the plain-text message; raise MailRefused for bad fields or personal data."""
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        raise MailRefused(f"a subject is 1 to {MAX_SUBJECT} characters")
    if "\r" in subject or "\n" in subject:
        raise MailRefused("a subject is one line")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise MailRefused(f"a body is text of at most {MAX_BODY} characters")
    if not _KIND.match(kind or ""):
        raise MailRefused("a mail kind is 1 to 40 of a-z, 0-9, '_', '.', '-'")
    if looks_like_personnummer(subject) or looks_like_personnummer(body):
        raise MailRefused("the mail seems to contain a personnummer; mail carries no personal data")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = check_address(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date.astimezone(dt.UTC))
    message["Message-ID"] = msg_id
    # RFC 3834: no vacation replies or other auto-answers to our notifications.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Gateway-Kind"] = kind
    message.set_content(body)
    return message


def queue_mail(
    session: Session, *, to: str, subject: str, body: str, kind: str, dedupe_key: str
) -> Job:
    """Add the mail to the outbox and a `mail.send` job for it, in the caller's transaction;
    return the job.

    The mail exists only if the caller commits; the worker sends it through the relay and
    retries with backoff while the relay is away. The same dedupe_key gives the same row and
    job (and the same Message-ID), so a mail is queued once however often it is asked for.
    Mail carries no personal data: this refuses (MailRefused) a subject or body that looks
    like it holds a personnummer, a malformed recipient, or an unusable kind or key.
    """
    from gateway.mail.outbox import Mail, add  # the outbox module builds on this one

    if not isinstance(dedupe_key, str) or not 0 < len(dedupe_key) <= 200 - len(DEDUPE_PREFIX):
        raise MailRefused(f"a dedupe key is 1 to {200 - len(DEDUPE_PREFIX)} characters")
    # Checked now, so that every refusal happens in the caller's transaction, not later in
    # the worker where nobody sees it.
    row = add(session, Mail(key=DEDUPE_PREFIX + dedupe_key, to=to, subject=subject, body=body,
                            kind=kind))
    return enqueue(session, SEND_JOB, {"outbox_id": row.id},
                   dedupe_key=DEDUPE_PREFIX + dedupe_key)


# --- transports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpRelay:
    """Sends through GATEWAY_SMTP_RELAY: EHLO, STARTTLS when offered (verified), AUTH if set.

    `timeout` bounds the connect and every single command (GATEWAY_SMTP_RELAY_TIMEOUT), so a
    relay that hangs costs one job that many seconds, not the worker its lease.
    """

    host: str
    port: int
    local_hostname: str
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = RELAY_TIMEOUT_SECONDS

    def tls_context(self) -> ssl.SSLContext:
        """Return a client context verifying the relay against the CA file or the system store."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname,
                              timeout=self.timeout) as smtp:
                self._secure_and_login(smtp)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _text in exc.recipients.values()})
            raise _by_code(codes[0] if codes else 550, "refused the recipient") from None
        except smtplib.SMTPResponseException as exc:
            # The relay's text is left out: it may quote the recipient's address.
            raise _by_code(exc.smtp_code, f"answered {type(exc).__name__}") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise RelayUnreachable(
                f"relay {self.host}:{self.port} unreachable ({type(exc).__name__})"
            ) from None

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=self.tls_context())
            smtp.ehlo()
        elif self.username:
            raise MailTemporaryError(
                "the relay offers no STARTTLS; the relay password is not sent in clear"
            )
        if self.username:
            smtp.login(self.username, self.password or "")


def _by_code(code: int, what: str) -> Exception:
    text = f"the relay {what} ({code})"
    if code == 421:  # "service not available, closing the channel": the relay is away
        return RelayUnreachable(text)
    return MailPermanentError(text) if 500 <= code < 600 else MailTemporaryError(text)


@dataclass(frozen=True)
class NoRelay:
    """Used while GATEWAY_SMTP_RELAY is unset: mail waits in the outbox until it is set."""

    def send(self, message: EmailMessage) -> None:
        raise MailTemporaryError("GATEWAY_SMTP_RELAY is not set; the mail waits in the outbox")


def make_transport(config: Mapping[str, Any]) -> MailTransport:
    """Return the transport the configuration asks for; raise ConfigError for a bad one."""
    relay = config.get("SMTP_RELAY")
    if not relay:
        return NoRelay()
    host, _, port = str(relay).rpartition(":")
    ca_file = config.get("SMTP_RELAY_CA") or None
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"GATEWAY_SMTP_RELAY_CA: cannot read {ca_file} ({type(exc).__name__})"
            ) from None
    if config.get("SMTP_RELAY_USERNAME") and not config.get("SMTP_RELAY_PASSWORD"):
        raise ConfigError("GATEWAY_SMTP_RELAY_PASSWORD: needed with GATEWAY_SMTP_RELAY_USERNAME")
    for key in ("SMTP_RELAY_USERNAME", "SMTP_RELAY_PASSWORD"):
        if not str(config.get(key) or "").isascii():
            # smtplib's AUTH encodes ASCII only; better to say so now than fail every mail.
            raise ConfigError(f"GATEWAY_{key}: only ASCII characters can be sent in SMTP AUTH")
    domains = config.get("SMTP_DOMAINS") or ["localhost"]
    return SmtpRelay(
        host=host.strip("[]"),
        port=int(port),
        local_hostname=domains[0] or socket.gethostname(),
        ca_file=ca_file,
        username=config.get("SMTP_RELAY_USERNAME") or None,
        password=config.get("SMTP_RELAY_PASSWORD") or None,
        timeout=float(config.get("SMTP_RELAY_TIMEOUT") or RELAY_TIMEOUT_SECONDS),
    )


def check_sender(config: Mapping[str, Any]) -> None:
    """Raise ConfigError when the From address of outgoing mail is not a usable address."""
    try:
        check_address(sender_address(config))
    except MailRefused:
        raise ConfigError(
            f"GATEWAY_MAIL_FROM: {sender_address(config)!r} is not a mail address"
        ) from None


def transport(app: Flask | None = None) -> MailTransport:
    """Return the app's mail transport (chosen in create_app)."""
    chosen: MailTransport = (app or current_app).extensions["gateway.mail"]
    return chosen
