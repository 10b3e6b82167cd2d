"""GET /metrics: counters move with intakes, refusals and SMTP sessions, the job backlog and the
inquiries past their deadline are read from the database, and only loopback or the operator's
token gets an answer (everyone else a 404)."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.db import get_session, utcnow
from gateway.mail.listener import SmtpListener
from gateway.metrics.collect import DatabaseCollector
from tests.conftest import AppMaker
from tests.support.forms import halsoforfragan
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import parties, submit

TOKEN = "operatorns-hemliga-skraptoken"
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
TODAY = dt.date.today()


def samples(client: FlaskClient, **kwargs: Any) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                      float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_shows_intakes_and_refusals_by_rule_code(
    app: Flask, installed_pki: TestPki
) -> None:
    tokens = parties()
    client = app.test_client()
    before = samples(client)
    submit(client, tokens.sender)
    refused = client.post(
        "/api/v1/inquiries", headers=bearer(tokens.sender), content_type="application/xml",
        data=halsoforfragan(givet=(TODAY - dt.timedelta(days=60)).isoformat(),
                            giltigt_till=(TODAY - dt.timedelta(days=1)).isoformat()))
    assert refused.status_code == 422
    after = samples(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gateway_intake_accepted_total", channel="api") == 1
    assert moved("gateway_intake_refused_total", channel="api", code="C2") == 1
    assert moved("gateway_http_responses_total", method="POST", status="201") == 1
    assert moved("gateway_http_responses_total", method="POST", status="422") == 1
    # The accepted inquiry's notification waits in the job table: a due job, read at scrape.
    assert value(after, "gateway_jobs_due", kind="inquiry.notify") >= 1
    assert value(after, "gateway_inquiries_past_deadline") == 0


def test_inquiries_past_their_deadline_are_counted(app: Flask, installed_pki: TestPki) -> None:
    tokens = parties()
    submit(app.test_client(), tokens.sender)
    later = utcnow() + dt.timedelta(days=app.config["ANSWER_DAYS"] + 2)
    families = {f.name: f for f in DatabaseCollector(get_session(), later).collect()}
    assert families["gateway_inquiries_past_deadline"].samples[0].value >= 1
    oldest = {s.labels["kind"]: s.value for s in
              families["gateway_jobs_oldest_due_seconds"].samples}
    assert oldest["inquiry.notify"] >= (app.config["ANSWER_DAYS"] + 1) * 86400
    assert families["gateway_envelopes"].samples == []


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer fel-token"},
    {"Authorization": f"Basic {TOKEN}"},
])
def test_from_elsewhere_without_the_token_there_is_no_such_page(
    make_app: AppMaker, headers: dict[str, str]
) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    with app.app_context():
        response = app.test_client().get("/metrics", headers=headers, environ_base=REMOTE)
    assert response.status_code == 404


def test_through_the_proxy_loopback_is_not_enough(app: Flask) -> None:
    response = app.test_client().get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 404


def test_without_a_configured_token_no_token_opens_it(app: Flask) -> None:
    response = app.test_client().get("/metrics", headers={"Authorization": "Bearer "},
                                     environ_base=REMOTE)
    assert response.status_code == 404


def test_the_operator_token_opens_it_from_anywhere(make_app: AppMaker) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    with app.app_context():
        found = samples(app.test_client(), headers={"Authorization": f"Bearer {TOKEN}"},
                        environ_base=REMOTE)
    assert ("gateway_inquiries_past_deadline", frozenset()) in found


def test_smtp_sessions_are_counted(app: Flask, installed_pki: TestPki) -> None:
    client = app.test_client()
    before = value(samples(client), "gateway_smtp_sessions_total")
    listener = SmtpListener(app, "127.0.0.1", 0)
    port = listener.start()
    try:
        for _ in range(2):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.starttls(context=ssl.create_default_context(
                    cafile=str(installed_pki.layout.ca_cert)))
                assert smtp.noop()[0] == 250
    finally:
        listener.stop()
    assert value(samples(client), "gateway_smtp_sessions_total") - before == 2
