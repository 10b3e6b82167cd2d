"""A chunked SDK message (Transfer-Encoding: chunked, no Content-Length) over the body limit gets
413 from a real `gateway serve` (gunicorn), as a declared oversize body does, not the 400 of
a body that is not JSON (issue 14, hole 11): the limit is enforced while the stream is read,
and the refusal says so. On SQLite and PostgreSQL (the token is looked up before the body)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway import create_app
from gateway.db import database, make_engine
from gateway.migrate import upgrade
from tests.conftest import BACKENDS, drop_pg_database, fresh_database_url, test_config
from tests.support.forms import KRYDDGARDEN_ADDRESS, SKANE
from tests.support.intake import SEND, load_directory, new_client
from tests.support.servers import gateway_serve

MIB = 1024 * 1024
LIMIT = 42 * MIB  # MAX_CONTENT_LENGTH (gateway.create_app)
CHUNK = MIB


@dataclass
class Served:
    port: int
    token: str


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path, instance: Path) -> Iterator[Served]:
    url = fresh_database_url(request.param, tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(test_config(instance, url))
    with app.app_context(), database(app).transaction() as session:
        load_directory(session)
        token = new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,),
                           scopes=(SEND,))
    database(app).engine.dispose()
    with gateway_serve(instance, url, tmp_path / "web.log", COOKIE_SECURE="false") as (_, base):
        yield Served(int(base.rsplit(":", 1)[1]), token)
    if request.param == "postgresql":
        drop_pg_database(url)


def chunked_post(served: Served, path: str, size: int) -> tuple[int, bytes]:
    """POST a JSON body of about `size` bytes in chunks, without Content-Length; return the
    status and the response body. Stops sending when the server has answered and closed."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
            f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    prefix = b'{"data": {"type": "messages", "attributes": {"messageId": "'
    with socket.create_connection(("127.0.0.1", served.port), timeout=120) as sock:
        sock.sendall(head)
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(prefix), prefix))
            sent = len(prefix)
            while sent < size:
                sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, b"A" * CHUNK))
                sent += CHUNK
            sock.sendall(b'3\r\n"}}\r\n1\r\n}\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused before the end: its answer is waiting
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_a_chunked_sdk_body_over_the_limit_is_413(served: Served) -> None:
    status, body = chunked_post(served, "/v1/sdk/messages", LIMIT + 2 * CHUNK)
    assert status == 413, body[:500]
    assert json.loads(body)["status"] == 413


def test_a_chunked_sdk_body_under_the_limit_is_read_to_its_end(served: Served) -> None:
    # The same stream, small: read whole and judged on its content (not a message: 400).
    status, body = chunked_post(served, "/v1/sdk/messages", 2 * CHUNK)
    assert status == 400, body[:500]
