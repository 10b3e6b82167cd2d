"""The `gateway clients` commands: add, list and revoke API clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gateway.auth import clients as service
from gateway.auth.models import ApiClient
from gateway.clitools import echo_json, fail, with_app
from gateway.db import database
from gateway.errors import GatewayError

# What an operator can do about a refusal that only the command line knows how to fix.
_HINTS = {
    "ORGANISATION_NOT_FOUND": "give --organisation-name NAME to create it",
    "ADDRESS_NOT_FOUND": "give --create-address to create it under the client's organisation",
}


def _refuse(exc: GatewayError) -> None:
    hint = _HINTS.get(exc.code)
    fail(f"{exc}" + (f"\n  hint: {hint}" if hint else ""), code=2)


def _describe(client: ApiClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "organisation": client.organisation_id,
        "functional_addresses": sorted(a.address for a in client.functional_addresses),
        "scopes": service.client_scopes(client),
        "private_key_jwt": client.jwks is not None,
        "active": client.active,
        "created_at": client.created_at.isoformat(timespec="seconds"),
    }


def _read_jwks(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--jwks {path}: {exc}", code=2)
        return None


@click.group("clients", help="API clients (OAuth2 client credentials).")
def clients_group() -> None:
    pass


@clients_group.command("add", help="Create an API client and print its secret (shown only once).")
@click.option("--organisation", "organisation_id", required=True,
              help="SDK organisation id, e.g. 0203:malmo.se or 0007:2120001124.")
@click.option("--organisation-name",
              help="Create the organisation with this name if it is not in the directory yet.")
@click.option("--functional-address", "addresses", required=True, multiple=True,
              help="A functional address of the organisation (repeatable).")
@click.option("--create-address", is_flag=True,
              help="Create functional addresses that do not exist yet, under the organisation.")
@click.option("--scope", "scopes", multiple=True,
              help="A scope (repeatable): the four urn:sdk.api scopes (the default) and "
                   "urn:kryddgarden:stats (the response statistics over /api/v1/stats).")
@click.option("--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False),
              help="The client's public keys (a JWKS JSON file) for private_key_jwt; "
                   "private key material is refused.")
@click.option("--json", "as_json", is_flag=True,
              help='Print only {"client_id": ..., "client_secret": ...}.')
@with_app
def add_command(
    organisation_id: str, organisation_name: str | None, addresses: tuple[str, ...],
    create_address: bool, scopes: tuple[str, ...], jwks_file: str | None, as_json: bool,
) -> None:
    actor = "cli:clients add"
    try:
        with database().transaction() as session:
            organisation = service.find_organisation(
                session, organisation_id, create_with_name=organisation_name, actor=actor
            )
            found = service.find_addresses(
                session, organisation, addresses, create=create_address, actor=actor
            )
            client, secret = service.create_client(
                session, organisation=organisation, functional_addresses=found, scopes=scopes,
                jwks=_read_jwks(jwks_file), actor=actor,
            )
    except GatewayError as exc:
        _refuse(exc)
        return
    if as_json:
        echo_json({"client_id": client.client_id, "client_secret": secret})
        return
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"organisation:  {client.organisation_id}")
    click.echo(f"addresses:     {', '.join(a.address for a in client.functional_addresses)}")
    click.echo(f"scopes:        {' '.join(service.client_scopes(client))}")
    click.echo("The secret is shown only now; only a hash of it is stored.")


@clients_group.command("list", help="List API clients (never their secrets).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@with_app
def list_command(as_json: bool) -> None:
    with database().transaction() as session:
        rows = [_describe(c) for c in service.list_clients(session)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no API clients")
        return
    for row in rows:
        status = "active" if row["active"] else "revoked"
        click.echo(f"{row['client_id']}  {row['organisation']}  {status}  "
                   f"created {row['created_at']}")
        click.echo(f"    addresses: {', '.join(row['functional_addresses'])}")
        click.echo(f"    scopes:    {' '.join(row['scopes'])}")


@clients_group.command("revoke", help="Deactivate an API client; its tokens stop working at once.")
@click.argument("client_id")
@with_app
def revoke_command(client_id: str) -> None:
    try:
        with database().transaction() as session:
            client, changed = service.revoke_client(session, client_id, actor="cli:clients revoke")
    except GatewayError as exc:
        _refuse(exc)
        return
    if changed:
        click.echo(f"revoked {client.client_id}")
    else:
        click.echo(f"{client.client_id} was already revoked")
