"""The `gateway smtp` command: the SMTP intake listener, or (--sink) a local mail sink."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from gateway.clitools import app, configure_logging, fail, with_app
from gateway.mail.listener import DEFAULT_HOST, DEFAULT_PORT, ListenerError, SmtpListener
from gateway.mail.sink import MailSink, ReceivedMail

SINK_FOLDER = "mail-sink"

HELP = f"""Run the SMTP listener: hälsoförfrågningar by mail, through the same intake as the API.

Clients must STARTTLS (certificate from 'gateway pki init'), then AUTH with an API client's
client_id and client_secret, and send the form as an XML attachment to
halsoforfragan@<domain> (GATEWAY_SMTP_DOMAINS). Stop with Ctrl-C or SIGTERM.

With --sink it runs a local sink instead: it accepts every mail, delivers nothing, prints
each mail's subject and recipients and keeps it as a .eml file (default
<instance>/{SINK_FOLDER}/). Point GATEWAY_SMTP_RELAY at it to see the gateway's mail.
"""


def _wait_for_stop() -> None:
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show(mail: ReceivedMail) -> None:
    # The sink stands in for the outside world: printing what it got is its purpose.
    click.echo(f"[sink] {mail.subject}  ->  {', '.join(mail.rcpt_tos)}")


def _run_sink(host: str, port: int, store: Path) -> None:
    sink = MailSink(host, port, store_dir=store, on_message=_show)
    try:
        bound = sink.start()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__})")
        return
    click.echo(f"mail sink on {host}:{bound}; mail kept in {store}", err=True)
    try:
        _wait_for_stop()
    finally:
        sink.stop()


def _run_listener(host: str, port: int) -> None:
    try:
        listener = SmtpListener(app(), host, port)
    except ListenerError as exc:
        fail(str(exc))
        return
    try:
        bound = listener.start()
    except OSError as exc:
        listener.handler.shutdown()
        fail(f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__})")
        return
    domains = ", ".join(listener.handler.domains)
    click.echo(
        f"SMTP listener on {host}:{bound} (STARTTLS and AUTH required; domains: {domains})",
        err=True,
    )
    try:
        _wait_for_stop()
    finally:
        listener.stop()


@click.command("smtp", help=HELP)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option("--sink", is_flag=True, help="Run a local mail sink instead of the listener.")
@click.option(
    "--sink-dir", type=click.Path(file_okay=False, path_type=Path),
    help=f"Where the sink keeps mail (default <instance>/{SINK_FOLDER}).",
)
@with_app
def smtp_command(host: str, port: int, sink: bool, sink_dir: Path | None) -> None:
    configure_logging()
    if sink:
        _run_sink(host, port, sink_dir or Path(app().instance_path) / SINK_FOLDER)
    else:
        _run_listener(host, port)
