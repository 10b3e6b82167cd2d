"""Screenshots of every role's main pages at 1280 and 375 px (`make screenshots`), on the demo's
own data, in headless Chromium: at 375 px no page scrolls sideways and axe-core finds no WCAG
2.1 AA violation.

The PNGs go to `screenshots/` at the top of the repository (git-ignored), named
`<role>-<page>-<width>.png`, so that a reviewer can look at every page without clicking through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.demo import set_up_demo
from gateway.demo_inquiries import DEMO_INQUIRIES
from tests.support.chromium import CHROMIUM, FLAGS, axe_violations, log_in, sync_api
from tests.support.web import live_server

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
WIDTHS = {1280: 900, 375: 800}
NARROW = 375
# The demo's samples the pages show: one registered with its answer (sent by EBB Öster), one
# opened and waiting for the REKO's answer.
REGISTERED = next(s.id for s in DEMO_INQUIRIES if s.registered and s.sender == "ebb.oster")
WAITING = next(s.id for s in DEMO_INQUIRIES if s.title == "öppnad, nära sista svarsdag")


@dataclass(frozen=True)
class Visit:
    """A page a role opens: the screenshot's name and the path; `pick_all` chooses "Alla mina
    vårdcentraler" in the REKO's unit picker on that page before the screenshot."""

    name: str
    path: str
    pick_all: bool = False


PAGES: dict[str, tuple[Visit, ...]] = {
    "ebb.oster": (
        Visit("start", "/"),
        Visit("arenden", "/arenden"),
        Visit("ny-forfragan", "/arenden/ny"),
        Visit("arende", f"/arenden/{REGISTERED}"),
        Visit("svar", f"/arende/{REGISTERED}/svar"),
        Visit("hitta-reko", "/hitta-reko"),
    ),
    "reko.anna": (
        Visit("start", "/"),
        Visit("valj-enhet", "/inkorg"),
        Visit("inkorg", "/inkorg", pick_all=True),
        Visit("inkorg-besvarade", "/inkorg?flik=besvarade"),
        Visit("inkorg-avslutade", "/inkorg?flik=avslutade"),
        Visit("forfragan", f"/inkorg/{WAITING}"),
        Visit("svara", f"/inkorg/{WAITING}/svara"),
    ),
    "katalog": (
        Visit("start", "/katalog/"),
        Visit("vardcentraler", "/katalog/vardcentraler"),
        Visit("reko", "/katalog/reko"),
        Visit("historik", "/katalog/historik"),
    ),
    "statistik": (Visit("statistik", "/statistik"),),
    "granskare": (
        Visit("logg", "/granskning"),
        Visit("kedjan", "/granskning/kedjan"),
    ),
}


@pytest.fixture
def demo_site(committing_app: Flask) -> Iterator[tuple[str, dict[str, Any]]]:
    """The demo set up as `gateway demo` does (directory, history, PKI, users, samples), served
    on a loopback port; yields the base URL and the demo's logins."""
    logins = set_up_demo(committing_app)
    with live_server(committing_app) as base_url:
        yield base_url, logins["users"]


def _sideways(page: Any) -> int | None:
    """How far the page scrolls sideways in px, or None when it does not."""
    extra: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    return extra if extra > 0 else None


def _shoot(page: Any, role: str, visit: Visit) -> list[str]:
    """Screenshot the page at each width; return what is wrong with it at 375 px."""
    problems: list[str] = []
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SCREENSHOTS / f"{role}-{visit.name}-{width}.png", full_page=True)
        if width == NARROW:
            extra = _sideways(page)
            if extra:
                problems.append(f"scrolls sideways by {extra} px")
            problems += axe_violations(page)
    return problems


def test_every_roles_pages_fit_a_phone_and_are_photographed(
    demo_site: tuple[str, dict[str, Any]]
) -> None:
    base_url, users = demo_site
    SCREENSHOTS.mkdir(exist_ok=True)
    found: dict[str, list[str]] = {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for role, visits in PAGES.items():
                context = browser.new_context(locale="sv-SE")
                page = context.new_page()
                log_in(page, base_url, role, users[role]["totp_secret"],
                       password=users[role]["password"])
                for visit in visits:
                    response = page.goto(f"{base_url}{visit.path}")
                    assert response is not None and response.status == 200, (role, visit)
                    if visit.pick_all:
                        page.select_option("#enhet", label="Alla mina vårdcentraler")
                        page.click("form.unit-picker button")
                        page.wait_for_load_state()
                    problems = _shoot(page, role, visit)
                    if problems:
                        found[f"{role} {visit.path}"] = problems
                context.close()
        finally:
            browser.close()
    assert found == {}, "\n".join(f"{page}: {'; '.join(what)}" for page, what in found.items())
