"""The case worker's "Skicka till annan vårdcentral" (issue 14, hole 2) on SQLite and PostgreSQL:
the new consent's errors on their fields (nothing moved), another unit's case worker gets the
404 an unknown inquiry gets (audited), a REKO 403; then the confirmation step, the move, and an
inquiry the VC closed as RELISTED re-opened at the new VC."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from forms.dates import stockholm_today
from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session, utcnow
from gateway.inquiries.access import Side
from gateway.inquiries.closing import close_inquiry
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import CloseReason, Inquiry
from gateway.inquiries.workflow import progress
from tests.support.forms import EBB_OSTER, KRYDDGARDEN, MALMO, halsoforfragan
from tests.support.intake import load_directory
from tests.support.pki import install_pki
from tests.support.reko import HUSIE, leg_kinds
from tests.support.web import Browser, logged_in_browser

DAY = dt.timedelta(days=1)
TODAY = stockholm_today()


@pytest.fixture
def world(app: Flask, instance: Path, pki_template: Path) -> Flask:
    install_pki(instance, pki_template)
    load_directory(get_session())
    return app


@pytest.fixture
def inquiry_id(world: Flask) -> str:
    """An inquiry EBB Öster sent to Kryddgården."""
    session = get_session()
    result = submit(session, halsoforfragan(), submitter=Submitter("client:x", MALMO,
                                                                   frozenset({EBB_OSTER})),
                    channel="api", now=utcnow())
    session.commit()
    return result.inquiry.id


@pytest.fixture
def oster(world: Flask) -> Browser:
    return logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster",
                             display_name="Åsa Lindqvist")


def fields(**overrides: Any) -> dict[str, str]:
    values = {
        "givet": (TODAY - DAY).isoformat(),
        "giltigt_till": (TODAY + 180 * DAY).isoformat(),
        "samtycke_form": "skriftligt",
        "mottagare_socialtjanst": "y",
        "vardcentral": HUSIE,
        **overrides,
    }
    return {k: v for k, v in values.items() if v is not None}


def page_of(inquiry_id: str) -> str:
    return f"/arenden/{inquiry_id}/skicka-vidare"


def care_unit_of(inquiry_id: str) -> str:
    session = get_session()
    session.expire_all()
    inquiry = session.get(Inquiry, inquiry_id)
    assert inquiry is not None
    return inquiry.care_unit.hsa_id


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field", "text"), [
    pytest.param({"giltigt_till": (TODAY - DAY).isoformat(),
                  "givet": (TODAY - 30 * DAY).isoformat()}, "giltigt_till", "gått ut", id="C2"),
    pytest.param({"givet": (TODAY + 3 * DAY).isoformat()}, "givet", "efter", id="C1"),
    pytest.param({"givet": (TODAY - 400 * DAY).isoformat()}, "giltigt_till", "månader",
                 id="C3"),
    pytest.param({"samtycke_form": "muntligt"}, "dokumenterat_av", "muntligt", id="C6"),
    pytest.param({"givet": None}, "givet", "datum", id="no-date"),
    pytest.param({"mottagare_socialtjanst": None}, "mottagare_socialtjanst", "Välj vem",
                 id="no-recipient"),
    pytest.param({"mottagare_socialtjanst": None, "mottagare_arbetsmarknad": "y"},
                 "mottagare_socialtjanst", "", id="C5"),
    pytest.param({"vardcentral": ""}, "vardcentral", "Välj en vårdcentral", id="no-vc"),
    pytest.param({"vardcentral": KRYDDGARDEN}, "vardcentral", "giltigt val", id="same-vc"),
])
def test_a_bad_consent_is_shown_on_its_field_and_nothing_moves(
    oster: Browser, inquiry_id: str, overrides: dict[str, Any], field: str, text: str
) -> None:
    data = {**fields(**overrides), "bekraftat": "ja"}
    response = oster.submit(page_of(inquiry_id), page_of(inquiry_id), data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:3000]
    assert 'class="error-summary"' in page
    found = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no error on {field}"
    assert text.lower() in found.group(1).lower()
    assert f'href="#{field}"' in page
    assert care_unit_of(inquiry_id) == KRYDDGARDEN
    assert "rerouted" not in leg_kinds(inquiry_id)


def test_a_bad_consent_is_shown_before_the_confirmation(oster: Browser, inquiry_id: str) -> None:
    data = fields(givet=(TODAY - 30 * DAY).isoformat(), giltigt_till=(TODAY - DAY).isoformat())
    response = oster.submit(page_of(inquiry_id), page_of(inquiry_id), data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "gått ut" in page and "Ja, skicka till" not in page


def test_without_the_csrf_token_nothing_moves(oster: Browser, inquiry_id: str) -> None:
    response = oster.post(page_of(inquiry_id), {**fields(), "bekraftat": "ja"})
    assert response.status_code == 400
    assert care_unit_of(inquiry_id) == KRYDDGARDEN


def test_another_units_case_worker_gets_what_an_unknown_inquiry_gets(
    world: Flask, inquiry_id: str
) -> None:
    norr = logged_in_browser(world, "nils", Role.CASE_WORKER, unit="EBB Norr")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert norr.get(page_of(inquiry_id)).status_code == 404
    assert norr.get(page_of(unknown)).status_code == 404
    posted = norr.submit("/arenden/ny", page_of(inquiry_id), {**fields(), "bekraftat": "ja"})
    assert posted.status_code == 404
    assert care_unit_of(inquiry_id) == KRYDDGARDEN
    denied = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == "inquiry.resend", AuditEntry.outcome == "denied",
        AuditEntry.actor == "user:nils")).all()
    assert denied and all(d.detail["reason"] == "not_party" for d in denied)


def test_a_reko_may_not_use_the_case_workers_page(world: Flask, inquiry_id: str) -> None:
    reko = logged_in_browser(world, "anna", Role.COORDINATOR, hsa_id="SE2321000255-P001")
    assert reko.get(page_of(inquiry_id)).status_code == 403


def test_an_answered_or_otherwise_closed_inquiry_offers_no_way_on(
    oster: Browser, inquiry_id: str
) -> None:
    with oster.app.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        close_inquiry(session, inquiry, reason=CloseReason.DUPLICATE, text=None,
                      actor="user:anna", now=utcnow(), sides=frozenset({Side.CARE_UNIT}))
        session.commit()
    detail = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert "Skicka till annan vårdcentral" not in detail
    response = oster.get(page_of(inquiry_id))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/arenden/{inquiry_id}")


# --- the flow ---------------------------------------------------------------------------------


def test_choose_the_vc_confirm_and_it_moves_there(oster: Browser, inquiry_id: str) -> None:
    detail = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert page_of(inquiry_id) in detail
    form = oster.get(page_of(inquiry_id)).get_data(as_text=True)
    assert f'<option value="{HUSIE}">Vårdcentralen Husie ({HUSIE})</option>' in form
    assert f'value="{KRYDDGARDEN}"' not in form
    confirm = oster.submit(page_of(inquiry_id), page_of(inquiry_id), fields())
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200, page[:3000]
    assert "Ja, skicka till Vårdcentralen Husie" in page
    assert care_unit_of(inquiry_id) == KRYDDGARDEN  # not before the confirmation
    back = oster.submit(page_of(inquiry_id), page_of(inquiry_id), {**fields(), "andra": "1"})
    assert 'name="givet"' in back.get_data(as_text=True)
    done = oster.submit(page_of(inquiry_id), page_of(inquiry_id),
                        {**fields(), "bekraftat": "ja"})
    assert done.status_code == 302, done.get_data(as_text=True)[:3000]
    assert care_unit_of(inquiry_id) == HUSIE
    shown = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert "är skickad till Vårdcentralen Husie" in shown
    assert "Skickad vidare" in shown
    audited = get_session().scalars(select(AuditEntry).where(
        AuditEntry.action == "inquiry.rerouted")).one()
    assert (audited.actor, audited.detail["channel"]) == ("user:asa", "web")


def test_closed_as_relisted_it_reopens_at_the_new_vc(oster: Browser, inquiry_id: str) -> None:
    with oster.app.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        close_inquiry(session, inquiry, reason=CloseReason.RELISTED, text=None,
                      actor="user:anna", now=utcnow(), sides=frozenset({Side.CARE_UNIT}))
        session.commit()
    detail = oster.get(f"/arenden/{inquiry_id}").get_data(as_text=True)
    assert "avslutat förfrågan för att personen är listad på en annan vårdcentral" in detail
    done = oster.submit(page_of(inquiry_id), page_of(inquiry_id),
                        {**fields(), "bekraftat": "ja"})
    assert done.status_code == 302, done.get_data(as_text=True)[:3000]
    with oster.app.app_context():
        session = get_session()
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        state = progress(session, inquiry)
        assert (state.status.value, inquiry.care_unit.hsa_id) == ("received", HUSIE)
        assert state.deadline == TODAY + 30 * DAY
