"""The `gateway audit` commands."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.clitools import fail, with_app


@click.group("audit", help="The audit log.")
def audit_group() -> None:
    pass


@audit_group.command(
    "verify",
    help="Check the whole hash chain. Exits 0 when intact, 1 naming the first broken entry.",
)
@with_app
def verify_command() -> None:
    from gateway.audit.service import verify
    from gateway.db import database

    session = database().session()
    try:
        report = verify(session)
    except SQLAlchemyError as exc:
        fail(f"the audit log cannot be read ({type(exc).__name__}); "
             "is the database migrated? (gateway db upgrade)")
        return
    finally:
        session.close()
    if not report.ok:
        fail(report.describe())
    click.echo(report.describe())
