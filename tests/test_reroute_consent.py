"""Issue 14, hole 2: the sender sends its inquiry on to another VC with a new consent that names
it (POST /api/v1/inquiries/{id}/reroute with the amended hälsoförfrågan), on SQLite and
PostgreSQL. Refusals first: a consent naming another VC (C4), an expired one (C2), another
id, person or sender, the REKO's client, another organisation's client; then the move itself
(the old VC loses access, the new one answers, C4 re-checked at the answer), the re-opening of
an inquiry closed as RELISTED and what the statistics' summary keeps."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.db import get_session, utcnow
from gateway.directory.models import CareUnit
from gateway.inquiries.drafts import save_draft
from gateway.inquiries.marks import mark_of, set_mark
from gateway.inquiries.models import (
    AnswerDraft,
    Inquiry,
    InquiryMark,
    InquirySummary,
    MarkKind,
)
from gateway.inquiries.workflow import rebuild_summaries
from gateway.jobs.models import Job
from tests.conftest import AppMaker
from tests.support.forms import (
    EBB_NORR,
    EBB_OSTER,
    KRYDDGARDEN,
    MALMO,
    NOT_CONNECTED,
    ROSENGARD,
    UNKNOWN_CARE_UNIT,
    halsoforfragan,
    nth_personnummer,
)
from tests.support.intake import bearer, new_client
from tests.support.pdfs import TestPki
from tests.support.reko import (
    CECILIA,
    HUSIE,
    HUSIE_ADDRESS,
    Parties,
    leg_kinds,
    parties,
    post_answer,
    signed_answer,
)
from tests.support.reko import submit as submit_api

DAY = dt.timedelta(days=1)
HUSIE_NAME = "Vårdcentralen Husie"


@dataclass
class World:
    app: Flask
    http: FlaskClient
    tokens: Parties
    pki: TestPki
    inquiry_id: str

    def resend(self, token: str, **overrides: Any) -> Any:
        """Post the amended form (to Husie, consent for Husie, unless overridden)."""
        values: dict[str, Any] = {"id": self.inquiry_id, "vardcentral": HUSIE,
                                  "vardcentral_namn": HUSIE_NAME, "uppgiftslamnare": HUSIE,
                                  **overrides}
        return self.http.post(f"/api/v1/inquiries/{self.inquiry_id}/reroute",
                              data=halsoforfragan(**values), headers=bearer(token),
                              content_type="application/xml")

    def status(self, token: str) -> Any:
        return self.http.get(f"/api/v1/inquiries/{self.inquiry_id}", headers=bearer(token))

    def inquiry(self) -> Inquiry:
        found = get_session().get(Inquiry, self.inquiry_id)
        assert found is not None
        return found


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
        http = app.test_client()
        inquiry_id = submit_api(http, tokens.sender, id=str(uuid.uuid4()))
    return World(app, http, tokens, installed_pki, inquiry_id)


def denied(inquiry_id: str) -> list[dict[str, Any]]:
    rows = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == "inquiry.resend", AuditEntry.object_id == inquiry_id,
        AuditEntry.outcome == "denied").order_by(AuditEntry.seq))
    return [row.detail for row in rows]


def assert_unmoved(world: World) -> None:
    """Nothing of a refused re-route is left: still at Kryddgården, which still reads it."""
    get_session().expire_all()
    assert "rerouted" not in leg_kinds(world.inquiry_id)
    assert world.inquiry().care_unit.hsa_id == KRYDDGARDEN
    assert world.status(world.tokens.reko).status_code == 200
    assert world.status(world.tokens.other_vc).status_code == 404


TODAY = dt.datetime.now(dt.UTC).date()

# (id, form overrides, status, codes every one of which the refusal names)
BAD: list[tuple[str, dict[str, Any], int, set[str]]] = [
    ("consent-names-another-vc", {"uppgiftslamnare": ROSENGARD}, 422, {"C4"}),
    ("consent-still-the-old-vcs", {"uppgiftslamnare": KRYDDGARDEN}, 422, {"C4"}),
    ("consent-expired", {"givet": (TODAY - 60 * DAY).isoformat(),
                         "giltigt_till": (TODAY - DAY).isoformat()}, 422, {"C2"}),
    ("expired-and-another-vc", {"givet": (TODAY - 60 * DAY).isoformat(),
                                "giltigt_till": (TODAY - DAY).isoformat(),
                                "uppgiftslamnare": ROSENGARD}, 422, {"C2", "C4"}),
    ("consent-given-after-skapad", {"givet": (TODAY + 2 * DAY).isoformat()}, 422, {"C1"}),
    ("another-person", {"personnummer": nth_personnummer(7)}, 422,
     {"REROUTE_NOT_SAME_INQUIRY"}),
    ("another-id", {"id": str(uuid.uuid4())}, 422, {"REROUTE_NOT_SAME_INQUIRY"}),
    ("same-vc", {"vardcentral": KRYDDGARDEN, "uppgiftslamnare": KRYDDGARDEN}, 422,
     {"REROUTE_SAME_UNIT"}),
    ("vc-not-connected", {"vardcentral": NOT_CONNECTED, "uppgiftslamnare": NOT_CONNECTED}, 422,
     {"CARE_UNIT_NOT_CONNECTED"}),
    ("vc-unknown", {"vardcentral": UNKNOWN_CARE_UNIT, "uppgiftslamnare": UNKNOWN_CARE_UNIT},
     404, {"UNKNOWN_CARE_UNIT"}),
    ("sender-not-the-clients", {"funktionsadress": EBB_NORR}, 403, {"SENDER_NOT_ALLOWED"}),
]


@pytest.mark.parametrize(("overrides", "status", "codes"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_a_bad_amended_form_is_refused_naming_every_failed_rule_and_changes_nothing(
    world: World, overrides: dict[str, Any], status: int, codes: set[str]
) -> None:
    with world.app.app_context():
        response = world.resend(world.tokens.sender, **overrides)
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        code = problem["type"].rsplit(":", 1)[1]
        named = {i["typeCode"] for i in problem["eventIssues"]} | {code}
        assert codes <= named, problem
        assert_unmoved(world)
        last = denied(world.inquiry_id)[-1]
        assert codes <= {*last["codes"], last["reason"]}


def test_not_xml_is_refused_as_unreadable(world: World) -> None:
    with world.app.app_context():
        response = world.http.post(f"/api/v1/inquiries/{world.inquiry_id}/reroute",
                                   data=b"<inte en halsoforfragan/>",
                                   headers=bearer(world.tokens.sender),
                                   content_type="application/xml")
        assert response.status_code == 400
        assert_unmoved(world)


def test_another_sender_of_the_same_organisation_is_not_the_same_inquiry(world: World) -> None:
    with world.app.app_context():
        both = new_client(get_session(), organisation=MALMO, addresses=(EBB_OSTER, EBB_NORR))
        # A client of EBB Öster that also holds EBB Norr's address: a sender it may use, but
        # not the sender of this inquiry.
        response = world.resend(both, funktionsadress=EBB_NORR,
                                enhet="Ekonomiskt bistånd och boende Norr")
        assert response.status_code == 422, response.get_data(as_text=True)
        issues = response.get_json()["eventIssues"]
        assert [(i["typeCode"], i["in"]) for i in issues] == [
            ("REROUTE_NOT_SAME_INQUIRY", "/halsoforfragan/avsandare/funktionsadress")]
        assert_unmoved(world)


@pytest.mark.parametrize(("who", "status"), [("reko", 403), ("other_vc", 404)])
def test_only_the_senders_client_sends_it_on_with_a_new_consent(
    world: World, who: str, status: int
) -> None:
    with world.app.app_context():
        response = world.resend(getattr(world.tokens, who))
        assert response.status_code == status
        assert_unmoved(world)
        rows = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.resend", AuditEntry.outcome == "denied"))
        assert [r.detail["reason"] for r in rows] == [
            "other_side" if status == 403 else "not_party"]


def test_another_organisations_client_gets_what_an_unknown_id_gets(world: World) -> None:
    with world.app.app_context():
        lund = new_client(get_session(), organisation="0203:skane.se",
                          addresses=("sdk:reko-rosengard:0203:skane.se",))
        response = world.resend(lund)
        unknown = world.http.post("/api/v1/inquiries/00000000-0000-4000-8000-000000000000/"
                                  "reroute", data=halsoforfragan(), headers=bearer(lund),
                                  content_type="application/xml")
        assert (response.status_code, unknown.status_code) == (404, 404)
        assert_unmoved(world)


def test_a_vc_served_by_a_peer_gateway_is_refused_for_now(world: World) -> None:
    with world.app.app_context():
        session = get_session()
        husie = session.scalars(select(CareUnit).where(CareUnit.hsa_id == HUSIE)).one()
        husie.organisation.endpoint = "https://ap.skane.example/ap/v1/envelopes"
        session.commit()
        response = world.resend(world.tokens.sender)
        assert response.status_code == 422
        assert response.get_json()["type"].endswith(":RECIPIENT_AT_PEER")
        assert_unmoved(world)


@pytest.mark.parametrize("reason", ["DUPLICATE", None])
def test_an_answered_inquiry_or_one_closed_for_another_reason_is_not_sent_on(
    world: World, reason: str | None
) -> None:
    with world.app.app_context():
        if reason:
            closed = world.http.post(f"/api/v1/inquiries/{world.inquiry_id}/close",
                                     json={"reason": reason}, headers=bearer(world.tokens.reko))
            assert closed.status_code == 200
        else:
            assert post_answer(world.http, world.tokens.reko, world.inquiry_id,
                               signed_answer(world.pki, world.inquiry_id)).status_code == 201
        response = world.resend(world.tokens.sender)
        assert response.status_code == 409
        assert "rerouted" not in leg_kinds(world.inquiry_id)


# --- the move ---------------------------------------------------------------------------------


def test_sent_on_with_a_consent_for_the_new_vc_it_moves_there_and_only_there(
    world: World
) -> None:
    with world.app.app_context():
        session = get_session()
        set_mark(session, world.inquiry(), MarkKind.KONTAKTAD, actor="user:anna", now=utcnow())
        save_draft(session, world.inquiry(), author="user:anna",
                   fields={"svar_AKTIVITETSFORMAGA": "Utkast från Kryddgården"}, now=utcnow())
        session.commit()
        assert world.status(world.tokens.reko).status_code == 200  # Kryddgården opened it
        response = world.resend(world.tokens.sender)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["id"] == world.inquiry_id
        assert body["receipt"]["care_unit"] == HUSIE
        assert body["receipt"]["routed_to"] == HUSIE_ADDRESS
        assert body["deadline"] == (stockholm_today() + 30 * DAY).isoformat()
        assert response.headers["Location"] == f"/api/v1/inquiries/{world.inquiry_id}"
        # The old VC no longer reaches it; the new one does, and its first read opens it.
        assert world.status(world.tokens.reko).status_code == 404
        status = world.status(world.tokens.other_vc).get_json()
        assert (status["care_unit"], status["status"], status["turn"]) == (
            HUSIE, "opened", "care_unit")
        assert [leg["kind"] for leg in status["legs"]][-2:] == ["rerouted", "opened"]
        session.expire_all()
        inquiry = world.inquiry()
        assert mark_of(session, inquiry) is None
        assert session.scalars(select(InquiryMark)).all() == []
        assert session.scalars(select(AnswerDraft)).all() == []  # the old REKO's draft too
        jobs = session.scalars(select(Job).where(Job.kind == "inquiry.notify")).all()
        assert len(jobs) == 2  # at intake to Kryddgården, now to Husie
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.rerouted")).one()
        assert audited.detail["to"] == HUSIE and audited.detail["consent"] == "new"
        session.commit()  # the reads above end here, as a request's would
        # The new VC's REKO answers; C4 is checked again with the consent sent on: it holds.
        assert post_answer(world.http, world.tokens.reko, world.inquiry_id,
                           signed_answer(world.pki, world.inquiry_id)).status_code == 404
        answered = post_answer(world.http, world.tokens.other_vc, world.inquiry_id,
                               signed_answer(world.pki, world.inquiry_id, CECILIA))
        assert answered.status_code == 201, answered.get_data(as_text=True)


def test_the_same_amended_form_again_gives_the_same_answer_and_moves_nothing(
    world: World
) -> None:
    with world.app.app_context():
        values = {"id": world.inquiry_id, "vardcentral": HUSIE, "vardcentral_namn": HUSIE_NAME,
                  "uppgiftslamnare": HUSIE}
        data = halsoforfragan(**values)
        url = f"/api/v1/inquiries/{world.inquiry_id}/reroute"
        first, again = (world.http.post(url, data=data, headers=bearer(world.tokens.sender),
                                        content_type="application/xml") for _ in range(2))
        assert (first.status_code, again.status_code) == (200, 200)
        assert first.get_json() == again.get_json()
        assert leg_kinds(world.inquiry_id).count("rerouted") == 1


def test_the_new_vc_reads_the_amended_form_and_its_consent_pdf(world: World) -> None:
    with world.app.app_context():
        from gateway.inquiries.personal import inquiry_form
        from gateway.inquiries.sdk_messages import consent_file

        pdf = b"%PDF-1.7\n% samtycke for Husie\n%%EOF\n"
        assert world.resend(world.tokens.sender, bilaga=pdf,
                            bilaga_filnamn="samtycke-husie.pdf").status_code == 200
        session = get_session()
        session.expire_all()
        inquiry = world.inquiry()
        form = inquiry_form(inquiry)
        assert (form.mottagare.hsa_id, form.samtycke.uppgiftslamnare_hsa_id) == (HUSIE, HUSIE)
        assert consent_file(session, inquiry) == ("samtycke-husie.pdf", pdf)


def test_over_the_sdk_api_the_new_vc_gets_the_amended_form_and_the_old_one_nothing(
    world: World
) -> None:
    import base64

    with world.app.app_context():
        data = halsoforfragan(id=world.inquiry_id, vardcentral=HUSIE,
                              vardcentral_namn=HUSIE_NAME, uppgiftslamnare=HUSIE)
        moved = world.http.post(f"/api/v1/inquiries/{world.inquiry_id}/reroute", data=data,
                                headers=bearer(world.tokens.sender),
                                content_type="application/xml")
        assert moved.status_code == 200
        url = f"/v1/sdk/messages/{world.inquiry_id}"
        assert world.http.get(url, headers=bearer(world.tokens.reko)).status_code == 404
        got = world.http.get(url, headers=bearer(world.tokens.other_vc))
        assert got.status_code == 200, got.get_data(as_text=True)
        attrs = got.get_json()["data"]["attributes"]
        assert attrs["messageStatus"] == "NEW"
        assert attrs["recipientAttention"]["subOrganization"]["extension"] == HUSIE_ADDRESS
        files = attrs["digitalDocument"][0]["contentFiles"]
        assert base64.b64decode(files[0]["content"]) == data


def test_a_message_sent_over_the_sdk_api_keeps_its_conversation_and_label(
    world: World
) -> None:
    from tests.support.sdk import MESSAGES, message_body

    with world.app.app_context():
        inquiry_id = str(uuid.uuid4())
        conversation = "a8480ada-6a1f-44a3-a960-9acaf4efcdcd"
        sent = world.http.post(MESSAGES, json=message_body(
            halsoforfragan(id=inquiry_id), conversationId=conversation,
            label="Förfrågan om Tolvan"), headers=bearer(world.tokens.sender))
        assert sent.status_code == 201, sent.get_data(as_text=True)
        world.inquiry_id = inquiry_id
        assert world.resend(world.tokens.sender).status_code == 200
        got = world.http.get(f"{MESSAGES}/{inquiry_id}", headers=bearer(world.tokens.other_vc))
        attrs = got.get_json()["data"]["attributes"]
        assert (attrs["conversationId"], attrs["label"]) == (conversation, "Förfrågan om Tolvan")


def test_the_old_consent_cannot_answer_at_the_new_vc(world: World) -> None:
    """C4 is re-checked when the answer is accepted: an inquiry moved without a new consent (as
    the REKO's re-route did before C4 was checked there) cannot be answered."""
    with world.app.app_context():
        session = get_session()
        husie = session.scalars(select(CareUnit).where(CareUnit.hsa_id == HUSIE)).one()
        inquiry = world.inquiry()
        inquiry.care_unit_id, inquiry.routed_to = husie.id, HUSIE_ADDRESS
        session.commit()
        answered = post_answer(world.http, world.tokens.other_vc, world.inquiry_id,
                               signed_answer(world.pki, world.inquiry_id, CECILIA))
        assert answered.status_code == 422
        assert "C4" in {i["typeCode"] for i in answered.get_json()["eventIssues"]}


# --- closed as RELISTED: re-opened at the new VC ---------------------------------------------


def summary(inquiry_id: str) -> tuple[str, Any]:
    row = get_session().get(InquirySummary, inquiry_id, populate_existing=True)
    assert row is not None
    return row.status, row.closed


def buckets() -> dict[str, int]:
    """This year's response-time report as of today: the buckets with a count."""
    from gateway.stats.engine import response_times
    from gateway.stats.period import Period

    today = stockholm_today()
    report = response_times(get_session(), Period(today.year, today)).to_json()
    return {name: cell["count"] for name, cell in report["buckets"].items() if cell["count"]}


def test_closed_as_relisted_it_reopens_at_the_new_vc_and_is_counted_once(world: World) -> None:
    with world.app.app_context():
        closed = world.http.post(f"/api/v1/inquiries/{world.inquiry_id}/close",
                                 json={"reason": "RELISTED"}, headers=bearer(world.tokens.reko))
        assert closed.status_code == 200
        status, closed_at = summary(world.inquiry_id)
        assert status == "closed" and closed_at is not None
        assert buckets() == {"closed_ok": 1}
        response = world.resend(world.tokens.sender)
        assert response.status_code == 200, response.get_data(as_text=True)
        state = world.status(world.tokens.sender).get_json()
        assert (state["status"], state["turn"]) == ("received", "care_unit")
        # The close was taken back: the statistics see an open inquiry, not a closed one.
        assert summary(world.inquiry_id) == ("received", None)
        assert buckets() == {"ongoing": 1}
        answered = post_answer(world.http, world.tokens.other_vc, world.inquiry_id,
                               signed_answer(world.pki, world.inquiry_id, CECILIA))
        assert answered.status_code == 201, answered.get_data(as_text=True)
        assert summary(world.inquiry_id) == ("answered", None)
        fetched = world.http.get(f"/api/v1/inquiries/{world.inquiry_id}/answer",
                                 headers=bearer(world.tokens.sender))
        assert fetched.status_code == 200
        assert leg_kinds(world.inquiry_id)[-1] == "answer_delivered"
        assert buckets() == {"1-39": 1}  # counted once, as answered, never as closed too
        # Rebuilt from the legs, the summary is the same.
        session = get_session()
        rebuild_summaries(session)
        session.commit()
        assert summary(world.inquiry_id) == ("answer_delivered", None)


def test_a_relisted_close_reopened_and_closed_again_keeps_the_later_close(world: World) -> None:
    with world.app.app_context():
        url = f"/api/v1/inquiries/{world.inquiry_id}/close"
        assert world.http.post(url, json={"reason": "RELISTED"},
                               headers=bearer(world.tokens.reko)).status_code == 200
        first_close = summary(world.inquiry_id)[1]
        assert world.resend(world.tokens.sender).status_code == 200
        assert world.http.post(url, json={"reason": "DUPLICATE"},
                               headers=bearer(world.tokens.other_vc)).status_code == 200
        status, closed_at = summary(world.inquiry_id)
        assert status == "closed"
        legs = [leg for leg in world.status(world.tokens.sender).get_json()["legs"]
                if leg["kind"] == "closed"]
        assert len(legs) == 2
        assert closed_at > first_close
        assert world.resend(world.tokens.sender, vardcentral=ROSENGARD,
                            uppgiftslamnare=ROSENGARD).status_code == 409


# --- the new VC's own answer time -----------------------------------------------------------


def test_the_new_vc_is_reminded_and_escalated_on_its_own_days(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    from forms.dates import local_date
    from gateway.inquiries.deadlines import scan
    from gateway.inquiries.intake import submit
    from gateway.inquiries.models import Leg, LegKind
    from gateway.inquiries.resend import resend
    from tests.support.reko import SUBMITTER

    app = make_app()
    with app.app_context():
        parties()
        session = get_session()
        moved_at = dt.datetime.now(dt.UTC).replace(hour=11, minute=0, second=0, microsecond=0)
        received = moved_at - 25 * DAY
        inquiry_id = str(uuid.uuid4())
        submit(session, halsoforfragan(received, id=inquiry_id), submitter=SUBMITTER,
               channel="api", now=received)
        session.commit()
        assert scan(session, received + 21 * DAY)["reminded"] == 1
        session.commit()
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        resend(session, inquiry, halsoforfragan(moved_at, id=inquiry_id, vardcentral=HUSIE,
                                                vardcentral_namn=HUSIE_NAME,
                                                uppgiftslamnare=HUSIE),
               submitter=SUBMITTER, channel="api", now=moved_at)
        session.commit()
        assert inquiry.deadline == local_date(moved_at) + 30 * DAY
        # Day 31 from the first VC's receipt is day 6 at Husie: nothing is due there.
        assert scan(session, received + 31 * DAY) == {"reminded": 0, "escalated": 0}
        assert scan(session, moved_at + 21 * DAY) == {"reminded": 1, "escalated": 0}
        assert scan(session, moved_at + 30 * DAY) == {"reminded": 0, "escalated": 1}
        session.commit()
        kinds = [(leg.kind.value, leg.reason) for leg in session.scalars(
            select(Leg).where(Leg.inquiry_id == inquiry_id).order_by(Leg.id))
            if leg.kind in (LegKind.REMINDED, LegKind.ESCALATED, LegKind.REROUTED)]
        assert kinds == [("reminded", "21"), ("rerouted", None), ("reminded", "21"),
                         ("escalated", None)]
