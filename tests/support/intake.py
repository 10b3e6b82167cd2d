"""Test helpers for the intake: the demo directory, API clients with bearer tokens, and counts
of what the intake writes."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.auth.clients import SDK_SCOPES, create_client
from gateway.auth.models import ApiToken
from gateway.auth.oauth import token_digest
from gateway.db import get_session, utcnow
from gateway.directory.demo import load_demo_directory
from gateway.inquiries.models import Inquiry, IntakeRejection, Leg
from gateway.jobs.models import Job
from tests.support.forms import EBB_OSTER, MALMO

SEND, GET, FILTER, DELETE = SDK_SCOPES


def load_directory(session: Session) -> None:
    """Load the demo directory and commit."""
    load_demo_directory(session, actor="cli:test")
    session.commit()


def issue_token(
    session: Session, client_pk: int, scopes: tuple[str, ...], *, expires_in: int = 3600
) -> str:
    """Store a bearer token for the client as /oauth/token would; return it."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(ApiToken(
        token_digest=token_digest(token), api_client_id=client_pk, scope=" ".join(scopes),
        issued_at=now, expires_at=now + dt.timedelta(seconds=expires_in),
    ))
    session.commit()
    return token


def new_client(
    session: Session,
    *,
    organisation: str = MALMO,
    addresses: tuple[str, ...] = (EBB_OSTER,),
    scopes: tuple[str, ...] = tuple(SDK_SCOPES),
    expires_in: int = 3600,
) -> str:
    """Create an API client and return a bearer token with `scopes` for it."""
    client, _secret = create_client(
        session, organisation=organisation, functional_addresses=list(addresses),
        scopes=list(SDK_SCOPES), actor="cli:test",
    )
    session.commit()
    return issue_token(session, client.id, scopes, expires_in=expires_in)


def kryddgarden_sender(instance: Path, pki_template: Path) -> str:
    """Install the receipt PKI, add a sender unit and Kryddgården with its REKO (factories, not
    the demo directory) and return a token of a client that may send from the unit."""
    from tests.support.factories import CareUnitFactory, SenderUnitFactory
    from tests.support.forms import KRYDDGARDEN
    from tests.support.pki import install_pki

    install_pki(instance, pki_template)
    SenderUnitFactory()
    CareUnitFactory(hsa_id=KRYDDGARDEN, name="Vårdcentralen Kryddgården", with_reko=True)
    session = get_session()
    token = new_client(session)
    session.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_xml(
    client: FlaskClient, data: bytes, token: str | None, content_type: str = "application/xml"
) -> Any:
    headers = bearer(token) if token else {}
    return client.post("/api/v1/inquiries", data=data, headers=headers, content_type=content_type)


@dataclass(frozen=True)
class Counts:
    """How many rows the intake has written, table by table."""

    inquiries: int
    legs: int
    jobs: int
    rejections: int


def counts(session: Session) -> Counts:
    def count(model: Any) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return Counts(count(Inquiry), count(Leg), count(Job), count(IntakeRejection))

