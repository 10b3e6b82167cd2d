"""aiosmtpd's DATA, with the mail going to a spooled file instead of memory.

aiosmtpd keeps DATA as a list of lines, joins them into one bytes object and hands that to the
handler: a 30 MB mail costs about three times its size while it arrives, and as many mails as
sessions send at once. `SpoolingSMTP` writes each line (dot-unstuffed) to a spooled temporary
file instead (on disk beyond SPOOL_IN_MEMORY, written from a thread), stops writing and closes the
file as soon as the mail passes the size limit (then answers 552 once the client has finished,
as aiosmtpd does), and gives the handler the file as `envelope.spool` with its size.
Everything else (limits on line length, the reply codes, the hooks) is aiosmtpd's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import IO

from aiosmtpd.smtp import SMTP, Envelope

from gateway.bodies import spooled_file

log = logging.getLogger(__name__)

TOO_MUCH = "552 5.3.4 Meddelandet är större än gränsen."
LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
# Lines are gathered to about this much before each write to the file.
WRITE_CHUNK = 64 * 1024
# Each session's mail stays in memory up to this size: many sessions send at once.
SPOOL_IN_MEMORY = 128 * 1024


class SpooledEnvelope(Envelope):
    """An envelope whose content is in `spool` (None until DATA has ended well), `size` bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.spool: IO[bytes] | None = None
        self.size = 0


class SpoolingSMTP(SMTP):
    """aiosmtpd's SMTP session with DATA streamed to a spooled file (see the module)."""

    def _create_envelope(self) -> Envelope:
        return SpooledEnvelope()

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert isinstance(envelope, SpooledEnvelope)
        if not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool: IO[bytes] | None = spooled_file(SPOOL_IN_MEMORY)
        try:
            refusal, size, spool = await self._receive(spool)
            if refusal is not None:
                await self.push(refusal)
                self._set_post_data_state()
                return
            assert spool is not None
            spool.seek(0)
            envelope.spool, envelope.size = spool, size
            status = await self._call_handler_hook("DATA")
        finally:
            if spool is not None:
                spool.close()
            envelope.spool = None
        self._set_post_data_state()
        await self.push(status)

    async def _receive(self, spool: IO[bytes] | None) -> tuple[str | None, int, IO[bytes] | None]:
        """Read DATA up to the lone dot into spool; return (the refusal or None, the size,
        the spool, None once it was closed because the mail is refused)."""
        limit = self.data_size_limit
        size = 0
        refusal: str | None = None
        pending = bytearray()
        fragments: list[bytes] = []
        while self.transport is not None:  # pragma: nobranch
            try:
                line: bytes = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                log.info("Connection lost during DATA")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as error:
                refusal = refusal or LINE_TOO_LONG
                line = await self._reader.read(error.consumed)
            if not fragments and line == b".\r\n":
                break
            size += len(line)
            if refusal is None and limit and size > limit:
                refusal = TOO_MUCH
            fragments.append(line)
            if not line.endswith(b"\r\n"):
                continue
            whole = b"".join(fragments)
            fragments.clear()
            if refusal is None and len(whole) > self.line_length_limit:
                refusal = LINE_TOO_LONG
            if refusal is not None:
                if spool is not None:  # nothing of a refused mail is kept
                    spool.close()
                    spool, pending = None, bytearray()
                continue
            # RFC 5321 4.5.2: a leading dot was added by the client for transparency.
            pending += whole[1:] if whole.startswith(b".") else whole
            if len(pending) >= WRITE_CHUNK:
                assert spool is not None
                await self._write(spool, pending)
                pending = bytearray()
        if spool is not None and pending:
            await self._write(spool, pending)
        return refusal, size, spool

    @staticmethod
    async def _write(spool: IO[bytes], data: bytearray) -> None:
        """Write data to the spool; once the spool is on disk, in a thread: a busy disk must
        not hold up the event loop (every other session's)."""
        if spool.tell() + len(data) <= SPOOL_IN_MEMORY:
            spool.write(data)
        else:
            await asyncio.to_thread(spool.write, data)
