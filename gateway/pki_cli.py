"""The `gateway pki` commands: the development PKI in the instance folder."""

import click


@click.group("pki", help="Development PKI.")
def pki_group() -> None:
    pass
