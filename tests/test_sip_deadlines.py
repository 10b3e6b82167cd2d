"""SIP reminders through the deadline scan the worker runs (its real job, an injected clock): the
REKOs are reminded before the reply due date (svarSenast) while there is no reply, and the day
before the meeting when they replied KOMMER; each once, with the reference and a link only;
none after a reply (for the due date), KOMMER_INTE, or the meeting held or cancelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.db import get_session
from gateway.inquiries import sip
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import FormType, Inquiry, Leg, LegKind
from gateway.jobs.worker import Worker
from gateway.mail.models import OutboxMail
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO
from tests.support.reko import ANNA_EMAIL, parties
from tests.support.sip import sip_kallelse, sip_svar

pytestmark = pytest.mark.usefixtures("installed_pki")
UTC = dt.UTC
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))
# Noon in Sweden on day 0; the meeting is on day 7 at 09:00, the reply due on day 5.
RECEIVED = dt.datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0)


def invited() -> Inquiry:
    session = get_session()
    result = submit(session, sip_kallelse(RECEIVED), submitter=SUBMITTER, channel="api",
                    now=RECEIVED, form_type=FormType.SIP)
    session.commit()
    return result.inquiry


def on_day(day: int, hour: int = 0) -> dt.datetime:
    return RECEIVED + dt.timedelta(days=day, hours=hour)


def run_worker_on_day(app: Flask, day: int, hour: int = 0) -> None:
    moment = on_day(day, hour)
    Worker(app, f"test:day{day}", lambda: moment).run(once=True)


def reminded(inquiry_id: str) -> list[str]:
    return [leg.reason or "" for leg in get_session().scalars(
        select(Leg).where(Leg.inquiry_id == inquiry_id, Leg.kind == LegKind.REMINDED)
        .order_by(Leg.id))]


def reminders_to(address: str) -> list[OutboxMail]:
    return list(get_session().scalars(select(OutboxMail).where(
        OutboxMail.recipient == address, OutboxMail.kind.like("sip.reminder%")
    ).order_by(OutboxMail.id)))


def reply(inquiry: Inquiry, beslut: str, day: int) -> None:
    session = get_session()
    sip.reply(session, inquiry, sip_svar(inquiry.id, on_day(day), beslut=beslut),
              actor="client:vc", channel="api", now=on_day(day))
    session.commit()


def outcome(inquiry: Inquiry, body: dict[str, object], day: int) -> None:
    session = get_session()
    sip.record_outcome(session, inquiry, body, actor="client:test", now=on_day(day))
    session.commit()


DUE = (RECEIVED.date() + dt.timedelta(days=5)).isoformat()


@pytest.fixture
def world(make_app: AppMaker) -> Iterator[tuple[Flask, Inquiry]]:
    """The app (in its context) with the directory loaded and one invitation received."""
    app = make_app()
    with app.app_context():
        parties()
        yield app, invited()


def test_the_reply_due_date_is_reminded_two_days_before_and_on_the_day_each_once(
    world: tuple[Flask, Inquiry]
) -> None:
    app, inquiry = world
    for day in (1, 2):
        run_worker_on_day(app, day)
    assert reminded(inquiry.id) == []
    run_worker_on_day(app, 3)
    run_worker_on_day(app, 3, hour=4)  # a later slot the same day: nothing new
    run_worker_on_day(app, 4)
    assert reminded(inquiry.id) == [f"svar:{DUE}:2"]
    run_worker_on_day(app, 5)
    run_worker_on_day(app, 6)
    assert reminded(inquiry.id) == [f"svar:{DUE}:2", f"svar:{DUE}:0"]
    mails = reminders_to(ANNA_EMAIL)
    assert [m.kind for m in mails] == ["sip.reminder.svar"] * 2
    assert "i dag" in mails[1].subject
    for mail in mails:
        assert inquiry.reference in mail.subject
        assert f"/inkorg/{inquiry.id}" in mail.body
        assert "Tolvan" not in mail.subject + mail.body
        assert "19121212" not in mail.subject + mail.body
    # The meeting itself is not reminded without a KOMMER.
    run_worker_on_day(app, 6, hour=12)
    assert len(reminded(inquiry.id)) == 2


def test_a_scan_that_was_away_reminds_once_for_the_latest(world: tuple[Flask, Inquiry]) -> None:
    app, inquiry = world
    run_worker_on_day(app, 5)
    run_worker_on_day(app, 5, hour=6)
    assert reminded(inquiry.id) == [f"svar:{DUE}:0"]


def test_kommer_is_reminded_the_day_before_the_meeting_and_a_reply_stops_the_due_date(
    world: tuple[Flask, Inquiry]
) -> None:
    app, inquiry = world
    reply(inquiry, "KOMMER", 1)
    for day in range(2, 9):
        run_worker_on_day(app, day)
        run_worker_on_day(app, day, hour=5)
    meeting_day = (RECEIVED.date() + dt.timedelta(days=7)).isoformat()
    assert reminded(inquiry.id) == [f"mote:{meeting_day}:1"]
    (mail,) = reminders_to(ANNA_EMAIL)
    assert mail.kind == "sip.reminder.mote" and "i morgon" in mail.subject
    assert "09:00" in mail.body and "Tolvan" not in mail.body


@pytest.mark.parametrize("after", ["KOMMER_INTE", "NYTT_FORSLAG", "held", "cancelled"])
def test_no_meeting_reminder_without_kommer_or_after_the_outcome(
    world: tuple[Flask, Inquiry], after: str
) -> None:
    app, inquiry = world
    if after in ("held", "cancelled"):
        reply(inquiry, "KOMMER", 1)
        outcome(inquiry, {"held_on": on_day(1).date().isoformat()} if after == "held"
                else {"cancelled": "OTHER"}, 2)
    elif after == "NYTT_FORSLAG":
        session = get_session()
        sip.reply(session, inquiry, sip_svar(
            inquiry.id, on_day(1), beslut="NYTT_FORSLAG",
            ny_tid=on_day(9).isoformat(timespec="seconds")),
            actor="client:vc", channel="api", now=on_day(1))
        session.commit()
    else:
        reply(inquiry, after, 1)
    for day in range(3, 9):
        run_worker_on_day(app, day)
    assert reminded(inquiry.id) == []
    assert reminders_to(ANNA_EMAIL) == []


def test_a_cancelled_invitation_gets_no_reply_reminder(world: tuple[Flask, Inquiry]) -> None:
    app, inquiry = world
    outcome(inquiry, {"cancelled": "OTHER"}, 1)
    for day in range(2, 8):
        run_worker_on_day(app, day)
    assert reminded(inquiry.id) == []


def test_the_days_are_settings(make_app: AppMaker) -> None:
    app = make_app(SIP_REPLY_REMINDER_DAYS=(4,), SIP_MEETING_REMINDER_DAYS=())
    with app.app_context():
        parties()
        inquiry = invited()
        for day in range(0, 8):
            run_worker_on_day(app, day)
        assert reminded(inquiry.id) == [f"svar:{DUE}:4"]
