"""The console script and `gateway demo`, run as a new user would."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

COMMANDS = [
    "demo",
    "serve",
    "worker",
    "smtp",
    "db",
    "directory",
    "clients",
    "users",
    "pki",
    "stats",
    "audit",
    "ap",
    "federation",
]


def gateway(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def clean_env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_INSTANCE_PATH"] = str(instance)
    return env


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = gateway("--help", env=clean_env(tmp_path))
    assert result.returncode == 0
    listed = {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    assert set(COMMANDS) <= listed


def test_demo_setup_prepares_a_usable_instance(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = clean_env(instance)
    first = gateway("demo", "--setup-only", env=env)
    assert first.returncode == 0, first.stderr
    logins = json.loads((instance / "demo-logins.json").read_text())
    assert {"ebb.oster", "reko.anna", "katalog", "statistik", "granskare"} <= set(logins["users"])
    assert (instance / "pki" / "ca.pem").exists()
    assert (instance / "pki" / "reko" / "SE2321000255-P001.p12").exists()
    assert oct((instance / "demo-logins.json").stat().st_mode & 0o777) == "0o600"
    # The printed logins really work: the password of each user is in the output.
    for login in logins["users"].values():
        assert login["password"] in first.stdout
    # Running it again keeps the users, the client and the PKI.
    second = gateway("demo", "--setup-only", env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads((instance / "demo-logins.json").read_text()) == logins
    assert gateway("directory", "check", env=env).returncode == 0
    assert gateway("audit", "verify", env=env).returncode == 0
    # The region's gateway beside it (DESIGN 7), on the same development CA.
    region = instance / "region"
    assert (region / "demo-logins.json").exists()
    assert (region / "pki" / "ca.pem").read_bytes() == (instance / "pki" / "ca.pem").read_bytes()
    assert "region's gateway" in first.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_port_pair() -> int:
    """Return a port p such that p and p + 1 are both free now."""
    for _ in range(50):
        port = _free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free pair of ports")


def _collect(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


@pytest.mark.slow
def test_demo_runs_web_and_worker_until_stopped(tmp_path: Path) -> None:
    port = _free_port_pair()  # and the region's gateway on the next one
    smtp_port = _free_port_pair()
    ap_port = _free_port_pair()
    env = clean_env(tmp_path / "instance")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "demo",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
            "--ap-port",
            str(ap_port),
        ],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process, lines), daemon=True)
    reader.start()
    try:
        # The demo prints its banner once the web process answers.
        deadline = time.monotonic() + 300  # two gateways to set up on a busy machine
        while time.monotonic() < deadline and not any("Gateway demo" in line for line in lines):
            assert process.poll() is None, "".join(lines)
            time.sleep(0.3)
        assert any(f"http://127.0.0.1:{port}/" in line for line in lines), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert "Logga in" in response.read().decode()
        # The SMTP listener answers and demands STARTTLS before anything else.
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.ehlo()
            assert smtp.has_extn("starttls")
            code, _ = smtp.mail("test@example.org")
            assert code == 530
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    output = "".join(lines)
    assert "password" in output
    assert "Traceback" not in output
