"""Headless Chromium for browser tests: Debian's chromium driven by Playwright (its own browser
download cannot work here), and logging in through the real pages.

Import it at the top of a browser test module: the module is skipped where Playwright or
Chromium is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
import pytest

from tests.support.web import PASSWORD

CHROMIUM = "/usr/bin/chromium"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@contextmanager
def chromium_page(locale: str = "sv-SE") -> Iterator[Any]:
    """Yield a new page in a headless Chromium that is closed afterwards."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(locale=locale)
        finally:
            browser.close()


def log_in(page: Any, base_url: str, username: str, secret: str,
           password: str = PASSWORD) -> None:
    """Log in on page through the login form: password, then the current TOTP code."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("form button[type=submit]")


def axe_violations(page: Any) -> list[str]:
    """Return axe-core's WCAG 2.1 AA violations on the page as it stands, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    assert results.response["passes"], "axe checked nothing"
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})"
            for v in results.response["violations"]]
