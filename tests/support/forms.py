"""A builder of hälsoförfrågan XML (DESIGN 5.1) for tests, through forms.writer: valid by default
(against the demo directory, dates around today), any field overridable or left out.

    xml = halsoforfragan()                                  # a valid form, a fresh id
    xml = halsoforfragan(personnummer="191212121213")       # a bad check digit
    xml = halsoforfragan(samtycke_form="muntligt", dokumenterat_av=None)   # rule C6
    xml = halsoforfragan(bakgrund=OMIT)                     # a required element left out

Values are strings as they appear in the XML, so impossible values can be written too. `None`
leaves an optional element out; `OMIT` leaves out any element, required or not.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from forms.dates import STOCKHOLM
from forms.halsoforfragan import NS
from forms.identifiers import luhn_check_digit, make_personnummer
from forms.writer import HalsoforfraganText, write_halsoforfragan_text

# The demo directory's parties (gateway/directory/demo_directory.json).
MALMO = "0203:malmo.se"
SKANE = "0203:skane.se"
EBB_OSTER = "sdk:ebb-oster:0203:malmo.se"
EBB_NORR = "sdk:ebb-norr:0203:malmo.se"
AMA = "sdk:ama:0203:malmo.se"
KRYDDGARDEN = "SE2321000255-K001"
KRYDDGARDEN_ADDRESS = "sdk:reko-kryddgarden:0203:skane.se"
ROSENGARD = "SE2321000255-K002"
ROSENGARD_ADDRESS = "sdk:reko-rosengard:0203:skane.se"
NOT_CONNECTED = "SE5561234567-V001"
UNKNOWN_CARE_UNIT = "SE2321000255-K999"
TOLVAN = "191212121212"

# A minimal PDF, as a signed consent form would start.
CONSENT_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def luhn_digit(nine: str) -> str:
    """Return the check digit for the nine digits YYMMDDNNN."""
    return str(luhn_check_digit(nine))


def personnummer(born: dt.date, serial: int = 239, *, samordning: bool = False) -> str:
    """Return a valid 12-digit personnummer (or samordningsnummer: day + 60)."""
    return make_personnummer(born, serial, samordningsnummer=samordning)


def nth_personnummer(n: int) -> str:
    """Return the n-th of many distinct valid personnummer (people born 1950–1999)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=(n * 37) % 18000)
    return personnummer(born, serial=n % 1000)


@dataclass(frozen=True)
class Form:
    """Every field of a hälsoförfrågan as XML text; `xml()` writes it in schema order."""

    id: Any = field(default_factory=lambda: str(uuid.uuid4()))
    skapad: Any = ""
    organisation: Any = MALMO
    enhet: Any = "Ekonomiskt bistånd och boende Öster"
    funktionsadress: Any = EBB_OSTER
    handlaggare_namn: Any = "Åsa Lindqvist"
    titel: Any = "socialsekreterare"
    handlaggare_telefon: Any = "040-34 10 00"
    epost: Any = "asa.lindqvist@malmo.se"
    vardcentral: Any = KRYDDGARDEN
    vardcentral_namn: Any = "Vårdcentralen Kryddgården"
    personnummer: Any = TOLVAN
    person_namn: Any = "Tolvan Tolvansson"
    person_telefon: Any = "070-123 45 67"
    tolkbehov: Any = None
    givet: Any = ""
    giltigt_till: Any = ""
    samtycke_form: Any = "skriftligt"
    uppgiftslamnare: Any = KRYDDGARDEN
    mottagare: Any = ("socialtjanst", "arbetsmarknad")
    syfte: Any = "PLANERING_ARBETE_STUDIER"
    dokumenterat_av: Any = "Åsa Lindqvist"
    bilaga: Any = CONSENT_PDF
    bilaga_filnamn: Any = "samtycke.pdf"
    bakgrund: Any = "Personen har ekonomiskt bistånd och vi planerar insatser mot arbete."
    planerade_insatser: Any = "Arbetsträning 50 procent."
    fragor: Any = (("AKTIVITETSFORMAGA", None), ("BEGRANSNINGAR", None),
                   ("OVRIGT", "Finns det hinder för arbetsträning på förmiddagar?"))
    svar_senast: Any = None
    version: Any = "1.0"
    namespace: Any = NS

    def but(self, **changes: Any) -> Form:
        """Return a copy with `changes`."""
        return dataclasses.replace(self, **changes)

    def xml(self) -> bytes:
        """Return the form as UTF-8 XML with a declaration (through forms.writer)."""
        return write_halsoforfragan_text(self.text())

    def text(self) -> HalsoforfraganText:
        """Return the fields as the writer's text: OMIT and None leave an element out."""
        values = {f.name: _text(getattr(self, f.name)) for f in dataclasses.fields(self)}
        values["namespace"] = self.namespace
        if isinstance(self.bilaga, bytes):
            values["bilaga"] = base64.b64encode(self.bilaga).decode("ascii")
        if self.mottagare not in (None, OMIT):
            values["mottagare"] = tuple(str(m) for m in self.mottagare)
        if self.fragor not in (None, OMIT):
            values["fragor"] = tuple(
                (str(kod), None if text is None else str(text)) for kod, text in self.fragor
            )
        return HalsoforfraganText(**values)


def _text(value: Any) -> Any:
    return None if value is OMIT or value is None else str(value)


def valid_form(now: dt.datetime | None = None, **overrides: Any) -> Form:
    """Return a valid form created a few minutes before `now` (default: now), consent given a
    week earlier and valid for six months, from EBB Öster to Vårdcentralen Kryddgården."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(STOCKHOLM)
    today = moment.date()
    base = Form(
        skapad=(moment - dt.timedelta(minutes=5)).replace(microsecond=0).isoformat(),
        givet=(today - dt.timedelta(days=7)).isoformat(),
        giltigt_till=(today + dt.timedelta(days=180)).isoformat(),
    )
    return base.but(**overrides)


def halsoforfragan(now: dt.datetime | None = None, **overrides: Any) -> bytes:
    """Return the XML of `valid_form(now, **overrides)`."""
    return valid_form(now, **overrides).xml()


def ama_form(now: dt.datetime | None = None, **overrides: Any) -> Form:
    """Return a valid form from Arbetsmarknadsavdelningen (AMA)."""
    values: dict[str, Any] = {
        "enhet": "Arbetsmarknadsavdelningen",
        "funktionsadress": AMA,
        "titel": "arbetsmarknadssekreterare",
        **overrides,
    }
    return valid_form(now, **values)
