"""Reusable annotated column types shared by the domain models."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

from sqlalchemy import Enum, String
from sqlalchemy.orm import mapped_column

from gateway.db import utcnow

# SDK organisation ids, HSA-ids (at most 31) and functional addresses.
OrgId = Annotated[str, mapped_column(String(100))]
HsaId = Annotated[str, mapped_column(String(31))]
Name = Annotated[str, mapped_column(String(200))]
Created = Annotated[dt.datetime, mapped_column(default=utcnow)]


def enum_column(enum_type: type[enum.Enum], **kwargs: Any) -> Any:
    """Return a portable enum column: VARCHAR plus a CHECK constraint, storing the values."""
    return mapped_column(
        Enum(
            enum_type,
            native_enum=False,
            create_constraint=True,
            length=40,
            values_callable=lambda members: [m.value for m in members],
            name=enum_type.__name__.lower(),
        ),
        **kwargs,
    )
