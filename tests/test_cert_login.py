"""Certificate login (SITHS style): nginx verifies the client certificate and passes its HSA-id;
the app believes that header only with the proxy's shared secret, finds the user by HSA-id, and
audits the login, which is then subject to roles and the idle timeout as any other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from gateway import create_app
from gateway.audit.models import AuditEntry
from gateway.auth.certlogin import PROXY_SECRET_HEADER
from gateway.auth.models import Role, User
from gateway.db import get_session
from gateway.errors import ConfigError
from tests.conftest import AppMaker, test_config
from tests.support.web import Browser, add_user

HEADER = "X-Client-Hsa-Id"
SECRET = "nginx-and-the-app-share-this-0123456789"
CERT_CONFIG = {"CERT_LOGIN_HEADER": HEADER, "CERT_LOGIN_SECRET": SECRET, "PROXY_HOPS": 1}
HSA_ID = "SE2321000255-S001"
UNKNOWN_HSA_ID = "SE2321000255-S999"


@pytest.fixture
def cert_app(make_app: AppMaker) -> Iterator[Flask]:
    application = make_app(**CERT_CONFIG)
    with application.app_context():
        yield application


@pytest.fixture
def statistician(cert_app: Flask) -> str:
    return add_user("stina", Role.STATISTICIAN, hsa_id=HSA_ID)


def proxied(hsa_id: str, secret: str | None = SECRET) -> dict[str, str]:
    """The headers nginx adds for a verified certificate (and its shared secret)."""
    headers = {HEADER: hsa_id}
    if secret is not None:
        headers[PROXY_SECRET_HEADER] = secret
    return headers


def certificate_login(browser: Browser, headers: dict[str, str]) -> object:
    return browser.submit("/login", "/login/certifikat", {}, headers=headers)


def logged_in(browser: Browser) -> bool:
    return browser.get("/").status_code == 200


def login_audit(outcome: str) -> list[AuditEntry]:
    session = get_session()
    session.expire_all()
    return list(session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "login", AuditEntry.outcome == outcome)
        .order_by(AuditEntry.seq)
    ))


def test_a_known_hsa_id_logs_in_and_is_audited(cert_app: Flask, statistician: str) -> None:
    browser = Browser(cert_app)
    assert "Logga in med SITHS-kort" in browser.get("/login").get_data(as_text=True)
    response = certificate_login(browser, proxied(HSA_ID))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert logged_in(browser)
    entry = login_audit("ok")[-1]
    assert entry.actor == "user:stina"
    assert entry.detail["method"] == "certificate"


def test_roles_still_apply(cert_app: Flask, statistician: str) -> None:
    browser = Browser(cert_app)
    certificate_login(browser, proxied(HSA_ID))
    assert browser.get("/katalog/").status_code == 403


def test_the_idle_timeout_still_applies(cert_app: Flask, statistician: str) -> None:
    browser = Browser(cert_app)
    certificate_login(browser, proxied(HSA_ID))
    assert logged_in(browser)
    idle = cert_app.config["SESSION_IDLE_MINUTES"] * 60 + 5
    with cert_app.app_context(), browser.client.session_transaction() as session:
        session["last_seen"] = time.time() - idle
    assert not logged_in(browser)


def test_an_unknown_hsa_id_is_refused_and_audited(cert_app: Flask, statistician: str) -> None:
    browser = Browser(cert_app)
    response = certificate_login(browser, proxied(UNKNOWN_HSA_ID))
    assert response.status_code == 403
    assert "Inget konto" in response.get_data(as_text=True)
    assert not logged_in(browser)
    assert login_audit("denied")[-1].detail["reason"] == "unknown_hsa_id"


def test_a_deactivated_user_is_refused(cert_app: Flask, statistician: str) -> None:
    session = get_session()
    session.scalars(select(User).where(User.username == "stina")).one().active = False
    session.commit()
    browser = Browser(cert_app)
    assert certificate_login(browser, proxied(HSA_ID)).status_code == 403
    assert not logged_in(browser)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [(None, "untrusted_proxy"), ("a-client-guessed-this", "untrusted_proxy")],
    ids=["no-secret", "wrong-secret"],
)
def test_the_header_from_an_untrusted_source_is_ignored(
    cert_app: Flask, statistician: str, secret: str | None, reason: str
) -> None:
    browser = Browser(cert_app)
    response = certificate_login(browser, proxied(HSA_ID, secret))
    assert response.status_code == 403
    assert not logged_in(browser)
    assert login_audit("denied")[-1].detail["reason"] == reason


def test_no_certificate_is_refused(cert_app: Flask, statistician: str) -> None:
    browser = Browser(cert_app)
    response = certificate_login(browser, {PROXY_SECRET_HEADER: SECRET})
    assert response.status_code == 403
    assert "certifikat" in response.get_data(as_text=True)
    assert login_audit("denied")[-1].detail["reason"] == "no_certificate"


def test_off_by_default(app: Flask) -> None:
    add_user("stina", Role.STATISTICIAN, hsa_id=HSA_ID)
    browser = Browser(app)
    assert "SITHS" not in browser.get("/login").get_data(as_text=True)
    assert certificate_login(browser, proxied(HSA_ID)).status_code == 404
    assert not logged_in(browser)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"CERT_LOGIN_HEADER": HEADER, "PROXY_HOPS": 1}, "GATEWAY_CERT_LOGIN_SECRET"),
        ({"CERT_LOGIN_HEADER": HEADER, "CERT_LOGIN_SECRET": "short", "PROXY_HOPS": 1},
         "GATEWAY_CERT_LOGIN_SECRET"),
        ({"CERT_LOGIN_HEADER": HEADER, "CERT_LOGIN_SECRET": SECRET}, "GATEWAY_PROXY_HOPS"),
    ],
    ids=["no-secret", "short-secret", "no-proxy"],
)
def test_half_configured_certificate_login_stops_the_app(
    migrated_url: str, instance: Path, settings: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        create_app(test_config(instance, migrated_url, **settings))
