"""Reading request parameters: an ISO date, and a client's value shown safely in a message."""

from __future__ import annotations

import datetime as dt
import re

from gateway import codes
from gateway.errors import GatewayError

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def shown(value: str) -> str:
    """Return a client's value quoted and cut to 40 characters, for a refusal's detail."""
    return repr(value if len(value) <= 40 else value[:39] + "…")


def date_parameter(
    raw: str, name: str, error: type[GatewayError] = GatewayError
) -> dt.date:
    """Return the ISO date (YYYY-MM-DD) in parameter `name`; raise `error` INVALID_DATE (400)
    naming the parameter otherwise."""
    try:
        if not ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise error.at(
            codes.INVALID_DATE,
            f"Parametern {name} ska vara ett datum som ÅÅÅÅ-MM-DD ({shown(raw)}).", name,
        ) from None
