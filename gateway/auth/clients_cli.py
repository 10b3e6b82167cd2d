"""The `gateway clients` commands."""

import click


@click.group("clients", help="API clients (OAuth2 client credentials).")
def clients_group() -> None:
    pass
