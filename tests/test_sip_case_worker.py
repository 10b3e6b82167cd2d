"""The case worker's side of SIP (DESIGN 5.8, issue 18) on SQLite and PostgreSQL: Ny SIP-kallelse
(C1–C7 and S1–S4 on their fields, through the shared intake), the invitation's page (the
meeting, whose turn, who is coming, the legs; an audited read), the outcome after a
confirmation, the plan shared after a held meeting (web and API, a bad PDF refused, sealed,
the REKO's download an audited read), Mina ärenden with both types and who may. Bad input
first."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from forms.halsoforfragan import Syfte
from forms.sip import parse_sip_kallelse
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session, utcnow
from gateway.inquiries.closing import purge
from gateway.inquiries.models import FormType, Inquiry, Leg, LegKind, SipMeeting, SipPlan
from gateway.inquiries.sip import latest_reply
from gateway.vault.service import get_vault
from tests.support.clock import FROZEN_TODAY
from tests.support.forms import CONSENT_PDF, EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, SKANE
from tests.support.intake import bearer, new_client
from tests.support.pdfs import javascript_catalog, plain_pdf
from tests.support.reko import ANNA, leg_kinds, received_days_ago
from tests.support.sip import sip_svar
from tests.support.web import Browser, logged_in_browser
from tests.test_webform_pages import ID_RE, valid_fields

pytestmark = pytest.mark.usefixtures("frozen_clock")
TODAY = FROZEN_TODAY
DAY = dt.timedelta(days=1)
MEETING = TODAY + 7 * DAY
SHARED = ("handlaggare_telefon", "handlaggare_epost", "personnummer", "person_namn", "givet",
          "giltigt_till", "samtycke_form", "mottagare_socialtjanst", "vardcentral")


@dataclass
class World:
    app: Flask
    oster: Browser
    sender_token: str
    vc_token: str

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        return self.app.test_client().open(path, method=method, headers=bearer(token),
                                           **kwargs)


@pytest.fixture
def sip_world(world: Flask) -> World:
    with world.app_context():
        session = get_session()
        sender = new_client(session, organisation=MALMO, addresses=(EBB_OSTER,))
        vc = new_client(session, organisation=SKANE, addresses=(KRYDDGARDEN_ADDRESS,))
        oster = logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster",
                                  display_name="Åsa Lindqvist")
    return World(world, oster, sender, vc)


def sip_fields(**overrides: str | None) -> dict[str, str]:
    base = valid_fields()
    fields: dict[str, str | None] = {key: base[key] for key in SHARED}
    fields.update({
        "syfte": "Personen behöver samordnat stöd från socialtjänst, vård och psykiatri.",
        "mote_datum": MEETING.isoformat(), "mote_tid": "09:00", "langd_minuter": "60",
        "plats": "Stadshuset, rum 12", "digital_lank": "",
        "deltagare_1_roll": "SOCIALTJANST", "deltagare_1_namn": "Åsa Lindqvist",
        "deltagare_2_roll": "VARDCENTRAL", "deltagare_2_namn": "Rehabkoordinator",
        "deltagare_3_roll": "PSYKIATRI", "deltagare_3_namn": "Psykiatrin Malmö",
        "svar_senast": (MEETING - 2 * DAY).isoformat(),
    })
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def send(browser: Browser, **overrides: str | None) -> Any:
    page = browser.get("/arenden/sip/ny").get_data(as_text=True)
    found = ID_RE.search(page)
    assert found
    return browser.submit("/arenden/sip/ny", "/arenden/sip/ny",
                          {"form_id": found.group(1), **sip_fields(**overrides)})


def sips() -> int:
    return get_session().scalar(select(func.count()).select_from(Inquiry).where(
        Inquiry.form_type == FormType.SIP)) or 0


def sent(world: World, **overrides: str | None) -> str:
    response = send(world.oster, **overrides)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    found = re.search(r"/arenden/sip/([0-9a-f-]{36})$", response.headers["Location"])
    assert found
    return found.group(1)


def meeting(sip_id: str) -> SipMeeting:
    found = get_session().get(SipMeeting, sip_id)
    assert found is not None
    get_session().refresh(found)
    return found


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field", "text"), [
    pytest.param({"mote_datum": TODAY.isoformat(), "mote_tid": "08:00",
                  "svar_senast": TODAY.isoformat()}, "mote_datum", "efter att kallelsen",
                 id="S1"),
    pytest.param({"svar_senast": (MEETING + DAY).isoformat()}, "svar_senast",
                 "efter mötesdagen", id="S2"),
    pytest.param({"deltagare_2_roll": "PSYKIATRI"}, "deltagare_1_roll", "VARDCENTRAL",
                 id="S3"),
    pytest.param({"plats": "", "digital_lank": "http://moten.example.se/sip"},
                 "digital_lank", "https", id="S4-http"),
    pytest.param({"giltigt_till": (TODAY - DAY).isoformat()}, "giltigt_till", "gått ut",
                 id="C2"),
    pytest.param({"samtycke_form": "muntligt"}, "dokumenterat_av", "Muntligt", id="C6"),
    pytest.param({"digital_lank": "https://moten.example.se/sip"}, "plats", "antingen",
                 id="place-and-link"),
    pytest.param({"plats": ""}, "plats", "antingen", id="neither-place-nor-link"),
    pytest.param({"langd_minuter": "10"}, "langd_minuter", "mellan 15 och 480", id="short"),
    pytest.param({"deltagare_3_namn": ""}, "deltagare_3_namn", "Skriv vem", id="row-no-name"),
    pytest.param({"deltagare_4_namn": "Någon"}, "deltagare_4_roll", "roll", id="row-no-role"),
    pytest.param({"mote_tid": "nio"}, "mote_tid", "", id="bad-time"),
    pytest.param({"syfte": ""}, "syfte", "Fyll i", id="no-purpose"),
])
def test_errors_are_shown_on_their_field_in_one_summary_and_nothing_is_sent(
    sip_world: World, overrides: dict[str, str], field: str, text: str
) -> None:
    with sip_world.app.app_context():
        response = send(sip_world.oster, **overrides)
        page = response.get_data(as_text=True)
        assert response.status_code in (403, 422), page[:2000]
        assert page.count('class="error-summary"') == 1
        assert f'href="#{field}"' in page
        match = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
        assert match, f"no error on {field}"
        assert text.lower() in match.group(1).lower()
        assert sips() == 0


def test_other_roles_cannot_send(sip_world: World) -> None:
    with sip_world.app.app_context():
        reko = logged_in_browser(sip_world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        assert reko.get("/arenden/sip/ny").status_code == 403
        assert reko.post("/arenden/sip/ny", sip_fields()).status_code in (400, 403)
        assert sips() == 0


# --- the happy path -----------------------------------------------------------------------------


def test_an_invitation_goes_through_the_intake_and_its_page_shows_where_it_stands(
    sip_world: World,
) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        inquiry = get_session().get(Inquiry, sip_id)
        assert inquiry is not None and inquiry.form_type == FormType.SIP
        assert inquiry.channel == "web" and inquiry.reference.startswith("SIP-")
        assert leg_kinds(sip_id)[:3] == ["submitted", "received", "routed"]
        form = parse_sip_kallelse(get_vault().open(inquiry.content or b"",
                                                   f"inquiries.content:{sip_id}"))
        assert form.samtycke.syfte is Syfte.SIP
        assert form.mote.tid.isoformat() == f"{MEETING.isoformat()}T09:00:00+01:00"
        page = sip_world.oster.get(f"/arenden/sip/{sip_id}").get_data(as_text=True)
        for shown in (f"SIP-kallelsen {inquiry.reference} är skickad", "Vårdcentralens tur",
                      "Vårdcentralen har inte svarat än", "09:00", "Stadshuset, rum 12",
                      "Psykiatrin Malmö (Psykiatrin)", "Tolvan Tolvansson", "19121212-1212",
                      "Mottagen av gatewayen", "Skickad till vårdcentralen"):
            assert shown in page, shown
        sip_world.oster.get(f"/arenden/sip/{sip_id}")
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.read", AuditEntry.object_id == sip_id)).all()
        assert [(r.detail or {}).get("purpose") for r in reads] == ["handlaggning"]


def test_a_second_click_is_the_same_invitation(sip_world: World) -> None:
    with sip_world.app.app_context():
        page = sip_world.oster.get("/arenden/sip/ny").get_data(as_text=True)
        found = ID_RE.search(page)
        assert found
        data = {"form_id": found.group(1), **sip_fields()}
        first = sip_world.oster.submit("/arenden/sip/ny", "/arenden/sip/ny", data)
        again = sip_world.oster.submit("/arenden/sip/ny", "/arenden/sip/ny", data)
        assert first.headers["Location"] == again.headers["Location"]
        assert sips() == 1


def test_mina_arenden_lists_both_types_and_the_start_page_offers_both(
    sip_world: World,
) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        inquiry_id = received_days_ago(0)
        page = sip_world.oster.get("/arenden").get_data(as_text=True)
        assert re.search(r'<th scope="col"[^>]*>\s*<a [^>]*>Typ', page)
        assert f'href="/arenden/sip/{sip_id}"' in page
        assert f'href="/arenden/{inquiry_id}"' in page
        assert ">SIP</td>" in page and ">Hälsoförfrågan</td>" in page
        assert "Mottagen" in page
        by_type = sip_world.oster.get("/arenden?sort=type&dir=asc").get_data(as_text=True)
        assert by_type.index(f"/arenden/{inquiry_id}") < by_type.index(f"/arenden/sip/{sip_id}")
        waiting = sip_world.oster.get("/arenden?visa=vardcentralen").get_data(as_text=True)
        assert f"/arenden/sip/{sip_id}" in waiting
        start = sip_world.oster.get("/").get_data(as_text=True)
        assert 'href="/arenden/ny"' in start and 'href="/arenden/sip/ny"' in start


def test_the_page_shows_who_is_coming_from_the_reply(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        reply = sip_svar(sip_id, beslut="NYTT_FORSLAG",
                         ny_tid=f"{(MEETING + DAY).isoformat()}T13:00:00+01:00",
                         deltagare=("Anna Rekosson", "Johan Ek, läkare"),
                         kommentar="Då kan läkaren också komma.")
        answered = sip_world.api("POST", f"/api/v1/sip/{sip_id}/reply", sip_world.vc_token,
                                 data=reply, content_type="application/xml")
        assert answered.status_code == 201, answered.get_data(as_text=True)
        page = sip_world.oster.get(f"/arenden/sip/{sip_id}").get_data(as_text=True)
        for shown in ("Vårdcentralen föreslår en ny tid",
                      f"{(MEETING + DAY).isoformat()} 13:00", "Johan Ek, läkare",
                      "Då kan läkaren också komma.", "Er tur",
                      "Vårdcentralen svarade på kallelsen: vårdcentralen föreslår en ny tid"):
            assert shown in page, shown


# --- the outcome ----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "field"), [
    pytest.param({}, "utfall_held", id="nothing-chosen"),
    pytest.param({"utfall": "held", "held_on": "igår"}, "held_on", id="not-a-date"),
    pytest.param({"utfall": "held", "held_on": (TODAY + DAY).isoformat()}, "held_on",
                 id="future"),
    pytest.param({"utfall": "cancelled", "anledning": ""}, "anledning", id="no-reason"),
    pytest.param({"utfall": "cancelled", "anledning": "TRÖTT"}, "anledning",
                 id="unknown-reason"),
])
def test_a_bad_outcome_is_refused_on_its_field(sip_world: World, data: dict[str, str],
                                               field: str) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        refused = sip_world.oster.submit(f"/arenden/sip/{sip_id}",
                                         f"/arenden/sip/{sip_id}/utfall",
                                         {**data, "bekraftat": "ja"})
        assert refused.status_code == 422
        assert f'href="#{field}"' in refused.get_data(as_text=True)
        assert not {"held", "cancelled"} & set(leg_kinds(sip_id))


def test_held_is_recorded_after_a_confirmation(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        page, action = f"/arenden/sip/{sip_id}", f"/arenden/sip/{sip_id}/utfall"
        chosen = {"utfall": "held", "held_on": TODAY.isoformat(), "reko_attended": "nej"}
        asked = sip_world.oster.submit(page, action, chosen)
        assert asked.status_code == 200
        text = asked.get_data(as_text=True)
        assert 'id="outcome-confirm"' in text and "REKO kom inte" in text
        assert "held" not in leg_kinds(sip_id)
        done = sip_world.oster.submit(page, action, {**chosen, "bekraftat": "ja"})
        assert done.status_code == 302
        found = meeting(sip_id)
        assert (found.held_on, found.reko_attended) == (TODAY, False)
        shown = sip_world.oster.get(page).get_data(as_text=True)
        assert f"Mötet hölls {TODAY.isoformat()}. REKO kom inte." in shown
        assert "Klar" in shown and "Registrera utfall</button>" not in shown
        again = sip_world.oster.submit(page, action, {**chosen, "bekraftat": "ja"})
        assert again.status_code == 409


def test_cancelled_is_recorded_with_its_reason_in_swedish(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        done = sip_world.oster.submit(f"/arenden/sip/{sip_id}", f"/arenden/sip/{sip_id}/utfall",
                                      {"utfall": "cancelled", "anledning": "PERSON_CANCELLED",
                                       "bekraftat": "ja"})
        assert done.status_code == 302
        assert meeting(sip_id).cancel_reason == "PERSON_CANCELLED"
        page = sip_world.oster.get(f"/arenden/sip/{sip_id}").get_data(as_text=True)
        assert "ställdes in" in page and "personen lämnade återbud" in page
        assert "PERSON_CANCELLED" not in page.replace('value="PERSON_CANCELLED"', "")


# --- the plan ---------------------------------------------------------------------------------


def held(world: World, sip_id: str) -> None:
    done = world.oster.submit(f"/arenden/sip/{sip_id}", f"/arenden/sip/{sip_id}/utfall",
                              {"utfall": "held", "held_on": TODAY.isoformat(),
                               "bekraftat": "ja"})
    assert done.status_code == 302


def upload(world: World, sip_id: str, data: bytes, name: str = "plan.pdf") -> Any:
    token_page = f"/arenden/sip/{sip_id}"
    return world.oster.submit(token_page, f"/arenden/sip/{sip_id}/plan",
                              {"plan": (io.BytesIO(data), name)},  # type: ignore[dict-item]
                              content_type="multipart/form-data")


def test_a_plan_is_refused_before_the_meeting_is_held_and_when_not_a_safe_pdf(
    sip_world: World,
) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        early = upload(sip_world, sip_id, plain_pdf())
        assert early.status_code == 409
        held(sip_world, sip_id)
        scripted = plain_pdf(extra_catalog=javascript_catalog())
        for bad in (b"inte en pdf", b"%PDF-1.7\ntrasig", scripted):
            refused = upload(sip_world, sip_id, bad)
            assert refused.status_code == 422, bad[:20]
            text = refused.get_data(as_text=True)
            assert 'href="#plan"' in text and "SIP_PLAN_INVALID" in text
        assert "plan_shared" not in leg_kinds(sip_id)
        assert get_session().get(SipPlan, sip_id) is None


def test_a_shared_plan_is_sealed_and_the_reko_reads_it_audited(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        held(sip_world, sip_id)
        pdf = plain_pdf()
        assert upload(sip_world, sip_id, pdf).status_code == 302
        assert "plan_shared" in leg_kinds(sip_id)
        row = get_session().get(SipPlan, sip_id)
        assert row is not None and row.pdf is not None and b"%PDF" not in row.pdf
        page = sip_world.oster.get(f"/arenden/sip/{sip_id}").get_data(as_text=True)
        assert "Planen delades med vårdcentralen" in page
        anna = logged_in_browser(sip_world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        reko_page = anna.get(f"/inkorg/{sip_id}").get_data(as_text=True)
        assert f"/inkorg/{sip_id}/plan.pdf" in reko_page
        fetched = anna.get(f"/inkorg/{sip_id}/plan.pdf")
        assert fetched.status_code == 200 and fetched.get_data() == pdf
        assert fetched.mimetype == "application/pdf"
        reads = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "sip.plan.read", AuditEntry.object_id == sip_id)).all()
        assert [(r.actor, (r.detail or {}).get("purpose")) for r in reads] == [
            ("user:anna", "ta del av SIP-plan")]
        shared = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "sip.plan_shared", AuditEntry.object_id == sip_id)).one()
        assert shared.actor == "user:asa"


def code_of(response: Any) -> str:
    return str(response.get_json()["eventIssues"][0]["typeCode"])


def test_the_plan_over_the_api_is_the_senders_only(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        path = f"/api/v1/sip/{sip_id}/plan"
        pdf = plain_pdf()
        early = sip_world.api("POST", path, sip_world.sender_token, data=pdf,
                              content_type="application/pdf")
        assert (early.status_code, code_of(early)) == (409, "SIP_NOT_HELD")
        held(sip_world, sip_id)
        other_side = sip_world.api("POST", path, sip_world.vc_token, data=pdf,
                                   content_type="application/pdf")
        assert other_side.status_code == 403
        wrong_type = sip_world.api("POST", path, sip_world.sender_token, data=pdf,
                                   content_type="application/octet-stream")
        assert wrong_type.status_code == 415
        bad = sip_world.api("POST", path, sip_world.sender_token, data=b"%PDF-1.4 trasig",
                            content_type="application/pdf")
        assert (bad.status_code, code_of(bad)) == (422, "SIP_PLAN_INVALID")
        done = sip_world.api("POST", path, sip_world.sender_token, data=pdf,
                             content_type="application/pdf")
        assert done.status_code == 201, done.get_data(as_text=True)
        assert {"kind": "plan_shared"}.items() <= done.get_json()["legs"][-1].items()
        paths = sip_world.app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
        assert "post" in paths["/api/v1/sip/{id}/plan"]


# --- who may ----------------------------------------------------------------------------------


def test_another_unit_gets_404_audited_and_a_reko_403(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        norr = logged_in_browser(sip_world.app, "nils", Role.CASE_WORKER, unit="EBB Norr")
        assert norr.get(f"/arenden/sip/{sip_id}").status_code == 404
        assert norr.submit("/arenden", f"/arenden/sip/{sip_id}/utfall",
                           {"utfall": "held", "held_on": TODAY.isoformat(),
                            "bekraftat": "ja"}).status_code == 404
        denied = get_session().scalars(select(AuditEntry.action).where(
            AuditEntry.outcome == "denied", AuditEntry.object_id == sip_id)).all()
        assert denied == ["inquiry.read", "sip.outcome"]
        assert "held" not in leg_kinds(sip_id)
        anna = logged_in_browser(sip_world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        for path in (f"/arenden/sip/{sip_id}", f"/arenden/sip/{sip_id}/plan.pdf"):
            assert anna.get(path).status_code == 403
        # The hälsoförfrågan's page does not show a SIP invitation.
        assert sip_world.oster.get(f"/arenden/{sip_id}").status_code == 404


def test_a_purge_removes_the_plan_and_the_replys_participants(sip_world: World) -> None:
    with sip_world.app.app_context():
        sip_id = sent(sip_world)
        reply = sip_svar(sip_id, deltagare=("Johan Ek, läkare",), kommentar="Vi kommer två.")
        assert sip_world.api("POST", f"/api/v1/sip/{sip_id}/reply", sip_world.vc_token,
                             data=reply, content_type="application/xml").status_code == 201
        held(sip_world, sip_id)
        assert upload(sip_world, sip_id, plain_pdf()).status_code == 302
        session = get_session()
        inquiry = session.get(Inquiry, sip_id)
        assert inquiry is not None
        replied = session.scalars(select(Leg).where(Leg.inquiry_id == sip_id,
                                                    Leg.kind == LegKind.REPLIED)).one()
        assert replied.text is not None and b"Johan" not in replied.text
        purge(session, inquiry, utcnow())
        session.commit()
        assert session.get(SipPlan, sip_id) is None
        after = latest_reply(session, inquiry)
        assert after is not None and after.deltagare == () and after.kommentar is None
        page = sip_world.oster.get(f"/arenden/sip/{sip_id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Kallelsens innehåll är raderat." in text and "Johan Ek" not in text
        assert sip_world.oster.get(f"/arenden/sip/{sip_id}/plan.pdf").status_code == 404
        # The REKO's page of a purged invitation too (it answered 410 before).
        anna = logged_in_browser(sip_world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
        reko_page = anna.get(f"/inkorg/{sip_id}")
        assert reko_page.status_code == 200
        assert "Kallelsens innehåll har raderats" in reko_page.get_data(as_text=True)
        assert anna.get(f"/inkorg/{sip_id}/plan.pdf").status_code == 404


def test_the_signed_consent_travels_with_the_invitation_and_a_non_pdf_is_refused(
    sip_world: World,
) -> None:
    with sip_world.app.app_context():
        page = sip_world.oster.get("/arenden/sip/ny").get_data(as_text=True)
        found = ID_RE.search(page)
        assert found
        fields: dict[str, Any] = {"form_id": found.group(1), **sip_fields()}
        refused = sip_world.oster.submit(
            "/arenden/sip/ny", "/arenden/sip/ny",
            {**fields, "bilaga": (io.BytesIO(b"inte en pdf"), "samtycke.pdf")},
            content_type="multipart/form-data")
        assert refused.status_code == 422
        assert 'href="#bilaga"' in refused.get_data(as_text=True)
        assert sips() == 0
        done = sip_world.oster.submit(
            "/arenden/sip/ny", "/arenden/sip/ny",
            {**fields, "bilaga": (io.BytesIO(CONSENT_PDF), "samtycke.pdf")},
            content_type="multipart/form-data")
        assert done.status_code == 302, done.get_data(as_text=True)[:2000]
        inquiry = get_session().get(Inquiry, found.group(1))
        assert inquiry is not None
        form = parse_sip_kallelse(get_vault().open(inquiry.content or b"",
                                                   f"inquiries.content:{inquiry.id}"))
        assert form.samtycke.bilaga is not None
        assert form.samtycke.bilaga.innehall == CONSENT_PDF
