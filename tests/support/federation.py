"""Two gateways for federation tests: the municipality's (Malmö stad) and the region's (Region
Skåne), each with its own database and instance folder (the same development CA), each
listing the other's organisation with endpoint and certificates (DESIGN 7.1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from gateway import create_app
from gateway.db import database, get_session, make_engine
from gateway.directory.models import Organisation
from gateway.federation.models import FederationEnvelope
from gateway.federation.outgoing import TRANSPORT_EXTENSION
from gateway.federation.transport import ClientIdentity, TransportError
from gateway.migrate import upgrade
from signing.devpki import PkiLayout
from tests.conftest import drop_pg_database, fresh_database_url, test_config
from tests.support.forms import MALMO, SKANE
from tests.support.intake import load_directory
from tests.support.pki import install_pki
from tests.support.reko import run_jobs

MALMO_ENDPOINT = "https://ap.malmo.test/ap/v1/envelopes"
SKANE_ENDPOINT = "https://ap.skane.test/ap/v1/envelopes"


@dataclass
class WsgiTransport:
    """The transport between two in-process gateways: the peer's real access point route,
    called through its WSGI app (the HTTPS transport is tested with real listeners)."""

    apps: dict[str, Flask] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    posted: list[tuple[str, bytes]] = field(default_factory=list)

    def post(self, endpoint: str, envelope: bytes, identity: ClientIdentity) -> int:
        if endpoint in self.down:
            raise TransportError(f"{urlsplit(endpoint).hostname}: ConnectionRefusedError")
        self.posted.append((endpoint, envelope))
        response = self.apps[endpoint].test_client().post(
            urlsplit(endpoint).path, data=envelope, content_type="application/xml"
        )
        if 200 <= response.status_code < 300:
            return response.status_code
        raise TransportError(f"the peer answered {response.status_code}",
                             permanent=400 <= response.status_code < 500)


def peer_columns(layout: PkiLayout, org: str, endpoint: str) -> dict[str, Any]:
    enc = layout.org_enc_cert(org)
    return {
        "endpoint": endpoint,
        "signing_certificate": layout.org_cert(org).read_text(),
        "encryption_certificate": (enc if enc.exists() else layout.org_cert(org)).read_text(),
    }


def make_peer(app: Flask, org: str, endpoint: str) -> None:
    """List org in the app's directory as served by a peer gateway at endpoint."""
    layout = PkiLayout.for_instance(app.instance_path)
    with app.app_context():
        session = get_session()
        row = session.get(Organisation, org)
        assert row is not None
        for key, value in peer_columns(layout, org, endpoint).items():
            setattr(row, key, value)
        session.commit()


@dataclass
class Pair:
    malmo: Flask
    skane: Flask
    transport: WsgiTransport

    def run(self, rounds: int = 6, now: dt.datetime | None = None) -> None:
        """Run both gateways' due jobs until neither has any (at most `rounds` each)."""
        for _ in range(rounds):
            ran = run_jobs(self.malmo, now) + run_jobs(self.skane, now)
            if not ran:
                return

    def envelopes(self, app: Flask, **where: Any) -> list[FederationEnvelope]:
        with app.app_context():
            query = select(FederationEnvelope).order_by(FederationEnvelope.created)
            for key, value in where.items():
                query = query.where(getattr(FederationEnvelope, key) == value)
            rows = list(get_session().scalars(query))
            get_session().expunge_all()
            return rows


def gateway_app(tmp_path: Path, name: str, url: str, pki_template: Path, **extra: Any) -> Flask:
    instance = tmp_path / name
    instance.mkdir()
    install_pki(instance, pki_template)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(test_config(instance, url, AP_LISTENER=True, **extra))
    with app.app_context():
        load_directory(get_session())
    return app


def two_gateways(backend: str, tmp_path: Path, pki_template: Path,
                 **extra: Any) -> Iterator[Pair]:
    """Two gateways listing each other (`extra`: settings of both, e.g. SMTP_RELAY)."""
    urls = [fresh_database_url(backend, tmp_path) for _ in range(2)]
    malmo = gateway_app(tmp_path, "malmo", urls[0], pki_template,
                        RECEIPT_ORGANISATION=MALMO, **extra)
    skane = gateway_app(tmp_path, "skane", urls[1], pki_template,
                        RECEIPT_ORGANISATION=SKANE, **extra)
    make_peer(malmo, SKANE, SKANE_ENDPOINT)
    make_peer(skane, MALMO, MALMO_ENDPOINT)
    transport = WsgiTransport({SKANE_ENDPOINT: skane, MALMO_ENDPOINT: malmo})
    for app in (malmo, skane):
        app.extensions[TRANSPORT_EXTENSION] = transport
    yield Pair(malmo, skane, transport)
    for app in (malmo, skane):
        database(app).engine.dispose()
    if backend == "postgresql":
        for url in urls:
            drop_pg_database(url)
