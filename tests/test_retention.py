"""Retention: an inquiry's personal content is purged GATEWAY_RETENTION_DAYS after closure; the
legs and statistics stay, each purge is audited, and nothing open or recent is touched."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.db import get_session
from gateway.inquiries.closing import close_inquiry
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import CloseReason, Inquiry, Leg
from gateway.inquiries.retention import RETENTION_JOB, purge_expired
from gateway.jobs.registry import recurring_kinds
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan, nth_personnummer
from tests.support.pdfs import TestPki
from tests.support.reko import leg_kinds, parties

UTC = dt.UTC
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))
NOW = dt.datetime(2025, 3, 10, 11, 0, tzinfo=UTC)


def _inquiry(n: int, received: dt.datetime, closed_days_later: int | None) -> str:
    session = get_session()
    result = submit(session, halsoforfragan(received, personnummer=nth_personnummer(n)),
                    submitter=SUBMITTER, channel="api", now=received)
    if closed_days_later is not None:
        close_inquiry(session, result.inquiry, reason=CloseReason.OTHER,
                      text="Personen har flyttat till Lund.", actor="client:test",
                      now=received + dt.timedelta(days=closed_days_later))
    session.commit()
    return result.inquiry.id


def test_content_is_purged_after_the_retention_time_and_legs_stay(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    app: Flask = make_app()
    with app.app_context():
        parties()
        old_closed = _inquiry(1, NOW - dt.timedelta(days=400), 10)
        recent_closed = _inquiry(2, NOW - dt.timedelta(days=40), 10)
        old_open = _inquiry(3, NOW - dt.timedelta(days=400), None)
        legs_before = leg_kinds(old_closed)
        session = get_session()
        purged = purge_expired(session, NOW, days=180)
        session.commit()
        assert purged == [old_closed]
        gone = session.get(Inquiry, old_closed)
        assert gone is not None and gone.content is None and gone.personnummer is None
        assert gone.purged_at is not None
        # The legs stay (statistics), but not the free text written at closing.
        assert leg_kinds(old_closed) == legs_before
        details = session.scalars(select(Leg.detail).where(Leg.inquiry_id == old_closed))
        assert all("text" not in (d or {}) for d in details)
        for kept in (recent_closed, old_open):
            inquiry = session.get(Inquiry, kept)
            assert inquiry is not None and inquiry.content is not None
        [entry] = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.purged")).all()
        assert (entry.object_id, entry.detail) == (old_closed, {"reason": "retention",
                                                                "days": 180})
        # Running again purges nothing twice.
        assert purge_expired(session, NOW, days=180) == []


def test_the_worker_runs_retention_daily() -> None:
    assert recurring_kinds()[RETENTION_JOB] == dt.timedelta(days=1)
