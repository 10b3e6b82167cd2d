"""aiosmtpd plumbing shared by the SMTP listener and the mail sink: port 0, quiet logs."""

from __future__ import annotations

import logging
import socket
from typing import Any

from aiosmtpd.controller import Controller

AIOSMTPD_LOGGER = "mail.log"
# Set by aiosmtpd on every successful AUTH (its own deprecated attribute): noise, not news.
_NOISE = ("Session.login_data is deprecated",)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISE)


def quiet_aiosmtpd_log() -> None:
    """Keep aiosmtpd's log to warnings: at INFO it logs every envelope address, which may be
    a person's, and at DEBUG every line of every message."""
    logger = logging.getLogger(AIOSMTPD_LOGGER)
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _DropNoise) for f in logger.filters):
        logger.addFilter(_DropNoise())


class PortController(Controller):
    """aiosmtpd's threaded Controller, also for port 0 (the OS picks a free port).

    The stock controller checks that it is up by connecting to the port it was given, which
    for port 0 is no port at all; the port actually bound is read back first.
    """

    def __init__(
        self,
        handler: Any,
        *,
        hostname: str,
        port: int,
        receive_buffer: int | None = None,
        **kwargs: Any,
    ) -> None:
        """receive_buffer: SO_RCVBUF of every connection, in bytes (None: the system's)."""
        super().__init__(handler, hostname=hostname, port=port, **kwargs)
        self.receive_buffer = receive_buffer

    def _trigger_server(self) -> None:
        # Runs once the socket is bound and before the first connection is accepted.
        sockets = list(getattr(self.server, "sockets", None) or ())
        if self.receive_buffer:
            for sock in sockets:
                # Accepted connections inherit it from the listening socket.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()

    @property
    def bound_port(self) -> int:
        """Return the port listened on (after start())."""
        port: int = self.port
        return port
