"""Import of the SIPs counted before the gateway (DESIGN 5.8): one SIP a CSV row, by reference.

The header is `reference,care_unit,sender_unit,invited_on,held_on,cancelled_on,reko_attended`:
ISO dates, empty where not applicable; a SIP is held (held_on), cancelled (cancelled_on) or
neither (still planned), never both; `reko_attended` is `ja` or `nej` (any case) for a held
meeting, empty when it was not recorded, and always empty for one that was not held. The
history counts no reason for a cancellation. The file goes through the inquiry history's
machinery (gateway.stats.history): the same checks, messages and merge by reference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.stats.history import (
    HistoryFormat,
    date_field,
    first_date,
    not_before,
    unit_fields,
)
from gateway.stats.models import HistorySip

COLUMNS = (
    "reference", "care_unit", "sender_unit", "invited_on", "held_on", "cancelled_on",
    "reko_attended",
)
HEADER = ",".join(COLUMNS)
ATTENDED = {"ja": True, "nej": False}


@dataclass(frozen=True)
class SipHistoryRow:
    """One valid row of the SIP history file."""

    reference: str
    care_unit: str
    sender_unit: str
    invited_on: dt.date
    held_on: dt.date | None
    cancelled_on: dt.date | None
    reko_attended: bool | None


def _attended(values: dict[str, str]) -> bool | None:
    raw = values["reko_attended"]
    if not raw:
        return None
    try:
        return ATTENDED[raw.casefold()]
    except KeyError:
        raise ValueError(f"reko_attended {raw[:40]!r} is not ja or nej") from None


def parse_row(values: dict[str, str], today: dt.date) -> SipHistoryRow:
    """Return the row; raise ValueError with the reason when it is not acceptable."""
    reference, care_unit, sender_unit = unit_fields(values)
    invited_on = first_date(values, "invited_on", today)
    held_on = date_field(values, "held_on", today)
    cancelled_on = date_field(values, "cancelled_on", today)
    attended = _attended(values)
    not_before(held_on, "held_on", invited_on, "invited_on")
    not_before(cancelled_on, "cancelled_on", invited_on, "invited_on")
    if held_on is not None and cancelled_on is not None:
        raise ValueError("both held_on and cancelled_on: a SIP is one or the other")
    if attended is not None and held_on is None:
        raise ValueError("reko_attended without held_on: only a held meeting had a REKO or not")
    return SipHistoryRow(
        reference, care_unit, sender_unit, invited_on, held_on, cancelled_on, attended
    )


SIPS = HistoryFormat(
    kind="SIPs",
    columns=COLUMNS,
    row_type=SipHistoryRow,
    parse_row=parse_row,
    model=HistorySip,
    audit_action="stats.sip_history_import",
)
