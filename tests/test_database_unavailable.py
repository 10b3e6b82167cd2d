"""The database out of reach: every endpoint answers 503 with Retry-After, in Swedish, never 500.

The app points at a PostgreSQL port where nothing listens (connection refused), which is what
every request sees while the server is stopped; the fault test (tests/test_fault_database.py)
stops a real server under load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from gateway import create_app
from tests.conftest import test_config
from tests.support.forms import halsoforfragan
from tests.support.intake import bearer
from tests.support.servers import free_port


@pytest.fixture
def unreachable_app(instance: Path) -> Flask:
    url = f"postgresql+psycopg://gateway@127.0.0.1:{free_port()}/gateway?connect_timeout=2"
    app = create_app(test_config(instance, url))
    # As in production: an unexpected exception is handled, not raised into the test.
    app.testing = False
    return app


def assert_unavailable_problem(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 503
    assert body["title"] == "Tjänsten är tillfälligt otillgänglig"
    assert "försök igen" in body["detail"].lower()
    assert body["eventIssues"][0]["typeCode"] == "DATABASE_UNAVAILABLE"
    # Never the driver's text (host names, ports, SQL).
    assert "psycopg" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/oauth/token", {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": "Basic Y2xpZW50OnNlY3JldA=="},
        }),
        ("post", "/api/v1/inquiries", {
            "data": halsoforfragan(), "content_type": "application/xml",
            "headers": bearer("a" * 43),
        }),
        ("get", "/api/v1/inquiries/0b0e7c8a-4f1d-4a53-9a49-0a0a0a0a0a0a",
         {"headers": bearer("a" * 43)}),
        ("get", "/v1/sdk/messages", {"headers": bearer("a" * 43)}),
        ("get", "/readyz", {}),
    ],
    ids=["oauth-token", "api-post", "api-get", "sdk-api", "readyz"],
)
def test_apis_answer_503_problem_with_retry_after(
    unreachable_app: Flask, method: str, path: str, kwargs: dict
) -> None:
    response = getattr(unreachable_app.test_client(), method)(path, **kwargs)
    assert_unavailable_problem(response)


def test_readyz_still_names_the_failing_check(unreachable_app: Flask) -> None:
    body = unreachable_app.test_client().get("/readyz").get_json()
    assert body["checks"]["database"]["ok"] is False


def test_a_logged_in_web_user_gets_the_swedish_error_page(unreachable_app: Flask) -> None:
    client = unreachable_app.test_client()
    # A session cookie of a logged-in user: loading that user needs the database.
    with client.session_transaction() as session:
        session["_user_id"] = "1.0"
        session["_fresh"] = True
    response = client.get("/")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'lang="sv"' in page
    assert "Tjänsten är tillfälligt otillgänglig" in page
    # The page itself must not need the database (the header shows no logged-in user).
    assert "Inloggad som" not in page


def test_healthz_needs_no_database(unreachable_app: Flask) -> None:
    response = unreachable_app.test_client().get("/healthz")
    assert response.status_code == 200
