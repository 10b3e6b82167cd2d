"""A builder of hälsoförfrågan XML (DESIGN 5.1) for tests and benchmarks: valid by default
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
from zoneinfo import ZoneInfo

from lxml import etree

NS = "urn:kryddgarden:halsoforfragan:1"
STOCKHOLM = ZoneInfo("Europe/Stockholm")

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
    total = 0
    for index, char in enumerate(nine):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def personnummer(born: dt.date, serial: int = 239, *, samordning: bool = False) -> str:
    """Return a valid 12-digit personnummer (or samordningsnummer: day + 60)."""
    day = born.day + (60 if samordning else 0)
    body = f"{born:%y%m}{day:02d}{serial % 1000:03d}"
    return f"{born:%Y%m}{day:02d}{serial % 1000:03d}{luhn_digit(body)}"


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
        """Return the form as UTF-8 XML with a declaration."""
        root = etree.Element(f"{{{self.namespace}}}halsoforfragan", nsmap={None: self.namespace})
        if self.version is not OMIT and self.version is not None:
            root.set("version", self.version)
        self._text(root, "id", self.id)
        self._text(root, "skapad", self.skapad)
        self._avsandare(root)
        if self.vardcentral_namn is not OMIT:
            mottagare = self._el(root, "mottagare")
            self._text(mottagare, "vardcentral", self.vardcentral_namn, hsaId=self.vardcentral)
        self._person(root)
        self._samtycke(root)
        self._text(root, "bakgrund", self.bakgrund)
        self._text(root, "planeradeInsatser", self.planerade_insatser)
        if self.fragor is not OMIT:
            fragor = self._el(root, "fragor")
            for kod, text in self.fragor:
                self._text(fragor, "fraga", text if text is not None else "", kod=kod)
        self._text(root, "svarSenast", self.svar_senast)
        xml: bytes = etree.tostring(
            root, xml_declaration=True, encoding="UTF-8", pretty_print=True
        )
        return xml

    def _el(self, parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{self.namespace}}}{name}")

    def _text(self, parent: etree._Element, name: str, value: Any, **attributes: Any) -> None:
        if value is OMIT or value is None:
            return
        element = self._el(parent, name)
        element.text = str(value) if value != "" else None
        for key, attribute in attributes.items():
            if attribute is not OMIT and attribute is not None:
                element.set(key, str(attribute))

    def _avsandare(self, root: etree._Element) -> None:
        if self.organisation is OMIT and self.funktionsadress is OMIT:
            return
        avsandare = self._el(root, "avsandare")
        self._text(avsandare, "organisation", self.organisation)
        self._text(avsandare, "enhet", self.enhet)
        self._text(avsandare, "funktionsadress", self.funktionsadress)
        if self.handlaggare_namn is OMIT and self.titel is OMIT:
            return
        handlaggare = self._el(avsandare, "handlaggare")
        self._text(handlaggare, "namn", self.handlaggare_namn)
        self._text(handlaggare, "titel", self.titel)
        self._text(handlaggare, "telefon", self.handlaggare_telefon)
        self._text(handlaggare, "epost", self.epost)

    def _person(self, root: etree._Element) -> None:
        if self.personnummer is OMIT and self.person_namn is OMIT:
            return
        person = self._el(root, "person")
        self._text(person, "personnummer", self.personnummer)
        self._text(person, "namn", self.person_namn)
        self._text(person, "telefon", self.person_telefon)
        if self.tolkbehov not in (None, OMIT):
            self._el(person, "tolkbehov").set("sprak", self.tolkbehov)

    def _samtycke(self, root: etree._Element) -> None:
        if self.givet is OMIT and self.giltigt_till is OMIT:
            return
        samtycke = self._el(root, "samtycke")
        self._text(samtycke, "givet", self.givet)
        self._text(samtycke, "giltigtTill", self.giltigt_till)
        self._text(samtycke, "form", self.samtycke_form)
        if self.uppgiftslamnare is not OMIT:
            self._el(samtycke, "uppgiftslamnare").set("hsaId", self.uppgiftslamnare)
        if self.mottagare is not OMIT:
            for mottagare in self.mottagare:
                self._text(samtycke, "mottagare", mottagare)
        self._text(samtycke, "syfte", self.syfte)
        self._text(samtycke, "dokumenteratAv", self.dokumenterat_av)
        if self.bilaga not in (None, OMIT):
            content = (
                base64.b64encode(self.bilaga).decode("ascii")
                if isinstance(self.bilaga, bytes) else self.bilaga
            )
            self._text(samtycke, "bilaga", content, filnamn=self.bilaga_filnamn)


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
