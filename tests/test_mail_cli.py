"""`gateway smtp` as a process: the listener on its port, and the --sink the demo points at."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

from gateway.mail.sink import MailSink
from signing.devpki import PkiLayout
from tests.support.pki import install_pki

STARTUP_SECONDS = 60


@contextmanager
def gateway_smtp(env: dict[str, str], log: Path, *args: str) -> Iterator[tuple[int, Path]]:
    """Run `gateway smtp ARGS --port 0`; yield the port it printed and its output file."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gateway", "smtp", "--port", "0", *args],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield _port(process, log), log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()


def _port(process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(r" on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"gateway smtp did not start: {log.read_text()}")


def test_the_sink_prints_and_keeps_each_mail(instance: Path, tmp_path: Path) -> None:
    env = {"GATEWAY_INSTANCE_PATH": str(instance), "GATEWAY_SECRET_KEY": "test-secret-key",
           "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite'}"}
    with gateway_smtp(env, tmp_path / "sink.log", "--sink") as (port, log):
        message = EmailMessage()
        message["From"] = "gateway@localhost"
        message["To"] = "reko@example.org"
        message["Subject"] = "Ny hälsoförfrågan väntar"
        message.set_content("Logga in: http://localhost/inkorg")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.send_message(message)
        deadline = time.monotonic() + 10
        while "[sink]" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    output = log.read_text()
    assert "[sink] Ny hälsoförfrågan väntar  ->  reko@example.org" in output
    kept = list((instance / "mail-sink").glob("*.eml"))
    assert len(kept) == 1
    assert b"Logga in: http://localhost/inkorg" in kept[0].read_bytes()


def test_a_restarted_sink_keeps_the_mail_it_kept_before(tmp_path: Path) -> None:
    store = tmp_path / "mail-sink"
    for subject in ("Kvitto 1", "Kvitto 2"):
        with MailSink(store_dir=store) as sink:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = (
                "gateway@localhost", "reko@example.org", subject
            )
            message.set_content(subject)
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
                smtp.send_message(message)
    kept = sorted(store.glob("*.eml"))
    assert len(kept) == 2
    assert [b"Subject: Kvitto 1" in f.read_bytes() for f in kept].count(True) == 1
    assert [b"Subject: Kvitto 2" in f.read_bytes() for f in kept].count(True) == 1


def test_the_listener_process_offers_starttls_then_auth_and_stops_on_sigterm(
    committing_app: Flask, instance: Path, tmp_path: Path, pki_template: Path
) -> None:
    install_pki(instance, pki_template)
    env = {"GATEWAY_INSTANCE_PATH": str(instance), "GATEWAY_SECRET_KEY": "test-secret-key",
           "GATEWAY_DATABASE_URL": committing_app.config["DATABASE_URL"]}
    context = ssl.create_default_context(cafile=str(PkiLayout.for_instance(instance).ca_cert))
    with gateway_smtp(env, tmp_path / "smtp.log") as (port, _log):
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
        with smtp:
            smtp.ehlo()
            assert "starttls" in smtp.esmtp_features
            assert "auth" not in smtp.esmtp_features
            smtp.starttls(context=context)
            smtp.ehlo()
            assert smtp.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
            assert smtp.esmtp_features["size"] == str(30 * 1024 * 1024)
