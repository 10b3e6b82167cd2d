"""The `gateway vault` commands."""

import click


@click.group("vault", help="Encryption keys at rest.")
def vault_group() -> None:
    pass
