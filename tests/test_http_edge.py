"""The HTTP edge: problem+json for APIs, Swedish pages for people, health and readiness."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from gateway import create_app
from tests.conftest import test_config


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_each_check(client) -> None:
    response = client.get("/readyz")
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert response.status_code == (200 if body["status"] == "ok" else 503)


def test_unknown_api_path_is_problem_json(client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail", "instance", "eventIssues"} <= set(body)
    assert body["status"] == 404
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["eventIssues"][0]["typeCode"] == "HTTP_404"


def test_wrong_method_names_the_allowed_ones(client) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]


def test_unknown_web_page_is_a_swedish_page(client) -> None:
    response = client.get("/finns-inte")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'lang="sv"' in page
    assert "IT-support" in page


def test_security_headers(client) -> None:
    response = client.get("/healthz")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_oversize_body_is_413_problem(migrated_url: str, instance: Path) -> None:
    app = create_app(test_config(instance, migrated_url, MAX_CONTENT_LENGTH=1024))
    response = app.test_client().post("/api/v1/anything", data=b"x" * 2048)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def _app_with_failing_route(url: str, instance: Path) -> Flask:
    app = create_app(test_config(instance, url))
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def explode() -> str:
        raise RuntimeError("secret 191212121212 in an internal message")

    app.add_url_rule("/api/v1/explode", "explode", explode)
    app.add_url_rule("/explode", "explode_web", explode)
    return app


@pytest.mark.parametrize("path", ["/api/v1/explode", "/explode"])
def test_unexpected_error_hides_details_and_gives_an_error_id(
    migrated_url: str, instance: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app_with_failing_route(migrated_url, instance)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get(path)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "191212121212" not in text
    assert "Traceback" not in text
    assert "Felid" in text or "felid" in text
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


def _shown_error_ids(text: str) -> set[str]:
    return set(re.findall(r"[Ff]elid\s+(?:<code[^>]*>)?([0-9a-f]{12})", text))


@pytest.mark.parametrize("path", ["/explode", "/finns-inte?personnummer=191212121212"])
def test_the_error_id_on_the_page_is_in_the_log_with_the_request_line(
    migrated_url: str, instance: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app_with_failing_route(migrated_url, instance)
    with caplog.at_level(logging.ERROR, logger="gateway.http"):
        response = app.test_client().get(path)
    shown = _shown_error_ids(response.get_data(as_text=True))
    assert len(shown) == 1, shown
    error_id = shown.pop()
    logged = [r.getMessage() for r in caplog.records
              if error_id in r.getMessage() and r.levelno >= logging.ERROR]
    assert logged, [r.getMessage() for r in caplog.records]
    assert f"GET {path.split('?')[0]}" in logged[0]
    assert all("191212121212" not in r.getMessage() for r in caplog.records)


def test_the_error_id_of_an_api_500_is_in_the_log(
    migrated_url: str, instance: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app_with_failing_route(migrated_url, instance)
    with caplog.at_level(logging.ERROR, logger="gateway.http"):
        body = app.test_client().get("/api/v1/explode").get_json()
    [error_id] = _shown_error_ids(body["detail"])
    assert any(error_id in r.getMessage() and "GET /api/v1/explode" in r.getMessage()
               for r in caplog.records)
