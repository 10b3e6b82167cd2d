"""Sealed columns: each domain declares its encrypted columns with `sealed_column()`, next to the
columns themselves; rotation finds them in the metadata, so it walks exactly what is sealed and
the vault needs to know no domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData
from sqlalchemy.orm import MappedColumn, mapped_column

SEALED = "vault_sealed"


def sealed_column(**options: Any) -> MappedColumn[Any]:
    """Return a binary column that holds vault envelopes (nullable as its `Mapped` type says).

    Seal its values with the context "<table>.<column>:<primary key>".
    """
    return mapped_column(LargeBinary, info={SEALED: True}, **options)


def sealed_columns(metadata: MetaData) -> list[Column[Any]]:
    """Return every column declared with `sealed_column()`, by table and column name."""
    found = [
        column
        for table in metadata.tables.values()
        for column in table.columns
        if column.info.get(SEALED)
    ]
    return sorted(found, key=lambda column: (column.table.name, column.name))
