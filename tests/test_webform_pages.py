"""The case worker's pages on SQLite and PostgreSQL: Ny hälsoförfrågan (errors on the named
field, the repeat warning and its confirmation, the same intake), Mina ärenden (the unit's
inquiries only, sorting, the personal-data switch) and one inquiry; other roles get 403."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import func, select

from forms.halsoforfragan import parse_halsoforfragan
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session, utcnow
from gateway.inquiries.access import Side
from gateway.inquiries.closing import close_inquiry, purge
from gateway.inquiries.models import CloseReason, Inquiry
from gateway.inquiries.personal import hyphenated
from gateway.inquiries.webform import issue_field
from gateway.vault.service import get_vault
from tests.support.clock import FROZEN_TODAY
from tests.support.forms import CONSENT_PDF, KRYDDGARDEN, ROSENGARD, TOLVAN, nth_personnummer
from tests.support.web import Browser, logged_in_browser

# Dates are the frozen clock's, so that no test sees a day change under it.
pytestmark = pytest.mark.usefixtures("frozen_clock")
TODAY = FROZEN_TODAY
DAY = dt.timedelta(days=1)
ID_RE = re.compile(r'name="form_id"[^>]*value="([^"]+)"')


@pytest.fixture
def oster(world: Flask) -> Browser:
    return logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster",
                             display_name="Åsa Lindqvist")


def valid_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "handlaggare_telefon": "040-34 10 00",
        "handlaggare_epost": "asa.lindqvist@malmo.se",
        "personnummer": "19121212-1212",
        "person_namn": "Tolvan Tolvansson",
        "givet": (TODAY - 7 * DAY).isoformat(),
        "giltigt_till": (TODAY + 180 * DAY).isoformat(),
        "samtycke_form": "skriftligt",
        "mottagare_socialtjanst": "y",
        "bakgrund": "Personen har ekonomiskt bistånd och vi planerar arbetsträning.",
        "fraga_aktivitetsformaga": "y",
        "fraga_ovrigt": "y",
        "ovrigt_text": "Finns det hinder för arbetsträning på förmiddagar?",
        "vardcentral": KRYDDGARDEN,
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def send(browser: Browser, **overrides: Any) -> Any:
    page = browser.get("/arenden/ny").get_data(as_text=True)
    found = ID_RE.search(page)
    assert found
    data: dict[str, Any] = {"form_id": found.group(1), **valid_fields(**overrides)}
    return browser.submit("/arenden/ny", "/arenden/ny", data,
                          content_type="multipart/form-data")


def inquiries() -> int:
    return get_session().scalar(select(func.count()).select_from(Inquiry)) or 0


# --- refusals first ------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field", "text"), [
    pytest.param({"personnummer": "19121212-1213"}, "personnummer", "Personnumret", id="luhn"),
    pytest.param({"personnummer": "abc"}, "personnummer", "12 siffror", id="pnr-format"),
    pytest.param({"person_namn": ""}, "person_namn", "Fyll i", id="no-name"),
    pytest.param({"givet": ""}, "givet", "datum", id="no-date"),
    pytest.param({"giltigt_till": (TODAY - DAY).isoformat()}, "giltigt_till", "gått ut",
                 id="C2"),
    pytest.param({"givet": (TODAY - 400 * DAY).isoformat()}, "giltigt_till", "för lång tid",
                 id="C3"),
    pytest.param({"samtycke_form": "muntligt"}, "dokumenterat_av", "Muntligt", id="C6"),
    pytest.param({"mottagare_socialtjanst": None, "mottagare_arbetsmarknad": "y"},
                 "mottagare_socialtjanst", "omfattar inte", id="C5"),
    pytest.param({"mottagare_socialtjanst": None}, "mottagare_socialtjanst", "Välj vem",
                 id="no-recipient"),
    pytest.param({"fraga_aktivitetsformaga": None, "fraga_ovrigt": None},
                 "fraga_aktivitetsformaga", "minst en fråga", id="no-question"),
    pytest.param({"ovrigt_text": ""}, "ovrigt_text", "Övrigt", id="ovrigt-without-text"),
    pytest.param({"vardcentral": "SE2321000255-K999"}, "vardcentral", "giltigt val",
                 id="unknown-vc"),
    pytest.param({"bakgrund": "x" * 4001}, "bakgrund", "4000", id="long-background"),
    pytest.param({"handlaggare_epost": "inte-en-adress"}, "handlaggare_epost", "e-postadress",
                 id="bad-email"),
])
def test_errors_are_shown_on_the_field_and_nothing_is_sent(
    oster: Browser, overrides: dict[str, Any], field: str, text: str
) -> None:
    response = send(oster, **overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:2000]
    assert 'class="error-summary"' in page
    match = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error on {field}"
    assert text.lower() in match.group(1).lower() or text in page
    assert f'href="#{field}"' in page
    assert inquiries() == 0


def test_issue_locations_map_to_fields() -> None:
    assert issue_field("/halsoforfragan/samtycke/giltigtTill, rad 27") == "giltigt_till"
    assert issue_field("/halsoforfragan/person/personnummer") == "personnummer"
    assert issue_field("/halsoforfragan/mottagare/vardcentral/@hsaId") == "vardcentral"
    assert issue_field("/halsoforfragan/fragor/fraga[3]") == "ovrigt_text"
    assert issue_field("", "C6") == "dokumenterat_av"
    assert issue_field("/halsoforfragan/okant") is None


def test_consent_pdf_must_be_a_pdf(oster: Browser) -> None:
    page = oster.get("/arenden/ny").get_data(as_text=True)
    form_id = ID_RE.search(page)
    assert form_id
    data: dict[str, Any] = {"form_id": form_id.group(1), **valid_fields(),
                            "bilaga": (io.BytesIO(b"not a pdf"), "samtycke.pdf")}
    response = oster.submit("/arenden/ny", "/arenden/ny", data,
                            content_type="multipart/form-data")
    assert response.status_code == 422
    assert 'id="bilaga-error"' in response.get_data(as_text=True)
    assert inquiries() == 0


# --- sending ---------------------------------------------------------------------------------


def test_sender_is_the_users_unit_read_only(oster: Browser) -> None:
    page = oster.get("/arenden/ny").get_data(as_text=True)
    assert "sdk:ebb-oster:0203:malmo.se" in page
    assert "Åsa Lindqvist, socialsekreterare" in page
    assert "kan inte ändras" in page
    assert 'name="funktionsadress"' not in page
    assert "Vårdcentralen Kryddgården" in page


def test_send_builds_valid_xml_through_the_intake(oster: Browser) -> None:
    page = oster.get("/arenden/ny").get_data(as_text=True)
    form_id = ID_RE.search(page)
    assert form_id
    data: dict[str, Any] = {"form_id": form_id.group(1), **valid_fields(),
                            "bilaga": (io.BytesIO(CONSENT_PDF), "samtycke.pdf")}
    response = oster.submit("/arenden/ny", "/arenden/ny", data,
                            content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    inquiry_id = form_id.group(1)
    assert response.headers["Location"].endswith(f"/arenden/{inquiry_id}")
    assert TOLVAN not in response.headers["Location"]
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None and inquiry.channel == "web"
    assert inquiry.submitted_by == "user:asa"
    xml = get_vault().open(inquiry.content, f"inquiries.content:{inquiry_id}")  # type: ignore[arg-type]
    form = parse_halsoforfragan(xml)
    assert form.avsandare.funktionsadress == "sdk:ebb-oster:0203:malmo.se"
    assert form.samtycke.uppgiftslamnare_hsa_id == KRYDDGARDEN
    assert form.samtycke.bilaga is not None and form.samtycke.bilaga.innehall == CONSENT_PDF
    assert [f.kod.value for f in form.fragor] == ["AKTIVITETSFORMAGA", "OVRIGT"]
    assert etree.fromstring(xml).nsmap[None] == "urn:kryddgarden:halsoforfragan:1"
    # The detail page shows it, and that read is audited.
    detail = oster.get(f"/arenden/{inquiry_id}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert "Vårdcentralens tur" in text and "Tolvan Tolvansson" in text
    reads = get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "inquiry.read", AuditEntry.object_id == inquiry_id))
    assert reads == 1


def test_the_same_form_sent_twice_is_one_inquiry(oster: Browser) -> None:
    page = oster.get("/arenden/ny").get_data(as_text=True)
    form_id = ID_RE.search(page)
    assert form_id
    data = {"form_id": form_id.group(1), **valid_fields()}
    first = oster.submit("/arenden/ny", "/arenden/ny", data)
    second = oster.submit("/arenden/ny", "/arenden/ny", data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert inquiries() == 1


def test_repeat_warning_needs_confirmation(oster: Browser) -> None:
    assert send(oster).status_code == 302
    first_id = get_session().scalars(select(Inquiry.id)).one()
    warned = send(oster)
    page = warned.get_data(as_text=True)
    assert warned.status_code == 200
    assert "Er enhet har redan skickat en förfrågan för personen till denna vårdcentral " \
           f"{TODAY.isoformat()}" in page
    assert 'name="confirm_repeat"' in page
    # The warning offers the call instead: the VC's REKO today and their phone.
    warning = page.split('id="repeat-warning"')[1].split("</div>")[0]
    assert "Ring hellre först" in warning
    assert "Anna Rekosson" in warning and 'href="tel:040000001"' in warning
    assert inquiries() == 1
    # The same person to another care unit is no repeat.
    other = send(oster, vardcentral=ROSENGARD)
    assert other.status_code == 302
    assert inquiries() == 2
    # Confirmed: sent, and flagged as a repeat of the first.
    form_id = ID_RE.search(page)
    assert form_id
    confirmed = oster.submit("/arenden/ny", "/arenden/ny",
                             {"form_id": form_id.group(1), **valid_fields(),
                              "confirm_repeat": "y"})
    assert confirmed.status_code == 302
    repeat = get_session().get(Inquiry, form_id.group(1))
    assert repeat is not None and repeat.repeat_of == first_id


def test_repeat_warning_tells_another_unit_nothing_and_is_audited(
    world: Flask, oster: Browser
) -> None:
    assert send(oster).status_code == 302
    first_id = get_session().scalars(select(Inquiry.id)).one()
    norr = logged_in_browser(world, "nils", Role.CASE_WORKER, unit="EBB Norr")
    warned = send(norr)
    page = warned.get_data(as_text=True)
    assert warned.status_code == 200
    assert "Vårdcentralen kan redan ha en förfrågan om personen." in page
    # Neither the date nor that it was EBB Öster's.
    assert TODAY.isoformat() not in page.split("repeat-warning")[1].split("</div>")[0]
    assert "Öster" not in page
    probes = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == "inquiry.read", AuditEntry.object_id == first_id)).all()
    assert [(p.actor, p.detail["purpose"]) for p in probes] == [
        ("user:nils", "upprepningskontroll")]


# --- Mina ärenden ------------------------------------------------------------------------------


def test_mine_lists_the_units_inquiries_only(world: Flask, oster: Browser) -> None:
    send(oster, personnummer=nth_personnummer(1))
    send(oster, personnummer=nth_personnummer(2), vardcentral=ROSENGARD)
    norr = logged_in_browser(world, "nils", Role.CASE_WORKER, unit="EBB Norr")
    send(norr, personnummer=nth_personnummer(3))
    assert inquiries() == 3
    page = oster.get("/arenden").get_data(as_text=True)
    assert "Visar 2 av 2 ärenden" in page
    assert "Vårdcentralens tur" in page
    assert 'scope="col"' in page and 'aria-sort="descending"' in page
    # Names and personnummer are hidden until the switch is on.
    assert nth_personnummer(1) not in page and "Tolvan" not in page
    norr_page = norr.get("/arenden").get_data(as_text=True)
    assert "Visar 1 av 1 ärenden" in norr_page
    # The other unit's inquiry is not reachable by id either.
    theirs = get_session().scalars(
        select(Inquiry.id).where(Inquiry.submitted_by == "user:nils")).one()
    assert oster.get(f"/arenden/{theirs}").status_code == 404
    denied = get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "inquiry.read", AuditEntry.outcome == "denied",
        AuditEntry.object_id == theirs))
    assert denied == 1


def test_sorting_filter_and_personal_data_switch(oster: Browser) -> None:
    send(oster, personnummer=nth_personnummer(1))
    send(oster, personnummer=nth_personnummer(2), vardcentral=ROSENGARD)
    oster.get("/arenden")  # shows (and so clears) the "sent" messages
    by_unit = oster.get("/arenden?sort=care_unit&dir=asc").get_data(as_text=True)
    assert by_unit.index("Vårdcentralen Kryddgården") < by_unit.index("Vårdcentralen Rosengård")
    assert 'aria-sort="ascending"' in by_unit
    reverse = oster.get("/arenden?sort=care_unit&dir=desc").get_data(as_text=True)
    assert reverse.index("Vårdcentralen Rosengård") < reverse.index("Vårdcentralen Kryddgården")
    assert "Visar 0 av 2" in oster.get("/arenden?visa=er").get_data(as_text=True)
    assert "Visar 2 av 2" in oster.get("/arenden?visa=nonsense&sort=x").get_data(as_text=True)
    switched = oster.submit("/arenden", "/arenden/personuppgifter", {"show": "1"})
    assert switched.status_code == 302
    shown = oster.get("/arenden").get_data(as_text=True)
    assert hyphenated(nth_personnummer(1)) in shown and "Tolvan Tolvansson" in shown
    reads = get_session().scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "inquiry.read"))
    assert reads == 2
    oster.submit("/arenden", "/arenden/personuppgifter", {"show": "0"})
    assert hyphenated(nth_personnummer(1)) not in oster.get("/arenden").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.DIRECTORY_ADMIN, Role.STATISTICIAN,
                                  Role.AUDITOR])
@pytest.mark.parametrize("path", ["/arenden", "/arenden/ny",
                                  "/arenden/0b7c9a52-3f0e-4b8e-9a51-6f2d1c0e8a11"])
def test_other_roles_get_403(world: Flask, role: Role, path: str) -> None:
    kwargs: dict[str, Any] = {"hsa_id": "SE2321000255-P001"} if role is Role.COORDINATOR else {}
    browser = logged_in_browser(world, f"u-{role.value}", role, **kwargs)
    assert browser.get(path).status_code == 403


def test_not_logged_in_goes_to_login(world: Flask) -> None:
    response = Browser(world).get("/arenden")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_closing_text_is_shown_to_the_sender_until_it_is_purged(oster: Browser) -> None:
    response = send(oster)
    inquiry_id = response.headers["Location"].rsplit("/", 1)[-1]
    session = get_session()
    inquiry = session.get(Inquiry, inquiry_id)
    assert inquiry is not None
    close_inquiry(session, inquiry, reason=CloseReason.OTHER, text="Personen har flyttat.",
                  actor="user:reko", now=utcnow(), sides=frozenset({Side.CARE_UNIT}))
    session.commit()
    page = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert "(Annan anledning (ange vilken)): <q>Personen har flyttat.</q>" in page
    assert "OTHER" not in page
    purge(session, inquiry, utcnow())
    session.commit()
    page = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert "(Annan anledning (ange vilken))" in page and "Personen har flyttat." not in page


# --- the form's order, groups, language and the case worker's contact ------------------------


def summary_links(page: str) -> list[str]:
    """The error summary's links, in the order shown (the field ids they point to)."""
    summary = page.split('class="error-summary"')[1].split("</div>")[0]
    return re.findall(r'href="#([^"]+)"', summary)


def test_consent_is_checked_before_the_repeat_warning(oster: Browser) -> None:
    assert send(oster).status_code == 302
    expired = send(oster, giltigt_till=(TODAY - DAY).isoformat())
    page = expired.get_data(as_text=True)
    assert expired.status_code == 422
    assert 'id="giltigt_till-error"' in page and "gått ut" in page
    # A form the rules refuse never offers "skicka ändå".
    assert 'id="repeat-warning"' not in page and 'name="confirm_repeat"' not in page
    assert inquiries() == 1


def test_errors_are_listed_in_the_forms_order(oster: Browser) -> None:
    response = send(oster, handlaggare_epost="inte-en-adress", personnummer="abc",
                    fraga_aktivitetsformaga=None, fraga_ovrigt=None, vardcentral="")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    links = summary_links(page)
    assert links == ["handlaggare_epost", "personnummer", "fraga_aktivitetsformaga",
                     "vardcentral"]
    form = page.split('enctype="multipart/form-data"')[1]
    assert [form.index(f'id="{name}"') for name in links] == sorted(
        form.index(f'id="{name}"') for name in links)


def test_checkbox_group_errors_are_labelled_with_the_group(oster: Browser) -> None:
    response = send(oster, mottagare_socialtjanst=None, fraga_aktivitetsformaga=None,
                    fraga_ovrigt=None)
    summary = response.get_data(as_text=True).split('class="error-summary"')[1].split("</div>")[0]
    assert "Svaret får lämnas till: Välj vem svaret får lämnas till." in summary
    assert "Frågor: Välj minst en fråga." in summary
    assert "Socialtjänsten (EBB):" not in summary and "Aktivitetsförmåga:" not in summary


def test_the_interpreter_language_is_chosen_by_name(oster: Browser) -> None:
    page = oster.get("/arenden/ny").get_data(as_text=True)
    select_ = page.split('<select id="tolkbehov"')[1].split("</select>")[0]
    assert '<option value="ar">Arabiska</option>' in select_
    assert '<option value="ti">Tigrinja</option>' in select_
    assert '<option value="so">Somaliska</option>' in select_
    assert select_.index("Arabiska") < select_.index("Engelska") < select_.index("Somaliska")
    refused = send(oster, tolkbehov="xx")
    assert refused.status_code == 422 and 'id="tolkbehov-error"' in refused.get_data(as_text=True)
    sent = send(oster, tolkbehov="ti")
    assert sent.status_code == 302
    inquiry = get_session().scalars(select(Inquiry)).one()
    xml = get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}")  # type: ignore[arg-type]
    assert parse_halsoforfragan(xml).person.tolkbehov_sprak == "ti"
    detail = oster.get(f"/arenden/{inquiry.id}").get_data(as_text=True)
    assert "Tigrinja" in detail and ">ti<" not in detail


def test_the_case_workers_phone_and_email_come_from_their_profile(world: Flask) -> None:
    browser = logged_in_browser(world, "karin", Role.CASE_WORKER, unit="EBB Öster",
                                display_name="Karin Ek", phone="040-34 20 00",
                                email="karin.ek@malmo.se")
    page = browser.get("/arenden/ny").get_data(as_text=True)
    assert re.search(r'id="handlaggare_telefon"[^>]*value="040-34 20 00"', page)
    assert re.search(r'id="handlaggare_epost"[^>]*value="karin.ek@malmo.se"', page)


def test_the_case_worker_keeps_their_own_contact(oster: Browser) -> None:
    bad = oster.submit("/konto/kontakt", "/konto/kontakt",
                       {"phone": "040-34 10 00", "email": "inte-en-adress"})
    assert bad.status_code == 422
    assert 'id="email-error"' in bad.get_data(as_text=True)
    saved = oster.submit("/konto/kontakt", "/konto/kontakt",
                         {"phone": "040-34 10 00", "email": "asa.lindqvist@malmo.se"})
    assert saved.status_code == 302
    page = oster.get("/arenden/ny").get_data(as_text=True)
    assert re.search(r'id="handlaggare_epost"[^>]*value="asa.lindqvist@malmo.se"', page)
    assert "040-34 10 00" in oster.get("/").get_data(as_text=True)
    changes = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == "user.contact")).all()
    assert [(c.actor, c.object_id) for c in changes] == [("user:asa", "asa")]
