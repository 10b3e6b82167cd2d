"""The demo's sample inquiries: one in each state, made through the real services, added once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from forms.dates import local_date
from forms.identifiers import parse_personnummer
from forms.sip import Beslut
from gateway import create_app
from gateway.audit.service import verify
from gateway.db import database, get_session, make_engine, utcnow
from gateway.demo import set_up_demo
from gateway.demo_inquiries import DEMO_INQUIRIES, KRYDDGARDEN, load_demo_inquiries
from gateway.demo_sips import DEMO_SIPS, DemoSip, load_demo_sips
from gateway.directory.demo import load_demo_directory
from gateway.inquiries.answers import answer_for
from gateway.inquiries.models import (
    Answer,
    FormType,
    Inquiry,
    Leg,
    LegKind,
    SipMeeting,
    SipPlan,
)
from gateway.inquiries.workflow import SipStatus, Status, Turn, progress
from gateway.jobs.models import Job
from gateway.jobs.worker import Worker
from gateway.mail.sink import MailSink
from gateway.migrate import upgrade
from tests.conftest import BACKENDS, drop_pg_database, fresh_database_url, test_config

SAMPLES = {sample.id: sample for sample in DEMO_INQUIRIES}
OPEN = (Status.RECEIVED, Status.OPENED)


# --- refusals first ----------------------------------------------------------------------------


def test_a_naive_now_is_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="aware"):
        load_demo_inquiries(app, dt.datetime(2025, 1, 1, 12, 0))  # noqa: DTZ001 - the bad input


def test_without_the_demo_users_nothing_is_created(app: Flask) -> None:
    session = get_session()
    load_demo_directory(session, "test")
    session.commit()
    with pytest.raises(RuntimeError, match="demo user"):
        load_demo_inquiries(app, utcnow())
    assert get_session().scalar(select(func.count()).select_from(Inquiry)) == 0


@pytest.mark.parametrize("sample_id", list(SAMPLES), ids=lambda i: i[-2:])
def test_every_person_has_a_valid_personnummer(sample_id: str) -> None:
    person = SAMPLES[sample_id].person
    assert parse_personnummer(person.personnummer).birth_date.year >= 1900


# --- a demo instance set up twice --------------------------------------------------------------


@dataclass
class DemoRun:
    app: Flask
    today: dt.date
    legs_after_first: dict[str, list[str]]
    legs_after_second: dict[str, list[str]]
    created_by_second: list[str]
    answers: tuple[int, int]
    jobs: tuple[int, int]
    notified_to: list[tuple[str, ...]]


def _legs() -> dict[str, list[str]]:
    session = get_session()
    found: dict[str, list[str]] = {}
    for leg in session.scalars(select(Leg).order_by(Leg.id)):
        found.setdefault(leg.inquiry_id, []).append(f"{leg.kind.value}@{leg.at.isoformat()}")
    session.rollback()
    return found


def _count(model: type) -> int:
    session = get_session()
    count = session.scalar(select(func.count()).select_from(model)) or 0
    session.rollback()
    return count


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[DemoRun]:
    """Set up the demo (its sample inquiries included), set it up again, then let a worker send
    the notifications to a mail sink; every step really commits on a database of its own."""
    tmp = tmp_path_factory.mktemp("demo-inquiries")
    url = fresh_database_url(request.param, tmp)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    instance = Path(tmp) / "instance"
    instance.mkdir()
    with MailSink() as sink:
        app = create_app(test_config(instance, url, SMTP_RELAY=f"127.0.0.1:{sink.port}"))
        with app.app_context():
            set_up_demo(app)
            first = (_legs(), _count(Answer), _count(Job))
            created = load_demo_inquiries(app, utcnow())
            set_up_demo(app)
            second = (_legs(), _count(Answer), _count(Job))
            Worker(app, "test:demo", recurring=False).run(once=True)
            run = DemoRun(app, local_date(utcnow()), first[0], second[0], created,
                          (first[1], second[1]), (first[2], second[2]),
                          [m.rcpt_tos for m in sink.messages])
            yield run
            get_session().close()
    database(app).engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def _inquiry(inquiry_id: str) -> Inquiry:
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None, f"sample {inquiry_id} was not created"
    return inquiry


def test_a_second_run_adds_nothing(demo: DemoRun) -> None:
    assert demo.created_by_second == []
    # The samples, beside the demo years' cases (tests/test_demo_years.py).
    assert set(demo.legs_after_first) >= set(SAMPLES)
    assert demo.legs_after_second == demo.legs_after_first
    assert demo.answers[0] == demo.answers[1] == sum(1 for s in DEMO_INQUIRIES if s.signer)
    assert demo.jobs[0] == demo.jobs[1]


@pytest.mark.parametrize("sample_id", list(SAMPLES), ids=lambda i: i[-2:])
def test_each_sample_reaches_its_state(demo: DemoRun, sample_id: str) -> None:
    sample = SAMPLES[sample_id]
    inquiry = _inquiry(sample_id)
    state = progress(get_session(), inquiry)
    assert state.status is sample.expected, sample.title
    kinds = [leg.kind for leg in state.legs]
    assert kinds[:3] == [LegKind.SUBMITTED, LegKind.RECEIVED, LegKind.ROUTED]
    received = state.legs[1].at
    meant = utcnow() - dt.timedelta(days=sample.received_days_ago)
    assert meant - dt.timedelta(minutes=30) <= received <= meant
    # Legs happen in order: nothing is dated before the inquiry was received.
    assert all(leg.at >= received for leg in state.legs[1:])
    assert (LegKind.OPENED in kinds) is (sample.opened_days_ago is not None)


def test_every_state_and_turn_is_shown(demo: DemoRun) -> None:
    session = get_session()
    states = {progress(session, _inquiry(i)).status for i in SAMPLES}
    turns = {progress(session, _inquiry(i)).turn for i in SAMPLES}
    assert states == set(Status)
    assert turns == set(Turn)


def test_the_inbox_shows_past_near_and_later_deadlines(demo: DemoRun) -> None:
    session = get_session()
    open_days = [
        progress(session, _inquiry(i)).days_left(demo.today)
        for i, s in SAMPLES.items() if s.expected in OPEN
    ]
    assert any(days < 0 for days in open_days), "an overdue inquiry"
    assert any(0 <= days <= 7 for days in open_days), "one near its deadline"
    assert any(days > 21 for days in open_days), "a fresh one"


def test_the_resend_is_flagged_as_a_repeat_of_the_overdue_one(demo: DemoRun) -> None:
    flagged = {i: _inquiry(i) for i in SAMPLES if _inquiry(i).repeat_of is not None}
    assert {i: inquiry.repeat_of for i, inquiry in flagged.items()} == {
        s.id: s.repeat_of for s in DEMO_INQUIRIES if s.repeat_of
    }
    for inquiry in flagged.values():
        assert [flag["code"] for flag in inquiry.flags] == ["REPEAT"]


def test_answers_are_signed_by_the_assigned_reko(demo: DemoRun) -> None:
    session = get_session()
    for sample in DEMO_INQUIRIES:
        stored = answer_for(session, sample.id)
        if sample.signer is None:
            assert stored is None
            continue
        assert stored is not None and stored.report.ok
        assert stored.pdf.startswith(b"%PDF")
        assert stored.structured is not None
        reko = stored.report.reko_signer
        assert reko is not None and reko.hsa_id == sample.signer
        assert len(stored.report.co_signers) == (1 if sample.co_signed else 0)


def test_closed_sample_carries_its_reason(demo: DemoRun) -> None:
    session = get_session()
    for sample in DEMO_INQUIRIES:
        legs = progress(session, _inquiry(sample.id)).legs
        closed = [leg for leg in legs if leg.kind is LegKind.CLOSED]
        if sample.closed is None:
            assert closed == []
        else:
            assert [leg.reason for leg in closed] == [sample.closed[0].value]


def test_the_worker_notifies_only_the_open_ones(demo: DemoRun) -> None:
    session = get_session()
    for sample in DEMO_INQUIRIES:
        kinds = [leg.kind for leg in progress(session, _inquiry(sample.id)).legs]
        assert (LegKind.NOTIFIED in kinds) is (sample.expected in OPEN), sample.title
    open_count = sum(1 for s in DEMO_INQUIRIES if s.expected in OPEN)
    assert len(demo.notified_to) >= open_count


def test_the_audit_chain_verifies(demo: DemoRun) -> None:
    report = verify(get_session())
    assert report.ok, report.describe()


# --- the sample SIP invitations ----------------------------------------------------------------


@pytest.mark.parametrize("sample", DEMO_SIPS, ids=lambda s: s.id[-3:])
def test_each_sip_sample_reaches_its_state(demo: DemoRun, sample: DemoSip) -> None:
    session = get_session()
    inquiry = _inquiry(sample.id)
    assert inquiry.form_type == FormType.SIP and inquiry.reference.startswith("SIP-")
    state = progress(session, inquiry)
    assert state.status is sample.expected, sample.title
    meeting = session.get(SipMeeting, sample.id)
    assert meeting is not None
    assert meeting.decision == (sample.reply[0].value if sample.reply else None)
    assert meeting.reko_attended is sample.held
    kinds = [leg.kind for leg in state.legs]
    assert (LegKind.OPENED in kinds) is (sample.opened_days_ago is not None)
    assert (LegKind.PLAN_SHARED in kinds) is sample.plan
    assert (session.get(SipPlan, sample.id) is not None) is sample.plan
    received = state.legs[1].at
    assert all(leg.at >= received for leg in state.legs[1:])


def test_the_sips_show_every_live_state_reply_and_outcome(demo: DemoRun) -> None:
    session = get_session()
    states = {progress(session, _inquiry(s.id)).status for s in DEMO_SIPS}
    assert states == set(SipStatus)
    assert {s.reply[0] for s in DEMO_SIPS if s.reply} == set(Beslut)
    assert {s.held for s in DEMO_SIPS if s.held is not None} == {True, False}
    assert any(s.plan for s in DEMO_SIPS)
    # In the demo's VCs, Kryddgården (Anna's) among them; a second run adds none.
    assert {s.care_unit for s in DEMO_SIPS} >= {KRYDDGARDEN}
    session.rollback()
    assert load_demo_sips(demo.app, utcnow()) == []
    assert {s.id for s in DEMO_SIPS} <= set(demo.legs_after_second)
