"""The REKO's side of a SIP invitation (DESIGN 5.8): the inbox lists it beside inquiries with its
type, meeting and reply due date (filterable, one query a page); its page shows the meeting, the
person (an audited read) and the reply state; the reply takes two clicks and goes through the
reply service as an API client's would; the meeting downloads as an .ics without personal data;
another VC's REKO and a case worker are refused. Bad input first."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry, SipMeeting
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, KRYDDGARDEN, TOLVAN
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA, CECILIA, Parties, leg_kinds, parties, received_days_ago
from tests.support.sip import sip_kallelse
from tests.support.web import Browser, logged_in_browser
from tests.test_reko_inbox import counted, page_of, pick

SIP_REF = re.compile(r'<a href="/inkorg/[0-9a-f-]{36}">((?:HF|SIP)-\d{4}-\d{6})</a>')


@dataclass
class World:
    app: Flask
    tokens: Parties
    anna: Browser

    def invite(self, **overrides: Any) -> str:
        response = self.app.test_client().post(
            "/api/v1/sip", data=sip_kallelse(**overrides), content_type="application/xml",
            headers=bearer(self.tokens.sender))
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["id"])

    def api_state(self, sip_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.app.test_client().get(
            f"/api/v1/sip/{sip_id}", headers=bearer(self.tokens.sender)).get_json()
        return found

    def reply(self, sip_id: str, **fields: str) -> Any:
        return self.anna.submit(f"/inkorg/{sip_id}", f"/inkorg/{sip_id}/sip-svar", fields)


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
        anna = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id,
                                 display_name=ANNA.name)
    world = World(app, tokens, anna)
    with app.app_context():
        pick(anna, KRYDDGARDEN)
    return world


def reference(sip_id: str) -> str:
    inquiry = get_session().get(Inquiry, sip_id)
    assert inquiry is not None
    return inquiry.reference


def meeting(sip_id: str) -> SipMeeting:
    found = get_session().get(SipMeeting, sip_id)
    assert found is not None
    get_session().refresh(found)
    return found


# --- the inbox ----------------------------------------------------------------------------


def test_the_inbox_lists_sips_beside_inquiries_with_type_meeting_and_reply_due(
    world: World,
) -> None:
    with world.app.app_context():
        inquiry = reference(received_days_ago(0))
        sip_id = world.invite()
        sip_ref = reference(sip_id)
        due = meeting(sip_id).reply_due.isoformat()
        page = page_of(world.anna)
        assert set(SIP_REF.findall(page)) == {inquiry, sip_ref}
        assert "SIP-kallelse" in page and "Hälsoförfrågan" in page
        assert re.search(r'<th scope="col"[^>]*>\s*<a [^>]*>Typ', page)
        row = page[page.index(sip_ref):].split("</tr>")[0]
        assert "09:00" in row and due in row
        # An unknown type is no filter; each type filters to its own.
        assert SIP_REF.findall(page_of(world.anna, "?typ=brev")) != []
        assert SIP_REF.findall(page_of(world.anna, "?typ=sip")) == [sip_ref]
        assert SIP_REF.findall(page_of(world.anna, "?typ=halsoforfragan")) == [inquiry]
        # A SIP reference is found by search as an inquiry's is.
        assert SIP_REF.findall(page_of(world.anna, f"?sok={sip_ref}")) == [sip_ref]


def test_the_inbox_takes_as_many_statements_with_many_sips_as_with_one(world: World) -> None:
    with world.app.app_context():
        world.invite()
        page_of(world.anna, "?sort=meeting")
        with counted(world.app) as few:
            page_of(world.anna, "?sort=meeting")
        for _ in range(5):
            world.invite()
        with counted(world.app) as many:
            page = page_of(world.anna, "?sort=meeting")
        assert len(SIP_REF.findall(page)) == 6
        assert len(many) == len(few)


def test_a_replied_sip_is_under_besvarade(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        assert world.reply(sip_id, beslut="KOMMER").status_code == 302
        assert reference(sip_id) not in page_of(world.anna)
        answered = page_of(world.anna, "?flik=besvarade&status=replied")
        assert reference(sip_id) in answered and "Vi kommer" in answered


def row_of(page: str, ref: str) -> str:
    return page[page.index(f">{ref}</a>"):].split("</tr>")[0]


def test_a_sips_reko_status_is_set_on_its_page_and_shown_and_filtered_in_the_inbox(
    world: World,
) -> None:
    with world.app.app_context():
        sip_id, other = world.invite(), world.invite()
        refused = world.anna.submit(f"/inkorg/{sip_id}", f"/inkorg/{sip_id}/reko-status",
                                    {"reko_status": "KANSKE"})
        assert refused.status_code == 302
        done = world.anna.submit(f"/inkorg/{sip_id}", f"/inkorg/{sip_id}/reko-status",
                                 {"reko_status": "KONTAKTAD"})
        assert done.status_code == 302
        shown = world.anna.get(f"/inkorg/{sip_id}").get_data(as_text=True)
        assert re.search(r"REKO-status</dt><dd>Kontaktad", shown)
        page = page_of(world.anna)
        assert "Kontaktad" in row_of(page, reference(sip_id))
        assert SIP_REF.findall(page_of(world.anna, "?reko_status=KONTAKTAD")) == [
            reference(sip_id)]
        assert SIP_REF.findall(page_of(world.anna, "?reko_status=INGEN")) == [reference(other)]
        marked = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.marked", AuditEntry.object_id == sip_id)).all()
        assert len(marked) == 1


def test_a_sip_shows_its_reply_and_outcome_dates_in_their_tabs(world: World) -> None:
    with world.app.app_context():
        today = stockholm_today().isoformat()
        replied, cancelled = world.invite(), world.invite()
        assert world.reply(replied, beslut="KOMMER").status_code == 302
        world.app.test_client().post(f"/api/v1/sip/{cancelled}/outcome",
                                     json={"cancelled": "OTHER"},
                                     headers=bearer(world.tokens.sender))
        for tab, sip_id in (("besvarade", replied), ("avslutade", cancelled)):
            for order in ("", "&sort=answered", "&sort=closed&dir=asc"):
                page = page_of(world.anna, f"?flik={tab}{order}")
                if reference(sip_id) in page:
                    break
            row = row_of(page, reference(sip_id))
            assert today in row and "–" not in row.split("SIP-möte")[0], row


# --- the page and the reply -----------------------------------------------------------------


def test_a_bad_reply_is_refused_in_swedish_with_an_error_summary(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        unknown = world.reply(sip_id, beslut="KANSKE")
        assert unknown.status_code == 422
        assert 'class="error-summary"' in unknown.get_data(as_text=True)
        no_time = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid="")
        assert no_time.status_code == 422
        text = no_time.get_data(as_text=True)
        assert 'href="#ny_tid"' in text and "Ange den nya tid du föreslår." in text
        bad_time = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid="nästa tisdag")
        assert bad_time.status_code == 422
        assert 'href="#ny_tid"' in bad_time.get_data(as_text=True)
        yesterday = (stockholm_today() - dt.timedelta(days=1)).isoformat()
        past = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid=f"{yesterday}T13:00")
        assert past.status_code == 422
        text = past.get_data(as_text=True)
        assert 'href="#ny_tid"' in text and "Den nya tiden har redan passerat." in text
        assert meeting(sip_id).decision is None
        assert "replied" not in leg_kinds(sip_id)


def test_the_page_shows_the_meeting_and_the_person_as_an_audited_read(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        page = world.anna.get(f"/inkorg/{sip_id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        for shown in ("Stadshuset, rum 12", "09:00", "60 minuter", "Socialtjänsten",
                      "Psykiatrin", "samordnat stöd", "Ni har inte svarat än",
                      TOLVAN[:8] + "-" + TOLVAN[8:]):
            assert shown in text, shown
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.read", AuditEntry.object_id == sip_id)).all()
        assert [(r.detail or {}).get("purpose") for r in reads] == ["svara på SIP-kallelse"]
        assert "opened" in leg_kinds(sip_id)


def test_jag_kommer_is_one_click_and_recorded_as_the_apis_reply_would_be(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        done = world.reply(sip_id, beslut="KOMMER")
        assert done.status_code == 302 and done.headers["Location"].endswith(f"/inkorg/{sip_id}")
        state = world.api_state(sip_id)
        assert (state["status"], state["turn"]) == ("replied", "sender")
        assert state["meeting"]["decision"] == "KOMMER"
        page = world.anna.get(f"/inkorg/{sip_id}").get_data(as_text=True)
        assert "Ditt svar är skickat: Vi kommer." in page
        replied = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "sip.replied", AuditEntry.object_id == sip_id)).one()
        assert replied.actor == "user:anna" and replied.detail["channel"] == "web"
        # The latest reply counts.
        assert world.reply(sip_id, beslut="KOMMER_INTE").status_code == 302
        assert meeting(sip_id).decision == "KOMMER_INTE"


def test_a_new_time_is_proposed_in_swedish_time_and_kept_in_utc(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        # A day in December: Swedish time is UTC+1.
        day = dt.date(stockholm_today().year + 1, 12, 10)
        done = world.reply(sip_id, beslut="NYTT_FORSLAG", ny_tid=f"{day.isoformat()}T13:00",
                           kommentar="Då har jag tid.")
        assert done.status_code == 302
        found = meeting(sip_id)
        assert found.decision == "NYTT_FORSLAG"
        assert found.proposed_at is not None
        assert found.proposed_at.isoformat().startswith(f"{day.isoformat()}T12:00")


def test_after_the_outcome_the_page_takes_no_reply(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        world.app.test_client().post(f"/api/v1/sip/{sip_id}/outcome",
                                     json={"cancelled": "SENDER_CANCELLED"},
                                     headers=bearer(world.tokens.sender))
        assert "Jag kommer" not in world.anna.get(f"/inkorg/{sip_id}").get_data(as_text=True)
        late = world.reply(sip_id, beslut="KOMMER")
        assert late.status_code == 409
        assert 'class="error-summary"' in late.get_data(as_text=True)


# --- the calendar file ----------------------------------------------------------------------


def test_the_calendar_file_has_the_meeting_in_utc_and_no_personal_data(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite(plats="Stadshuset; rum 12, plan 3")
        response = world.anna.get(f"/inkorg/{sip_id}/kalender.ics")
        assert response.status_code == 200
        assert response.mimetype == "text/calendar"
        data = response.get_data()
        calendar = Calendar.from_ical(data)
        (event,) = calendar.walk("VEVENT")
        found = meeting(sip_id)
        domain = urlsplit(world.app.config["BASE_URL"]).hostname
        assert str(event["uid"]) == f"{sip_id}@{domain}"
        assert event.decoded("dtstart") == found.starts_at
        assert (event.decoded("dtend") - event.decoded("dtstart")).total_seconds() == 3600
        assert b"DTSTART:" in data and re.search(rb"DTSTART:\d{8}T\d{6}Z", data)
        assert str(event["summary"]) == f"SIP-möte {reference(sip_id)}"
        assert str(event["location"]) == "Stadshuset; rum 12, plan 3"
        for personal in (TOLVAN, TOLVAN[2:], "Tolvan", "Tolvansson"):
            assert personal.encode() not in data
        assert all(len(line) <= 75 for line in data.split(b"\r\n"))


def test_a_digital_meeting_has_its_link_as_the_location(world: World) -> None:
    with world.app.app_context():
        link = "https://moten.example.se/sip/" + "a" * 80
        sip_id = world.invite(plats=None, digital_lank=link)
        data = world.anna.get(f"/inkorg/{sip_id}/kalender.ics").get_data()
        (event,) = Calendar.from_ical(data).walk("VEVENT")
        assert str(event["location"]) == link


# --- who may ------------------------------------------------------------------------------


def denied(sip_id: str) -> list[str]:
    rows = get_session().scalars(select(AuditEntry).where(
        AuditEntry.outcome == "denied", AuditEntry.object_id == sip_id))
    return [row.action for row in rows]


def test_another_vcs_reko_gets_404_and_an_audited_denial(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        cecilia = logged_in_browser(world.app, "cecilia", Role.COORDINATOR,
                                    hsa_id=CECILIA.hsa_id)
        assert cecilia.get(f"/inkorg/{sip_id}").status_code == 404
        assert cecilia.get(f"/inkorg/{sip_id}/kalender.ics").status_code == 404
        refused = cecilia.submit("/inkorg", f"/inkorg/{sip_id}/sip-svar", {"beslut": "KOMMER"})
        assert refused.status_code == 404
        assert denied(sip_id) == ["inquiry.read", "inquiry.read", "sip.reply"]
        assert meeting(sip_id).decision is None


def test_a_case_worker_is_refused_as_for_inquiries(world: World) -> None:
    with world.app.app_context():
        sip_id = world.invite()
        worker = logged_in_browser(world.app, "karin", Role.CASE_WORKER, unit=EBB_OSTER)
        for path in (f"/inkorg/{sip_id}", f"/inkorg/{sip_id}/kalender.ics"):
            assert worker.get(path).status_code in (403, 404)
        assert worker.post(f"/inkorg/{sip_id}/sip-svar",
                           {"beslut": "KOMMER"}).status_code in (400, 403, 404)
