"""Test helpers for the REKO's side: the demo directory's REKOs, API clients of each party,
submitting and answering inquiries, running the worker's due jobs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.db import get_session
from gateway.inquiries import intake
from gateway.inquiries.intake import Submitter
from gateway.inquiries.models import Leg
from gateway.jobs.worker import Worker
from signing.devpki import Person
from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE, halsoforfragan
from tests.support.intake import GET, SEND, bearer, load_directory, new_client
from tests.support.pdfs import TestPki, plain_pdf, sign

# The demo directory's REKOs: Anna is primary at Kryddgården; Cecilia works at Husie only.
ANNA = Person("SE2321000255-P001", "Anna Rekosson")
CECILIA = Person("SE2321000255-P003", "Cecilia Testberg")
JOHAN = Person("SE2321000255-L001", "Johan Ek")
HUSIE_ADDRESS = "sdk:reko-husie:0203:skane.se"
HUSIE = "SE2321000255-K005"
ANNA_EMAIL = "anna.rekosson@example.org"
DEPUTY_EMAIL = "bertil.exempelsson@example.org"
MANAGER_EMAIL = "chef.kryddgarden@example.org"


@dataclass
class Parties:
    """Bearer tokens of the sender (EBB Öster), Kryddgården's REKO system and Husie's."""

    sender: str
    reko: str
    other_vc: str


def parties(scopes: tuple[str, ...] = (SEND, GET)) -> Parties:
    """Load the demo directory and make one client per party with tokens for `scopes` (call
    inside an app context)."""
    session = get_session()
    load_directory(session)
    return Parties(
        sender=new_client(session, organisation=MALMO, addresses=(EBB_OSTER,), scopes=scopes),
        reko=new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,),
                        scopes=scopes),
        other_vc=new_client(session, organisation=SKANE, addresses=(HUSIE_ADDRESS,),
                            scopes=scopes),
    )


def parties_and_inquiry(app: Flask, scopes: tuple[str, ...] = (SEND, GET)
                        ) -> tuple[Parties, FlaskClient, str]:
    """Make the parties (see `parties`), a test client and one inquiry the sender sent to
    Kryddgården; return them with the inquiry's id (call inside an app context)."""
    tokens = parties(scopes)
    http = app.test_client()
    return tokens, http, submit(http, tokens.sender)


def submit(client: FlaskClient, token: str, **overrides: Any) -> str:
    """Send a valid hälsoförfrågan over the API; return its id."""
    response = client.post("/api/v1/inquiries", data=halsoforfragan(**overrides),
                           headers=bearer(token), content_type="application/xml")
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def signed_answer(pki: TestPki, inquiry_id: str, person: Person = ANNA, **kwargs: Any) -> bytes:
    """A PDF for inquiry_id signed in field "reko" by person's development certificate."""
    return sign(plain_pdf(reference=inquiry_id), pki.layout.reko_pkcs12(person.hsa_id)
                .read_bytes(), **kwargs)


def post_answer(client: FlaskClient, token: str, inquiry_id: str, pdf: bytes,
                content_type: str = "application/pdf") -> Any:
    return client.post(f"/api/v1/inquiries/{inquiry_id}/answer", data=pdf,
                       headers=bearer(token), content_type=content_type)


def leg_kinds(inquiry_id: str) -> list[str]:
    session = get_session()
    rows = session.scalars(select(Leg).where(Leg.inquiry_id == inquiry_id).order_by(Leg.id))
    return [leg.kind.value for leg in rows]


SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))


def received_days_ago(days: int, **overrides: Any) -> str:
    """Take in a valid hälsoförfrågan (form overrides) as received `days` ago; return its id."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    session = get_session()
    result = intake.submit(session, halsoforfragan(moment, **overrides), submitter=SUBMITTER,
                           channel="api", now=moment)
    session.commit()
    return result.inquiry.id


def run_jobs(app: Flask, now: dt.datetime | None = None) -> int:
    """Run every due job once (no recurring jobs); return how many ran."""
    clock = (lambda: now) if now is not None else None
    worker = Worker(app, "test:reko", clock, recurring=False) if clock else Worker(
        app, "test:reko", recurring=False)
    return worker.run(once=True)
