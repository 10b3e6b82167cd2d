"""The deployment, smoke-tested: gunicorn with deploy/gunicorn.conf.py behind Debian's nginx with
deploy/nginx/gateway.conf (paths and ports substituted, on loopback, the development PKI's
certificates), one inquiry walked through over TLS, the security headers, the body limit,
SITHS-style certificate login, and mutual TLS in front of the federation access point."""

from __future__ import annotations

import http.client
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from gateway import create_app
from gateway.auth.clients import create_client
from gateway.auth.models import Role
from gateway.auth.users import create_user
from gateway.db import database, make_engine
from gateway.migrate import upgrade
from signing.certificates import issue_person_certificate, load_ca
from signing.devpki import PkiLayout
from tests.conftest import test_config
from tests.support.deploy import DEPLOY, require_tools
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan
from tests.support.intake import load_directory
from tests.support.pki import install_pki
from tests.support.servers import ServerProcess, free_port, gateway_env

pytestmark = pytest.mark.slow

HSA_ID = "SE2321000255-S001"
HSA_HEADER = "X-Client-Hsa-Id"
PROXY_SECRET = "0123456789abcdef" * 4
PASSWORD = "ett långt lösenord för stina"
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Each once on every response: nginx sets them and hides the app's copies.
NGINX_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
                 "Referrer-Policy")


@dataclass(frozen=True)
class Site:
    """The running pair: nginx's HTTPS and HTTP ports, the CA to trust, the credentials."""

    https: int
    http: int
    folder: Path
    client_id: str
    client_secret: str

    @property
    def base(self) -> str:
        return f"https://localhost:{self.https}"

    @property
    def ca(self) -> str:
        return str(self.folder / "ca.pem")

    def cert(self, name: str) -> tuple[str, str]:
        return str(self.folder / f"{name}.pem"), str(self.folder / f"{name}.key")

    def session(self, cert: str | None = None) -> requests.Session:
        """A client trusting only the development CA, presenting the named certificate."""
        http = requests.Session()
        # Not REQUESTS_CA_BUNDLE and the like from the environment: they override `verify`.
        http.trust_env = False
        http.verify = self.ca
        if cert:
            http.cert = self.cert(cert)
        return http


# --- building the site ------------------------------------------------------------------------


def prepare_gateway(instance: Path, url: str, pki: Path) -> tuple[str, str]:
    """Migrate, install a PKI, the demo directory, an API client and a user with an HSA-id."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    install_pki(instance, pki)
    app = create_app(test_config(instance, url))
    with app.app_context(), database(app).transaction() as session:
        load_directory(session)
        client, secret = create_client(
            session, organisation=MALMO, functional_addresses=[EBB_OSTER], actor="cli:test"
        )
        create_user(session, username="stina", role=Role.STATISTICIAN, password=PASSWORD,
                    hsa_id=HSA_ID)
    database(app).engine.dispose()
    return client.client_id, secret


def write_pem(folder: Path, name: str, cert: bytes, key: bytes) -> None:
    (folder / f"{name}.pem").write_bytes(cert)
    (folder / f"{name}.key").write_bytes(key)


def copy_certificates(instance: Path, folder: Path) -> None:
    """The server's TLS certificate, the CA, the access point's client certificate (an
    organisation's function certificate) and a SITHS-style card certificate for Stina."""
    layout = PkiLayout.for_instance(instance)
    shutil.copy(layout.ca_cert, folder / "ca.pem")
    shutil.copy(layout.smtp_cert, folder / "server.pem")
    shutil.copy(layout.smtp_key, folder / "server.key")
    shutil.copy(layout.org_cert("0203:skane.se"), folder / "ap-client.pem")
    shutil.copy(layout.org_key("0203:skane.se"), folder / "ap-client.key")
    card = issue_person_certificate(
        load_ca(layout.ca_cert, layout.ca_key), hsa_id=HSA_ID, name="Stina Statistiker",
        organisation="Region Skåne",
    )
    key = card.key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_pem(folder, "card", card.cert_pem(), key)


def site_config(folder: Path, https: int, http_port: int, web: int, ap: int) -> str:
    """deploy/nginx/gateway.conf with this test's files, ports and host names."""
    text = (DEPLOY / "nginx" / "gateway.conf").read_text()
    text = "\n".join(line for line in text.splitlines() if "listen [::]" not in line)
    text = text.replace("listen 443 ", f"listen 127.0.0.1:{https} ")
    text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
    replacements = {
        "ap.gateway.example.org": "ap.localhost",
        "gateway.example.org": "localhost",
        "http://127.0.0.1:8000": f"http://127.0.0.1:{web}",
        "https://127.0.0.1:8443": f"https://127.0.0.1:{ap}",
        "/etc/kryddgarden/nginx/": f"{folder}/",
        "/etc/kryddgarden/trust/siths-client-ca.pem": f"{folder}/ca.pem",
        "/etc/kryddgarden/trust/federation-ca.pem": f"{folder}/ca.pem",
        "/etc/kryddgarden/tls/": f"{folder}/",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    # A path added to the site must be added above, or this test would test something else.
    assert "/etc/kryddgarden" not in text.replace("# ssl_crl /etc/kryddgarden", "")
    return text


def write_nginx(folder: Path, ports: tuple[int, int, int, int]) -> Path:
    https, http_port, web, ap = ports
    (folder / "site.conf").write_text(site_config(folder, https, http_port, web, ap))
    for snippet in ("tls.conf", "security-headers.conf"):
        text = (DEPLOY / "nginx" / snippet).read_text()
        (folder / snippet).write_text(text.replace("/etc/kryddgarden/tls/", f"{folder}/"))
    (folder / "proxy-secret.conf").write_text(
        f'proxy_set_header X-Gateway-Proxy-Secret "{PROXY_SECRET}";\n'
    )
    (folder / "tmp").mkdir()
    main = folder / "nginx.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    include {folder}/site.conf;
}}
""")
    return main


def as_unprivileged(folder: Path) -> dict[str, object]:
    """Popen options that run nginx's master as `nobody` when the tests run as root."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pki_template: Path) -> Iterator[Site]:
    require_tools("nginx")
    nginx = shutil.which("nginx") or "nginx"
    work = tmp_path_factory.mktemp("site")
    instance = work / "instance"
    instance.mkdir()
    url = f"sqlite:///{work / 'gateway.sqlite'}"
    client_id, client_secret = prepare_gateway(instance, url, pki_template)
    # Not under pytest's tmp_path (private to root): nginx runs as nobody.
    folder = Path(tempfile.mkdtemp(prefix="gw-nginx-"))
    copy_certificates(instance, folder)
    ports = (free_port(), free_port(), free_port(), free_port())
    main = write_nginx(folder, ports)
    options = as_unprivileged(folder)
    args = [nginx, "-p", str(folder), "-c", str(main), "-e", str(folder / "error.log")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False,
                             **options)  # type: ignore[call-overload]
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr

    env = gateway_env(instance, url, PROXY_HOPS="1", CERT_LOGIN_HEADER=HSA_HEADER,
                      CERT_LOGIN_SECRET=PROXY_SECRET)
    env["WEB_CONCURRENCY"] = "1"
    web = ServerProcess(
        [sys.executable, "-m", "gunicorn", "--config", str(DEPLOY / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{ports[2]}"],
        env, work / "gunicorn.log",
    )
    proxy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                             **options)  # type: ignore[call-overload]
    try:
        web.wait_http(f"http://127.0.0.1:{ports[2]}/healthz")
        tls = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        web.wait_http(f"https://localhost:{ports[0]}/healthz", context=tls)
        yield Site(ports[0], ports[1], folder, client_id, client_secret)
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        web.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- the tests ----------------------------------------------------------------------------------


def header_values(response: requests.Response, name: str) -> list[str]:
    return list(response.raw.headers.getlist(name))


def test_one_inquiry_walks_through_nginx_over_tls(site: Site) -> None:
    with site.session() as http:
        token = http.post(f"{site.base}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(site.client_id, site.client_secret))
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = http.post(f"{site.base}/api/v1/inquiries", data=halsoforfragan(),
                            headers={**bearer, "Content-Type": "application/xml"})
        assert created.status_code == 201, created.text
        status = http.get(f"{site.base}{created.headers['Location']}", headers=bearer)
        assert status.status_code == 200, status.text
        assert status.json()["status"]
        for name in NGINX_HEADERS:
            assert len(header_values(status, name)) == 1, name
        assert "max-age=31536000" in status.headers["Strict-Transport-Security"]
        assert status.headers["X-Frame-Options"] == "DENY"
        assert status.headers["X-Content-Type-Options"] == "nosniff"
        # The app's own policy passes through, once.
        assert len(header_values(status, "Content-Security-Policy")) == 1


def test_plain_http_is_redirected_to_https(site: Site) -> None:
    response = requests.get(f"http://localhost:{site.http}/login", allow_redirects=False,
                            timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://localhost")


def test_a_body_over_the_limit_is_refused_by_nginx_with_the_headers(site: Site) -> None:
    connection = http.client.HTTPSConnection(
        "localhost", site.https, timeout=30,
        context=ssl.create_default_context(cafile=site.ca),
    )
    connection.putrequest("POST", "/api/v1/inquiries")
    connection.putheader("Content-Type", "application/xml")
    connection.putheader("Content-Length", str(42 * 1024 * 1024 + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Strict-Transport-Security")
    connection.close()


def test_a_siths_card_logs_in_and_a_forged_header_does_not(site: Site) -> None:
    with site.session("card") as card:
        page = card.get(f"{site.base}/login").text
        assert "Logga in med SITHS-kort" in page
        token = TOKEN_RE.search(page)
        assert token
        login = card.post(f"{site.base}/login/certifikat", data={"csrf_token": token.group(1)},
                          allow_redirects=False)
        assert login.status_code == 302, login.text
        home = card.get(f"{site.base}/")
        assert home.status_code == 200
        assert "Inloggad som" in home.text

    with site.session() as forger:
        token = TOKEN_RE.search(forger.get(f"{site.base}/login").text)
        assert token
        forged = forger.post(
            f"{site.base}/login/certifikat", data={"csrf_token": token.group(1)},
            headers={HSA_HEADER: HSA_ID, "X-Gateway-Proxy-Secret": "a guess"},
            allow_redirects=False,
        )
        assert forged.status_code == 403
        assert forger.get(f"{site.base}/", allow_redirects=False).status_code == 302


def access_point_status(site: Site, cert: tuple[str, str] | None) -> int:
    """GET /ap/v1/envelopes under the access point's name (SNI and Host ap.localhost)."""
    context = ssl.create_default_context(cafile=site.ca)
    context.check_hostname = False  # the development certificate names localhost only
    if cert:
        context.load_cert_chain(*cert)
    with socket.create_connection(("127.0.0.1", site.https), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="ap.localhost") as tls:
        tls.sendall(b"GET /ap/v1/envelopes HTTP/1.1\r\nHost: ap.localhost\r\n"
                    b"Connection: close\r\n\r\n")
        status_line = tls.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_the_access_point_demands_a_client_certificate(site: Site) -> None:
    assert access_point_status(site, None) == 400
    # With a federation certificate nginx passes the request on; `gateway ap` is not running
    # in this test, so nginx answers 502 for it.
    assert access_point_status(site, site.cert("ap-client")) == 502
