"""`gateway demo` and `gateway serve`."""

import click


@click.command("demo", help="Set up a demo instance and run web and worker on loopback.")
def demo_command() -> None:
    raise click.ClickException("not yet")


@click.command("serve", help="Run the web process.")
def serve_command() -> None:
    raise click.ClickException("not yet")
