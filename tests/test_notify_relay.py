"""Notifications to the REKOs: no personal data, the relay down then up delivers once, the manager
is told when the unit has no REKO, and a reply address per inquiry."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from sqlalchemy import delete, select

from gateway.db import get_session
from gateway.directory.models import Assignment, CareUnit
from gateway.inquiries.models import Inquiry
from gateway.inquiries.notify import inquiry_by_reply_token, reply_token
from gateway.jobs.models import Job, JobState
from gateway.mail.models import OutboxMail
from gateway.mail.sink import MailSink
from tests.conftest import AppMaker
from tests.support.forms import KRYDDGARDEN
from tests.support.reko import (
    ANNA_EMAIL,
    DEPUTY_EMAIL,
    MANAGER_EMAIL,
    leg_kinds,
    parties,
    run_jobs,
    submit,
)
from tests.support.relays import RecordingRelay

# Intake signs a receipt with the PKI's organisation certificate.
pytestmark = pytest.mark.usefixtures("installed_pki")
UTC = dt.UTC


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_relay_down_then_up_delivers_each_notification_once(
    make_app: AppMaker
) -> None:
    port = free_port()
    app = make_app(SMTP_RELAY=f"127.0.0.1:{port}")
    with app.app_context():
        tokens = parties()
        inquiry_id = submit(app.test_client(), tokens.sender)
        now = dt.datetime.now(UTC)
        assert run_jobs(app, now) == 1  # the relay is down: the job fails and waits
        job = get_session().scalars(select(Job).where(Job.kind == "inquiry.notify")).one()
        get_session().refresh(job)
        assert job.state == JobState.PENDING
        assert job.attempts == 1
        assert "unreachable" in (job.last_error or "")
        assert "notified" not in leg_kinds(inquiry_id)

        with MailSink(port=port) as sink:
            assert run_jobs(app, now) == 0  # not before its backoff
            later = now + dt.timedelta(hours=2)
            assert run_jobs(app, later) == 1
            assert run_jobs(app, later + dt.timedelta(hours=2)) == 0
            recipients = sorted(r for m in sink.messages for r in m.rcpt_tos)
            message_ids = {m.message_id for m in sink.messages}
        assert recipients == sorted([ANNA_EMAIL, DEPUTY_EMAIL])
        assert len(message_ids) == 2
        assert leg_kinds(inquiry_id).count("notified") == 1


def test_the_relay_refusing_a_reko_for_good_ends_the_notify_job_as_it_ends_a_mail_job(
    make_app: AppMaker,
) -> None:
    # One delivery function for every job: a 5xx is final here too, and says no address.
    with MailSink(refuse=frozenset({ANNA_EMAIL})) as sink:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        with app.app_context():
            inquiry_id = submit(app.test_client(), parties().sender)
            assert run_jobs(app) == 1
            job = get_session().scalars(select(Job).where(Job.kind == "inquiry.notify")).one()
            get_session().refresh(job)
            assert job.state == JobState.DEAD
            assert "550" in (job.last_error or "")
            assert ANNA_EMAIL not in (job.last_error or "")
            assert "notified" not in leg_kinds(inquiry_id)


def test_the_manager_is_told_when_the_unit_has_no_reko(
    make_app: AppMaker
) -> None:
    with MailSink() as sink:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        with app.app_context():
            tokens = parties()
            session = get_session()
            unit = session.scalars(select(CareUnit).where(CareUnit.hsa_id == KRYDDGARDEN)).one()
            session.execute(delete(Assignment).where(Assignment.care_unit_id == unit.id))
            session.commit()
            inquiry_id = submit(app.test_client(), tokens.sender)
            assert run_jobs(app) == 1
            assert [m.rcpt_tos for m in sink.messages] == [(MANAGER_EMAIL,)]
            assert "notified" in leg_kinds(inquiry_id)


def test_the_mail_has_no_personal_data_and_a_reply_address_that_finds_the_inquiry(
    make_app: AppMaker
) -> None:
    with MailSink() as sink:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        with app.app_context():
            tokens = parties()
            inquiry_id = submit(app.test_client(), tokens.sender)
            run_jobs(app)
            mail = sink.messages[0]
            for secret in ("Tolvan", "191212121212", "121212-1212", "Åsa Lindqvist",
                           "arbetsträning"):
                assert secret.lower() not in mail.raw.decode("utf-8", "replace").lower()
            token = reply_token(inquiry_id)
            assert f"svar+{token}@localhost" in mail.body
            found = inquiry_by_reply_token(get_session(), token)
            assert found is not None and found.id == inquiry_id
            assert inquiry_by_reply_token(get_session(), "x" * 32) is None
            stored = get_session().get(Inquiry, inquiry_id)
            assert stored is not None and stored.reply_token_hash != token


def test_a_retry_sends_only_to_the_recipients_the_relay_has_not_accepted(
    make_app: AppMaker,
) -> None:
    with RecordingRelay(busy_once=frozenset({DEPUTY_EMAIL})) as relay:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{relay.port}")
        with app.app_context():
            inquiry_id = submit(app.test_client(), parties().sender)
            now = dt.datetime.now(UTC)
            assert run_jobs(app, now) == 1  # Anna's mail is accepted, the deputy's is not
            assert relay.ids_by_recipient().keys() == {ANNA_EMAIL}
            assert "notified" not in leg_kinds(inquiry_id)
            assert run_jobs(app, now + dt.timedelta(hours=2)) == 1
            assert leg_kinds(inquiry_id).count("notified") == 1
            sent = relay.ids_by_recipient()
            rows = [(r.message_id, r.sent_at) for r in
                    get_session().scalars(select(OutboxMail).order_by(OutboxMail.id))]
    assert {rcpt: len(ids) for rcpt, ids in sent.items()} == {ANNA_EMAIL: 1, DEPUTY_EMAIL: 1}
    assert [msg_id for msg_id, _ in rows] == [sent[ANNA_EMAIL][0], sent[DEPUTY_EMAIL][0]]
    assert all(sent_at is not None for _, sent_at in rows)
