"""The `gateway` console script: one group, each domain adding its own subcommands."""

from __future__ import annotations

import click

from gateway import db as dbmod
from gateway import logs, migrate
from gateway.clitools import app, run_cli, with_app


@click.group(help="Kryddgården Gateway: SDK-style secure form exchange (hälsoförfrågan).")
def cli() -> None:
    pass


@cli.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Create or migrate the database to the newest schema.")
@with_app
def db_upgrade() -> None:
    from gateway.vault.service import get_vault

    database = dbmod.database(app())
    migrate.upgrade(database.engine, vault=get_vault(app()))
    click.echo(f"database at revision {migrate.current_revision(database.engine)}")


def _register() -> None:
    from gateway.audit.cli import audit_group
    from gateway.auth.cli import clients_group, users_group
    from gateway.demo import demo_command
    from gateway.jobs.cli import worker_command
    from gateway.pki_cli import pki_group
    from gateway.serve import serve_command
    from gateway.vault.cli import vault_group

    for command in (
        demo_command, serve_command, worker_command, users_group, clients_group,
        pki_group, audit_group, vault_group,
    ):
        cli.add_command(command)
    from gateway.mail.cli import smtp_command

    cli.add_command(smtp_command)
    from gateway.directory.cli import directory_group

    cli.add_command(directory_group)
    from gateway.stats.cli import stats_group

    cli.add_command(stats_group)
    from gateway.inquiries.cli import inquiries_group
    from gateway.inquiries.retention import retention_group

    cli.add_command(inquiries_group)

    cli.add_command(retention_group)
    from gateway.federation.ap import ap_command
    from gateway.federation.cli import federation_group

    cli.add_command(ap_command)
    cli.add_command(federation_group)


def main() -> None:
    # Every process (web, worker, SMTP) logs the same way: JSON lines on stderr.
    logs.configure()
    _register()
    run_cli(cli)
