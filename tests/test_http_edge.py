"""The HTTP edge: problem+json for APIs, Swedish pages for people, health and readiness."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask

from gateway import create_app
from signing.certificates import create_ca, make_crl
from tests.conftest import AppMaker, test_config
from tests.support.pdfs import TestPki
from tests.support.servers import ServerProcess, free_port, gateway_env


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_each_check(client) -> None:
    response = client.get("/readyz")
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert response.status_code == (200 if body["status"] == "ok" else 503)


def test_readyz_details_are_for_the_operator_only(app, client) -> None:
    outside = client.get("/readyz", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert set(outside.get_json()["checks"]["database"]) == {"ok"}
    proxied = client.get("/readyz", headers={"X-Forwarded-For": "192.0.2.7"})
    assert set(proxied.get_json()["checks"]["database"]) == {"ok"}
    app.config["METRICS_TOKEN"] = "operatorns-token"
    with_token = client.get("/readyz", environ_overrides={"REMOTE_ADDR": "192.0.2.7"},
                            headers={"Authorization": "Bearer operatorns-token"})
    assert with_token.get_json()["checks"]["database"] == {"ok": True, "detail": "ok"}
    # The verdict is the same for everyone.
    assert outside.status_code == with_token.status_code


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


@pytest.mark.parametrize(("method", "path", "status", "words"), [
    pytest.param("GET", "/finns-inte", 404, "Sidan finns inte", id="404"),
    pytest.param("POST", "/hitta-reko", 405, "Sidan kan inte användas så", id="405"),
    pytest.param("GET", "/api/v1/nothing-here", 404, "Adressen finns inte", id="api-404"),
])
def test_http_errors_are_explained_in_swedish(
    client, method: str, path: str, status: int, words: str
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert words in text
    # Neither werkzeug's English nor the raw code on a person's page.
    for english in ("The requested URL", "not allowed", "Not Found", "Method Not Allowed"):
        assert english not in text
    if not path.startswith("/api/"):
        assert f"HTTP_{status}" not in text


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


# --- what cannot work is said at once: /readyz and the web process's start ---------------------


def _region_root(folder: Path, *, with_crl: bool) -> dict[str, Any]:
    """A region's own CA in folder (its certificate, and its CRL when with_crl) as settings."""
    ca = create_ca(common_name="Region Skåne test-CA", organisation="Region Skåne")
    (folder / "region-ca.pem").write_bytes(ca.cert_pem())
    settings: dict[str, Any] = {"TRUST_ROOTS": [str(folder / "region-ca.pem")]}
    if with_crl:
        (folder / "region-ca.crl").write_bytes(make_crl(ca).public_bytes(Encoding.PEM))
        settings["CRLS"] = [str(folder / "region-ca.crl")]
    return settings


def test_readyz_names_a_trusted_root_without_revocation_source(
    make_app: AppMaker, installed_pki: TestPki, tmp_path: Path
) -> None:
    app = make_app(**_region_root(tmp_path, with_crl=False))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    trust = response.get_json()["checks"]["trust"]
    assert trust["ok"] is False
    assert "without revocation source" in trust["detail"]
    assert "Region Skåne test-CA" in trust["detail"]


def test_readyz_accepts_a_custom_root_with_its_crl(
    make_app: AppMaker, installed_pki: TestPki, tmp_path: Path
) -> None:
    app = make_app(**_region_root(tmp_path, with_crl=True))
    body = app.test_client().get("/readyz").get_json()
    assert body["checks"]["trust"] == {"ok": True, "detail": "1 trust roots, 1 CRLs"}
    assert body["checks"]["receipts"]["ok"] is True


def test_readyz_says_the_receipt_key_is_missing(make_app: AppMaker) -> None:
    body = make_app().test_client().get("/readyz").get_json()
    receipts = body["checks"]["receipts"]
    assert receipts["ok"] is False
    assert "RECEIPT_KEY_MISSING" in receipts["detail"] and "0203:skane.se" in receipts["detail"]


def test_gateway_serve_logs_what_cannot_work_at_start(
    migrated_url: str, instance: Path, tmp_path: Path
) -> None:
    # No development PKI in the instance: no receipt key; a region's root and no CRL.
    roots = _region_root(tmp_path, with_crl=False)["TRUST_ROOTS"]
    port = free_port()
    env = gateway_env(instance, migrated_url, TRUST_ROOTS=":".join(roots))
    with ServerProcess.gateway("serve", "--port", str(port), "--workers", "1", env=env,
                               log=tmp_path / "serve.log") as web:
        web.wait_http(f"http://127.0.0.1:{port}/healthz")
        output = web.output
    lines = output.splitlines()
    assert any("not ready: receipts" in line and "RECEIPT_KEY_MISSING" in line
               for line in lines), output
    assert any("not ready: trust" in line and "Region Skåne test-CA" in line
               for line in lines), output
