"""Real relays on loopback for the outgoing-mail tests: one that records every Message-ID per
recipient and can refuse once or stop in the middle of a message, and one that hangs."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.mail.server import PortController, quiet_aiosmtpd_log

# Called in the relay's thread with (recipients, Message-ID) once DATA is in, before the 250.
OnData = Callable[[tuple[str, ...], str], None]


class RecordingRelay:
    """An aiosmtpd relay keeping (recipient, Message-ID) for every message it has taken in.

    busy_once: recipients answered 451 at RCPT the first time (a relay that says "later").
    on_data: runs before the 250 and may block (the relay stalls) or restart a database.
    A message counts as received once its data is in, whether or not the 250 reaches the
    client: that is what a relay that has it does with it.
    """

    def __init__(self, busy_once: frozenset[str] = frozenset(),
                 on_data: OnData | None = None) -> None:
        self.busy_once = set(busy_once)
        self.on_data = on_data
        self.received: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.controller = PortController(self, hostname="127.0.0.1", port=0)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.busy_once:
            self.busy_once.discard(address)
            return "451 4.3.0 Try again later (test relay)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        message_id = str(message.get("Message-ID", ""))
        with self._lock:
            self.received.extend((rcpt, message_id) for rcpt in envelope.rcpt_tos)
        if self.on_data is not None:
            # In a thread, so a blocking hook stalls this session only.
            await asyncio.get_running_loop().run_in_executor(
                None, self.on_data, tuple(envelope.rcpt_tos), message_id)
        return "250 2.0.0 OK (test relay)"

    def ids_by_recipient(self) -> dict[str, list[str]]:
        """Return every recipient's Message-IDs in the order received (repeats included)."""
        found: dict[str, list[str]] = {}
        with self._lock:
            for rcpt, message_id in self.received:
                found.setdefault(rcpt, []).append(message_id)
        return found

    @property
    def port(self) -> int:
        return self.controller.bound_port

    def __enter__(self) -> RecordingRelay:
        quiet_aiosmtpd_log()
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


class HangingRelay:
    """A socket that accepts connections and never says a word (a relay that hangs)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)

    def __enter__(self) -> HangingRelay:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.connections:
            conn.close()
        self.listener.close()
