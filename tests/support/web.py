"""Test helpers for the web UI: a browser-like client that logs in through the real login flow.

Reuse it in any test of web pages: `add_user(...)` makes an account (password + TOTP) in the
test transaction, `Browser(app).login(username, secret)` goes through the password and TOTP
steps with their CSRF tokens, and `browser.submit(page, action, data)` posts a form the way a
browser does (the token read from the page first).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from werkzeug.serving import make_server

from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import get_session
from tests.support.intake import load_directory
from tests.support.pki import install_pki

PASSWORD = "korrekt häst batteri"


@pytest.fixture
def world(app: Flask, instance: Path, pki_template: Path) -> Flask:
    """The app with the demo directory and the development PKI installed: what the web pages
    need to send, route and show inquiries (a module may define its own `world` instead)."""
    install_pki(instance, pki_template)
    load_directory(get_session())
    return app
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A test client that behaves as a browser: reads the CSRF token from the form it posts.

    Each request runs in an app context of its own, so the request's database session is
    closed (uncommitted work rolled back) at its end, as in production.
    """

    def __init__(self, app: Flask, **client_kwargs: Any) -> None:
        self.app = app
        self.client = app.test_client(**client_kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        with self.app.app_context():
            return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        with self.app.app_context():
            return self.client.post(path, data=data or {}, **kwargs)

    def token(self, form_page: str) -> str:
        page = self.get(form_page).get_data(as_text=True)
        found = TOKEN_RE.search(page)
        assert found, f"no CSRF token on {form_page}"
        return found.group(1)

    def submit(self, form_page: str, action: str, data: dict[str, str], **kwargs: Any) -> Any:
        """Fetch form_page, then post data with its token to action."""
        return self.post(action, {"csrf_token": self.token(form_page), **data}, **kwargs)

    def password_step(self, username: str, password: str, next_url: str = "") -> Any:
        """Post the login form (username, password and, if given, where to go next)."""
        data = {"username": username, "password": password}
        if next_url:
            data["next"] = next_url
        return self.submit("/login", "/login", data)

    def code_step(self, code: str) -> Any:
        """Post the one-time code form."""
        return self.submit("/login/otp", "/login/otp", {"code": code})

    def login(self, username: str, secret: str, password: str = PASSWORD) -> Any:
        """Log in with password, then the current TOTP code; returns the last response."""
        first = self.password_step(username, password)
        assert first.status_code == 302, first.get_data(as_text=True)
        done = self.code_step(pyotp.TOTP(secret).now())
        assert done.status_code == 302, done.get_data(as_text=True)
        return done


def add_user(username: str, role: Role, **kwargs: Any) -> str:
    """Create a user with PASSWORD in the test transaction, commit, and return its TOTP secret."""
    session = get_session()
    _, secret = create_user(session, username=username, role=role, password=PASSWORD, **kwargs)
    session.commit()
    return secret


def logged_in_browser(app: Flask, username: str, role: Role, **kwargs: Any) -> Browser:
    """Return a Browser logged in as a new user with `role` (kwargs: unit=, hsa_id=, ...)."""
    secret = add_user(username, role, **kwargs)
    browser = Browser(app)
    browser.login(username, secret)
    return browser


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve app on a loopback port from a thread; yield its base URL, stop it afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def print_note(page: str) -> str:
    """The text of a page's print-only note (who printed it, when, that it is confidential);
    "" when the page has none."""
    found = re.search(r'<div class="print-only print-note"[^>]*>(.*?)</div>', page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else ""
