"""The auditor's audit log pages (issue 15, "Every role has a place"), on SQLite and PostgreSQL:
auditors only; search by person (the keyed hash, never the number), user, unit, action and
period, newest first with "Visar X av Y"; one entry's detail without content; the chain's
state, intact and then broken after a row is altered; a person's log extract as a printable
page and as CSV for Swedish Excel; every view audited, and the personnummer in no audit entry
and no log line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.audit.service import anchor, record
from gateway.auditlog.labels import ACTION_LABELS
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.directory.models import SenderUnit
from gateway.vault.service import get_vault
from tests.support.excel import swedish_excel_rows
from tests.support.forms import KRYDDGARDEN, TOLVAN, nth_personnummer
from tests.support.intake import bearer
from tests.support.reko import HUSIE, Parties, parties, submit
from tests.support.web import Browser, logged_in_browser

OTHER = nth_personnummer(7)
TOLVAN_HYPHEN = f"{TOLVAN[:8]}-{TOLVAN[8:]}"
SHOWN = re.compile(r"Visar (\d+) av (\d+) poster")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class World:
    app: Flask
    tokens: Parties
    auditor: Browser
    tolvan: str  # Tolvan's inquiry
    other: str  # another person's inquiry


@pytest.fixture
def world(installed_pki: object, app: Flask) -> World:
    tokens = parties()
    http = app.test_client()
    tolvan = submit(http, tokens.sender)
    other = submit(http, tokens.sender, personnummer=OTHER, person_namn="Annan Person")
    for inquiry_id in (tolvan, other):
        response = http.get(f"/api/v1/inquiries/{inquiry_id}", headers=bearer(tokens.reko))
        assert response.status_code == 200
    auditor = logged_in_browser(app, "granskare", Role.AUDITOR)
    return World(app, tokens, auditor, tolvan, other)


def search(browser: Browser, **fields: str) -> tuple[str, str]:
    """Post the search form; return the result page and the URL it was shown at."""
    posted = browser.submit("/granskning", "/granskning", fields)
    assert posted.status_code == 303, posted.get_data(as_text=True)
    location = posted.headers["Location"]
    page = browser.get(location)
    assert page.status_code == 200
    return page.get_data(as_text=True), location


def shown(page: str) -> tuple[int, int]:
    found = SHOWN.search(page)
    assert found, "no 'Visar X av Y' on the page"
    return int(found.group(1)), int(found.group(2))


def tbody(page: str) -> str:
    """The result table's rows (not the form's options)."""
    return page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def entries(*where: object) -> list[AuditEntry]:
    session = get_session()
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.seq)))


# --- who may -----------------------------------------------------------------------------------


OTHER_ROLES = {
    Role.CASE_WORKER: {"unit": "EBB Öster"},
    Role.COORDINATOR: {"hsa_id": "SE2321000255-P001"},
    Role.DIRECTORY_ADMIN: {},
    Role.STATISTICIAN: {},
}
PAGES = ["/granskning", "/granskning/kedjan", "/granskning/post/1",
         f"/granskning/loggutdrag?person={'a' * 64}",
         f"/granskning/loggutdrag.csv?person={'a' * 64}"]


@pytest.mark.parametrize("role", list(OTHER_ROLES), ids=lambda role: role.value)
def test_other_roles_are_refused_and_the_refusal_audited(app: Flask, role: Role) -> None:
    parties()
    browser = logged_in_browser(app, f"inte-{role.value}", role, **OTHER_ROLES[role])
    for path in PAGES:
        assert browser.get(path).status_code == 403, path
    refused = entries(AuditEntry.action == "web.access", AuditEntry.outcome == "denied")
    assert len(refused) == len(PAGES)


def test_a_visitor_is_sent_to_the_login_page(app: Flask) -> None:
    for path in PAGES:
        response = Browser(app).get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_the_auditors_start_page_links_to_the_log(world: World) -> None:
    page = world.auditor.get("/").get_data(as_text=True)
    assert 'href="/granskning"' in page
    assert "inte byggd ännu" not in page


# --- search ------------------------------------------------------------------------------------


def test_search_by_person_finds_that_persons_inquiries_and_not_anothers(world: World) -> None:
    page, location = search(world.auditor, personnummer=TOLVAN_HYPHEN)
    assert world.tolvan in page
    assert world.other not in page
    assert "Hälsoförfrågan mottagen" in tbody(page) and "Läsa hälsoförfrågan" in tbody(page)
    # The URL and the page carry the keyed hash, never the number.
    person = get_vault().keyed_hash(TOLVAN)
    assert f"person={person}" in location
    assert TOLVAN not in location and TOLVAN not in page and TOLVAN_HYPHEN not in page
    about_tolvan = entries(AuditEntry.object_type == "inquiry",
                           AuditEntry.object_id == world.tolvan)
    assert shown(page) == (len(about_tolvan), len(about_tolvan))

    other_page, _ = search(world.auditor, personnummer=OTHER)
    assert world.other in other_page and world.tolvan not in other_page


def test_the_search_is_audited_with_the_hash_and_the_number_is_nowhere(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    search(world.auditor, personnummer=TOLVAN_HYPHEN, handelse="inquiry.read")
    world.auditor.get(f"/granskning/loggutdrag?person={get_vault().keyed_hash(TOLVAN)}")
    searched = entries(AuditEntry.action == "audit.search", AuditEntry.object_type == "person")
    assert [(e.actor, e.object_id) for e in searched] == [
        ("user:granskare", get_vault().keyed_hash(TOLVAN))]
    assert searched[0].detail["purpose"] and searched[0].detail["handelse"] == "inquiry.read"
    own = world.auditor.get(f"/granskning/post/{searched[0].seq}").get_data(as_text=True)
    assert "Sökt händelse" in own and "Läsa hälsoförfrågan" in own
    assert "inquiry.read" not in re.sub(r"<[^>]+>", " ", own)
    everything = json.dumps([[e.actor, e.action, e.object_type, e.object_id, e.detail]
                             for e in entries()], ensure_ascii=False)
    for form in (TOLVAN, TOLVAN_HYPHEN, TOLVAN[2:], "Tolvansson"):
        assert form not in everything
        assert form not in caplog.text


def test_an_invalid_personnummer_is_refused_on_the_page(world: World) -> None:
    response = world.auditor.submit("/granskning", "/granskning",
                                    {"personnummer": "19121212-1213"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "kontrollsiffra" in page and "19121212-1213" not in page


def test_search_by_action_shows_swedish_words_not_codes(world: World) -> None:
    page, _ = search(world.auditor, handelse="inquiry.received")
    assert shown(page) == (2, 2)
    assert "Hälsoförfrågan mottagen" in tbody(page)
    # The select offers the actions in words; no code is shown as text.
    text = re.sub(r"<[^>]+>", " ", page)
    assert "inquiry.received" not in text and "inquiry.read" not in text


def test_search_by_user_or_api_client(world: World) -> None:
    reader = entries(AuditEntry.action == "inquiry.read")[0].actor
    client_id = reader.removeprefix("client:")
    page, _ = search(world.auditor, anvandare=client_id)
    by_reader = entries(AuditEntry.actor == reader)
    assert shown(page) == (len(by_reader), len(by_reader))
    assert f"API-klient {client_id}" in page
    mine, _ = search(world.auditor, anvandare="granskare")
    assert shown(mine)[1] == len(entries(AuditEntry.actor == "user:granskare"))
    assert "Inloggning" in tbody(mine)


def test_search_by_unit_finds_the_entries_about_its_inquiries(world: World) -> None:
    about = entries(AuditEntry.object_type == "inquiry",
                    AuditEntry.object_id.in_([world.tolvan, world.other]))
    the_vc = entries(AuditEntry.object_type == "care_unit", AuditEntry.object_id == KRYDDGARDEN)
    assert the_vc  # the directory's entry that made it
    page, _ = search(world.auditor, enhet=f"v:{KRYDDGARDEN}")
    assert shown(page)[1] == len(about) + len(the_vc)
    husie, _ = search(world.auditor, enhet=f"v:{HUSIE}")
    assert shown(husie)[1] == 1 and "Katalog: post tillagd" in tbody(husie)  # only the VC itself
    assert world.tolvan not in husie and world.other not in husie
    ebb = get_session().scalar(select(SenderUnit.id).where(SenderUnit.name == "EBB Öster"))
    sender, _ = search(world.auditor, enhet=f"s:{ebb}")
    assert shown(sender)[1] == len(about)


def test_search_by_period(world: World) -> None:
    today = stockholm_today()
    page, _ = search(world.auditor, fran=today.isoformat(), till=today.isoformat())
    # Everything, made today: the search's own entry was logged at the session's first search.
    assert shown(page)[1] == len(entries())
    later, _ = search(world.auditor, fran=(today + dt.timedelta(days=1)).isoformat())
    assert shown(later) == (0, 0)
    earlier, _ = search(world.auditor, till=(today - dt.timedelta(days=1)).isoformat())
    assert shown(earlier) == (0, 0)


def test_a_date_that_cannot_be_read_is_said_not_a_500(world: World) -> None:
    response = world.auditor.get("/granskning?fran=2026-13-01&person=inte-en-kontrollsumma")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "ÅÅÅÅ-MM-DD" in page and "Personsökningen kunde inte läsas" in page


def test_results_are_newest_first_and_paged(world: World) -> None:
    session = get_session()
    for n in range(60):
        record(session, actor="cli:test", action="user.create", object_type="user",
               object_id=f"u{n}")
    session.commit()
    page, location = search(world.auditor, handelse="user.create")
    total = len(entries(AuditEntry.action == "user.create"))
    assert shown(page) == (50, total)
    seqs = [int(s) for s in re.findall(r'/granskning/post/(\d+)"', page)]
    assert seqs == sorted(seqs, reverse=True)
    second = world.auditor.get(f"{location}&sida=2").get_data(as_text=True)
    assert shown(second) == (total - 50, total)
    assert max(int(s) for s in re.findall(r'/granskning/post/(\d+)"', second)) < min(seqs)


def test_consent_withdrawal_is_in_the_persons_log(world: World) -> None:
    worker = logged_in_browser(world.app, "handlaggare", Role.CASE_WORKER, unit="EBB Öster")
    done = worker.submit("/samtycke/aterkallat", "/samtycke/aterkallat", {
        "personnummer": TOLVAN_HYPHEN, "care_unit": KRYDDGARDEN,
        "withdrawn_on": stockholm_today().isoformat(), "confirm": "ja"})
    assert done.status_code == 302, done.get_data(as_text=True)
    page, _ = search(world.auditor, personnummer=TOLVAN)
    assert "Återkallat samtycke registrerat" in tbody(page)
    other, _ = search(world.auditor, personnummer=OTHER)
    assert "Återkallat samtycke registrerat" not in tbody(other)


# --- one entry ---------------------------------------------------------------------------------


def test_an_entry_shows_its_detail_in_words_and_no_content(world: World) -> None:
    received = entries(AuditEntry.action == "inquiry.received",
                       AuditEntry.object_id == world.tolvan)[0]
    response = world.auditor.get(f"/granskning/post/{received.seq}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hälsoförfrågan mottagen" in page and "Kanal" in page and world.tolvan in page
    assert KRYDDGARDEN in page and received.entry_hash in page
    for personal in (TOLVAN, TOLVAN_HYPHEN, "Tolvansson", "Åsa Lindqvist"):
        assert personal not in page
    read = entries(AuditEntry.action == "audit.entry.read")
    assert [(e.object_type, e.object_id) for e in read] == [("audit_entry", str(received.seq))]
    assert world.auditor.get("/granskning/post/999999").status_code == 404


def test_no_entry_detail_holds_a_personnummer(world: World) -> None:
    """What the auditor sees of details: ids and codes; no 12-digit number in any of them."""
    digits = re.compile(r"(?<!\d)(19|20)\d{6}-?\d{4}(?!\d)")
    assert [e.seq for e in entries() if digits.search(json.dumps(e.detail))] == []


# --- the chain ---------------------------------------------------------------------------------


def test_the_chain_is_intact_and_then_broken_at_the_altered_entry(world: World) -> None:
    page = world.auditor.get("/granskning/kedjan").get_data(as_text=True)
    assert "Poster i loggen" in page and "Ingen kontroll gjord härifrån ännu" in page
    checked = world.auditor.submit("/granskning/kedjan", "/granskning/kedjan", {})
    assert checked.status_code == 200
    assert "Kedjan är hel" in checked.get_data(as_text=True)
    again = world.auditor.get("/granskning/kedjan").get_data(as_text=True)
    assert "av Användare granskare" in again and "hel (" in again

    victim = entries(AuditEntry.action == "inquiry.received")[0].seq
    session = get_session()
    session.execute(update(AuditEntry).where(AuditEntry.seq == victim)
                    .values(actor="user:mallory"))
    session.commit()
    broken = world.auditor.submit("/granskning/kedjan", "/granskning/kedjan", {})
    text = broken.get_data(as_text=True)
    assert f"Kedjan är bruten vid post {victim}" in text
    verified = entries(AuditEntry.action == "audit.verify")
    assert [e.detail["ok"] for e in verified] == [True, False]
    assert verified[-1].detail["first_broken"] == victim


def test_the_chain_page_names_the_latest_anchor(world: World) -> None:
    class Stamper:
        name = "test-tsa"

        def timestamp(self, digest: bytes) -> bytes:
            return b"token"

    session = get_session()
    anchored = anchor(session, Stamper())
    assert anchored is not None
    session.commit()
    logged_later = 1  # the page's own read
    page = world.auditor.get("/granskning/kedjan").get_data(as_text=True)
    assert f"omfattar post 1–{anchored.seq}" in page
    head = get_session().scalar(select(func.max(AuditEntry.seq)))
    assert head is not None and head - anchored.seq == logged_later
    assert "Ännu inte tidsstämplade" in page


# --- the log extract ---------------------------------------------------------------------------


def test_the_extract_csv_opens_in_swedish_excel(world: World) -> None:
    person = get_vault().keyed_hash(TOLVAN)
    response = world.auditor.get(f"/granskning/loggutdrag.csv?person={person}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    rows = swedish_excel_rows(body)
    assert list(rows[0])[:6] == ["Tid (svensk tid)", "Vem", "Enhet", "Aktivitet", "Utfall",
                                 "Ändamål"]
    assert len(rows[0]) == 10
    assert any(world.tolvan in row["Objektets id"] and row["Aktivitet"] == "Läsa hälsoförfrågan"
               for row in rows)
    assert not any(world.other in row["Objektets id"] for row in rows)
    assert TOLVAN not in body.decode("utf-8-sig")
    extract = entries(AuditEntry.action == "audit.extract")
    assert [(e.object_type, e.object_id, e.detail["format"]) for e in extract] == [
        ("person", person, "csv")]


def test_the_printable_extract_says_who_printed_it_and_is_audited(world: World) -> None:
    person = get_vault().keyed_hash(TOLVAN)
    response = world.auditor.get(f"/granskning/loggutdrag?person={person}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Utskrivet" in page and "granskare" in page and "sekretess" in page
    assert world.tolvan in page and world.other not in page
    assert "Patientdatalagen" in page
    assert [e.detail["format"] for e in entries(AuditEntry.action == "audit.extract")] == [
        "print"]
    assert world.auditor.get("/granskning/loggutdrag?person=191212121212").status_code == 404


# --- the words ---------------------------------------------------------------------------------


def test_every_action_the_code_writes_has_swedish_words() -> None:
    """The one mapping (gateway/auditlog/labels.py) names every action written in the code."""
    written = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for found in re.finditer(r'record(?:_read|_denied)?\([^)]*?action="([^"]+)"', text,
                                 re.S):
            written.add(found.group(1))
    from gateway.inquiries.access import Act

    written |= {act.value for act in Act}
    written |= {f"directory.{change}" for change in ("create", "update", "delete")}
    assert sorted(written - ACTION_LABELS.keys()) == []
