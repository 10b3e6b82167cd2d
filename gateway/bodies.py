"""Large request bodies without whole copies in memory, and at most a few of them per process.

A 30 MB SDK message is JSON with the file as one base64 string. Read the usual way it is held
three or four times over (the body, the decoded text, the parsed string, its whitespace-free
copy, the decoded file), and glibc keeps most of that after the request. `read_json` reads the
body in pieces instead: every string longer than LARGE_STRING goes into a spooled temporary
file as it arrives (to disk beyond SPOOL_IN_MEMORY) and stands in the parsed value as a
`LargeText`, which decodes its base64 in pieces. The rest of the document is parsed as usual.

`large_body_slot` bounds how many large bodies one process takes at a time: past the bound a
request gets 503 with Retry-After before its body is read. After a large body the process
returns freed memory to the system (`gateway.memory.trim`).
"""

from __future__ import annotations

import binascii
import gc
import io
import json
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from gateway import memory

# A string longer than this is kept in a file while the body is read.
LARGE_STRING = 64 * 1024
# A spooled file stays in memory up to this size, then moves to disk.
SPOOL_IN_MEMORY = 1024 * 1024
READ_CHUNK = 256 * 1024
# A body this large takes a slot (see large_body_slot).
LARGE_BODY = 1024 * 1024
# Default number of large bodies one process takes at a time.
LARGE_BODIES_PER_PROCESS = 2

_SPECIAL = re.compile(rb'["\\]')
_PLACEHOLDER = "\x00gateway-large-text:"
_WHITESPACE = b" \t\r\n"
# Escapes that can occur in a base64 string a JSON encoder wrote: "\/" and escaped line breaks.
_BASE64_ESCAPES = ((b"\\/", b"/"), (b"\\n", b""), (b"\\r", b""), (b"\\t", b""))


class NotBase64(ValueError):
    """The text is not base64 (RFC 4648)."""


class Base64Decoder:
    """Decodes base64 (RFC 4648, strictly: padding only at the end) given in pieces of any
    size, whitespace left out, into a file as it goes."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.carry = b""
        self.ended = False

    def feed(self, piece: bytes) -> None:
        """Decode what of carry + piece makes whole groups of four; raise NotBase64."""
        data = self.carry + piece.translate(None, _WHITESPACE)
        cut = len(data) - len(data) % 4
        self.carry = data[cut:]
        if not cut:
            return
        if self.ended:
            raise NotBase64("data after the padding")
        block = data[:cut]
        try:
            self.out.write(binascii.a2b_base64(block, strict_mode=True))
        except binascii.Error as exc:
            raise NotBase64(str(exc)) from None
        self.ended = block.endswith(b"=")

    def finish(self) -> None:
        """Raise NotBase64 when the text ended inside a group of four."""
        if self.carry:
            raise NotBase64("a length that is not a multiple of 4")


def spooled_file(in_memory: int = SPOOL_IN_MEMORY) -> IO[bytes]:
    """Return an empty spooled temporary file: in memory up to `in_memory` bytes, then on disk.
    Every large body, decoded file and mail is held in one of these, not in memory whole."""
    return tempfile.SpooledTemporaryFile(max_size=in_memory)  # noqa: SIM115 - the caller's


class TooLarge(ValueError):
    """A stream longer than its limit."""


def spool(stream: IO[bytes], limit: int) -> IO[bytes]:
    """Return the stream's bytes copied in READ_CHUNK pieces into a spooled file, at its
    start; raise TooLarge (the file closed) as soon as more than limit bytes have come."""
    out = spooled_file()
    size = 0
    try:
        while chunk := stream.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"more than {limit} bytes")
            out.write(chunk)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


class LargeText:
    """A JSON string too long to hold in memory: its characters (whitespace left out) in a
    spooled file. Only what a base64 string can contain is kept exactly; any other escape marks
    it as not base64."""

    def __init__(self) -> None:
        self.file: IO[bytes] = spooled_file()
        self.length = 0
        self.plain = True

    def write_raw(self, raw: bytes) -> None:
        """Add raw JSON string characters (escapes as written; never split in two)."""
        self.length += len(raw)
        if b"\\" in raw:
            for escape, meaning in _BASE64_ESCAPES:
                raw = raw.replace(escape, meaning)
            if b"\\" in raw:
                self.plain = False
                return
        self.file.write(raw.translate(None, _WHITESPACE))

    def __len__(self) -> int:
        return self.length

    def chunks(self, size: int = READ_CHUNK) -> Iterator[bytes]:
        self.file.seek(0)
        while piece := self.file.read(size):
            yield piece

    def decode_base64(self) -> bytes:
        """Return the decoded bytes; raise NotBase64 for anything that is not base64."""
        out = io.BytesIO()
        self.decode_base64_into(out)
        return out.getvalue()

    def decode_base64_file(self) -> IO[bytes]:
        """Return the decoded bytes in a spooled file (on disk when large), at its start; raise
        NotBase64 for anything that is not base64."""
        out = spooled_file()
        try:
            self.decode_base64_into(out)
        except NotBase64:
            out.close()
            raise
        out.seek(0)
        return out

    def decode_base64_into(self, out: IO[bytes]) -> None:
        """Write the decoded bytes to out; raise NotBase64 for anything that is not base64."""
        if not self.plain:
            raise NotBase64("an escape that base64 does not have")
        decoder = Base64Decoder(out)
        for piece in self.chunks():
            decoder.feed(piece)
        decoder.finish()

    def close(self) -> None:
        self.file.close()


class _Splitter:
    """Copies a JSON document into a skeleton, with each large string replaced by a
    placeholder string and kept in a LargeText."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.skeleton = bytearray()
        self.larges: list[LargeText] = []
        self.in_string = False
        self.escape_pending = False
        self.current = bytearray()
        self.large: LargeText | None = None

    def feed(self, chunk: bytes) -> None:
        pos, end = 0, len(chunk)
        while pos < end:
            if not self.in_string:
                quote = chunk.find(b'"', pos)
                if quote < 0:
                    self.skeleton += chunk[pos:]
                    return
                self.skeleton += chunk[pos:quote + 1]
                self.in_string, self.current, self.large = True, bytearray(), None
                pos = quote + 1
                continue
            if self.escape_pending:
                self.escape_pending = False
                self._text(b"\\" + chunk[pos:pos + 1])
                pos += 1
                continue
            found = _SPECIAL.search(chunk, pos)
            if found is None:
                self._text(chunk[pos:])
                return
            at = found.start()
            self._text(chunk[pos:at])
            if chunk[at] == 0x5C:  # a backslash: the escape and the character it escapes
                if at + 1 < end:
                    self._text(chunk[at:at + 2])
                    pos = at + 2
                else:
                    self.escape_pending = True
                    pos = at + 1
                continue
            self._close_string()
            pos = at + 1

    def _text(self, data: bytes) -> None:
        if self.large is not None:
            self.large.write_raw(data)
            return
        self.current += data
        if len(self.current) > self.threshold:
            self.large = LargeText()
            self.large.write_raw(bytes(self.current))
            self.current = bytearray()

    def _close_string(self) -> None:
        if self.large is not None:
            self.skeleton += f"\\u0000{_PLACEHOLDER[1:]}{len(self.larges)}".encode()
            self.larges.append(self.large)
            self.large = None
        else:
            self.skeleton += self.current
        self.skeleton += b'"'
        self.in_string = False

    def close(self) -> None:
        for large in [*self.larges, *([self.large] if self.large else [])]:
            large.close()

    def result(self) -> Any:
        value = json.loads(bytes(self.skeleton))
        return _restore(value, self.larges) if self.larges else value


def _restore(value: Any, larges: list[LargeText]) -> Any:
    if isinstance(value, dict):
        return {key: _restore(item, larges) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item, larges) for item in value]
    if isinstance(value, str) and value.startswith(_PLACEHOLDER):
        index = value[len(_PLACEHOLDER):]
        if index.isdigit() and int(index) < len(larges):
            return larges[int(index)]
    return value


def release(value: Any) -> None:
    """Close the files of every LargeText in a document read_json returned."""
    if isinstance(value, LargeText):
        value.close()
    elif isinstance(value, dict):
        for item in value.values():
            release(item)
    elif isinstance(value, list):
        for item in value:
            release(item)


@contextmanager
def json_document(stream: IO[bytes], threshold: int = LARGE_STRING) -> Iterator[Any]:
    """Yield read_json(stream); its large strings' files are closed after the block."""
    document = read_json(stream, threshold)
    try:
        yield document
    finally:
        release(document)


def read_json(stream: IO[bytes], threshold: int = LARGE_STRING) -> Any:
    """Return the JSON document read from stream in pieces, strings longer than threshold as
    LargeText; None when it is not JSON."""
    splitter = _Splitter(threshold)
    try:
        while chunk := stream.read(READ_CHUNK):
            splitter.feed(chunk)
        return splitter.result()
    except (ValueError, RecursionError):
        splitter.close()
        return None
    except BaseException:
        splitter.close()  # e.g. the body was larger than the limit (413) or the client left
        raise


class LargeBodySlots:
    """At most `size` large bodies at a time in this process."""

    def __init__(self, size: int) -> None:
        self.semaphore = threading.BoundedSemaphore(size)

    def take(self, content_length: int | None) -> bool | None:
        """Return None for a small body (no slot needed), True when a slot was taken (give it
        back with `give_back`), False when every slot is taken."""
        if content_length is None or content_length < LARGE_BODY:
            return None
        return self.semaphore.acquire(blocking=False)

    def give_back(self) -> None:
        self.semaphore.release()
        # The body's memory is free now, but for what cycles still hold (a PDF reader's
        # objects refer to each other) and what glibc keeps unless asked to give it back.
        gc.collect()
        memory.trim()
