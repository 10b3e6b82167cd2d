"""Two real gateways (DESIGN 7): each its own database, instance and PKI folder (one
development CA), its `gateway ap` listener and its worker; a hälsoförfrågan goes from the
municipality's gateway to the VC at the region's, the REKO's signed answer comes back, and
ACCEPTED receipts go both ways. Plus: a client without a certificate is refused in the TLS
handshake."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway import create_app
from gateway.db import database, get_session
from gateway.federation.models import FederationEnvelope
from gateway.inquiries.models import Leg, LegKind
from signing.devpki import PkiLayout
from tests.conftest import BACKENDS, drop_pg_database, fresh_database_url, test_config
from tests.support.federation import peer_columns
from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE, halsoforfragan
from tests.support.intake import bearer, load_directory, new_client
from tests.support.pdfs import PASSPHRASE, TestPki
from tests.support.reko import signed_answer
from tests.support.servers import REPO, ServerProcess, free_port, gateway_env

pytestmark = pytest.mark.slow


class Side:
    """One gateway: its instance, database, `gateway ap` and worker, and an app on its
    database for what a web process would do (submit, answer) and for reading results."""

    def __init__(self, tmp: Path, name: str, url: str, ca: Path, receipt_org: str) -> None:
        self.name = name
        self.instance = tmp / name
        self.layout = PkiLayout.for_instance(self.instance)
        self.layout.root.mkdir(parents=True)
        template = PkiLayout(ca)
        shutil.copy(template.ca_cert, self.layout.ca_cert)
        shutil.copy(template.ca_key, self.layout.ca_key)
        self.url = url
        self.port = free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}/ap/v1/envelopes"
        self.settings = {"RECEIPT_ORGANISATION": receipt_org}
        self.env = gateway_env(self.instance, url, **self.settings)
        self.processes: list[ServerProcess] = []
        self.cli("db", "upgrade")
        self.app = create_app(test_config(self.instance, url, **self.settings))
        with self.app.app_context():
            load_directory(get_session())
        self.cli("pki", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n")

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "gateway", *args], env=self.env, cwd=REPO,
                              input=stdin, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, f"gateway {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def list_peer(self, other: Side, org: str) -> None:
        """Import the other side's organisation with its endpoint and certificates."""
        row = {"id": org, "name": org, **peer_columns(other.layout, org, other.endpoint)}
        path = self.instance / "peer.json"
        path.write_text(json.dumps({"organisations": [row]}))
        self.cli("directory", "import", str(path))

    def start(self, tmp: Path) -> None:
        self.processes.append(ServerProcess.gateway(
            "ap", "--port", str(self.port), env=self.env, log=tmp / f"{self.name}-ap.log"))
        self.processes.append(ServerProcess.gateway(
            "worker", "--no-recurring", "--poll", "0.2", env=self.env,
            log=tmp / f"{self.name}-worker.log"))

    def client_context(self, org: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.layout.ca_cert))
        if org is not None:
            context.load_cert_chain(str(self.layout.org_cert(org)), str(self.layout.org_key(org)))
        return context

    def wait_listening(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.processes[0].proc.poll() is not None:
                raise AssertionError(self.processes[0].output)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.name} ap did not listen:\n{self.processes[0].output}")

    def read(self, func: Callable[[Any], Any]) -> Any:
        with self.app.app_context():
            session = get_session()
            try:
                return func(session)
            finally:
                session.rollback()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        database(self.app).engine.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {p.args[3:5]}\n{p.output[-3000:]}" for p in self.processes)


def wait_for(condition: Callable[[], bool], sides: list[Side], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out:\n" + "\n".join(side.logs() for side in sides))


@pytest.fixture(params=BACKENDS)
def sides(
    request: pytest.FixtureRequest, tmp_path: Path, pki_template: Path
) -> Iterator[tuple[Side, Side]]:
    urls = [fresh_database_url(request.param, tmp_path) for _ in range(2)]
    malmo = Side(tmp_path, "malmo", urls[0], pki_template, MALMO)
    skane = Side(tmp_path, "skane", urls[1], pki_template, SKANE)
    malmo.list_peer(skane, SKANE)
    skane.list_peer(malmo, MALMO)
    try:
        for side in (malmo, skane):
            side.start(tmp_path)
        for side in (malmo, skane):
            side.wait_listening()
        yield malmo, skane
    finally:
        for side in (malmo, skane):
            side.stop()
        if request.param == "postgresql":
            for url in urls:
                drop_pg_database(url)


def envelopes(session: Any, **where: Any) -> list[tuple[str, str, str]]:
    query = select(FederationEnvelope).order_by(FederationEnvelope.created)
    for key, value in where.items():
        query = query.where(getattr(FederationEnvelope, key) == value)
    return [(r.kind, r.direction, r.status) for r in session.scalars(query)]


def answered_at(session: Any, inquiry_id: str) -> list[Any]:
    return list(session.scalars(select(Leg.at).where(
        Leg.inquiry_id == inquiry_id, Leg.kind == LegKind.ANSWERED)))


def test_two_gateways_carry_an_inquiry_and_its_answer(sides: tuple[Side, Side]) -> None:
    malmo, skane = sides
    # A client without a certificate does not get through the TLS handshake.
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)), \
            socket.create_connection(("127.0.0.1", skane.port), timeout=5) as raw, \
            skane.client_context(None).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /ap/v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert tls.recv(100) == b""  # TLS 1.3 reports the refusal on the first read
    # With the organisation's function certificate the listener answers (400: not an XHE).
    with socket.create_connection(("127.0.0.1", skane.port), timeout=5) as raw, \
            skane.client_context(MALMO).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /ap/v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                    b"Connection: close\r\n\r\nabc")
        assert tls.recv(100).startswith(b"HTTP/1.1 400")

    with malmo.app.app_context():
        sender = new_client(get_session(), organisation=MALMO, addresses=(EBB_OSTER,))
    response = malmo.app.test_client().post(
        "/api/v1/inquiries", data=halsoforfragan(), content_type="application/xml",
        headers=bearer(sender))
    assert response.status_code == 201, response.get_data(as_text=True)
    inquiry_id = str(response.get_json()["id"])

    wait_for(lambda: malmo.read(lambda s: envelopes(s, direction="out")) ==
             [("message", "out", "ACCEPTED")], [malmo, skane])
    assert skane.read(lambda s: envelopes(s)) == [
        ("message", "in", "NEW"), ("receipt", "out", "ACKNOWLEDGE")]

    with skane.app.app_context():
        reko = new_client(get_session(), organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
    pdf = signed_answer(TestPki(skane.layout), inquiry_id)
    answered = skane.app.test_client().post(
        f"/api/v1/inquiries/{inquiry_id}/answer", data=pdf, content_type="application/pdf",
        headers=bearer(reko))
    assert answered.status_code in (200, 201), answered.get_data(as_text=True)

    wait_for(lambda: ("message", "out", "ACCEPTED") in skane.read(
        lambda s: envelopes(s, direction="out", kind="message")) and
        len(malmo.read(lambda s: answered_at(s, inquiry_id))) == 1, [malmo, skane])
    here, there = malmo.read(lambda s: answered_at(s, inquiry_id)), skane.read(
        lambda s: answered_at(s, inquiry_id))
    assert here == there
    fetched = malmo.app.test_client().get(
        f"/api/v1/inquiries/{inquiry_id}/answer", headers=bearer(sender))
    assert fetched.status_code == 200 and fetched.data == pdf

    listed = json.loads(malmo.cli("federation", "list", "--json"))
    assert [(e["direction"], e["kind"], e["status"]) for e in listed] == [
        ("out", "message", "ACCEPTED"), ("in", "receipt", "NEW"), ("in", "message", "NEW"),
        ("out", "receipt", "ACKNOWLEDGE")]
    assert listed[0]["id"] == inquiry_id and listed[0]["receipt"]["code"] == "ACCEPTED"
    sent = subprocess.run([sys.executable, "-m", "gateway", "federation", "show", inquiry_id,
                           "--xml"], env=malmo.env, cwd=REPO, capture_output=True, check=True)
    assert sent.stdout.startswith(b"<?xml") and b"EncryptedData" in sent.stdout


def replies(session: Any, sip_id: str) -> list[tuple[Any, str | None]]:
    return [(leg.at, leg.reason) for leg in session.scalars(select(Leg).where(
        Leg.inquiry_id == sip_id, Leg.kind == LegKind.REPLIED).order_by(Leg.id))]


def kinds(session: Any, sip_id: str) -> list[str]:
    return [leg.kind.value for leg in session.scalars(
        select(Leg).where(Leg.inquiry_id == sip_id).order_by(Leg.id))]


def test_two_gateways_carry_a_sip_invitation_and_its_reply(sides: tuple[Side, Side]) -> None:
    from gateway.inquiries.models import FormType, Inquiry
    from tests.support.sip import sip_kallelse, sip_svar

    malmo, skane = sides
    with malmo.app.app_context():
        sender = new_client(get_session(), organisation=MALMO, addresses=(EBB_OSTER,))
    response = malmo.app.test_client().post(
        "/api/v1/sip", data=sip_kallelse(), content_type="application/xml",
        headers=bearer(sender))
    assert response.status_code == 201, response.get_data(as_text=True)
    sip_id = str(response.get_json()["id"])
    assert response.get_json()["receipt"]["routed_to"] == KRYDDGARDEN_ADDRESS

    wait_for(lambda: malmo.read(lambda s: envelopes(s, direction="out")) ==
             [("message", "out", "ACCEPTED")], [malmo, skane])
    there = skane.read(lambda s: (lambda i: (i.form_type, i.channel, i.reference[:4]))(
        s.get(Inquiry, sip_id)))
    assert there == (FormType.SIP, "sdk-peer", "SIP-")

    # The REKO's system replies at the region's gateway on its own API: the reply crosses back.
    with skane.app.app_context():
        reko = new_client(get_session(), organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
    replied = skane.app.test_client().post(
        f"/api/v1/sip/{sip_id}/reply", content_type="application/xml", headers=bearer(reko),
        data=sip_svar(sip_id, beslut="NYTT_FORSLAG", ny_tid="2026-12-20T10:00:00+01:00"))
    assert replied.status_code == 201, replied.get_data(as_text=True)

    wait_for(lambda: len(malmo.read(lambda s: replies(s, sip_id))) == 1 and
             ("message", "out", "ACCEPTED") in skane.read(
                 lambda s: envelopes(s, direction="out", kind="message")), [malmo, skane])
    here, there_replies = malmo.read(lambda s: replies(s, sip_id)), skane.read(
        lambda s: replies(s, sip_id))
    assert here == there_replies and here[0][1] == "NYTT_FORSLAG"
    assert malmo.read(lambda s: kinds(s, sip_id)) == [
        "submitted", "received", "routed", "replied"]
    assert skane.read(lambda s: kinds(s, sip_id))[:3] == ["submitted", "received", "routed"]
    assert skane.read(lambda s: kinds(s, sip_id))[-1] == "replied"
    state = malmo.app.test_client().get(f"/api/v1/sip/{sip_id}", headers=bearer(sender))
    body = state.get_json()
    assert (body["status"], body["turn"]) == ("replied", "sender")
    assert body["meeting"]["proposed_at"] == "2026-12-20T09:00:00.000000Z"
