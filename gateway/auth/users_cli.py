"""The `gateway users` commands."""

import click


@click.group("users", help="Web users.")
def users_group() -> None:
    pass
