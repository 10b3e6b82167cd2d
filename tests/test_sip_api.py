"""SIP over the gateway's own API (DESIGN 5.8): the invitation through the shared intake, the VC's
reply and the sender's outcome with their legs, whose turn at each step, who may do what, and
the refusals (S rules, consent, idempotency) as problem+json. Bad input first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.db import get_session
from gateway.inquiries.models import FormType, Inquiry, SipMeeting
from gateway.mail.sink import MailSink
from tests.conftest import AppMaker
from tests.support.forms import KRYDDGARDEN
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    ANNA_EMAIL,
    DEPUTY_EMAIL,
    Parties,
    leg_kinds,
    parties,
    run_jobs,
)
from tests.support.reko import submit as submit_inquiry
from tests.support.sip import sip_kallelse, sip_svar

XML = "application/xml"


@dataclass
class World:
    app: Flask
    http: FlaskClient
    tokens: Parties

    def send(self, data: bytes, token: str | None = None) -> Any:
        return self.http.post("/api/v1/sip", data=data, content_type=XML,
                              headers=bearer(token or self.tokens.sender))

    def invite(self, **overrides: Any) -> str:
        response = self.send(sip_kallelse(**overrides))
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["id"])

    def get(self, sip_id: str, token: str | None = None) -> Any:
        return self.http.get(f"/api/v1/sip/{sip_id}", headers=bearer(token or self.tokens.sender))

    def reply(self, sip_id: str, token: str | None = None, **overrides: Any) -> Any:
        return self.http.post(f"/api/v1/sip/{sip_id}/reply", data=sip_svar(sip_id, **overrides),
                              content_type=XML, headers=bearer(token or self.tokens.reko))

    def outcome(self, sip_id: str, body: dict[str, Any], token: str | None = None) -> Any:
        return self.http.post(f"/api/v1/sip/{sip_id}/outcome", json=body,
                              headers=bearer(token or self.tokens.sender))


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
    return World(app, app.test_client(), tokens)


def codes_of(response: Any) -> list[str]:
    return [i["typeCode"] for i in response.get_json()["eventIssues"]]


# --- refusals at intake -----------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "code"), [
    ({"deltagare": (("SOCIALTJANST", "Åsa"),)}, "S3"),
    ({"plats": None, "digital_lank": "http://meet.example.org/x"}, "S4"),
    ({"samtycke_form": "muntligt", "dokumenterat_av": None}, "C6"),
    ({"uppgiftslamnare": "SE2321000255-K002"}, "C4"),
])
def test_an_invitation_breaking_a_rule_is_refused_naming_it(world: World,
                                                           overrides: dict[str, Any],
                                                           code: str) -> None:
    response = world.send(sip_kallelse(**overrides))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert codes_of(response) == [code]
    with world.app.app_context():
        assert get_session().scalars(select(Inquiry)).first() is None


def test_a_broken_document_names_the_line_and_element(world: World) -> None:
    response = world.send(sip_kallelse(langd_minuter="5"))
    assert response.status_code == 422
    issue = response.get_json()["eventIssues"][0]
    assert issue["typeCode"] == "XSD"
    assert "/sipKallelse/mote/langdMinuter" in issue["in"] and "rad " in issue["in"]


def test_a_halsoforfragan_sent_as_a_sip_is_refused_and_vice_versa(world: World) -> None:
    from tests.support.forms import halsoforfragan

    response = world.send(halsoforfragan())
    assert response.status_code == 400
    assert codes_of(response) == ["XML_NAMESPACE"]
    response = world.http.post("/api/v1/inquiries", data=sip_kallelse(), content_type=XML,
                               headers=bearer(world.tokens.sender))
    assert response.status_code == 400
    assert codes_of(response) == ["XML_NAMESPACE"]


def test_only_the_senders_own_client_may_send_it(world: World) -> None:
    response = world.send(sip_kallelse(), token=world.tokens.reko)
    assert response.status_code == 403
    assert codes_of(response) == ["SENDER_NOT_ALLOWED"]


def test_the_same_id_with_other_content_is_a_conflict_and_the_same_is_the_same(
        world: World) -> None:
    data = sip_kallelse()
    first = world.send(data)
    assert first.status_code == 201
    again = world.send(data)
    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    sip_id = first.get_json()["id"]
    other = world.send(sip_kallelse(id=sip_id, langd_minuter="90"))
    assert other.status_code == 409
    assert response_in(other) == "/sipKallelse/id"


def response_in(response: Any) -> str:
    return str(response.get_json()["eventIssues"][0]["in"])


# --- accepted ---------------------------------------------------------------------------------

def test_an_invitation_is_stored_routed_and_notified_as_an_inquiry_is(
        make_app: AppMaker, installed_pki: TestPki) -> None:
    with MailSink() as sink:
        app = make_app(SMTP_RELAY=f"127.0.0.1:{sink.port}")
        with app.app_context():
            tokens = parties()
        world = World(app, app.test_client(), tokens)
        _invited_and_notified(world, sink)


def _invited_and_notified(world: World, sink: MailSink) -> None:
    response = world.send(sip_kallelse())
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/sip/{body['id']}"
    assert body["reference"].startswith("SIP-")
    assert body["receipt"]["routed_to"] == "sdk:reko-kryddgarden:0203:skane.se"
    with world.app.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, body["id"])
        assert inquiry is not None and inquiry.form_type is FormType.SIP
        meeting = session.get(SipMeeting, body["id"])
        assert meeting is not None and meeting.length_minutes == 60
        assert inquiry.deadline == meeting.reply_due
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "sip.received" in actions
    assert run_jobs(world.app) == 1
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == sorted(
        [ANNA_EMAIL, DEPUTY_EMAIL])
    # No personal data in the notification, as for inquiries.
    assert all(b"Tolvan" not in m.body.encode() and b"191212" not in m.body.encode()
               for m in sink.messages)
    with world.app.app_context():
        assert leg_kinds(body["id"]) == ["submitted", "received", "routed", "notified"]


def test_a_sip_and_an_inquiry_share_one_reference_series(world: World) -> None:
    inquiry = submit_inquiry(world.http, world.tokens.sender)
    sip_id = world.invite()
    with world.app.app_context():
        session = get_session()
        first = session.get(Inquiry, inquiry)
        second = session.get(Inquiry, sip_id)
        assert first is not None and second is not None
        assert first.reference.startswith("HF-") and second.reference.startswith("SIP-")
        assert first.reference[3:] != second.reference[4:]


def test_a_sip_is_not_an_inquiry_on_the_inquiry_api_and_the_reverse(world: World) -> None:
    inquiry = submit_inquiry(world.http, world.tokens.sender)
    sip_id = world.invite()
    assert world.get(inquiry).status_code == 404
    response = world.http.get(f"/api/v1/inquiries/{sip_id}", headers=bearer(world.tokens.sender))
    assert response.status_code == 404


# --- reply and outcome: who, legs, turn -------------------------------------------------------

def test_only_the_vcs_client_replies(world: World) -> None:
    sip_id = world.invite()
    assert world.reply(sip_id, token=world.tokens.sender).status_code == 403
    assert world.reply(sip_id, token=world.tokens.other_vc).status_code == 404
    with world.app.app_context():
        assert "replied" not in leg_kinds(sip_id)


def test_only_the_sender_records_the_outcome(world: World) -> None:
    sip_id = world.invite()
    today = stockholm_today().isoformat()
    assert world.outcome(sip_id, {"held_on": today}, token=world.tokens.reko).status_code == 403
    assert world.outcome(sip_id, {"held_on": today},
                         token=world.tokens.other_vc).status_code == 404


@pytest.mark.parametrize("overrides", [
    {"beslut": "NYTT_FORSLAG"},
    {"beslut": "KANSKE"},
])
def test_a_bad_reply_is_refused_naming_why(world: World, overrides: dict[str, Any]) -> None:
    sip_id = world.invite()
    response = world.reply(sip_id, **overrides)
    assert response.status_code == 422
    assert codes_of(response) in (["SVAR_NY_TID"], ["XSD"])


def test_a_new_time_in_the_past_is_refused_in_swedish(world: World) -> None:
    sip_id = world.invite()
    now = dt.datetime.now(dt.UTC)
    # Not after the reply's own skapad: the form's rule.
    before = world.reply(sip_id, beslut="NYTT_FORSLAG",
                         ny_tid=(now - dt.timedelta(hours=1)).isoformat(timespec="seconds"))
    # After a backdated skapad, but already past: the service's rule.
    backdated = world.http.post(
        f"/api/v1/sip/{sip_id}/reply", content_type=XML, headers=bearer(world.tokens.reko),
        data=sip_svar(sip_id, now - dt.timedelta(days=2), beslut="NYTT_FORSLAG",
                      ny_tid=(now - dt.timedelta(days=1)).isoformat(timespec="seconds")))
    for response in (before, backdated):
        assert response.status_code == 422
        assert codes_of(response) == ["SVAR_NY_TID_PASSERAD"]
        issue = response.get_json()["eventIssues"][0]
        assert "Den föreslagna nya tiden har redan passerat" in str(issue)
    state = world.get(sip_id).get_json()
    assert state["status"] == "received" and state["meeting"]["decision"] is None


def test_a_reply_to_another_invitation_is_refused(world: World) -> None:
    sip_id, other = world.invite(), world.invite()
    response = world.http.post(f"/api/v1/sip/{sip_id}/reply", data=sip_svar(other),
                               content_type=XML, headers=bearer(world.tokens.reko))
    assert response.status_code == 422
    assert codes_of(response) == ["SIP_REPLY_OTHER"]


@pytest.mark.parametrize("body", [
    {}, {"held_on": "2026-13-01"}, {"held_on": "2999-01-01"}, {"cancelled": "TRÖTT"},
    {"held_on": "2026-01-01", "cancelled": "OTHER"}, {"cancelled": "OTHER", "reko_attended": "ja"},
    {"held": "2026-01-01"},
])
def test_a_bad_outcome_is_refused(world: World, body: dict[str, Any]) -> None:
    sip_id = world.invite()
    response = world.outcome(sip_id, body)
    assert response.status_code == 422
    assert codes_of(response) == ["SIP_OUTCOME_INVALID"]


def test_reply_then_held_whose_turn_at_each_step(world: World) -> None:
    sip_id = world.invite()
    state = world.get(sip_id).get_json()
    assert (state["status"], state["turn"]) == ("received", "care_unit")
    # The VC's first read records opened, as for inquiries.
    state = world.get(sip_id, token=world.tokens.reko).get_json()
    assert (state["status"], state["turn"]) == ("opened", "care_unit")
    day = stockholm_today() + dt.timedelta(days=20)
    new_time = f"{day.isoformat()}T10:00:00+01:00"
    replied = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid=new_time)
    assert replied.status_code == 201
    state = replied.get_json()
    assert (state["status"], state["turn"]) == ("replied", "sender")
    assert state["meeting"]["decision"] == "NYTT_FORSLAG"
    assert state["meeting"]["proposed_at"] == f"{day.isoformat()}T09:00:00.000000Z"
    # The REKO may change the reply while the meeting is ahead; the same reply again is a no-op.
    data = sip_svar(sip_id)
    first = world.http.post(f"/api/v1/sip/{sip_id}/reply", data=data, content_type=XML,
                            headers=bearer(world.tokens.reko))
    again = world.http.post(f"/api/v1/sip/{sip_id}/reply", data=data, content_type=XML,
                            headers=bearer(world.tokens.reko))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["meeting"]["decision"] == "KOMMER"
    assert again.get_json()["meeting"]["proposed_at"] is None
    held = world.outcome(sip_id, {"held_on": stockholm_today().isoformat()})
    assert held.status_code == 200
    state = held.get_json()
    assert (state["status"], state["turn"]) == ("held", "none")
    # Not said: the REKO came if the VC's latest reply was KOMMER.
    assert state["meeting"]["reko_attended"] is True
    assert world.outcome(sip_id, {"cancelled": "OTHER"}).status_code == 409
    assert world.reply(sip_id).status_code == 409
    with world.app.app_context():
        assert leg_kinds(sip_id) == ["submitted", "received", "routed", "opened", "replied",
                                     "replied", "held"]


def test_cancelled_with_a_reason_and_attendance_as_the_sender_says(world: World) -> None:
    sip_id = world.invite()
    assert world.reply(sip_id, beslut="KOMMER_INTE").status_code == 201
    response = world.outcome(sip_id, {"cancelled": "PERSON_CANCELLED"})
    assert response.status_code == 200
    state = response.get_json()
    assert (state["status"], state["turn"]) == ("cancelled", "none")
    assert state["meeting"]["cancel_reason"] == "PERSON_CANCELLED"
    assert state["meeting"]["cancelled_on"] == stockholm_today().isoformat()
    assert state["meeting"]["reko_attended"] is None
    other = world.invite()
    assert world.reply(other, beslut="KOMMER_INTE").status_code == 201
    held = world.outcome(other, {"held_on": stockholm_today().isoformat(), "reko_attended": True})
    assert held.get_json()["meeting"]["reko_attended"] is True


def test_the_meeting_is_kept_in_utc_with_the_care_unit(world: World) -> None:
    sip_id = world.invite(mote_tid="2026-12-20T09:00:00+01:00", svar_senast="2026-12-18")
    state = world.get(sip_id).get_json()
    assert state["meeting"]["starts_at"] == "2026-12-20T08:00:00.000000Z"
    assert state["meeting"]["reply_due"] == "2026-12-18"
    assert state["deadline"] == "2026-12-18"
    assert state["care_unit"] == KRYDDGARDEN


# --- other channels: the SDK message API --------------------------------------------------------

def test_an_invitation_over_the_sdk_api_goes_through_the_same_intake(world: World) -> None:
    from forms.sip import parse_sip_kallelse
    from tests.support.sdk import MESSAGES, message_body

    bad = sip_kallelse(deltagare=(("SOCIALTJANST", "Åsa"),))
    refused = world.http.post(MESSAGES, json=message_body(bad, label="SIP-kallelse"),
                              headers=bearer(world.tokens.sender))
    assert refused.status_code == 400
    assert "S3" in codes_of(refused)
    data = sip_kallelse()
    sip_id = parse_sip_kallelse(data).id
    sent = world.http.post(MESSAGES, json=message_body(data, label="SIP-kallelse"),
                           headers=bearer(world.tokens.sender))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    state = world.get(sip_id).get_json()
    assert state["reference"].startswith("SIP-")
    assert (state["status"], state["turn"]) == ("received", "care_unit")
    with world.app.app_context():
        inquiry = get_session().get(Inquiry, sip_id)
        assert inquiry is not None and inquiry.channel == "sdk"


def test_refusals_count_in_their_own_form_types_report(world: World) -> None:
    from gateway.stats.extras import rejections
    from gateway.stats.period import Period
    from gateway.stats.sip import sip_report
    from tests.support.forms import halsoforfragan
    from tests.support.sdk import MESSAGES, message_body

    bad_sip = sip_kallelse(deltagare=(("SOCIALTJANST", "Åsa"),))
    assert world.send(bad_sip).status_code == 422
    assert world.http.post(MESSAGES, json=message_body(bad_sip, label="SIP-kallelse"),
                           headers=bearer(world.tokens.sender)).status_code == 400
    bad_inquiry = halsoforfragan(uppgiftslamnare="SE2321000255-K002")
    assert world.http.post("/api/v1/inquiries", data=bad_inquiry, content_type=XML,
                           headers=bearer(world.tokens.sender)).status_code == 422
    with world.app.app_context():
        period = Period(stockholm_today().year, stockholm_today())
        sip = sip_report(get_session(), period).to_json()["rejections"]
        assert (sip["total"], sip["by_code"].get("S3")) == (2, 2)
        inquiries = rejections(get_session(), period)
        assert inquiries.total == 1 and "S3" not in dict(inquiries.by_code)


def test_the_sdk_message_of_an_invitation_names_its_own_form_type(world: World) -> None:
    from gateway.inquiries.sdk_messages import INQUIRY_KIND, open_message, stored_message
    from gateway.sdkapi.messages import form_label

    sip_id = world.invite()
    with world.app.app_context():
        session = get_session()
        row = stored_message(session, sip_id, INQUIRY_KIND)
        assert row is not None
        message = open_message(row)
        assert message is not None
        (document,) = message.documents
        assert (document.document_id, document.document_name) == ("sip", "SIP-kallelse")
        assert message.header.label == "SIP-kallelse"
        assert document.content_files[0].file_name == "sip.xml"
        inquiry = session.get(Inquiry, sip_id)
        assert inquiry is not None and form_label(inquiry) == "SIP-kallelse"


def test_the_halsoforfragan_answer_pages_do_not_show_a_sip_invitation(world: World) -> None:
    from gateway.auth.models import Role
    from tests.support.reko import ANNA
    from tests.support.web import logged_in_browser

    sip_id = world.invite()
    with world.app.app_context():
        browser = logged_in_browser(world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        # Its own page at the same URL; the hälsoförfrågan's answer pages: not found, never a
        # broken page.
        assert browser.get(f"/inkorg/{sip_id}").status_code == 200
        assert browser.get(f"/inkorg/{sip_id}/svara").status_code == 404
        assert browser.get(f"/inkorg/{sip_id}/samtycke.pdf").status_code == 404
        assert browser.get("/inkorg").status_code == 200
