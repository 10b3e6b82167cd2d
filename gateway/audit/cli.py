"""The `gateway audit` commands."""

import click


@click.group("audit", help="The audit log.")
def audit_group() -> None:
    pass
