"""Web login: password then TOTP, throttling, CSRF, idle timeout, role checks, cookies, headers."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask_login import login_required
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.auth.login import role_required
from gateway.auth.models import LoginAttempt, Role, User
from gateway.auth.users import set_password
from gateway.db import get_session
from gateway.directory.models import CareUnit, Coordinator, SenderUnit
from tests.conftest import AppMaker
from tests.support.factories import AssignmentFactory, SenderUnitFactory
from tests.support.web import PASSWORD, TOKEN_RE, Browser, add_user


@dataclass
class Directory:
    sender_unit: SenderUnit
    coordinator: Coordinator
    care_unit: CareUnit


@pytest.fixture
def directory(app: Flask) -> Directory:
    """EBB Öster, and Anna as primary REKO of Vårdcentralen Kryddgården."""
    assignment = AssignmentFactory(
        coordinator__hsa_id="SE2321000255-P001", coordinator__name="Anna Rekosson",
        care_unit__hsa_id="SE2321000255-K001", care_unit__name="Vårdcentralen Kryddgården",
    )
    sender_unit = SenderUnitFactory()
    get_session().commit()
    return Directory(sender_unit, assignment.coordinator, assignment.care_unit)


@pytest.fixture
def case_worker(directory: Directory) -> str:
    return add_user("anna", Role.CASE_WORKER, unit="EBB Öster", display_name="Anna Handläggare")


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app)


def audit(action: str, outcome: str | None = None) -> list[AuditEntry]:
    session = get_session()
    session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    return list(session.scalars(query))


def logged_in(browser: Browser) -> bool:
    return browser.get("/").status_code == 200


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


# --- refusals first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("anna", "fel lösenord helt och hållet"),
        ("okand", PASSWORD),
        ("", ""),
        ("anna", ""),
        ("x" * 5000, "y" * 5000),
        ("anna\x00", PASSWORD),
    ],
    ids=["wrong-password", "unknown-user", "empty", "no-password", "huge", "nul"],
)
def test_bad_credentials_get_one_message(
    browser: Browser, case_worker: str, username: str, password: str
) -> None:
    response = browser.password_step(username, password)
    assert response.status_code == 200
    page = text(response)
    assert "Fel användarnamn eller lösenord." in page
    assert 'aria-describedby="login-error"' in page
    assert 'aria-invalid="true"' in page
    assert browser.get("/login/otp").status_code == 302
    assert not logged_in(browser)


def test_password_failures_are_audited_without_the_password(
    browser: Browser, case_worker: str
) -> None:
    browser.password_step("anna", "fel lösenord helt och hållet")
    browser.password_step("okand", PASSWORD)
    denied = audit("login", "denied")
    assert [e.actor for e in denied] == ["user:anna", "anonymous:127.0.0.1"]
    assert [e.detail["reason"] for e in denied] == ["bad_password", "unknown_user"]
    stored = json.dumps([[e.actor, e.object_id, e.detail] for e in denied], ensure_ascii=False)
    assert PASSWORD not in stored
    assert "fel lösenord" not in stored


def test_code_step_needs_the_password_step_first(browser: Browser, case_worker: str) -> None:
    response = browser.get("/login/otp")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    response = browser.post("/login/otp", {"csrf_token": browser.token("/login"), "code": "123456"})
    assert response.status_code == 302
    assert not logged_in(browser)


@pytest.mark.parametrize(
    "code",
    ["000000x", "12345", "", "abcdef", "1" * 500],
    ids=["letters", "short", "empty", "alpha", "huge"],
)
def test_malformed_code_is_refused(browser: Browser, case_worker: str, code: str) -> None:
    assert browser.password_step("anna", PASSWORD).status_code == 302
    response = browser.code_step(code)
    assert response.status_code == 200
    assert "Engångskoden stämmer inte" in text(response)
    assert not logged_in(browser)


def test_expired_code_is_refused(browser: Browser, case_worker: str) -> None:
    browser.password_step("anna", PASSWORD)
    old = pyotp.TOTP(case_worker).at(time.time() - 90)
    response = browser.code_step(old)
    assert "Engångskoden stämmer inte" in text(response)
    assert not logged_in(browser)
    entry = audit("login", "denied")[-1]
    assert entry.actor == "user:anna"
    assert entry.detail["step"] == "totp"
    assert old not in json.dumps(entry.detail)


def test_code_of_the_previous_step_is_still_good(browser: Browser, case_worker: str) -> None:
    browser.password_step("anna", PASSWORD)
    response = browser.code_step(pyotp.TOTP(case_worker).at(time.time() - 30))
    assert response.status_code == 302
    assert logged_in(browser)


def test_replayed_code_is_refused(app: Flask, case_worker: str) -> None:
    first, second = Browser(app), Browser(app)
    code = pyotp.TOTP(case_worker).now()
    first.password_step("anna", PASSWORD)
    assert first.code_step(code).status_code == 302
    second.password_step("anna", PASSWORD)
    response = second.code_step(code)
    assert "Engångskoden stämmer inte" in text(response)
    assert not logged_in(second)
    assert logged_in(first)


def test_inactive_user_cannot_log_in(browser: Browser, case_worker: str) -> None:
    session = get_session()
    session.scalars(select(User).where(User.username == "anna")).one().active = False
    session.commit()
    response = browser.password_step("anna", PASSWORD)
    assert "Kontot är avstängt" in text(response)
    assert not logged_in(browser)


def test_deactivation_ends_an_open_session(browser: Browser, case_worker: str) -> None:
    browser.login("anna", case_worker)
    assert logged_in(browser)
    session = get_session()
    session.scalars(select(User).where(User.username == "anna")).one().active = False
    session.commit()
    assert not logged_in(browser)


def test_throttling_by_username_gives_429(app: Flask, browser: Browser, case_worker: str) -> None:
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert browser.password_step("anna", "fel lösenord helt och hållet").status_code == 200
    # Even the right password is refused now, from another address too.
    other = Browser(app)
    response = other.submit(
        "/login",
        "/login",
        {"username": "anna", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 429
    page = text(response)
    assert "För många misslyckade inloggningsförsök" in page
    assert re.search(r"Försök igen om 1[45] minuter", page)
    assert 800 < int(response.headers["Retry-After"]) <= 900
    reasons = [e.detail["reason"] for e in audit("login", "denied")]
    assert reasons == ["bad_password"] * 3 + ["throttled"]


def test_throttling_by_address_across_usernames(
    app: Flask, browser: Browser, case_worker: str
) -> None:
    app.config["LOGIN_MAX_FAILURES"] = 3
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 6
    # Colleagues behind the same NAT mistyping their own passwords do not lock anna out ...
    for name in ("a1", "a2", "a3"):
        browser.password_step(name, "vad som helst här")
    assert browser.password_step("anna", PASSWORD).status_code == 302  # on to the code step
    # ... but one address guessing across many accounts is throttled.
    for name in ("a4", "a5", "a6"):
        browser.password_step(name, "vad som helst här")
    assert browser.password_step("anna", PASSWORD).status_code == 429
    other = Browser(app)
    response = other.submit(
        "/login",
        "/login",
        {"username": "anna", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": "192.0.2.8"},
    )
    assert response.status_code == 302


def test_code_failures_count_towards_throttling(
    app: Flask, browser: Browser, case_worker: str
) -> None:
    app.config["LOGIN_MAX_FAILURES"] = 2
    browser.password_step("anna", PASSWORD)
    browser.code_step("000000")
    browser.code_step("111111")
    response = browser.code_step(pyotp.TOTP(case_worker).now())
    assert response.status_code == 429
    assert not logged_in(browser)
    attempts = get_session().scalars(select(LoginAttempt).where(LoginAttempt.username == "anna"))
    assert [a.success for a in attempts] == [False, False]


def test_old_failures_leave_the_window(app: Flask, browser: Browser, case_worker: str) -> None:
    app.config["LOGIN_MAX_FAILURES"] = 2
    session = get_session()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    for _ in range(2):
        session.add(
            LoginAttempt(username="anna", remote_addr="127.0.0.1", success=False, at=long_ago)
        )
    session.commit()
    assert browser.password_step("anna", PASSWORD).status_code == 302


def test_post_without_csrf_token_is_a_400_page(browser: Browser, case_worker: str) -> None:
    response = browser.post("/login", {"username": "anna", "password": PASSWORD})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = text(response)
    assert "Formuläret kunde inte skickas" in page
    assert "Traceback" not in page
    assert not logged_in(browser)


def test_post_with_a_forged_csrf_token_is_refused(browser: Browser, case_worker: str) -> None:
    browser.get("/login")
    response = browser.post(
        "/login", {"csrf_token": "forged", "username": "anna", "password": PASSWORD}
    )
    assert response.status_code == 400


def test_logout_needs_post_with_csrf(browser: Browser, case_worker: str) -> None:
    browser.login("anna", case_worker)
    assert browser.get("/logout").status_code == 405
    assert browser.post("/logout").status_code == 400
    assert logged_in(browser)
    response = browser.submit("/", "/logout", {})
    assert response.status_code == 302
    assert not logged_in(browser)
    assert [e.actor for e in audit("logout")] == ["user:anna"]


def test_apis_are_not_subject_to_csrf(browser: Browser) -> None:
    response = browser.post("/api/v1/nothing-here", data={"x": "y"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# --- success ----------------------------------------------------------------------------------


def test_login_with_password_and_code(browser: Browser, case_worker: str) -> None:
    response = browser.password_step("Anna ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login/otp")
    step2 = text(browser.get("/login/otp"))
    assert "Engångskod från din autentiseringsapp" in step2
    assert 'autocomplete="one-time-code"' in step2
    response = browser.code_step(pyotp.TOTP(case_worker).now())
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = browser.get("/")
    page = text(home)
    assert home.status_code == 200
    assert "Mina ärenden" in page
    assert "Handläggare" in page
    assert "EBB Öster" in page
    assert [e.actor for e in audit("login", "ok")] == ["user:anna"]


def test_login_starts_a_fresh_session(browser: Browser, case_worker: str) -> None:
    browser.get("/login")
    with browser.app.app_context(), browser.client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
        old_token = planted.get("csrf_token")
    browser.login("anna", case_worker)
    with browser.app.app_context(), browser.client.session_transaction() as current:
        assert "planted" not in current
        assert current.get("csrf_token") != old_token
        assert current.permanent


@pytest.mark.usefixtures("production_argon2")
def test_password_is_rehashed_when_parameters_change(browser: Browser, case_worker: str) -> None:
    session = get_session()
    user = session.scalars(select(User).where(User.username == "anna")).one()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    user.password_hash = weak.hash(PASSWORD)
    session.commit()
    assert browser.password_step("anna", PASSWORD).status_code == 302
    session.expire_all()
    assert not PasswordHasher().check_needs_rehash(user.password_hash)
    assert user.password_hash.startswith("$argon2id$")


def test_coordinator_start_page(browser: Browser, directory: Directory) -> None:
    secret = add_user("rekoanna", Role.COORDINATOR, hsa_id="SE2321000255-P001")
    browser.login("rekoanna", secret)
    page = text(browser.get("/"))
    assert "Inkorg" in page
    assert "Rehabkoordinator (REKO)" in page
    assert "Vårdcentralen Kryddgården" in page


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        (Role.DIRECTORY_ADMIN, "Katalog"),
        (Role.STATISTICIAN, "Statistik"),
        (Role.AUDITOR, "Granskningslogg"),
    ],
)
def test_start_page_per_role(
    browser: Browser, directory: Directory, role: Role, heading: str
) -> None:
    secret = add_user("person", role)
    browser.login("person", secret)
    page = text(browser.get("/"))
    assert f">{heading}<" in page
    assert "Mina ärenden" not in page


# --- redirects and roles ----------------------------------------------------------------------


@pytest.fixture
def stats_page(app: Flask) -> str:
    @role_required(Role.STATISTICIAN)
    def only_statisticians() -> str:
        return "statistik"

    app.add_url_rule("/prov/statistik", "only_statisticians", only_statisticians)
    return "/prov/statistik"


def test_anonymous_is_sent_to_login_and_back(
    browser: Browser, case_worker: str, stats_page: str
) -> None:
    secret = add_user("stina", Role.STATISTICIAN)
    response = browser.get(stats_page + "?ar=2023")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/prov/statistik?ar%3D2023"
    assert "Logga in för att se sidan." in text(browser.get(response.headers["Location"]))
    browser.password_step("stina", PASSWORD, next_url="/prov/statistik?ar=2023")
    response = browser.code_step(pyotp.TOTP(secret).now())
    assert response.headers["Location"] == "/prov/statistik?ar=2023"


def test_flask_login_required_redirects_the_same_way(app: Flask, browser: Browser) -> None:
    app.add_url_rule("/prov/inloggad", "logged_in_only", login_required(lambda: "ok"))
    response = browser.get("/prov/inloggad")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/prov/inloggad"


def test_wrong_role_gets_403_and_is_audited(
    browser: Browser, case_worker: str, stats_page: str
) -> None:
    browser.login("anna", case_worker)
    response = browser.get(stats_page)
    assert response.status_code == 403
    assert "Behörighet saknas" in text(response)
    denied = audit("web.access", "denied")
    assert [(e.actor, e.object_id) for e in denied] == [("user:anna", "only_statisticians")]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example",
        "\x00/",
    ],
)
def test_open_redirect_next_is_ignored(browser: Browser, case_worker: str, target: str) -> None:
    assert browser.password_step("anna", PASSWORD, next_url=target).status_code == 302
    response = browser.code_step(pyotp.TOTP(case_worker).now())
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_the_login_page_is_checked_too(browser: Browser, case_worker: str) -> None:
    page = text(browser.get("/login?next=https://evil.example/"))
    assert "evil" not in page


def test_idle_session_is_logged_out(app: Flask, browser: Browser, case_worker: str) -> None:
    browser.login("anna", case_worker)
    assert logged_in(browser)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60 + 5
    with app.app_context(), browser.client.session_transaction() as session:
        session["last_seen"] = time.time() - idle
    response = browser.get("/")
    assert response.status_code == 302
    page = text(browser.get(response.headers["Location"]))
    assert "Du har loggats ut efter en tids inaktivitet." in page
    assert not logged_in(browser)


def test_a_cookie_saved_before_logout_opens_nothing_after(
    app: Flask, browser: Browser, case_worker: str
) -> None:
    browser.login("anna", case_worker)
    saved = browser.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert saved is not None
    assert browser.submit("/", "/logout", {}).status_code == 302
    browser.client.set_cookie(saved.key, saved.value)
    assert not logged_in(browser)


def test_a_new_password_ends_every_open_session(
    app: Flask, browser: Browser, case_worker: str
) -> None:
    browser.login("anna", case_worker)
    assert logged_in(browser)
    session = get_session()
    anna = session.scalars(select(User).where(User.username == "anna")).one()
    set_password(session, anna, "ett helt nytt lösenord 2026", actor="cli:users password")
    session.commit()
    assert not logged_in(browser)


def test_a_session_ends_after_its_absolute_lifetime(
    app: Flask, browser: Browser, case_worker: str
) -> None:
    browser.login("anna", case_worker)
    too_long = app.config["SESSION_MAX_HOURS"] * 3600 + 5
    with app.app_context(), browser.client.session_transaction() as session:
        session["started"] = time.time() - too_long
        session["last_seen"] = time.time()  # active all along: still ended
    response = browser.get("/")
    assert response.status_code == 302
    page = text(browser.get(response.headers["Location"]))
    assert "Du har varit inloggad länge och har loggats ut." in page
    assert not logged_in(browser)


def test_activity_keeps_the_session(app: Flask, browser: Browser, case_worker: str) -> None:
    browser.login("anna", case_worker)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60 - 60
    with app.app_context(), browser.client.session_transaction() as session:
        session["last_seen"] = time.time() - idle
    assert logged_in(browser)
    assert logged_in(browser)


# --- cookies and headers ----------------------------------------------------------------------


def test_login_page_is_accessible_swedish(browser: Browser) -> None:
    page = text(browser.get("/login"))
    assert 'lang="sv"' in page
    assert '<label for="username">Användarnamn</label>' in page
    assert '<label for="password">Lösenord</label>' in page
    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page
    assert re.search(r'id="username"[^>]*autofocus', page)


def test_security_headers_on_login_page(browser: Browser) -> None:
    response = browser.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def _session_cookie(response: Any) -> str:
    cookies = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("gateway_session=")
    ]
    assert cookies, "no session cookie set"
    return str(cookies[0])


def test_session_cookie_flags(browser: Browser) -> None:
    cookie = _session_cookie(browser.get("/login"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test config turns COOKIE_SECURE off


@pytest.fixture
def secure_app(make_app: AppMaker) -> Flask:
    """An app with COOKIE_SECURE on, its writes rolled back like the `app` fixture's."""
    return make_app(COOKIE_SECURE=True)


def test_session_cookie_is_secure_when_configured(secure_app: Flask) -> None:
    response = secure_app.test_client().get("/login", base_url="https://localhost")
    assert "Secure" in _session_cookie(response)


def test_https_form_post_without_referer_is_accepted(secure_app: Flask) -> None:
    # Our Referrer-Policy is no-referrer, so browsers post forms without a Referer.
    client = secure_app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    found = TOKEN_RE.search(page)
    assert found
    response = client.post(
        "/login",
        base_url="https://localhost",
        data={"csrf_token": found.group(1), "username": "", "password": ""},
    )
    assert response.status_code == 200
    assert "Fel användarnamn eller lösenord." in response.get_data(as_text=True)
