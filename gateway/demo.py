"""`gateway demo`: a whole gateway on loopback with demo data, users and sample inquiries."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import select

from gateway import create_app
from gateway.auth.clients import create_client
from gateway.auth.models import ApiClient, Role, User
from gateway.auth.users import create_user
from gateway.db import database, utcnow
from gateway.demo_inquiries import load_demo_inquiries
from gateway.demo_sips import load_demo_sips
from gateway.demo_years import load_demo_years
from gateway.directory.demo import load_demo_directory
from gateway.directory.models import Coordinator
from gateway.errors import ConfigError
from gateway.federation import demo as federation_demo
from gateway.migrate import upgrade
from gateway.stats.demo import load_demo_history, load_demo_sip_history
from gateway.vault.service import get_vault
from signing.devpki import DEMO_PASSPHRASE, Person, PkiLayout, init_pki

ACTOR = "cli:demo"
LOGINS_FILE = "demo-logins.json"
# The demo's SMTP listener; the sink that stands in for the mail relay listens one port up.
SMTP_PORT = 2525


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    display_name: str
    unit: str | None = None
    hsa_id: str | None = None


DEMO_USERS = (
    DemoUser("ebb.oster", Role.CASE_WORKER, "Sara Socialsekreterare", unit="EBB Öster"),
    DemoUser("ama", Role.CASE_WORKER, "Ali Arbetsmarknadssekreterare", unit="AMA"),
    DemoUser("reko.anna", Role.COORDINATOR, "Anna Rekosson", hsa_id="SE2321000255-P001"),
    DemoUser("katalog", Role.DIRECTORY_ADMIN, "Karin Katalogansvarig"),
    DemoUser("statistik", Role.STATISTICIAN, "Stig Statistiker"),
    DemoUser("granskare", Role.AUDITOR, "Greta Granskare"),
)
DEMO_CLIENT_ADDRESS = "sdk:ebb-oster:0203:malmo.se"


def _read_logins(path: Path) -> dict[str, Any]:
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    return {"users": {}, "clients": {}}


def _write_logins(path: Path, logins: dict[str, Any]) -> None:
    # The demo's own passwords: kept (0600) so a second run can print them again.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(logins, handle, ensure_ascii=False, indent=2)


def _ensure_users(flask_app: Flask, logins: dict[str, Any]) -> None:
    with database(flask_app).transaction() as session:
        for demo in DEMO_USERS:
            if session.scalar(select(User).where(User.username == demo.username)):
                continue
            password = secrets.token_urlsafe(12)
            _user, totp_secret = create_user(
                session,
                username=demo.username,
                role=demo.role,
                password=password,
                display_name=demo.display_name,
                unit=demo.unit,
                hsa_id=demo.hsa_id,
                actor=ACTOR,
            )
            logins["users"][demo.username] = {
                "password": password,
                "totp_secret": totp_secret,
                "role": demo.role.value,
            }


def _ensure_client(flask_app: Flask, logins: dict[str, Any]) -> None:
    known = logins["clients"].get(DEMO_CLIENT_ADDRESS)
    with database(flask_app).transaction() as session:
        if known and session.scalar(
            select(ApiClient).where(ApiClient.client_id == known["client_id"])
        ):
            return
        client, secret = create_client(
            session,
            organisation="0203:malmo.se",
            functional_addresses=[DEMO_CLIENT_ADDRESS],
            actor=ACTOR,
        )
        logins["clients"][DEMO_CLIENT_ADDRESS] = {
            "client_id": client.client_id,
            "client_secret": secret,
        }


def _ensure_pki(flask_app: Flask) -> None:
    with database(flask_app).transaction() as session:
        rekos = [
            Person(h, n) for h, n in session.execute(select(Coordinator.hsa_id, Coordinator.name))
        ]
    init_pki(
        PkiLayout.for_instance(flask_app.instance_path).root,
        passphrase=DEMO_PASSPHRASE,
        rekos=rekos,
        physicians=[Person("SE2321000255-L001", "Lena Läkarsson")],
    )


def set_up_demo(flask_app: Flask) -> dict[str, Any]:
    """Migrate, load the demo directory, history, PKI, users, an API client, the years of use
    and the samples (hälsoförfrågningar and SIP invitations); return the logins."""
    db = database(flask_app)
    upgrade(db.engine, vault=get_vault(flask_app))
    with db.transaction() as session:
        load_demo_directory(session, ACTOR)
    with db.transaction() as session:
        load_demo_history(session, ACTOR)
        load_demo_sip_history(session, ACTOR)
    _ensure_pki(flask_app)
    logins_path = Path(flask_app.instance_path) / LOGINS_FILE
    logins = _read_logins(logins_path)
    _ensure_users(flask_app, logins)
    _ensure_client(flask_app, logins)
    now = utcnow()
    load_demo_years(flask_app, now)
    load_demo_inquiries(flask_app, now)
    load_demo_sips(flask_app, now)
    _write_logins(logins_path, logins)
    return logins


def _print_logins(smtp_port: int, base_url: str, logins: dict[str, Any], instance: str) -> None:
    click.echo(f"\nKryddgården Gateway demo: {base_url}/")
    click.echo(f"instance folder: {instance}")
    click.echo(
        "\nweb logins (password, then the TOTP code from an authenticator app with the secret,"
    )
    click.echo("or: GATEWAY_INSTANCE_PATH=... gateway users otp --username NAME):")
    for name, login in logins["users"].items():
        click.echo(
            f"  {name:<11} {login['role']:<16} "
            f"password {login['password']}  totp {login['totp_secret']}"
        )
    for address, client in logins["clients"].items():
        click.echo(f"\nAPI client for {address}:")
        click.echo(f"  client_id {client['client_id']}\n  client_secret {client['client_secret']}")
        click.echo(
            "  token: curl -u CLIENT_ID:SECRET -d grant_type=client_credentials "
            f"{base_url}/oauth/token"
        )
    click.echo(
        f"\nREKO signing certificates: {instance}/pki/reko/*.p12 (passphrase {DEMO_PASSPHRASE!r})"
    )
    click.echo(
        f"SMTP intake: {smtp_port} (STARTTLS, AUTH with the API client); outgoing mail goes to "
        f"the sink on {smtp_port + 1} and is kept in {instance}/mail-sink/"
    )
    click.echo("health: /healthz  readiness: /readyz   stop with Ctrl-C\n")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(
                "the web process stopped while starting; see its output above"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - our loopback URL
                return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException(f"the web process did not answer at {url} within {seconds:.0f} s")


def _wait_until_listening(host: str, port: int, process: subprocess.Popen[bytes], what: str,
                          seconds: float = 90) -> None:
    """Wait until `process` accepts TCP connections on the port: the banner promises it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {what} stopped while starting; see its output above")
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException(f"the {what} did not listen on {port} within {seconds:.0f} s")


def _run_processes(
    env: dict[str, str], host: str, port: int, smtp_port: int,
    more: Sequence[tuple[list[str], dict[str, str]]] = (),
) -> None:
    base = [sys.executable, "-m", "gateway"]
    sink_port = smtp_port + 1
    commands = [
        ([*base, "serve", "--host", host, "--port", str(port)], env),
        ([*base, "worker"], env),
        ([*base, "smtp", "--host", host, "--port", str(smtp_port)], env),
        ([*base, "smtp", "--sink", "--host", host, "--port", str(sink_port)], env),
        *[([*base, *args], more_env) for args, more_env in more],
    ]
    processes = [
        subprocess.Popen(command, env=command_env)  # noqa: S603
        for command, command_env in commands
    ]
    web = processes[0]
    stop = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        _wait_until_up(f"http://{host}:{port}", web)
        # The banner names the SMTP intake too: it must answer when the banner says so.
        _wait_until_listening(host, smtp_port, processes[2], "SMTP listener")
        _print_logins(
            smtp_port,
            f"http://{host}:{port}",
            _read_logins(Path(env["GATEWAY_INSTANCE_PATH"]) / LOGINS_FILE),
            env["GATEWAY_INSTANCE_PATH"],
        )
        while not stop and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@click.command(
    "demo",
    help="Set up a demo instance (directory, PKI, users, API client, statistics history) and "
    "run web, worker, SMTP listener and a mail sink on loopback.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--smtp-port",
    default=SMTP_PORT,
    show_default=True,
    type=click.IntRange(1, 65534),
    help="SMTP listener port; the mail sink uses the next one.",
)
@click.option(
    "--setup-only", is_flag=True, help="Prepare the instance and print the logins; run nothing."
)
@click.option(
    "--single", is_flag=True,
    help="One gateway for every organisation, instead of the municipality's and the region's.",
)
@click.option(
    "--ap-port", default=8443, show_default=True, type=click.IntRange(1, 65534),
    help="The municipality's access point; the region's gateway uses the next port (and the "
    "web port after --port).",
)
def demo_command(
    host: str, port: int, smtp_port: int, setup_only: bool, single: bool, ap_port: int
) -> None:
    env = dict(os.environ)
    # Plain HTTP on loopback: a Secure-only cookie would never come back.
    env.setdefault("GATEWAY_COOKIE_SECURE", "false")
    env.setdefault("GATEWAY_BASE_URL", f"http://{host}:{port}")
    env.setdefault("GATEWAY_INSTANCE_PATH", str(Path("instance").resolve()))
    env.setdefault("GATEWAY_SMTP_RELAY", f"{host}:{smtp_port + 1}")
    if not single:
        env.setdefault("GATEWAY_RECEIPT_ORGANISATION", federation_demo.MUNICIPALITY)
    os.environ.update(env)
    try:
        flask_app = create_app()
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from None
    with flask_app.app_context():
        logins = set_up_demo(flask_app)
    more: list[tuple[list[str], dict[str, str]]] = []
    if not single:
        more = _set_up_region(flask_app, env, host, port, ap_port)
    database(flask_app).engine.dispose()
    if setup_only:
        _print_logins(smtp_port, env["GATEWAY_BASE_URL"], logins, flask_app.instance_path)
        return
    _run_processes(env, host, port, smtp_port, more)


def _set_up_region(
    municipality: Flask, env: dict[str, str], host: str, port: int, ap_port: int
) -> list[tuple[list[str], dict[str, str]]]:
    """Set up the region's gateway beside the municipality's, link the two (DESIGN 7) and
    return the processes both need besides the municipality's web, worker and SMTP."""
    region_env = federation_demo.region_env(env, host, port)
    federation_demo.share_ca(municipality, Path(region_env["GATEWAY_INSTANCE_PATH"]))
    region = federation_demo.region_app(region_env)
    with region.app_context():
        set_up_demo(region)
    federation_demo.link(municipality, federation_demo.REGION, region.instance_path,
                         federation_demo.ap_endpoint(host, ap_port + 1))
    federation_demo.link(region, federation_demo.MUNICIPALITY, municipality.instance_path,
                         federation_demo.ap_endpoint(host, ap_port))
    database(region).engine.dispose()
    click.echo(f"region's gateway (Region Skåne): http://{host}:{port + 1}/ "
               f"(instance {region.instance_path}, logins in its demo-logins.json)")
    return [
        (["ap", "--host", host, "--port", str(ap_port)], env),
        (["serve", "--host", host, "--port", str(port + 1)], region_env),
        (["worker"], region_env),
        (["ap", "--host", host, "--port", str(ap_port + 1)], region_env),
    ]
