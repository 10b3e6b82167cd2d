"""The REKO's inbox: the unit picker first and remembered (a REKO never sees another VC's rows),
"Visa personuppgifter" off by default and audited when on, search by reference, personnummer
and name, each filter, sorting on every column, tabs (an answered case under "Besvarade"), the
REKO-status shared within the unit only, the short reference on both sides and in the API, a
bounded number of statements, and closing only with a chosen reason and a confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import delete, event, select

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role, User
from gateway.db import database, get_session
from gateway.inquiries.models import Inquiry, InquiryNameToken
from gateway.inquiries.personal import index_missing_names
from gateway.inquiries.references import typed_reference
from tests.conftest import AppMaker
from tests.support.forms import (
    EBB_OSTER,
    KRYDDGARDEN,
    ROSENGARD,
    TOLVAN,
    nth_personnummer,
)
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import (
    ANNA,
    CECILIA,
    Parties,
    parties,
    post_answer,
    received_days_ago,
    signed_answer,
)
from tests.support.web import Browser, logged_in_browser

BERTIL_HSA = "SE2321000255-P002"
REFERENCE = re.compile(r"HF-\d{4}-\d{6}")


@dataclass
class World:
    app: Flask
    tokens: Parties
    pki: TestPki
    anna: Browser


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
        anna = logged_in_browser(app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    return World(app, tokens, installed_pki, anna)


def reference(inquiry_id: str) -> str:
    inquiry = get_session().get(Inquiry, inquiry_id)
    assert inquiry is not None
    return inquiry.reference


def user(username: str) -> User:
    found = get_session().scalars(select(User).where(User.username == username)).one()
    get_session().refresh(found)
    return found


def pick(browser: Browser, unit: str) -> None:
    done = browser.submit("/inkorg", "/inkorg/enhet", {"enhet": unit})
    assert done.status_code == 302


def page_of(browser: Browser, query: str = "") -> str:
    response = browser.get("/inkorg" + query)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def references_on(page: str) -> list[str]:
    """The references of the table's rows, in order (each row links its reference once)."""
    return re.findall(r'<a href="/inkorg/[0-9a-f-]{36}">(HF-\d{4}-\d{6})</a>', page)


def to_rosengard(days: int = 0) -> str:
    return received_days_ago(days, vardcentral=ROSENGARD, vardcentral_namn="Rosengård",
                             uppgiftslamnare=ROSENGARD, personnummer=nth_personnummer(3))


def show_personal(browser: Browser, on: bool = True) -> None:
    done = browser.submit("/inkorg", "/inkorg/personuppgifter",
                          {"visa": "ja" if on else "nej", "next": "/inkorg"})
    assert done.status_code == 302


# --- scope --------------------------------------------------------------------------------


def test_a_reko_of_several_units_picks_one_first_and_the_choice_is_remembered(
    world: World,
) -> None:
    with world.app.app_context():
        at_kryddgarden = reference(received_days_ago(0))
        at_rosengard = reference(to_rosengard())
        first = page_of(world.anna)
        assert "<h1>Välj vårdenhet</h1>" in first and "Alla mina vårdcentraler" in first
        assert not references_on(first)
        pick(world.anna, KRYDDGARDEN)
        assert references_on(page_of(world.anna)) == [at_kryddgarden]
        pick(world.anna, "alla")
        assert sorted(references_on(page_of(world.anna))) == sorted([at_kryddgarden,
                                                                     at_rosengard])
        pick(world.anna, ROSENGARD)
        assert references_on(page_of(world.anna)) == [at_rosengard]
        # Kept with the user, not the session: the next login starts there.
        assert user("anna").inbox_scope == ROSENGARD


def test_a_reko_never_sees_another_vcs_rows_nor_can_choose_its_unit(world: World) -> None:
    with world.app.app_context():
        at_kryddgarden = reference(received_days_ago(0))
        cecilia = logged_in_browser(world.app, "cecilia", Role.COORDINATOR,
                                    hsa_id=CECILIA.hsa_id)
        # Her units only in her picker; "Alla" means all of hers.
        assert KRYDDGARDEN not in page_of(cecilia)
        pick(cecilia, "alla")
        assert at_kryddgarden not in page_of(cecilia)
        cecilia.submit("/inkorg", "/inkorg/enhet", {"enhet": KRYDDGARDEN})
        assert user("cecilia").inbox_scope == "alla"
        assert at_kryddgarden not in page_of(cecilia)
        assert references_on(page_of(cecilia, f"?sok={at_kryddgarden}")) == []


# --- Visa personuppgifter ------------------------------------------------------------------


def personal_reads() -> list[AuditEntry]:
    rows = get_session().scalars(select(AuditEntry).where(AuditEntry.action == "inquiry.read"))
    return [row for row in rows if (row.detail or {}).get("purpose") == "inkorg_personuppgifter"]


def test_personal_data_is_off_by_default_and_each_showing_is_audited(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        pick(world.anna, KRYDDGARDEN)
        page = page_of(world.anna)
        assert 'aria-pressed="false"' in page
        assert "Tolvan" not in page and TOLVAN not in page and "19121212-1212" not in page
        assert personal_reads() == []
        show_personal(world.anna)
        shown = page_of(world.anna)
        assert "Tolvan Tolvansson" in shown and "19121212-1212" in shown
        assert [entry.object_id for entry in personal_reads()] == [inquiry_id]
        assert user("anna").show_personal  # kept with the user for the next login
        show_personal(world.anna, on=False)
        before = len(personal_reads())
        assert "Tolvan" not in page_of(world.anna)
        assert len(personal_reads()) == before


# --- search, filters, sorting, tabs ---------------------------------------------------------


def test_search_by_reference_and_with_personal_data_by_name_or_personnummer(
    world: World,
) -> None:
    with world.app.app_context():
        tolvan = reference(received_days_ago(0))
        other = reference(received_days_ago(1, personnummer=nth_personnummer(9),
                                            person_namn="Greta Exempel-Ström"))
        pick(world.anna, KRYDDGARDEN)
        assert references_on(page_of(world.anna, f"?sok={tolvan}")) == [tolvan]
        number = typed_reference(other)
        assert number is not None
        assert references_on(page_of(world.anna, f"?sok={number[1]}")) == [other]
        # Without personuppgifter shown a personnummer or name finds nothing, and says why.
        hidden = page_of(world.anna, "?sok=19121212-1212")
        assert references_on(hidden) == [] and "Visa personuppgifter" in hidden
        assert references_on(page_of(world.anna, "?sok=Tolvan")) == []
        show_personal(world.anna)
        assert references_on(page_of(world.anna, "?sok=19121212-1212")) == [tolvan]
        assert references_on(page_of(world.anna, f"?sok={TOLVAN}")) == [tolvan]
        assert references_on(page_of(world.anna, "?sok=tolvansson")) == [tolvan]
        assert references_on(page_of(world.anna, "?sok=ström greta")) == [other]
        assert references_on(page_of(world.anna, "?sok=Tolv")) == []  # whole words only


def test_each_filter_narrows_the_list(world: World) -> None:
    with world.app.app_context():
        original = reference(received_days_ago(4))
        repeat = reference(received_days_ago(0))  # Tolvan again: flagged as a repeat
        near = reference(received_days_ago(25, personnummer=nth_personnummer(5)))
        late = reference(received_days_ago(33, personnummer=nth_personnummer(7)))
        rosengard = reference(to_rosengard())
        pick(world.anna, "alla")
        assert set(references_on(page_of(world.anna))) == {original, repeat, near, late,
                                                            rosengard}
        assert references_on(page_of(world.anna, f"?vc={ROSENGARD}")) == [rosengard]
        assert references_on(page_of(world.anna, "?svarstid=forsenad")) == [late]
        assert references_on(page_of(world.anna, "?svarstid=snart")) == [near]
        assert references_on(page_of(world.anna, "?upprepad=ja")) == [repeat]
        opened_id = get_session().scalar(select(Inquiry.id).where(Inquiry.reference == near))
        world.anna.get(f"/inkorg/{opened_id}")
        assert references_on(page_of(world.anna, "?status=opened")) == [near]
        mark(world.anna, str(opened_id), "AKTIV")
        assert references_on(page_of(world.anna, "?reko_status=AKTIV")) == [near]
        assert near not in references_on(page_of(world.anna, "?reko_status=INGEN"))
        page = page_of(world.anna, "?svarstid=forsenad")
        assert "Visar 1 av 5 förfrågningar" in page


SORTABLE = ["reference", "care_unit", "sender", "received", "deadline", "days", "status", "mark",
            "repeat"]


def test_every_column_sorts_and_says_so_with_aria_sort(world: World) -> None:
    with world.app.app_context():
        refs = [reference(received_days_ago(days, personnummer=nth_personnummer(days + 20)))
                for days in (3, 1, 2)]
        pick(world.anna, KRYDDGARDEN)
        for key in SORTABLE:
            for direction, word in (("asc", "ascending"), ("desc", "descending")):
                page = page_of(world.anna, f"?sort={key}&dir={direction}")
                assert page.count(f'aria-sort="{word}"') == 1, key
                assert sorted(references_on(page)) == sorted(refs)
        assert references_on(page_of(world.anna, "?sort=reference&dir=asc")) == sorted(refs)
        assert references_on(page_of(world.anna, "?sort=reference&dir=desc")) == sorted(
            refs, reverse=True)
        # Received three, two and one day ago: the oldest has the earliest deadline.
        assert references_on(page_of(world.anna, "?sort=deadline&dir=asc")) == [
            refs[0], refs[2], refs[1]]


def test_an_answered_case_is_under_besvarade_and_a_closed_one_under_avslutade(
    world: World,
) -> None:
    with world.app.app_context():
        answered_id = received_days_ago(0)
        closed_id = received_days_ago(1, personnummer=nth_personnummer(11))
        waiting = reference(received_days_ago(2, personnummer=nth_personnummer(12)))
        pdf = signed_answer(world.pki, answered_id)
        client = world.app.test_client()
        assert post_answer(client, world.tokens.reko, answered_id, pdf).status_code == 201
        closed = client.post(f"/api/v1/inquiries/{closed_id}/close", json={"reason": "DUPLICATE"},
                             headers=bearer(world.tokens.reko))
        assert closed.status_code == 200, closed.get_json()
        pick(world.anna, KRYDDGARDEN)
        page = page_of(world.anna)
        assert references_on(page) == [waiting]
        assert "Väntar på svar (1)" in page and "Besvarade (1)" in page
        assert "Avslutade (1)" in page
        answered = page_of(world.anna, "?flik=besvarade")
        assert references_on(answered) == [reference(answered_id)]
        assert '<th scope="col" aria-sort="descending">' in answered  # newest first
        assert references_on(page_of(world.anna, "?flik=avslutade")) == [reference(closed_id)]


# --- REKO-status ----------------------------------------------------------------------------


def mark(browser: Browser, inquiry_id: str, value: str) -> int:
    page = f"/inkorg/{inquiry_id}"
    return int(browser.submit(page, page + "/reko-status", {"reko_status": value}).status_code)


def test_the_reko_status_is_seen_by_a_colleague_of_the_unit_and_audited(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        assert mark(world.anna, inquiry_id, "KONTAKTAD") == 302
        assert mark(world.anna, inquiry_id, "UPPFOLJNING") == 302
        bertil = logged_in_browser(world.app, "bertil", Role.COORDINATOR, hsa_id=BERTIL_HSA)
        pick(bertil, KRYDDGARDEN)
        row = page_of(bertil).split(reference(inquiry_id))[1]
        assert 'data-label="REKO-status">Uppföljning' in row.replace("\n", "")
        cecilia = logged_in_browser(world.app, "cecilia", Role.COORDINATOR,
                                    hsa_id=CECILIA.hsa_id)
        assert mark(cecilia, inquiry_id, "AKTIV") == 404
        assert "Uppföljning" not in page_of(cecilia)
        entries = get_session().scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.marked", AuditEntry.object_id == inquiry_id)
            .order_by(AuditEntry.seq))
        assert [(e.detail["before"], e.detail["after"]) for e in entries] == [
            (None, "KONTAKTAD"), ("KONTAKTAD", "UPPFOLJNING")]
        assert mark(world.anna, inquiry_id, "VIKTIG") == 302  # refused with a message
        assert "Uppföljning" in world.anna.get(f"/inkorg/{inquiry_id}").get_data(as_text=True)


# --- the reference --------------------------------------------------------------------------


def test_references_are_short_distinct_and_shown_on_both_sides_and_in_the_api(
    world: World,
) -> None:
    with world.app.app_context():
        first, second = received_days_ago(0), received_days_ago(
            0, personnummer=nth_personnummer(4))
        one, two = reference(first), reference(second)
        assert REFERENCE.fullmatch(one) and REFERENCE.fullmatch(two) and one != two
        assert typed_reference(two) == (typed_reference(one)[0],  # type: ignore[index]
                                        typed_reference(one)[1] + 1)  # type: ignore[index]
        status = world.app.test_client().get(f"/api/v1/inquiries/{first}",
                                              headers=bearer(world.tokens.sender))
        assert status.get_json()["reference"] == one
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        assert one in worker.get(f"/arenden/{first}").get_data(as_text=True)
        assert one in worker.get("/arenden").get_data(as_text=True)
        assert one in world.anna.get(f"/inkorg/{first}").get_data(as_text=True)


# --- statements -----------------------------------------------------------------------------


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = database(app).engine

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_inbox_takes_as_many_statements_for_many_rows_as_for_one(world: World) -> None:
    with world.app.app_context():
        received_days_ago(0)
        pick(world.anna, KRYDDGARDEN)
        page_of(world.anna)
        with counted(world.app) as few:
            page_of(world.anna, "?sort=mark")
        for n in range(6):
            received_days_ago(n + 1, personnummer=nth_personnummer(40 + n))
        with counted(world.app) as many:
            page = page_of(world.anna, "?sort=mark")
        assert len(references_on(page)) == 7
        assert len(many) == len(few)


# --- closing --------------------------------------------------------------------------------


def test_the_reko_closes_only_after_choosing_a_reason_and_confirming(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        page = f"/inkorg/{inquiry_id}"
        detail = world.anna.get(page).get_data(as_text=True)
        form = detail.split('action="' + page + '/avsluta"')[1].split("</form>")[0]
        assert " checked" not in form and "Återkallad av avsändaren" not in form
        assert "Personen är listad på en annan vårdcentral" in form and ">RELISTED" not in detail
        unchosen = world.anna.submit(page, page + "/avsluta", {"text": ""})
        assert unchosen.status_code == 422
        assert "Välj varför förfrågan avslutas utan svar" in unchosen.get_data(as_text=True)
        asked = world.anna.submit(page, page + "/avsluta", {"reason": "PERSON_MOVED"})
        text = asked.get_data(as_text=True)
        assert asked.status_code == 200 and "Det här ser den andra parten" in text
        assert "Personen har flyttat" in text and "PERSON_MOVED" not in text.split(
            'name="reason"')[0]
        assert world.anna.get(page).status_code == 200
        assert "Avsluta utan svar" in world.anna.get(page).get_data(as_text=True)
        done = world.anna.submit(page, page + "/avsluta",
                                 {"reason": "PERSON_MOVED", "bekraftat": "ja"})
        assert done.status_code == 302
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        seen = worker.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
        assert "Personen har flyttat" in seen and "PERSON_MOVED" not in seen


def test_a_case_worker_cannot_choose_relisted(world: World) -> None:
    with world.app.app_context():
        inquiry_id = received_days_ago(0)
        worker = logged_in_browser(world.app, "asa", Role.CASE_WORKER, unit=EBB_OSTER)
        page = f"/arenden/{inquiry_id}"
        detail = worker.get(page).get_data(as_text=True)
        assert "Personen är listad på en annan vårdcentral" not in detail
        assert "Återkallad av avsändaren" in detail
        refused = worker.submit(page, f"/arende/{inquiry_id}/avsluta",
                                {"reason": "RELISTED", "bekraftat": "ja"})
        assert refused.status_code == 422
        over_api = world.app.test_client().post(
            f"/api/v1/inquiries/{inquiry_id}/close", json={"reason": "RELISTED"},
            headers=bearer(world.tokens.sender))
        assert over_api.status_code == 422
        assert over_api.get_json()["eventIssues"][0]["typeCode"] == "CLOSE_REASON_NOT_YOURS"
        asked = worker.submit(page, f"/arende/{inquiry_id}/avsluta",
                              {"reason": "WITHDRAWN_BY_SENDER", "next": page})
        assert "Rehabkoordinatorn på" in asked.get_data(as_text=True)
        done = worker.submit(page, f"/arende/{inquiry_id}/avsluta",
                             {"reason": "WITHDRAWN_BY_SENDER", "bekraftat": "ja", "next": page})
        assert done.status_code == 302



def test_names_of_inquiries_taken_in_before_the_index_are_indexed_once(world: World) -> None:
    with world.app.app_context():
        session = get_session()
        tolvan = reference(received_days_ago(0))
        session.execute(delete(InquiryNameToken))
        session.commit()
        pick(world.anna, KRYDDGARDEN)
        show_personal(world.anna)
        assert references_on(page_of(world.anna, "?sok=Tolvansson")) == []
        assert index_missing_names(session) == 1
        session.commit()
        assert index_missing_names(session) == 0
        assert references_on(page_of(world.anna, "?sok=Tolvansson")) == [tolvan]
