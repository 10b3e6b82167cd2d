"""Swedish everywhere: the main pages of every role, walked in the test client with inquiries in
several states, show no raw code (language codes, close reasons, unit kinds, `user:` actors,
UTC timestamps, personnummer without hyphen) and say once that times are Swedish."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role
from gateway.db import get_session, utcnow
from gateway.inquiries.access import Side
from gateway.inquiries.closing import close_inquiry
from gateway.inquiries.models import CloseReason, Inquiry
from tests.support.forms import ROSENGARD, nth_personnummer
from tests.support.web import logged_in_browser
from tests.test_webform_pages import send

pytestmark = pytest.mark.usefixtures("frozen_clock")

# What a page must never show a person: (what, pattern over the page's visible text).
RAW_CODES = [
    ("language code", re.compile(r"\b(ar|ti|so|fa)\b")),
    ("close reason", re.compile(r"\b(" + "|".join(r.value for r in CloseReason) + r")\b")),
    ("unit kind", re.compile(r"\b(socialtjanst|arbetsmarknad)\b")),
    ("purpose code", re.compile(r"PLANERING_ARBETE_STUDIER")),
    ("actor", re.compile(r"\b(user|client|cli|system):")),
    ("UTC timestamp", re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\+00:00")),
    ("personnummer without hyphen", re.compile(r"\b(19|20)\d{10}\b")),
    ("role code", re.compile(r"\b(case_worker|coordinator|directory_admin)\b")),
]


CLOCK = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d\b")


@pytest.mark.parametrize(("page", "what"), [
    ("<p>Tolkbehov: ar</p>", "language code"), ("<td>RELISTED</td>", "close reason"),
    ("<td>user:katalog</td>", "actor"), ("<td>2026-12-02T10:00:00+00:00</td>", "UTC timestamp"),
    ("<dd>191212121212</dd>", "personnummer without hyphen"),
])
def test_the_walk_would_find_a_raw_code(page: str, what: str) -> None:
    assert what in [found for found, _ in raw_codes(page)]
    assert raw_codes('<p lang="ar" title="RELISTED">Arabiska, 19121212-1212</p>') == []


def visible_text(page: str) -> str:
    """The page as read on screen: no tags, no attributes, entities decoded, nothing that is
    only printed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r'<div class="print-only[^"]*">.*?</div>', " ", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def raw_codes(page: str) -> list[tuple[str, str]]:
    text = visible_text(page)
    return [(what, found.group(0)) for what, pattern in RAW_CODES
            for found in pattern.finditer(text)]


def test_no_page_shows_a_raw_code(world: Flask) -> None:
    asa = logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster",
                            display_name="Åsa Lindqvist")
    assert send(asa, tolkbehov="ar").status_code == 302
    assert send(asa, personnummer=nth_personnummer(2), tolkbehov="ti").status_code == 302
    assert send(asa, personnummer=nth_personnummer(3), vardcentral=ROSENGARD).status_code == 302
    session = get_session()
    first, second, third = session.scalars(select(Inquiry).order_by(Inquiry.created_at,
                                                                    Inquiry.reference)).all()
    close_inquiry(session, second, reason=CloseReason.RELISTED, text=None, actor="user:anna",
                  now=utcnow(), sides=frozenset({Side.CARE_UNIT}))
    session.commit()
    anna = logged_in_browser(world, "anna", Role.COORDINATOR, hsa_id="SE2321000255-P001",
                             display_name="Anna Rekosson")
    anna.submit("/inkorg", "/inkorg/personuppgifter", {"show": "1"})
    asa.submit("/arenden", "/arenden/personuppgifter", {"show": "1"})
    admin = logged_in_browser(world, "katalog", Role.DIRECTORY_ADMIN, display_name="Karin Katalog")
    auditor = logged_in_browser(world, "gun", Role.AUDITOR, display_name="Gun Granskare")
    statistician = logged_in_browser(world, "siv", Role.STATISTICIAN)
    pages = {
        asa: ["/", "/arenden", "/arenden/ny", f"/arenden/{first.id}", f"/arenden/{second.id}",
              "/hitta-reko", "/konto/kontakt"],
        anna: ["/", "/inkorg", "/inkorg?flik=avslutade", f"/inkorg/{first.id}",
               f"/inkorg/{second.id}"],
        admin: ["/katalog/", "/katalog/historik", "/katalog/reko", "/katalog/uppdrag",
                "/katalog/vardcentraler/SE2321000255-K001", "/katalog/avsandare"],
        auditor: ["/granskning", "/granskning/kedjan"],
        statistician: ["/statistik"],
    }
    # Every entry of the audit log as the auditor reads it (reasons, channels, purposes).
    pages[auditor] += [f"/granskning/post/{seq}" for seq in get_session().scalars(
        select(AuditEntry.seq).order_by(AuditEntry.seq))]
    found: dict[str, object] = {}
    for browser, paths in pages.items():
        for path in paths:
            response = browser.get(path)
            assert response.status_code == 200, path
            page = response.get_data(as_text=True)
            if codes := raw_codes(page):
                found[path] = codes
            # A page with a clock time says once that its times are Swedish.
            text = visible_text(page)
            if CLOCK.search(text) and text.count("svensk tid") != 1:
                found[path] = f"'svensk tid' {text.count('svensk tid')} times"
    assert found == {}
    # The language by name, the reason in words, the VC by name.
    reko_page = visible_text(anna.get(f"/inkorg/{first.id}").get_data(as_text=True))
    assert "Arabiska" in reko_page and "Vårdcentralen Kryddgården (SE2321000255-K001)" in reko_page
    closed = visible_text(asa.get(f"/arenden/{second.id}").get_data(as_text=True))
    assert "Personen är listad på en annan vårdcentral" in closed
    assert third.care_unit.hsa_id == ROSENGARD


def test_times_are_said_to_be_swedish_once_per_page(world: Flask) -> None:
    asa = logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster")
    assert send(asa).status_code == 302
    inquiry_id = get_session().scalars(select(Inquiry.id)).one()
    page = visible_text(asa.get(f"/arenden/{inquiry_id}").get_data(as_text=True))
    assert page.count("svensk tid") == 1, page
