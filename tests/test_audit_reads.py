"""Audit gaps of issue 14 (hole 10), on SQLite and PostgreSQL: a refused answer is audited on
every channel with its rule codes; the SDK API's 404 for another client's answer message is a
denied entry; the REKO's refused-answer page and the composer (name, personnummer, questions)
log a read with its purpose; every read says why; and a person's data read again in the same
login session (or with the same token) for the same activity is logged once, not per page load.

Before: refused answers left no audit entry on any channel, the 422 page and the composer
logged nothing, API reads had no purpose, and each page load appended another read."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.clients import SDK_SCOPES
from gateway.auth.models import Role, User
from gateway.auth.pruning import prune
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.sdk_messages import answer_message_id
from tests.conftest import AppMaker
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    ANNA,
    CECILIA,
    Parties,
    parties,
    parties_and_inquiry,
    post_answer,
    signed_answer,
)
from tests.support.sdk import MESSAGES, answer_body
from tests.support.web import Browser, add_user, logged_in_browser

NOT_A_PDF = b"inte en pdf"
READS = ("inquiry.read", "answer.read", "consent.read")


@dataclass
class World:
    app: Flask
    http: FlaskClient
    tokens: Parties
    pki: TestPki
    anna: Browser
    anna_secret: str
    inquiry_id: str


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens, http, inquiry_id = parties_and_inquiry(app, tuple(SDK_SCOPES))
        secret = add_user("anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    anna = Browser(app)
    anna.login("anna", secret)
    return World(app, http, tokens, installed_pki, anna, secret, inquiry_id)


def entries(action: str, object_id: str, outcome: str) -> list[AuditEntry]:
    return list(get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_id == object_id,
        AuditEntry.outcome == outcome).order_by(AuditEntry.seq)))


def refusals(inquiry_id: str) -> list[dict[str, Any]]:
    return [row.detail for row in entries("answer.submit", inquiry_id, "denied")]


def reads(action: str, inquiry_id: str) -> list[AuditEntry]:
    return entries(action, inquiry_id, "ok")


def no_pdf_page_token(browser: Browser) -> str:
    """A CSRF token from a page that shows no personal data (the inbox's logout form)."""
    return browser.token("/inkorg")


# --- refused answers, every channel ---------------------------------------------------------


def test_a_refused_web_upload_is_audited_with_its_codes(world: World) -> None:
    page = f"/inkorg/{world.inquiry_id}"
    fields = cast(dict[str, str], {"csrf_token": no_pdf_page_token(world.anna),
                                   "pdf": (io.BytesIO(NOT_A_PDF), "svar.pdf")})
    refused = world.anna.post(page + "/svar", fields, content_type="multipart/form-data")
    assert refused.status_code == 422
    with world.app.app_context():
        assert refusals(world.inquiry_id) == [
            {"reason": "ANSWER_REFUSED", "codes": ["P1"], "channel": "web"}]
        # The refused page shows the person (name, personnummer, the questions): a read.
        [read] = reads("inquiry.read", world.inquiry_id)
        assert read.actor == "user:anna"
        assert read.detail == {"channel": "web", "purpose": "besvara hälsoförfrågan"}


def test_a_refused_gateway_api_answer_is_audited_with_its_codes(world: World) -> None:
    with world.app.app_context():
        wrong_reko = signed_answer(world.pki, world.inquiry_id, CECILIA)
        response = post_answer(world.http, world.tokens.reko, world.inquiry_id, wrong_reko)
        assert response.status_code == 422
        assert refusals(world.inquiry_id) == [
            {"reason": "ANSWER_REFUSED", "codes": ["P4"], "channel": "api"}]


def test_a_refused_sdk_api_answer_is_audited_with_its_codes(world: World) -> None:
    with world.app.app_context():
        response = world.http.post(MESSAGES, json=answer_body(world.inquiry_id, NOT_A_PDF),
                                   headers=bearer(world.tokens.reko))
        assert response.status_code == 400
        [refusal] = refusals(world.inquiry_id)
        assert refusal["reason"] == "ANSWER_REFUSED" and refusal["channel"] == "sdk"
        assert "P1" in refusal["codes"]


def test_an_answer_after_the_consent_ran_out_is_audited_with_the_c_rule(world: World) -> None:
    with world.app.app_context():
        pdf = signed_answer(world.pki, world.inquiry_id)
        later = utcnow() + dt.timedelta(days=800)
        with pytest.raises(GatewayError) as refused:
            accept_answer(get_session(), world.inquiry_id, pdf, submitter="client:vc",
                          channel="api", now=later)
        assert refused.value.code == "CONSENT_BLOCKS_ANSWER"
        [found] = refusals(world.inquiry_id)
        assert found["reason"] == "CONSENT_BLOCKS_ANSWER" and found["channel"] == "api"
        assert found["codes"] and all(code.startswith("C") for code in found["codes"])


# --- the SDK API's 404 for another client's message ------------------------------------------


def test_another_clients_answer_message_is_404_and_a_denial(world: World) -> None:
    with world.app.app_context():
        pdf = signed_answer(world.pki, world.inquiry_id)
        assert post_answer(world.http, world.tokens.reko, world.inquiry_id, pdf).status_code == 201
        answer_id = answer_message_id(world.inquiry_id)
        theirs = world.http.get(f"{MESSAGES}/{answer_id}", headers=bearer(world.tokens.other_vc))
        assert theirs.status_code == 404
        [denied] = entries("inquiry.read", world.inquiry_id, "denied")
        assert denied.detail == {"reason": "not_party", "channel": "sdk"}


# --- pages that show personal data ----------------------------------------------------------


def test_the_composer_logs_a_read_with_its_purpose(world: World) -> None:
    page = world.anna.get(f"/inkorg/{world.inquiry_id}/svara")
    assert page.status_code == 200
    with world.app.app_context():
        [read] = reads("inquiry.read", world.inquiry_id)
        assert read.detail == {"channel": "web", "purpose": "besvara hälsoförfrågan"}


# --- once per session, person and activity --------------------------------------------------


def test_reads_in_one_login_session_are_logged_once_and_a_new_login_logs_again(
    world: World
) -> None:
    for path in ("", "", "/svara", ""):
        assert world.anna.get(f"/inkorg/{world.inquiry_id}{path}").status_code == 200
    with world.app.app_context():
        assert len(reads("inquiry.read", world.inquiry_id)) == 1
    with world.app.app_context():
        user = get_session().scalars(select(User).where(User.username == "anna")).one()
        user.totp_last_step = 0  # the second login may fall in the first one's TOTP step
        get_session().commit()
    again = Browser(world.app)
    again.login("anna", world.anna_secret)
    assert again.get(f"/inkorg/{world.inquiry_id}").status_code == 200
    with world.app.app_context():
        assert len(reads("inquiry.read", world.inquiry_id)) == 2


def test_reads_with_one_token_are_logged_once_and_another_token_logs_again(
    world: World
) -> None:
    with world.app.app_context():
        for _ in range(3):
            got = world.http.get(f"/api/v1/inquiries/{world.inquiry_id}",
                                 headers=bearer(world.tokens.reko))
            assert got.status_code == 200
        [read] = reads("inquiry.read", world.inquiry_id)
        assert read.detail == {"channel": "api", "purpose": "följa förfrågan"}
        other = parties(tuple(SDK_SCOPES))  # new clients, new tokens, same parties' addresses
        got = world.http.get(f"/api/v1/inquiries/{world.inquiry_id}",
                             headers=bearer(other.reko))
        assert got.status_code == 200
        assert len(reads("inquiry.read", world.inquiry_id)) == 2


def test_every_read_says_why(world: World) -> None:
    """Reads over each channel and page: each entry names its purpose and channel."""
    with world.app.app_context():
        pdf = signed_answer(world.pki, world.inquiry_id)
        world.anna.get(f"/inkorg/{world.inquiry_id}")
        world.anna.get(f"/inkorg/{world.inquiry_id}/svara")
        world.http.get(f"/api/v1/inquiries/{world.inquiry_id}", headers=bearer(world.tokens.reko))
        world.http.get(f"{MESSAGES}/{world.inquiry_id}", headers=bearer(world.tokens.reko))
        assert post_answer(world.http, world.tokens.reko, world.inquiry_id, pdf).status_code == 201
        world.http.get(f"/api/v1/inquiries/{world.inquiry_id}/answer",
                       headers=bearer(world.tokens.sender))
        world.http.get(f"{MESSAGES}/{answer_message_id(world.inquiry_id)}",
                       headers=bearer(world.tokens.reko))
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit="EBB Öster")
        worker.get(f"/arenden/{world.inquiry_id}")
        worker.get(f"/arende/{world.inquiry_id}/svar.pdf")
        found = list(get_session().scalars(select(AuditEntry).where(
            AuditEntry.action.in_(READS), AuditEntry.outcome == "ok")))
        assert {row.detail["channel"] for row in found} >= {"web", "api", "sdk"}
        assert [row for row in found if not row.detail.get("purpose")] == []


def test_once_the_marks_of_ended_sessions_are_pruned_a_read_is_logged_again(
    world: World
) -> None:
    path = f"/api/v1/inquiries/{world.inquiry_id}"
    with world.app.app_context():
        assert world.http.get(path, headers=bearer(world.tokens.reko)).status_code == 200
        now = utcnow()
        assert prune(get_session(), now, login_days=30, session_hours=1).read_marks == 0
        later = now + dt.timedelta(hours=1, seconds=1)
        assert prune(get_session(), later, login_days=30, session_hours=1).read_marks == 1
        get_session().commit()
        assert world.http.get(path, headers=bearer(world.tokens.reko)).status_code == 200
        assert len(reads("inquiry.read", world.inquiry_id)) == 2
