"""The SMTP listener (`gateway smtp`): hälsoförfrågningar by mail through the one intake.

Session rules, all enforced by aiosmtpd before our hooks run: STARTTLS before anything but
EHLO/NOOP/QUIT (530), AUTH before MAIL (530; AUTH only after STARTTLS), 30 MB at most (552,
counted while the data streams in), aiosmtpd's line and command-length limits, and a budget
per command and connection (421 when spent).

Keeping the event loop free: one loop serves every connection, so nothing slow runs on it.
aiosmtpd's `authenticator` callback is synchronous and would run argon2 and a database query
on the loop. Instead the handler implements the AUTH mechanisms itself (`auth_PLAIN`,
`auth_LOGIN`: aiosmtpd lets a handler's `auth_<MECHANISM>` coroutines replace its built-in
ones) and awaits the credential check in a small thread pool. Parsing the message and the
intake (database, sealing, signing the receipt) run in a second pool from `handle_DATA`, so
AUTHs are not queued behind large messages. The loop only moves bytes, and fairly: aiosmtpd
reads DATA line by line without yielding while lines are buffered, so each connection's
receive buffer is kept small (RECEIVE_BUFFER) and one wakeup handles at most that much of one
session's mail before the next session (or a NOOP) gets its turn. `python -m bench smtp`
measures it: NOOP replies on a 51st connection while 50 sessions each send 5 MB.

Memory: DATA goes to a spooled file as it arrives, not into a list of lines
(`gateway.mail.spooling`); a mail over the limit is dropped as it passes it and refused with
552. The MIME walk reads the file line by line and decodes only the one attachment, into a
spooled file of its own (`gateway.mail.parsing.attachment_file`). At most LARGE_MAILS_AT_ONCE
large mails are parsed and taken in at a time (the others wait, their data on disk), and after
each the process returns freed memory to the system. `python -m bench smtp` reports the
listener's RSS (`smtp_memory`).

Replies: 250 after the inquiry is stored (with its id); a refusal is 5xx at DATA carrying
the intake's codes and Swedish texts, one line per code, as the API's problem+json has them;
trouble on our side (the database away, the receipt key missing) is 451, so that the
client's mail server tries again later. Replies are UTF-8 (the texts are Swedish).

Answers by mail go to the per-inquiry reply address (svar+<token>@domain). Whether the
logged-in client may answer that inquiry is decided at RCPT, before any data is sent, by the
access service (`gateway.inquiries.access`): an unknown token and an inquiry that is not the
client's read the same (550 5.1.1), the sender's own client gets 550 5.7.1. The lookup runs
in the credential pool, off the loop. The decision is taken again at DATA, since the inquiry
may have been re-routed meanwhile.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import gc
import logging
import re
import ssl
from base64 import b64decode
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from gateway import logs, memory
from gateway.audit.service import record_denied
from gateway.auth.clients import (
    client_retry_after,
    count_client_attempt,
    get_client,
    verify_secret,
)
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError, Issue
from gateway.inquiries.access import Act, Party, Verdict, decide
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.formtypes import handling_for
from gateway.inquiries.intake import IntakeResult, Submitter, submit
from gateway.inquiries.models import FormType, Inquiry
from gateway.inquiries.notify import inquiry_by_reply_token
from gateway.jobs.service import describe_error
from gateway.mail.mailer import MailRefused, check_address, queue_mail
from gateway.mail.parsing import (
    INTAKE_LOCAL_PART,
    PDF,
    MailContentError,
    RecipientKind,
    attachment_file,
    classify_recipient,
    xml_attachment,
)
from gateway.mail.server import PortController, quiet_aiosmtpd_log
from gateway.mail.spooling import SpooledEnvelope, SpoolingSMTP
from gateway.metrics import counters
from signing.devpki import PkiLayout

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525
# SDK's largest message.
DATA_SIZE_LIMIT = 30 * 1024 * 1024
# After a mail this large the process returns freed memory to the system.
LARGE_MAIL = 1024 * 1024
CHANNEL = "smtp"
AUTH_WORKERS = 4
INTAKE_WORKERS = 4
# Large mails (LARGE_MAIL and up) parsed and taken in at a time; the others wait their turn.
LARGE_MAILS_AT_ONCE = 2
# SO_RCVBUF per connection: bounds the data one session handles per loop wakeup (see above).
RECEIVE_BUFFER = 16 * 1024
# Per connection. AUTH is few, so that one connection cannot keep argon2 busy.
COMMAND_LIMITS = {"AUTH": 3, "MAIL": 100, "RCPT": 200, "DATA": 100, "*": 20}
MAX_RECIPIENTS = 10
# RFC 5321 allows 512 octets a reply line; room is left for the code and the CRLF.
REPLY_TEXT_BYTES = 480
MAX_ISSUE_LINES = 20
_PLAUSIBLE_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# --- replies, by name (RFC 5321 codes with RFC 3463 enhanced codes) ---------------------------
SENDER_OK = "250 2.1.0 OK"
RECIPIENT_OK = "250 2.1.5 OK"
TEMPORARY = "451 4.3.0 Tillfälligt fel i gatewayen; försök igen senare."
ONE_ANSWER_ONE_RECIPIENT = (
    "452 4.5.3 Ett svar skickas till en svarsadress i taget, utan andra mottagare."
)
TOO_MANY_RECIPIENTS = "452 4.5.3 För många mottagare."
AUTH_UNSPLITTABLE = "501 5.5.2 Can't split auth value"
AUTH_NOT_BASE64 = "501 5.5.2 Can't decode base64"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
# RFC 4954: a temporary authentication failure.
AUTH_THROTTLED = "454 4.7.0 För många misslyckade inloggningar; försök igen om {seconds} sekunder."
UNKNOWN_RECIPIENT = "550 5.1.1 Okänd mottagare; hälsoförfrågningar tas emot på {intake}."
UNKNOWN_REPLY_ADDRESS = "550 5.1.1 Okänd svarsadress."
NOT_THE_CARE_UNITS_CLIENT = (
    "550 5.7.1 Bara vårdcentralens klient får svara på förfrågan; klienten är avsändarens."
)
RETURN_PATH_REFUSED = (
    "553 5.1.7 Avsändaradressen kan inte ta emot kvittensen; ange en vanlig adress."
)
CLIENT_GONE = "554 5.7.1 API-klienten är inte längre aktiv."
ANSWER_ACCEPTED = "250 2.0.0 Svaret är godkänt: hälsoförfrågan {inquiry}"
# Codes of the multi-line replies (`multiline`): a content, size or rule refusal, trouble here.
CONTENT_REFUSED = (550, "5.6.0")
TOO_LARGE = (552, "5.3.4")
RULE_REFUSED = 554
TRY_AGAIN = (451, "4.3.0")
NOT_AUTHORISED = "5.7.1"  # delivery not authorised: not this client's sender
POLICY_REFUSED = "5.7.0"  # a policy (consent) refusal
NOT_ACCEPTABLE = "5.6.0"  # the content is not an acceptable hälsoförfrågan


class ListenerError(Exception):
    """The listener cannot start; the message says what to do."""


@dataclass(frozen=True)
class AuthenticatedClient:
    """Who logged in on this SMTP session (aiosmtpd keeps it as session.auth_data)."""

    client_id: str


def tls_context(instance_path: str | Path) -> ssl.SSLContext:
    """Return the STARTTLS server context from the instance PKI; raise ListenerError if absent."""
    layout = PkiLayout.for_instance(instance_path)
    cert, key = layout.smtp_cert, layout.smtp_key
    if not cert.exists() or not key.exists():
        raise ListenerError(
            f"the SMTP TLS certificate is missing ({cert}); run 'gateway pki init'"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ListenerError(
            f"the SMTP TLS certificate or key cannot be used ({type(exc).__name__}); "
            "run 'gateway pki init'"
        ) from None
    return context


# --- replies ---------------------------------------------------------------------------------


def _line_text(text: str) -> str:
    """Return text as one reply line: no control characters, at most REPLY_TEXT_BYTES."""
    clean = _CONTROL.sub(" ", text).strip()
    encoded = clean.encode("utf-8")
    if len(encoded) <= REPLY_TEXT_BYTES:
        return clean
    return encoded[: REPLY_TEXT_BYTES - 3].decode("utf-8", errors="ignore") + "..."


def multiline(code: int, enhanced: str, lines: list[str]) -> str:
    """Return an SMTP reply of one or more lines: `554-…` for all but the last, `554 …`."""
    texts = [_line_text(line) for line in lines] or [""]
    return "\r\n".join(
        f"{code}{'-' if i < len(texts) - 1 else ' '}{enhanced} {text}"
        for i, text in enumerate(texts)
    )


def _issue_line(issue: Issue) -> str:
    text = f"{issue.code}: {issue.title}"
    if issue.detail and issue.detail != issue.title:
        text += f" – {issue.detail}"
    if issue.location:
        text += f" [{issue.location}]"
    return text


def refusal_reply(error: GatewayError) -> str:
    """Return the SMTP reply for an intake refusal: the API's codes and texts, a line each."""
    if error.status >= 500:
        return multiline(*TRY_AGAIN, [f"{error.code}: {error.title}; försök igen senare."])
    lines = [f"{error.code}: {error.title}"]
    if error.detail and not error.issues:
        lines[0] += f" – {error.detail}"
    shown = error.issues[:MAX_ISSUE_LINES]
    lines += [_issue_line(issue) for issue in shown if issue.code != error.code or issue.detail]
    if len(error.issues) > len(shown):
        lines.append(f"och {len(error.issues) - len(shown)} fel till")
    if error.status == 413:
        return multiline(*TOO_LARGE, lines)
    return multiline(RULE_REFUSED, _enhanced_code(error), lines)


def _enhanced_code(error: GatewayError) -> str:
    codes = {error.code} | {issue.code for issue in error.issues}
    if error.status in (401, 403):
        return NOT_AUTHORISED
    if error.code == "CONSENT_INVALID" or any(re.fullmatch(r"C\d+", c) for c in codes):
        return POLICY_REFUSED
    return NOT_ACCEPTABLE


def accepted_reply(result: IntakeResult) -> str:
    inquiry = result.inquiry
    what = "Mottagen" if result.created else "Redan mottagen"
    return (
        f"250 2.0.0 {what}: {_title(inquiry)} {inquiry.id}, status mottagen, "
        f"svar senast {inquiry.deadline.isoformat()}"
    )


def receipt_text(result: IntakeResult, base_url: str) -> tuple[str, str]:
    """Return the subject and body of the receipt mail: id, status, deadline, no personal data."""
    inquiry = result.inquiry
    flags = ", ".join(str(flag.get("code", "")) for flag in inquiry.flags or [])
    lines = [
        f"Gatewayen har tagit emot {_title(inquiry)} {inquiry.id}.",
        "",
        "Status: mottagen",
        f"Svar senast: {inquiry.deadline.isoformat()}",
    ]
    if flags:
        lines.append(f"Flaggor: {flags}")
    lines += [
        f"Följ ärendet: {base_url.rstrip('/')}{result.location}",
        "",
        "Meddelandet innehåller inga personuppgifter. Det går inte att svara på det.",
    ]
    return f"Kvittens: {_title(inquiry)} {inquiry.id} mottagen", "\n".join(lines) + "\n"


def _title(inquiry: Inquiry) -> str:
    """The Swedish name of the inquiry's form type ("hälsoförfrågan", "SIP-kallelse")."""
    return handling_for(inquiry.form_type).kind.title


# --- the handler -----------------------------------------------------------------------------


def _b64(value: str) -> bytes | None:
    try:
        return b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def _refuse_all(*_args: Any) -> AuthResult:
    # Never called while the handler's own auth_* coroutines replace the built-in ones; if
    # that ever changed, nobody would get in rather than everybody.
    return AuthResult(success=False)


class IntakeHandler:
    """aiosmtpd handler: AUTH by API client, recipients at RCPT, the intake at DATA.

    Attribute names matter to aiosmtpd: every `auth_*` member is an AUTH mechanism and every
    `handle_*` member a hook, so nothing else here starts with those prefixes.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.domains: list[str] = list(app.config.get("SMTP_DOMAINS") or ["localhost"])
        self.base_url: str = app.config["BASE_URL"]
        self.credential_pool = ThreadPoolExecutor(AUTH_WORKERS, thread_name_prefix="smtp-auth")
        self.intake_pool = ThreadPoolExecutor(INTAKE_WORKERS, thread_name_prefix="smtp-intake")
        # Taken on the listener's event loop (asyncio binds it there at first use).
        self.large_mails = asyncio.Semaphore(LARGE_MAILS_AT_ONCE)

    def shutdown(self) -> None:
        for pool in (self.credential_pool, self.intake_pool):
            pool.shutdown(wait=True, cancel_futures=True)

    # -- AUTH ----------------------------------------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 4616: [authzid] NUL client_id NUL client_secret, initial response or challenge."""
        blob = await self._initial_or_challenge(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push(AUTH_UNSPLITTABLE)
            return AuthResult(success=False, handled=True)
        return await self._verify(server, "PLAIN", parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """The LOGIN mechanism: user name (client_id), then password (client_secret)."""
        login = await self._initial_or_challenge(server, args, server.AuthLoginUsernameChallenge)
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth(server.AuthLoginPasswordChallenge)
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)  # aborted; aiosmtpd answered 501
        return await self._verify(server, "LOGIN", login, password)

    @staticmethod
    async def _initial_or_challenge(server: SMTP, args: list[str], challenge: str) -> bytes | None:
        """Return the initial response given with AUTH, or the answer to `challenge`; None
        when it is missing or not base64 (a 501 has then been sent)."""
        if len(args) == 1:
            answer = await server.challenge_auth(challenge)
            return answer if isinstance(answer, bytes) else None
        decoded = _b64(args[1])
        if decoded is None:
            await server.push(AUTH_NOT_BASE64)
        return decoded

    async def _verify(
        self, server: SMTP, mechanism: str, login: bytes, password: bytes
    ) -> AuthResult:
        peer = server.session.peer if server.session is not None else None
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        loop = asyncio.get_running_loop()
        client_id, retry_after = await loop.run_in_executor(
            self.credential_pool, self._check_credentials, mechanism, login, password, host
        )
        if retry_after is not None:
            await server.push(AUTH_THROTTLED.format(seconds=retry_after))
            return AuthResult(success=False, handled=True)
        if client_id is None:
            return AuthResult(success=False, handled=False)  # aiosmtpd answers 535
        return AuthResult(success=True, auth_data=AuthenticatedClient(client_id))

    def _check_credentials(
        self, mechanism: str, login: bytes, password: bytes, host: str
    ) -> tuple[str | None, int | None]:
        """Return (the client_id, None) when login/password are an active client's, (None, None)
        when not, (None, seconds) while the client id or the address is throttled (failures
        count across connections, as on the token endpoint); audit every refusal.

        Runs in the credential pool: the database stays off the event loop.
        """
        try:
            client_id, secret = login.decode("utf-8"), password.decode("utf-8")
        except UnicodeDecodeError:
            client_id, secret = "", ""
        plausible = bool(_PLAUSIBLE_CLIENT_ID.match(client_id))
        with self.app.app_context():
            session = get_session()
            retry_after = client_retry_after(session, client_id, host, self.app.config, utcnow())
            if retry_after is not None:
                record_denied(
                    actor=f"anonymous:{host}", action="smtp.auth", object_type="api_client",
                    object_id=client_id if plausible else "",
                    detail={"reason": "throttled", "mechanism": mechanism},
                )
                return None, retry_after
            client = get_client(session, client_id) if plausible else None
            # Verified even for unknown clients, so that timing does not tell which ids exist.
            correct = verify_secret(client, secret) and client is not None
            if client is not None and correct and client.active:
                # Commits a legacy secret's re-hash with the count.
                count_client_attempt(session, client_id, host, success=True)
                return client.client_id, None
            count_client_attempt(session, client_id if plausible else "", host, success=False)
            reason = (
                "unknown_client" if client is None
                else "inactive_client" if correct else "wrong_secret"
            )
            record_denied(
                actor=f"client:{client.client_id}" if client else f"anonymous:{host}",
                action="smtp.auth",
                object_type="api_client",
                object_id=client_id if plausible else "",
                detail={"reason": reason, "mechanism": mechanism},
            )
        return None, None

    # -- envelope ------------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        # The receipt goes to this address, so it must be one we can send to.
        try:
            check_address(address)
        except MailRefused:
            return RETURN_PATH_REFUSED
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        recipient = classify_recipient(address, self.domains)
        if recipient is None:
            return UNKNOWN_RECIPIENT.format(intake=f"{INTAKE_LOCAL_PART}@{self.domains[0]}")
        replies = [r for r in envelope.rcpt_tos
                   if (c := classify_recipient(r, self.domains)) and c.kind is RecipientKind.REPLY]
        if envelope.rcpt_tos and (recipient.kind is RecipientKind.REPLY or replies):
            # One answer is one message to one inquiry's reply address, nothing else.
            return ONE_ANSWER_ONE_RECIPIENT
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        if recipient.token is not None:
            # Refused now, not after up to 30 MB of DATA.
            who = session.auth_data
            if not isinstance(who, AuthenticatedClient):
                return AUTH_REQUIRED
            loop = asyncio.get_running_loop()
            reply: str = await loop.run_in_executor(
                self.credential_pool, self.reply_address_reply, who.client_id, recipient.token
            )
            if reply != RECIPIENT_OK:
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK

    # -- DATA ----------------------------------------------------------------------------------

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        who = session.auth_data
        if not isinstance(who, AuthenticatedClient):
            return AUTH_REQUIRED
        if not isinstance(envelope, SpooledEnvelope) or envelope.spool is None:
            return TEMPORARY  # never: the listener's sessions are SpoolingSMTP's
        loop = asyncio.get_running_loop()
        large = envelope.size >= LARGE_MAIL
        async with self.large_mails if large else contextlib.nullcontext():
            reply: str = await loop.run_in_executor(
                self.intake_pool, self.take_in, who.client_id, envelope.mail_from or "",
                envelope.spool, tuple(envelope.rcpt_tos), large,
            )
        return reply

    def take_in(
        self, client_id: str, mail_from: str, mail: IO[bytes], rcpt_tos: tuple[str, ...] = (),
        large: bool = False,
    ) -> str:
        """Parse the mail (a file: it is read in pieces), run the intake on its attachment and
        queue the receipt, or take the answer sent to a reply address; return the SMTP reply.
        Runs in the intake pool. Never raises: every outcome is a reply.
        """
        try:
            with logs.request_context():
                return self._take_in(client_id, mail_from, mail, rcpt_tos)
        finally:
            if large:
                # Give the mail's memory back: glibc keeps a thread's freed arena otherwise.
                gc.collect()
                memory.trim()

    def _take_in(
        self, client_id: str, mail_from: str, mail: IO[bytes], rcpt_tos: tuple[str, ...]
    ) -> str:
        token = self._reply_token(rcpt_tos)
        try:
            if token is not None:
                with attachment_file(mail, PDF) as pdf:
                    return self._in_app("answer", self._answer, client_id, token, pdf)
            xml = xml_attachment(mail)
        except MailContentError as error:
            log.info("smtp mail refused: %s", error.code)
            return multiline(*CONTENT_REFUSED, [f"{error.code}: {error.reason}"])
        return self._in_app("intake", self._intake, client_id, mail_from, xml,
                            self._intake_form_type(rcpt_tos))

    def _in_app(self, what: str, work: Callable[..., str], *args: Any) -> str:
        """Return work(*args) run in an app context; TEMPORARY when it fails on our side."""
        try:
            with self.app.app_context():
                return work(*args)
        except SQLAlchemyError as exc:
            log.warning("smtp %s: database unavailable (%s)", what, type(exc).__name__)
            return TEMPORARY
        except Exception as exc:  # noqa: BLE001 - a reply, never a traceback to the client
            # describe_error gives the class and place only: messages may quote the content.
            log.error("smtp %s failed: %s", what, describe_error(exc))
            return TEMPORARY

    def _intake_form_type(self, rcpt_tos: tuple[str, ...]) -> FormType:
        """The form type of the first intake address the mail went to (halsoforfragan@, sip@)."""
        for address in rcpt_tos:
            recipient = classify_recipient(address, self.domains)
            if recipient is not None and recipient.form_type is not None:
                return FormType(recipient.form_type)
        return FormType.HALSOFORFRAGAN

    def _intake(self, client_id: str, mail_from: str, xml: bytes, form_type: FormType) -> str:
        session = get_session()
        client = get_client(session, client_id)
        if client is None or not client.active:
            return CLIENT_GONE
        try:
            result = submit(
                session, xml, submitter=Submitter.from_client(client), channel=CHANNEL,
                now=utcnow(), form_type=form_type,
            )
        except GatewayError as error:
            return refusal_reply(error)
        subject, body = receipt_text(result, self.base_url)
        queue_mail(session, to=mail_from, subject=subject, body=body, kind="intake.receipt",
                   dedupe_key=f"intake.receipt:{result.inquiry.id}")
        session.commit()
        log.info("smtp intake accepted inquiry %s (created=%s)", result.inquiry.id, result.created)
        return accepted_reply(result)

    # -- answers by mail (the per-inquiry reply address) ---------------------------------------

    def _reply_token(self, rcpt_tos: tuple[str, ...]) -> str | None:
        for address in rcpt_tos:
            recipient = classify_recipient(address, self.domains)
            if recipient is not None and recipient.kind is RecipientKind.REPLY:
                return recipient.token
        return None

    def reply_address_reply(self, client_id: str, token: str) -> str:
        """Return RECIPIENT_OK when the client may answer to the reply address, else the RCPT
        refusal. Runs in the credential pool (a database lookup, off the event loop)."""
        return self._in_app("recipient check", self._reply_address_reply, client_id, token)

    def _reply_address_reply(self, client_id: str, token: str) -> str:
        found = self._answerable(client_id, token)
        return found if isinstance(found, str) else RECIPIENT_OK

    def _answerable(self, client_id: str, token: str) -> Inquiry | str:
        """Return the inquiry of the reply address when the client may answer it, else the
        refusal (the access service decides; a denial is audited)."""
        session = get_session()
        client = get_client(session, client_id)
        if client is None or not client.active:
            return CLIENT_GONE
        decision = decide(Party.client(client), inquiry_by_reply_token(session, token),
                          Act.ANSWER, channel=CHANNEL)
        if decision.inquiry is not None and decision.allowed:
            return decision.inquiry
        if decision.verdict is Verdict.FORBIDDEN:
            return NOT_THE_CARE_UNITS_CLIENT
        return UNKNOWN_REPLY_ADDRESS

    def _answer(self, client_id: str, token: str, pdf: IO[bytes]) -> str:
        """Take the PDF as the answer to the reply address's inquiry; return the reply (250
        accepted, 5xx naming the P or C codes)."""
        inquiry = self._answerable(client_id, token)
        if isinstance(inquiry, str):
            return inquiry
        session = get_session()
        try:
            accept_answer(session, inquiry.id, pdf, submitter=f"client:{client_id}",
                          channel=CHANNEL, now=utcnow())
        except GatewayError as error:
            session.rollback()
            return refusal_reply(error)
        session.commit()
        log.info("smtp answer accepted for inquiry %s", inquiry.id)
        return ANSWER_ACCEPTED.format(inquiry=inquiry.id)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default puts the exception's text in the reply; ours says nothing of it.
        log.error("smtp session error: %s", describe_error(error))
        return TEMPORARY


class _CountingController(PortController):
    """The controller, counting each connection (aiosmtpd makes one SMTP instance per
    connection through factory()) but its own check at start that the port answers."""

    counting = False

    def _trigger_server(self) -> None:
        super()._trigger_server()
        self.counting = True

    def factory(self) -> SMTP:
        if self.counting:
            counters.smtp_session()
        return SpoolingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpListener:
    """The listener in a thread of its own (aiosmtpd's Controller); start() returns the port."""

    def __init__(
        self, app: Flask, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        context = tls_context(app.instance_path)
        self.handler = IntakeHandler(app)
        domains = self.handler.domains
        self.controller = _CountingController(
            self.handler,
            hostname=host,
            port=port,
            server_hostname=domains[0],
            ident="Kryddgarden Gateway ESMTP",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_refuse_all,
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            command_call_limit=COMMAND_LIMITS,
            receive_buffer=RECEIVE_BUFFER,
        )

    @property
    def port(self) -> int:
        return self.controller.bound_port

    def start(self) -> int:
        """Start listening; return the port. Raises OSError when the address is taken."""
        quiet_aiosmtpd_log()
        # Two malloc arenas, and large blocks mapped on their own: the intake threads' large
        # mails are then given back to the system, not kept per thread.
        memory.limit_arenas()
        self.controller.start()
        return self.port

    def stop(self) -> None:
        self.controller.stop()
        self.handler.shutdown()

    def __enter__(self) -> SmtpListener:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
