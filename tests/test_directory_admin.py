"""The directory admin pages: access per role, edits through the service, history, route preview."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.directory.demo import load_demo_directory
from gateway.directory.importexport import import_directory
from gateway.directory.models import (
    Absence,
    Assignment,
    CareUnit,
    Coordinator,
    DirectoryChange,
    SenderUnit,
)
from gateway.directory.service import DirectoryError
from tests.support.clock import FROZEN_TODAY
from tests.support.web import Browser, logged_in_browser

# Dates are the frozen clock's, so that no test sees a day change under it.
pytestmark = pytest.mark.usefixtures("frozen_clock")
TODAY = FROZEN_TODAY
YESTERDAY = TODAY - dt.timedelta(days=1)
SKANE, MALMO, PRIVATE_ORG = "0203:skane.se", "0203:malmo.se", "0007:5561234567"
K001, K002, PRIVATE = "SE2321000255-K001", "SE2321000255-K002", "SE5561234567-V001"
ANNA, BERTIL, CECILIA = "SE2321000255-P001", "SE2321000255-P002", "SE2321000255-P003"
EBB = "sdk:ebb-oster:0203:malmo.se"
CONTACT = "Telefon 040-00 00 90, Exempelvägen 1, Malmö"
ADMIN_ACTOR = "user:katalog"


def care_unit(hsa_id: str, slug: str) -> dict[str, Any]:
    return {
        "hsa_id": hsa_id, "name": f"Vårdcentralen {slug.title()}", "organisation": SKANE,
        "connected": True, "functional_address": f"sdk:reko-{slug}:{SKANE}",
        "manager_email": f"chef.{slug}@example.org",
    }


DOCUMENT: dict[str, Any] = {
    "organisations": [
        {"id": SKANE, "name": "Region Skåne"},
        {"id": MALMO, "name": "Malmö stad"},
        {"id": PRIVATE_ORG, "name": "Privat Vårdcentral AB"},
    ],
    "care_units": [
        care_unit(K001, "kryddgarden"),
        care_unit(K002, "rosengard"),
        {"hsa_id": PRIVATE, "name": "Privata Vårdcentralen Ribersborg",
         "organisation": PRIVATE_ORG, "connected": False, "functional_address": None,
         "manager_email": None, "contact": CONTACT},
    ],
    "coordinators": [
        {"hsa_id": ANNA, "name": "Anna Rekosson", "email": "anna.rekosson@example.org"},
        {"hsa_id": BERTIL, "name": "Bertil Exempelsson", "email": "bertil@example.org"},
        {"hsa_id": CECILIA, "name": "Cecilia Testsson", "email": "cecilia@example.org"},
    ],
    "assignments": [
        {"coordinator": ANNA, "care_unit": K001, "role": "primary",
         "valid_from": "2024-09-01", "valid_to": None},
        {"coordinator": BERTIL, "care_unit": K001, "role": "deputy",
         "valid_from": "2024-09-01", "valid_to": None},
        {"coordinator": CECILIA, "care_unit": K002, "role": "primary",
         "valid_from": "2024-01-01", "valid_to": YESTERDAY.isoformat()},
    ],
    "sender_units": [
        {"name": "EBB Öster", "organisation": MALMO, "kind": "socialtjanst",
         "functional_address": EBB},
    ],
}


@dataclass(frozen=True)
class Ids:
    """Database ids the pages use in their addresses."""

    anna_primary: int
    sender_unit: int


@pytest.fixture
def ids(app: Flask) -> Ids:
    session = get_session()
    import_directory(session, DOCUMENT, actor="cli:test")
    session.commit()
    anna = session.scalar(select(Coordinator).where(Coordinator.hsa_id == ANNA))
    assert anna is not None
    primary = session.scalar(select(Assignment).where(Assignment.coordinator_id == anna.id))
    sender = session.scalar(select(SenderUnit))
    assert primary is not None and sender is not None
    return Ids(primary.id, sender.id)


@pytest.fixture
def admin(app: Flask, ids: Ids) -> Browser:
    return logged_in_browser(app, "katalog", Role.DIRECTORY_ADMIN, display_name="Karin Katalog")


def pages(ids: Ids) -> list[str]:
    return [
        "/katalog/",
        "/katalog/vardcentraler",
        "/katalog/vardcentraler/ny",
        f"/katalog/vardcentraler/{K001}",
        "/katalog/reko",
        "/katalog/reko/ny",
        f"/katalog/reko/{ANNA}",
        "/katalog/uppdrag",
        f"/katalog/uppdrag/{ids.anna_primary}/avsluta",
        "/katalog/franvaro",
        "/katalog/avsandare",
        "/katalog/avsandare/ny",
        f"/katalog/avsandare/{ids.sender_unit}",
        "/katalog/historik",
        "/katalog/vem-far",
    ]


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def unit_row(hsa_id: str) -> CareUnit:
    session = get_session()
    session.expire_all()
    found = session.scalar(select(CareUnit).where(CareUnit.hsa_id == hsa_id))
    assert found is not None
    return found


def changes_by(actor: str) -> list[DirectoryChange]:
    session = get_session()
    session.expire_all()
    query = select(DirectoryChange).where(DirectoryChange.actor == actor)
    return list(session.scalars(query.order_by(DirectoryChange.id)))


def care_unit_form(**changes: str) -> dict[str, str]:
    data = {
        "name": "Vårdcentralen Kryddgarden",
        "organisation": SKANE,
        "connected": "y",
        "functional_address": f"sdk:reko-kryddgarden:{SKANE}",
        "manager_email": "chef.kryddgarden@example.org",
        "contact": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def edit_unit(browser: Browser, **changes: str) -> Any:
    page = f"/katalog/vardcentraler/{K001}"
    return browser.submit(page, page, care_unit_form(**changes))


# --- access ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(app: Flask, ids: Ids) -> None:
    browser = Browser(app)
    for page in pages(ids):
        response = browser.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/login"), page


@pytest.mark.parametrize(
    ("role", "extra", "allowed"),
    [
        (Role.DIRECTORY_ADMIN, {}, "all"),
        (Role.CASE_WORKER, {"unit": "EBB Öster"}, "route"),
        (Role.COORDINATOR, {"hsa_id": ANNA}, "none"),
        (Role.STATISTICIAN, {}, "none"),
        (Role.AUDITOR, {}, "none"),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else None,
)
def test_each_role_gets_what_it_should(
    app: Flask, ids: Ids, role: Role, extra: dict[str, str], allowed: str
) -> None:
    browser = logged_in_browser(app, "person", role, **extra)
    for page in pages(ids):
        expected = 200 if allowed == "all" or (allowed == "route" and "vem-far" in page) else 403
        assert browser.get(page).status_code == expected, page


def test_a_refused_page_is_audited(app: Flask, ids: Ids) -> None:
    browser = logged_in_browser(app, "statistiker", Role.STATISTICIAN)
    browser.get("/katalog/vardcentraler")
    session = get_session()
    session.expire_all()
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "web.access", AuditEntry.outcome == "denied")
    ).all()
    assert [(e.actor, e.object_id) for e in denied] == [
        ("user:statistiker", "directory.care_units")
    ]


def test_other_roles_cannot_post_edits(app: Flask, ids: Ids) -> None:
    browser = logged_in_browser(app, "handlaggare", Role.CASE_WORKER, unit="EBB Öster")
    data = {"csrf_token": browser.token("/"), **care_unit_form(name="Kapad")}
    assert browser.post(f"/katalog/vardcentraler/{K001}", data).status_code == 403
    assert unit_row(K001).name == "Vårdcentralen Kryddgarden"


def test_an_edit_without_csrf_token_is_refused(admin: Browser) -> None:
    response = admin.post(f"/katalog/vardcentraler/{K001}", care_unit_form(name="Utan token"))
    assert response.status_code == 400
    assert unit_row(K001).name == "Vårdcentralen Kryddgarden"


def test_unknown_entries_are_404_pages(admin: Browser) -> None:
    for page in (
        "/katalog/vardcentraler/SE2321000255-K999", "/katalog/reko/not-an-id",
        "/katalog/uppdrag/999999/avsluta", "/katalog/avsandare/999999",
        "/katalog/vardcentraler/SE2321000255-K%00", "/katalog/reko/%00",
    ):
        response = admin.get(page)
        assert response.status_code == 404, page
        assert "Traceback" not in text(response)


# --- edits refused: the error is shown on the field and nothing changes ---------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"manager_email": "inte-en-adress"}, "manager_email", "Inte en e-postadress"),
        ({"name": ""}, "name", "Fältet måste fyllas i"),
        ({"name": "Tab\tbort"}, "name", "styrtecken"),
        ({"manager_email": "chef\x00@example.org"}, "manager_email", "styrtecken"),
        ({"functional_address": "reko-kryddgarden"}, "functional_address",
         "Inte en funktionsadress"),
        ({"functional_address": "sdk:reko-kryddgarden:0203:malmo.se"}, "functional_address",
         "hör till organisationen 0203:malmo.se"),
        ({"organisation": "0203:okand.se"}, "organisation", "Inte ett giltigt val"),
        # Only the service knows these: they come back from the import, in Swedish.
        ({"organisation": MALMO, "functional_address": EBB}, "functional_address",
         "används redan av en annan enhet"),
        ({"manager_email": ""}, "manager_email", "Krävs när vårdcentralen är ansluten"),
    ],
    ids=[
        "bad-email", "empty-name", "control-character", "nul-in-email", "bad-address",
        "other-organisations", "unknown-organisation", "address-taken",
        "manager-missing",
    ],
)
def test_a_refused_care_unit_edit_names_the_field_and_changes_nothing(
    admin: Browser, changes: dict[str, str], field: str, message: str
) -> None:
    response = edit_unit(admin, **changes)
    page = text(response)
    assert response.status_code == 422, page
    assert f'href="#{field}"' in page  # the error summary links to the field
    assert message in page
    assert 'aria-invalid="true"' in page
    assert f'aria-describedby="{field}-hint {field}-error"' in page or (
        f'aria-describedby="{field}-error"' in page
    )
    unit = unit_row(K001)
    assert unit.name == "Vårdcentralen Kryddgarden"
    assert unit.manager_email == "chef.kryddgarden@example.org"
    assert unit.connected is True
    assert changes_by(ADMIN_ACTOR) == []


def test_adding_a_unit_with_a_taken_hsa_id_is_refused(admin: Browser) -> None:
    data = care_unit_form(hsa_id=K002, name="Dubblett")
    response = admin.submit("/katalog/vardcentraler/ny", "/katalog/vardcentraler/ny", data)
    assert response.status_code == 422
    assert "Det finns redan en vårdcentral med det här HSA-id:t." in text(response)
    assert unit_row(K002).name == "Vårdcentralen Rosengard"


def test_a_bad_fingerprint_is_named_by_line(admin: Browser) -> None:
    page = f"/katalog/reko/{ANNA}"
    data = {"name": "Anna Rekosson", "email": "anna.rekosson@example.org", "phone": "",
            "certificate_fingerprints": "ab" * 32 + "\nnot-a-fingerprint"}
    response = admin.submit(page, page, data)
    assert response.status_code == 422
    assert "Rad 2 är inte ett SHA-256-fingeravtryck" in text(response)


# --- edits that succeed ---------------------------------------------------------------------


def test_a_good_edit_shows_in_history_and_the_audit_log(admin: Browser) -> None:
    response = edit_unit(admin, name="Vårdcentralen Kryddgården", contact="Reception 040-00 00 00")
    assert response.status_code == 302
    assert unit_row(K001).name == "Vårdcentralen Kryddgården"
    [change] = changes_by(ADMIN_ACTOR)
    assert (change.entity, change.entity_key, change.action) == ("care_unit", K001, "update")
    session = get_session()
    [entry] = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "directory.update")
    ).all()
    assert (entry.actor, entry.object_type, entry.object_id) == (ADMIN_ACTOR, "care_unit", K001)
    assert entry.detail == {"fields": ["name", "contact"]}
    history = text(admin.get("/katalog/historik"))
    assert "Visar" in history
    # People by name, fields by their Swedish names: no `user:katalog`, no `name`.
    assert "Karin Katalog (katalog)" in history and ADMIN_ACTOR not in history
    assert "Namn: Vårdcentralen Kryddgarden → Vårdcentralen Kryddgården" in history
    assert "Kontaktuppgift: – → Reception 040-00 00 00" in history
    assert "<code>name</code>" not in history
    # The unit's own page shows its changes too.
    assert "Reception 040-00 00 00" in text(admin.get(f"/katalog/vardcentraler/{K001}"))


def test_saving_an_unchanged_form_changes_nothing(admin: Browser) -> None:
    assert edit_unit(admin).status_code == 302
    assert changes_by(ADMIN_ACTOR) == []
    assert "Inga ändringar att spara." in text(admin.get(f"/katalog/vardcentraler/{K001}"))


def test_a_new_reko_and_an_assignment(admin: Browser) -> None:
    new = {"hsa_id": "SE2321000255-P004", "name": "David Nysson", "email": "david@example.org",
           "phone": "040-00 00 04", "certificate_fingerprints": ""}
    assert admin.submit("/katalog/reko/ny", "/katalog/reko/ny", new).status_code == 302
    assignment = {"coordinator": "SE2321000255-P004", "care_unit": K002, "role": "primary",
                  "valid_from": TODAY.isoformat(), "valid_to": ""}
    assert admin.submit("/katalog/uppdrag", "/katalog/uppdrag", assignment).status_code == 302
    again = admin.submit("/katalog/uppdrag", "/katalog/uppdrag", assignment)
    assert again.status_code == 422
    assert "Samma uppdrag från samma dag finns redan." in text(again)
    preview = text(admin.get(f"/katalog/vem-far?care_unit={K002}&date={TODAY}"))
    assert "David Nysson" in preview
    # The dashboard no longer lists Rosengård as without an active REKO.
    assert "Alla anslutna vårdcentraler har en aktiv REKO i dag." in text(admin.get("/katalog/"))


def test_ending_an_assignment_stops_its_routing(admin: Browser, ids: Ids) -> None:
    page = f"/katalog/uppdrag/{ids.anna_primary}/avsluta"
    too_early = admin.submit(page, page, {"valid_to": "2024-08-01"})
    assert too_early.status_code == 422
    assert "Slutdatum får inte vara före startdatum." in text(too_early)
    assert admin.submit(page, page, {"valid_to": YESTERDAY.isoformat()}).status_code == 302
    preview = text(admin.get(f"/katalog/vem-far?care_unit={K001}&date={TODAY}"))
    assert "ingen primär REKO tilldelad" in preview
    assert "Anna Rekosson" not in preview


def test_an_absence_makes_the_deputy_receive(admin: Browser) -> None:
    start = TODAY + dt.timedelta(days=7)
    absence = {"coordinator": ANNA, "starts_on": start.isoformat(),
               "ends_on": (start + dt.timedelta(days=4)).isoformat(), "note": ""}
    assert admin.submit("/katalog/franvaro", "/katalog/franvaro", absence).status_code == 302
    preview = text(admin.get(f"/katalog/vem-far?care_unit={K001}&date={start}"))
    assert "Bertil Exempelsson" in preview
    assert "ersättare, täcker för frånvarande primär REKO" in preview
    assert "Anna Rekosson är frånvarande" in preview
    before = text(admin.get(f"/katalog/vem-far?care_unit={K001}&date={TODAY}"))
    assert "Anna Rekosson är primär REKO" in before


def test_an_absence_ending_before_it_starts_is_refused(admin: Browser) -> None:
    absence = {"coordinator": ANNA, "starts_on": TODAY.isoformat(),
               "ends_on": YESTERDAY.isoformat(), "note": ""}
    response = admin.submit("/katalog/franvaro", "/katalog/franvaro", absence)
    assert response.status_code == 422
    assert "Sista dagen får inte vara före första dagen." in text(response)
    assert 'href="#ends_on"' in text(response)
    assert get_session().scalars(select(Absence)).all() == []


def test_an_absence_can_be_removed(admin: Browser) -> None:
    absence = {"coordinator": BERTIL, "starts_on": TODAY.isoformat(),
               "ends_on": TODAY.isoformat(), "note": ""}
    admin.submit("/katalog/franvaro", "/katalog/franvaro", absence)
    session = get_session()
    session.expire_all()
    [row] = session.scalars(select(Absence)).all()
    token = admin.token("/katalog/franvaro")
    response = admin.post(f"/katalog/franvaro/{row.id}/ta-bort", {"csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    assert session.scalars(select(Absence)).all() == []
    assert [c.action for c in changes_by(ADMIN_ACTOR)] == ["create", "delete"]


def test_a_second_absence_from_the_same_day_is_refused_and_the_first_kept(
    admin: Browser,
) -> None:
    first = {"coordinator": ANNA, "starts_on": TODAY.isoformat(),
             "ends_on": TODAY.isoformat(), "note": "kurs"}
    assert admin.submit("/katalog/franvaro", "/katalog/franvaro", first).status_code == 302
    again = admin.submit("/katalog/franvaro", "/katalog/franvaro",
                         {**first, "ends_on": (TODAY + dt.timedelta(days=3)).isoformat()})
    assert again.status_code == 422
    assert "Rehabkoordinatorn har redan en frånvaro som börjar den dagen." in text(again)
    session = get_session()
    session.expire_all()
    [row] = session.scalars(select(Absence)).all()
    assert (row.ends_on, row.note) == (TODAY, "kurs")
    assert [c.action for c in changes_by(ADMIN_ACTOR)] == ["create"]


ADDS = [
    ("care_units", care_unit(K002, "dubblett")),
    ("coordinators", {"hsa_id": ANNA, "name": "Anna Dubblett", "email": "d@example.org"}),
    ("sender_units", {"name": "EBB Öster", "organisation": MALMO, "kind": "arbetsmarknad",
                      "functional_address": EBB}),
    ("assignments", DOCUMENT["assignments"][0]),
]


@pytest.mark.parametrize(("section", "record"), ADDS, ids=[s for s, _ in ADDS])
def test_an_add_of_a_taken_key_is_refused_by_the_database_and_writes_nothing(
    app: Flask, ids: Ids, section: str, record: dict[str, Any]
) -> None:
    # No check before the insert: the unique constraint refuses it, so two admins adding the
    # same entry at once cannot both win, and the refusal names the entry.
    session = get_session()
    before = session.scalars(select(DirectoryChange)).all()
    with pytest.raises(DirectoryError) as refused:
        import_directory(session, {section: [record]}, actor=ADMIN_ACTOR, create=True)
    assert (refused.value.code, refused.value.status) == ("DIRECTORY_ENTRY_EXISTS", 409)
    assert f"{section}[0]" in refused.value.detail
    assert session.scalars(select(DirectoryChange)).all() == before


def test_two_absences_of_one_reko_cannot_start_the_same_day(app: Flask, ids: Ids) -> None:
    session = get_session()
    anna = session.scalar(select(Coordinator).where(Coordinator.hsa_id == ANNA))
    assert anna is not None
    session.add(Absence(coordinator=anna, starts_on=TODAY, ends_on=TODAY))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Absence(coordinator=anna, starts_on=TODAY, ends_on=TODAY, note="igen"))
        session.flush()


def test_a_sender_unit_can_be_edited(admin: Browser, ids: Ids) -> None:
    page = f"/katalog/avsandare/{ids.sender_unit}"
    data = {"organisation": MALMO, "kind": "arbetsmarknad",
            "functional_address": "sdk:ama:0203:malmo.se"}
    assert admin.submit(page, page, data).status_code == 302
    listing = text(admin.get("/katalog/avsandare"))
    assert "Arbetsmarknad (AMA)" in listing
    assert "sdk:ama:0203:malmo.se" in listing


# --- read-only pages ------------------------------------------------------------------------


def test_dashboard_lists_units_without_an_active_reko_in_swedish(admin: Browser) -> None:
    page = text(admin.get("/katalog/"))
    assert "Vårdcentraler utan aktiv REKO i dag" in page
    assert f'href="/katalog/vardcentraler/{K002}"' in page
    assert "ingen REKO är tilldelad" in page
    assert "Fel" in page  # severity in words, not colour alone
    assert "no REKO is assigned" not in page


def test_lists_say_how_many_they_show(admin: Browser) -> None:
    assert "Visar 3 av 3 vårdcentraler" in text(admin.get("/katalog/vardcentraler"))
    assert "Visar 1 av 3 vårdcentraler" in text(admin.get("/katalog/vardcentraler?q=rosen"))
    listing = text(admin.get("/katalog/reko"))
    assert "Visar 3 av 3 rehabkoordinatorer" in listing
    assert 'scope="col"' in listing
    assert "Visar 2 av 3 uppdrag" in text(admin.get("/katalog/uppdrag"))
    assert "Visar 3 av 3 uppdrag" in text(admin.get("/katalog/uppdrag?visa=alla"))


def test_route_preview_page_refusals(app: Flask, ids: Ids) -> None:
    browser = logged_in_browser(app, "handlaggare", Role.CASE_WORKER, unit="EBB Öster")
    private = text(browser.get(f"/katalog/vem-far?care_unit={PRIVATE}&date={TODAY}"))
    assert "Vårdcentralen är inte ansluten" in private
    assert CONTACT in private
    bad = browser.get(f"/katalog/vem-far?care_unit={K001}&date=2025-02-30")
    assert bad.status_code == 422
    assert 'href="#date"' in text(bad)
    unknown = browser.get("/katalog/vem-far?care_unit=SE2321000255-K999&date=2025-03-01")
    assert unknown.status_code == 422
    assert 'href="#care_unit"' in text(unknown)
    # The case worker sees the preview but not the admin's menu.
    assert "Ändringshistorik" not in private


def test_every_page_renders_the_demo_directory(app: Flask) -> None:
    session = get_session()
    load_demo_directory(session, actor="cli:test")
    session.commit()
    admin = logged_in_browser(app, "katalog", Role.DIRECTORY_ADMIN)
    for page in (
        "/katalog/", "/katalog/vardcentraler", "/katalog/reko", "/katalog/uppdrag?visa=alla",
        "/katalog/franvaro?visa=alla", "/katalog/avsandare", "/katalog/historik?entity=care_unit",
        f"/katalog/vem-far?care_unit={K001}&date={TODAY}",
    ):
        assert admin.get(page).status_code == 200, page
    listing = text(admin.get("/katalog/vardcentraler"))
    assert "Visar 19 av 19 vårdcentraler" in listing
