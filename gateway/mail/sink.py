"""A local sink SMTP server for the demo and tests: keeps (and shows) every mail it receives.

It delivers nothing onward. Point GATEWAY_SMTP_RELAY at it (`gateway smtp --sink --port 2526`)
to see the notifications and receipts the gateway sends. For tests it can offer STARTTLS and
require AUTH, as a real relay may.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from gateway.mail.server import PortController, quiet_aiosmtpd_log


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    message_id: str
    body: str
    raw: bytes


def _received(envelope: Envelope) -> ReceivedMail:
    raw = envelope.original_content or b""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    try:
        body = part.get_content() if isinstance(part, EmailMessage) else ""
    except (LookupError, ValueError):
        body = ""  # an odd charset: the raw message is kept all the same
    return ReceivedMail(
        mail_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        subject=str(message.get("Subject", "")),
        message_id=str(message.get("Message-ID", "")),
        body=body if isinstance(body, str) else "",
        raw=raw,
    )


def _keep(store_dir: Path, raw: bytes) -> Path:
    """Write raw to a new file in store_dir and return it. The name (UTC time received, then a
    random part) sorts by arrival and never reuses an earlier file's name, whichever sink process
    wrote that one: a restarted sink keeps what the last one kept. Exclusive create makes sure."""
    store_dir.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = store_dir / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        try:
            with path.open("xb") as out:
                out.write(raw)
        except FileExistsError:
            continue
        return path


class SinkHandler:
    """aiosmtpd handler: accept every message, keep it, tell `on_message` and store it."""

    def __init__(
        self,
        store_dir: Path | None = None,
        on_message: Callable[[ReceivedMail], None] | None = None,
        refuse: frozenset[str] = frozenset(),
    ) -> None:
        self.store_dir = store_dir
        self.on_message = on_message
        self.refuse = refuse
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here (sink)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = _received(envelope)
        with self._lock:
            self.messages.append(mail)
        if self.store_dir is not None:
            _keep(self.store_dir, mail.raw)
        if self.on_message is not None:
            self.on_message(mail)
        return "250 2.0.0 OK (sink)"


class MailSink:
    """A sink server on loopback in a thread of its own; `messages` holds what it received."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        store_dir: Path | None = None,
        on_message: Callable[[ReceivedMail], None] | None = None,
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        refuse: frozenset[str] = frozenset(),
    ) -> None:
        """refuse: recipients answered 550 at RCPT, as a relay does for an unknown mailbox."""
        self.handler = SinkHandler(store_dir, on_message, frozenset(a.lower() for a in refuse))
        options: dict[str, Any] = {"data_size_limit": 40 * 1024 * 1024}
        if tls_context is not None:
            options["tls_context"] = tls_context
        if credentials is not None:
            options.update(auth_required=True, auth_require_tls=True,
                           authenticator=_check_login(credentials))
        self.controller = PortController(
            self.handler, hostname=host, port=port, server_hostname="sink.localhost", **options
        )

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.handler._lock:
            return list(self.handler.messages)

    @property
    def port(self) -> int:
        return self.controller.bound_port

    def start(self) -> int:
        """Start listening; return the port."""
        quiet_aiosmtpd_log()
        self.controller.start()
        return self.port

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _check_login(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    expected = (credentials[0].encode(), credentials[1].encode())

    # A test relay's check: a plain comparison is fine here (the gateway's own listener
    # verifies hashed client secrets off the event loop).
    def authenticator(
        _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
        return AuthResult(success=ok)

    return authenticator
