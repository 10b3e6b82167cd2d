"""`gateway federation list [--json]` and `show ID [--xml]` (DESIGN 7.4): envelopes in and out,
without their content (only `show --xml` prints the exact bytes)."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import select

from gateway.clitools import echo_json, fail, with_app
from gateway.db import get_session
from gateway.federation.models import FederationEnvelope
from gateway.federation.outgoing import envelope_bytes


@click.group("federation", help="SDK envelopes exchanged with peer gateways.")
def federation_group() -> None:
    pass


def envelope_json(row: FederationEnvelope) -> dict[str, Any]:
    """One envelope as DESIGN 7.4 lists it."""
    return {
        "id": row.xhe_id,
        "direction": row.direction,
        "kind": row.kind,
        "peer": row.peer,
        "message_id": row.message_id,
        "status": row.status,
        "receipt": row.receipt,
        "attempts": row.attempts,
        "created": row.created.isoformat(),
    }


@federation_group.command("list", help="One line per envelope in or out, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@with_app
def list_command(as_json: bool) -> None:
    rows = get_session().scalars(
        select(FederationEnvelope).order_by(FederationEnvelope.created, FederationEnvelope.key)
    ).all()
    if as_json:
        echo_json([envelope_json(row) for row in rows])
        return
    for row in rows:
        code = row.receipt["code"] if row.receipt else "-"
        click.echo(
            f"{row.created:%Y-%m-%d %H:%M:%S} {row.direction:<3} {row.kind:<7} {row.xhe_id} "
            f"{row.peer or '-'} {row.status} receipt={code} attempts={row.attempts}"
        )


@federation_group.command("show", help="One envelope; --xml prints exactly the bytes.")
@click.argument("envelope_id")
@click.option("--xml", "as_xml", is_flag=True, help="The envelope's bytes as sent or received.")
@with_app
def show_command(envelope_id: str, as_xml: bool) -> None:
    rows = get_session().scalars(
        select(FederationEnvelope).where(FederationEnvelope.xhe_id == envelope_id.strip())
    ).all()
    if not rows:
        fail(f"no envelope {envelope_id}")
        return
    if as_xml:
        sys.stdout.buffer.write(envelope_bytes(rows[0]))
        sys.stdout.buffer.flush()
        return
    echo_json(envelope_json(rows[0]) if len(rows) == 1 else [envelope_json(r) for r in rows])
