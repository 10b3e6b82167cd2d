"""The `gateway vault` commands: key status and rotation (never printing key material)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.clitools import echo_json, fail, with_app


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        fail(f"the sealed columns cannot be read ({type(exc).__name__}); "
             "is the database migrated? (gateway db upgrade)")


@click.group("vault", help="Encryption keys at rest.")
def vault_group() -> None:
    pass


@vault_group.command("status", help="Show key ids and how many sealed values use each.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def status_command(as_json: bool) -> None:
    from gateway.db import database
    from gateway.vault.rotation import status
    from gateway.vault.service import get_vault

    with _database_errors():
        report = status(database(), get_vault())
    if as_json:
        echo_json(report)
        return
    click.echo(f"keys file: {report['keys_file']}")
    click.echo("keyed-hash key: present")
    for key in report["keys"]:
        mark = " (active)" if key["active"] else ""
        click.echo(f"key {key['id']}{mark}, created {key['created']}: {key['envelopes']} envelopes")
    chain = report["audit_chain"]
    if chain is None:
        click.echo("audit chain keys: none yet (made at the next audit entry)")
    else:
        click.echo(f"audit chain keys: {', '.join(k['id'] for k in chain['keys'])} "
                   f"(active {chain['active']}; entries up to seq {chain['legacy_until']} "
                   "are from before keying)")
    for kid, count in report["unknown_keys"].items():
        click.echo(f"UNKNOWN key {kid}: {count} envelopes cannot be opened")
    for column in report["columns"]:
        if column["not_sealed"] or column["unreadable"]:
            click.echo(
                f"{column['column']}: {column['not_sealed']} not sealed, "
                f"{column['unreadable']} unreadable"
            )


@vault_group.command(
    "rotate",
    help="Add a new active key-encryption key and re-wrap every sealed value's data key under it.",
)
@click.option("--retire-old", is_flag=True, help="Then remove keys no sealed value uses any more.")
@click.option(
    "--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
    help="Seconds to let transactions begun before the switch finish before retiring.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_app
def rotate_command(retire_old: bool, grace: float, batch_size: int, as_json: bool) -> None:
    from gateway.db import database
    from gateway.vault.rotation import rotate
    from gateway.vault.service import get_vault

    with _database_errors():
        report = rotate(
            database(), get_vault(), retire_old=retire_old, grace_seconds=grace,
            batch_size=batch_size,
        )
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"new active key: {report.new_key}")
        for tally in report.columns:
            click.echo(
                f"{tally.column}: {tally.rewrapped} re-wrapped, {tally.changed_meanwhile} sealed "
                f"anew meanwhile, {tally.unreadable} unreadable"
            )
        if retire_old:
            click.echo(f"retired: {', '.join(report.retired) or 'none'}")
            if report.kept:
                click.echo(f"kept (still in use): {', '.join(report.kept)}")
    if report.unreadable:
        fail(f"{report.unreadable} sealed values could not be re-wrapped; "
             "see `gateway vault status`")
