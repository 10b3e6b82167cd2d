"""The `gateway worker` command."""

import click


@click.command("worker", help="Run the background worker.")
def worker_command() -> None:
    raise click.ClickException("not yet")
