"""Inquiries taken in through the gateway's own API appear in the response-time report."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.db import get_session
from gateway.directory.service import stockholm_today
from gateway.stats.engine import response_times
from gateway.stats.period import Period
from tests.support.forms import halsoforfragan, nth_personnummer
from tests.support.intake import kryddgarden_sender, post_xml


@pytest.mark.usefixtures("frozen_clock")  # "this year" must not change while it runs
def test_inquiries_sent_over_the_api_are_ongoing_in_this_years_report(
    app: Flask, client: FlaskClient, instance: Path, pki_template: Path
) -> None:
    token = kryddgarden_sender(instance, pki_template)
    for n in range(3):
        response = post_xml(client, halsoforfragan(personnummer=nth_personnummer(n)), token)
        assert response.status_code == 201, response.get_data(as_text=True)

    today = stockholm_today()
    report = response_times(get_session(), Period(today.year, today)).to_json()
    assert report["total"] == 3
    assert report["buckets"]["ongoing"]["count"] == 3
    assert report["buckets"]["ongoing"]["percent"] == 100
