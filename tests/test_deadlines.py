"""Deadlines driven by the worker's injected clock: reminders on days 21 and 28, escalation to the
manager on day 30, each once; nothing for answered or closed inquiries."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.db import get_session
from gateway.inquiries.deadlines import scan
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Leg, LegKind
from gateway.inquiries.workflow import add_leg
from gateway.jobs.worker import Worker
from gateway.mail.models import OutboxMail
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan
from tests.support.reko import (
    ANNA_EMAIL,
    MANAGER_EMAIL,
    parties,
)

# Intake signs a receipt with the PKI's organisation certificate.
pytestmark = pytest.mark.usefixtures("installed_pki")
UTC = dt.UTC
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))
# Noon in Sweden, so that day numbers do not depend on the hour the test runs.
RECEIVED = dt.datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0)


def received_inquiry() -> str:
    session = get_session()
    result = submit(session, halsoforfragan(RECEIVED), submitter=SUBMITTER, channel="api",
                    now=RECEIVED)
    session.commit()
    return result.inquiry.id


def legs(inquiry_id: str, kind: LegKind) -> list[Leg]:
    return list(get_session().scalars(
        select(Leg).where(Leg.inquiry_id == inquiry_id, Leg.kind == kind).order_by(Leg.id)
    ))


def mails_to(address: str) -> list[str]:
    """Subjects of the reminders and escalations queued to address (the notification aside)."""
    rows = get_session().scalars(select(OutboxMail).where(
        OutboxMail.recipient == address, OutboxMail.kind != "inquiry.notify"
    ).order_by(OutboxMail.id))
    return [row.subject for row in rows]


def run_worker_on_day(app: Flask, day: int, hour: int = 0) -> None:
    moment = RECEIVED + dt.timedelta(days=day, hours=hour)
    Worker(app, f"test:day{day}", lambda: moment).run(once=True)


def test_reminders_and_escalation_each_once_on_their_days(
    make_app: AppMaker
) -> None:
    app = make_app()
    with app.app_context():
        parties()
        inquiry_id = received_inquiry()
        run_worker_on_day(app, 20)
        assert legs(inquiry_id, LegKind.REMINDED) == []
        run_worker_on_day(app, 21)
        run_worker_on_day(app, 21, hour=3)  # a later slot the same day: nothing new
        assert [leg.reason for leg in legs(inquiry_id, LegKind.REMINDED)] == ["21"]
        assert len(mails_to(ANNA_EMAIL)) == 1
        run_worker_on_day(app, 28)
        run_worker_on_day(app, 29)
        assert [leg.reason for leg in legs(inquiry_id, LegKind.REMINDED)] == ["21", "28"]
        assert legs(inquiry_id, LegKind.ESCALATED) == []
        run_worker_on_day(app, 30)
        run_worker_on_day(app, 31)
        assert len(legs(inquiry_id, LegKind.ESCALATED)) == 1
        assert len(mails_to(MANAGER_EMAIL)) == 1
        for subject in mails_to(ANNA_EMAIL) + mails_to(MANAGER_EMAIL):
            assert "Tolvan" not in subject


def test_a_scan_that_missed_days_reminds_once_for_the_latest_day(
    make_app: AppMaker
) -> None:
    app = make_app()
    with app.app_context():
        parties()
        inquiry_id = received_inquiry()
        session = get_session()
        scan(session, RECEIVED + dt.timedelta(days=29))
        scan(session, RECEIVED + dt.timedelta(days=29, hours=5))
        assert [leg.reason for leg in legs(inquiry_id, LegKind.REMINDED)] == ["28"]


def test_answered_or_closed_inquiries_get_no_reminders(
    make_app: AppMaker
) -> None:
    app = make_app()
    with app.app_context():
        parties()
        answered, closed = received_inquiry(), received_inquiry_other()
        session = get_session()
        add_leg(session, answered, LegKind.ANSWERED, at=RECEIVED, actor="test")
        add_leg(session, closed, LegKind.CLOSED, at=RECEIVED, actor="test", reason="DUPLICATE")
        session.commit()
        counts = scan(session, RECEIVED + dt.timedelta(days=31))
        assert counts == {"reminded": 0, "escalated": 0}


def received_inquiry_other() -> str:
    session = get_session()
    result = submit(session, halsoforfragan(RECEIVED, personnummer="198112189876"),
                    submitter=SUBMITTER, channel="api", now=RECEIVED)
    session.commit()
    return result.inquiry.id
