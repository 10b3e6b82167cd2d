"""`gateway inquiries ...`: maintenance of the inquiries' derived data."""

from __future__ import annotations

import click

from gateway.clitools import echo_json, with_app
from gateway.db import database
from gateway.inquiries.personal import index_missing_names


@click.group("inquiries", help="Maintain the inquiries' derived data.")
def inquiries_group() -> None:
    pass


@inquiries_group.command(
    "index-names",
    help="Write the name search index of inquiries taken in before it existed (opens each "
         "stored form with the vault; run once after upgrading).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"indexed": N}.')
@with_app
def index_names_command(as_json: bool) -> None:
    with database().transaction() as session:
        count = index_missing_names(session)
    if as_json:
        echo_json({"indexed": count})
    else:
        click.echo(f"indexed the names of {count} inquiries")
