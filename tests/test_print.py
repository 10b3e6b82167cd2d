"""Printing an inquiry (both sides): a print-only note, rendered on the server, names who printed
it and when (Swedish time) and says that it holds data under secrecy (OSL); the print
stylesheet hides navigation, forms and inputs and shows the note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.auth.models import Role
from gateway.db import get_session
from gateway.inquiries.models import Inquiry
from tests.support.web import logged_in_browser, print_note
from tests.test_webform_pages import send

pytestmark = pytest.mark.usefixtures("frozen_clock")
WHEN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d svensk tid")
STATIC = Path(__file__).parent.parent / "gateway" / "static"


def test_a_page_without_the_note_has_none(world: Flask) -> None:
    asa = logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster")
    assert print_note(asa.get("/arenden").get_data(as_text=True)) == ""


def test_both_sides_print_who_when_and_secrecy(world: Flask) -> None:
    asa = logged_in_browser(world, "asa", Role.CASE_WORKER, unit="EBB Öster",
                            display_name="Åsa Lindqvist")
    assert send(asa).status_code == 302
    inquiry_id = get_session().scalars(select(Inquiry.id)).one()
    anna = logged_in_browser(world, "anna", Role.COORDINATOR, hsa_id="SE2321000255-P001",
                             display_name="Anna Rekosson")
    for browser, path, who in ((asa, f"/arenden/{inquiry_id}", "Åsa Lindqvist (asa)"),
                               (anna, f"/inkorg/{inquiry_id}", "Anna Rekosson (anna)")):
        page = browser.get(path).get_data(as_text=True)
        note = print_note(page)
        assert who in note, (path, note)
        assert WHEN.search(note), note
        assert "sekretess" in note and "OSL" in note
        assert 'href="/static/print.css' in page


def test_the_print_stylesheet_hides_controls_and_shows_the_note() -> None:
    css = (STATIC / "print.css").read_text(encoding="utf-8")
    screen, _, paper = css.partition("@media print")
    assert ".print-only" in screen and "display: none" in screen
    for hidden in ("header.site", "form", "input", "button", "select", "textarea"):
        assert hidden in paper.split("display: none")[0], hidden
    assert ".print-only" in paper
