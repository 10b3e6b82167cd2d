"""A builder of SIP invitation and reply XML (DESIGN 5.8) for tests, through forms.writer: valid by
default (the hälsoförfrågan builder's parties and consent, a meeting a week ahead), any field
overridable; `OMIT` leaves an element out, as in tests.support.forms.

    xml = sip_kallelse()                                    # a valid invitation, a fresh id
    xml = sip_kallelse(digital_lank="http://meet.example")  # rule S4
    xml = sip_svar(kallelse_id, beslut="NYTT_FORSLAG", ny_tid=None)   # SVAR_NY_TID
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from forms.dates import STOCKHOLM
from forms.writer import (
    HeadText,
    SipKallelseText,
    SipSvarText,
    write_sip_kallelse_text,
    write_sip_svar_text,
)
from tests.support.forms import OMIT, valid_form

DELTAGARE = (("SOCIALTJANST", "Åsa Lindqvist"), ("VARDCENTRAL", "Rehabkoordinator"),
             ("PSYKIATRI", "Psykiatrin Malmö"))
_HEAD = {f.name for f in dataclasses.fields(HeadText)}


def sip_text(now: dt.datetime | None = None, **overrides: Any) -> SipKallelseText:
    """Return the text of a valid invitation created a few minutes before `now` (default: now),
    the meeting seven days later at 09:00 Swedish time, the reply due two days before."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(STOCKHOLM)
    meeting = dt.datetime.combine(moment.date() + dt.timedelta(days=7), dt.time(9), STOCKHOLM)
    head = {k: v for k, v in overrides.items() if k in _HEAD}
    form = valid_form(now, **{"syfte": "SIP", **head}).text()
    values: dict[str, Any] = {name: getattr(form, name) for name in _HEAD}
    values.update(
        sip_syfte="Personen behöver samordnat stöd från socialtjänst, vård och psykiatri.",
        mote_tid=meeting.isoformat(),
        langd_minuter="60",
        plats="Stadshuset, rum 12",
        digital_lank=None,
        deltagare=DELTAGARE,
        svar_senast=(meeting.date() - dt.timedelta(days=2)).isoformat(),
    )
    rest = {k: (None if v is OMIT else v) for k, v in overrides.items() if k not in _HEAD}
    values.update(rest)
    return SipKallelseText(**values)


def sip_kallelse(now: dt.datetime | None = None, **overrides: Any) -> bytes:
    """Return the XML of `sip_text(now, **overrides)`."""
    return write_sip_kallelse_text(sip_text(now, **overrides))


def sip_svar(kallelse: str, now: dt.datetime | None = None, **overrides: Any) -> bytes:
    """Return a valid reply (KOMMER, by Anna Rekosson at Kryddgården) to invitation `kallelse`."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(STOCKHOLM).replace(microsecond=0)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()), "kallelse": kallelse, "skapad": moment.isoformat(),
        "besvarare": "Anna Rekosson", "besvarare_hsa_id": "SE2321000255-P001",
        "beslut": "KOMMER", "ny_tid": None, "deltagare": ("Anna Rekosson",), "kommentar": None,
    }
    values.update({k: (None if v is OMIT else v) for k, v in overrides.items()})
    return write_sip_svar_text(SipSvarText(**values))
