"""The per-inquiry summary (status and first time of each leg kind), kept as legs are written,
is exactly what the legs give: rebuilt from the legs it compares equal, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.db import get_session
from gateway.inquiries.models import InquirySummary, LegKind
from gateway.inquiries.workflow import add_leg, derive_status, legs_of, rebuild_summaries
from tests.support.forms import halsoforfragan, nth_personnummer
from tests.support.intake import kryddgarden_sender, post_xml

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
K = LegKind
# Further legs after the intake's, with hours after T0 (one out of time order on purpose).
JOURNEYS: list[list[tuple[LegKind, int]]] = [
    [],
    [(K.OPENED, 5)],
    [(K.OPENED, 5), (K.ANSWERED, 30), (K.ANSWER_DELIVERED, 31), (K.REGISTERED, 40)],
    [(K.OPENED, 2), (K.CLOSED, 9), (K.OPENED, 12)],  # nothing reopens a closed inquiry
    [(K.OPENED, 2), (K.REROUTED, 3), (K.OPENED, 4), (K.ANSWERED, 50), (K.ANSWERED, 20)],
    [(K.REMINDED, 100), (K.ESCALATED, 200), (K.CONSENT_WITHDRAWN, 201), (K.CLOSED, 202)],
]


def _summaries() -> dict[str, tuple[object, ...]]:
    session = get_session()
    session.expire_all()
    return {
        s.inquiry_id: (s.status, s.submitted, s.received, s.opened, s.answered,
                       s.answer_delivered, s.registered, s.closed, s.started)
        for s in session.scalars(select(InquirySummary))
    }


def test_summaries_kept_with_the_legs_equal_those_rebuilt_from_them(
    app: Flask, client: FlaskClient, instance: Path, pki_template: Path
) -> None:
    token = kryddgarden_sender(instance, pki_template)
    ids = []
    for n, journey in enumerate(JOURNEYS):
        response = post_xml(client, halsoforfragan(personnummer=nth_personnummer(n)), token)
        assert response.status_code == 201, response.get_data(as_text=True)
        inquiry_id = response.get_json()["id"]
        ids.append(inquiry_id)
        session = get_session()
        for kind, hours in journey:
            # Each leg in a transaction of its own, as the workflow writes them.
            add_leg(session, inquiry_id, kind, at=T0 + dt.timedelta(hours=hours), actor="test")
            session.commit()

    kept = _summaries()
    assert set(kept) == set(ids)
    for inquiry_id in ids:
        legs = legs_of(get_session(), inquiry_id)
        assert kept[inquiry_id][0] == derive_status(leg.kind for leg in legs).value
    answered = kept[ids[4]]
    assert answered[0] == "answered"
    assert answered[4] == T0 + dt.timedelta(hours=20)  # the earliest, not the first written
    assert kept[ids[3]][0] == "closed" and kept[ids[3]][3] == T0 + dt.timedelta(hours=2)

    assert rebuild_summaries(get_session()) == len(ids)
    get_session().commit()
    assert _summaries() == kept
