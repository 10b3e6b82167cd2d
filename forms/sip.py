"""SIP, the second form type (DESIGN 5.8): parse and validate the invitation (sipKallelse) and the
VC's reply (sipSvar) into frozen, typed objects, with the rules S1–S4.

The parts a hälsoförfrågan also has (avsandare, mottagare, person, samtycke) are read by the
hälsoförfrågan's readers, and the consent rules C1–C7 (forms.consent) serve both.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from lxml import etree

from forms.dates import local_date
from forms.errors import FormError, FormIssue, issue
from forms.halsoforfragan import (
    Avsandare,
    Located,
    Mottagare,
    Person,
    Samtycke,
    check_root,
    child,
    consent_recipient_issues,
    free_text,
    optional,
    read_avsandare,
    read_mottagare,
    read_person,
    read_samtycke,
    source_lines,
    token,
    validate,
)
from forms.schemas import SIP_XSD
from forms.xmlsafe import DEFAULT_LIMITS, Limits, parse_xml

NS = "urn:kryddgarden:sip:1"
VERSION = "1.0"
KALLELSE = "sipKallelse"
SVAR = "sipSvar"
_NOT_KALLELSE = "Dokumentet är inte en SIP-kallelse"
_NOT_SVAR = "Dokumentet är inte ett SIP-svar"


class Roll(enum.StrEnum):
    """Who a participant of the meeting represents."""

    SOCIALTJANST = "SOCIALTJANST"
    ARBETSMARKNAD = "ARBETSMARKNAD"
    VARDCENTRAL = "VARDCENTRAL"
    PSYKIATRI = "PSYKIATRI"
    ARBETSFORMEDLINGEN = "ARBETSFORMEDLINGEN"
    FORSAKRINGSKASSAN = "FORSAKRINGSKASSAN"
    ANNAN = "ANNAN"


class Beslut(enum.StrEnum):
    """The VC's reply to an invitation."""

    KOMMER = "KOMMER"
    KOMMER_INTE = "KOMMER_INTE"
    NYTT_FORSLAG = "NYTT_FORSLAG"


@dataclass(frozen=True)
class Mote:
    """The proposed meeting: its start, length, and a place or an https link (one of them)."""

    tid: dt.datetime
    langd_minuter: int
    plats: str | None = None
    digital_lank: str | None = None


@dataclass(frozen=True)
class Deltagare:
    roll: Roll
    namn: str = field(repr=False)


@dataclass(frozen=True)
class SipKallelse(Located):
    """A parsed, schema-valid SIP invitation; `id` is the lower-case canonical UUID."""

    ROOT: ClassVar[str] = KALLELSE

    id: str
    skapad: dt.datetime
    avsandare: Avsandare
    mottagare: Mottagare
    person: Person
    samtycke: Samtycke
    syfte: str = field(repr=False)
    mote: Mote
    deltagare: tuple[Deltagare, ...]
    svar_senast: dt.date
    version: str = VERSION
    source_lines: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class SipSvar(Located):
    """A parsed, schema-valid reply of the VC's REKO (or the VC's system) to an invitation."""

    ROOT: ClassVar[str] = SVAR

    id: str
    kallelse: str
    skapad: dt.datetime
    besvarare_hsa_id: str
    besvarare_namn: str = field(repr=False)
    beslut: Beslut
    ny_tid: dt.datetime | None = None
    deltagare: tuple[str, ...] = field(default=(), repr=False)
    kommentar: str | None = field(default=None, repr=False)
    version: str = VERSION
    source_lines: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)


def parse_sip_kallelse(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> SipKallelse:
    """Return the SIP invitation in `data`; raise FormError listing every problem found: safe
    XML, root and version, the XSD with the identifiers, then S1–S4. The consent rules are
    separate (forms.consent), as for a hälsoförfrågan."""
    return read_sip_kallelse(parse_xml(data, limits=limits))


def read_sip_kallelse(root: etree._Element) -> SipKallelse:
    """Return the invitation of a tree read with forms.xmlsafe.parse_xml (see
    `parse_sip_kallelse`)."""
    check_root(root, NS, KALLELSE, VERSION, _NOT_KALLELSE)
    validate(root, SIP_XSD, NS)
    form = _build_kallelse(root)
    problems = [*_rule_issues(form), *consent_recipient_issues(root)]
    if problems:
        raise FormError(problems)
    return form


def parse_sip_svar(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> SipSvar:
    """Return the reply in `data`; raise FormError listing every problem found (SVAR_NY_TID: a
    new proposal without a new time, or a new time without a new proposal;
    SVAR_NY_TID_PASSERAD: a new time not after the reply's skapad)."""
    root = parse_xml(data, limits=limits)
    check_root(root, NS, SVAR, VERSION, _NOT_SVAR)
    validate(root, SIP_XSD, NS)
    reply = _build_svar(root)
    if (reply.beslut is Beslut.NYTT_FORSLAG) != (reply.ny_tid is not None):
        path = f"/{SVAR}/beslut"
        raise FormError([issue("SVAR_NY_TID", "Ange nyTid med beslutet NYTT_FORSLAG, och bara "
                                              "då.", line=reply.line(path), path=path)])
    if reply.ny_tid is not None and reply.ny_tid <= reply.skapad:
        raise FormError([new_time_passed(reply, reply.skapad, "att svaret skapades")])
    return reply


def new_time_passed(reply: SipSvar, moment: dt.datetime, what: str) -> FormIssue:
    """The issue SVAR_NY_TID_PASSERAD: the proposed new time is not after `moment` (`what` says
    which moment, in Swedish)."""
    path = f"/{SVAR}/nyTid"
    assert reply.ny_tid is not None
    return issue("SVAR_NY_TID_PASSERAD",
                 f"Den nya tiden ({reply.ny_tid.isoformat()}) måste ligga efter {what} "
                 f"({moment.isoformat()}). Föreslå en tid framåt.",
                 line=reply.line(path), path=path)


def _datetime(element: etree._Element) -> dt.datetime:
    return dt.datetime.fromisoformat(token(element))


def _build_kallelse(root: etree._Element) -> SipKallelse:
    mote = child(root, "mote")
    plats, lank = optional(mote, "plats"), optional(mote, "digitalLank")
    return SipKallelse(
        id=token(child(root, "id")).lower(),
        skapad=_datetime(child(root, "skapad")),
        avsandare=read_avsandare(child(root, "avsandare")),
        mottagare=read_mottagare(child(root, "mottagare")),
        person=read_person(child(root, "person")),
        samtycke=read_samtycke(child(root, "samtycke")),
        syfte=free_text(child(root, "syfte")) or "",
        mote=Mote(
            tid=_datetime(child(mote, "tid")),
            langd_minuter=int(token(child(mote, "langdMinuter"))),
            plats=token(plats) if plats is not None else None,
            digital_lank=token(lank) if lank is not None else None,
        ),
        deltagare=tuple(Deltagare(Roll(d.get("roll", "")), token(d))
                        for d in root.iterfind(f"{{{NS}}}deltagare")),
        svar_senast=dt.date.fromisoformat(token(child(root, "svarSenast"))),
        source_lines=source_lines(root),
    )


def _build_svar(root: etree._Element) -> SipSvar:
    besvarare, ny_tid = child(root, "besvarare"), optional(root, "nyTid")
    return SipSvar(
        id=token(child(root, "id")).lower(),
        kallelse=token(child(root, "kallelse")).lower(),
        skapad=_datetime(child(root, "skapad")),
        besvarare_hsa_id=besvarare.get("hsaId", ""),
        besvarare_namn=token(besvarare),
        beslut=Beslut(token(child(root, "beslut"))),
        ny_tid=_datetime(ny_tid) if ny_tid is not None else None,
        deltagare=tuple(token(d) for d in root.iterfind(f"{{{NS}}}deltagare")),
        kommentar=free_text(optional(root, "kommentar")),
        source_lines=source_lines(root),
    )


# --- S1–S4 ------------------------------------------------------------------------------------


def _rule_issues(form: SipKallelse) -> Iterator[FormIssue]:
    yield from _s1(form)
    yield from _s2(form)
    yield from _s3(form)
    yield from _s4(form)


def _at(form: SipKallelse, code: str, detail: str, path: str) -> FormIssue:
    full = f"/{KALLELSE}/{path}"
    return issue(code, detail, line=form.line(full), path=full)


def _s1(form: SipKallelse) -> Iterator[FormIssue]:
    if form.mote.tid <= form.skapad:
        yield _at(form, "S1", f"Mötet ({form.mote.tid.isoformat()}) måste ligga efter att "
                              f"kallelsen skapades ({form.skapad.isoformat()}).", "mote/tid")


def _s2(form: SipKallelse) -> Iterator[FormIssue]:
    meeting_day = local_date(form.mote.tid)
    if form.svar_senast > meeting_day:
        yield _at(form, "S2", f"Sista svarsdag {form.svar_senast} ligger efter mötesdagen "
                              f"{meeting_day}.", "svarSenast")
    elif form.svar_senast < form.skapad_datum:
        yield _at(form, "S2", f"Sista svarsdag {form.svar_senast} ligger före dagen kallelsen "
                              f"skapades, {form.skapad_datum}.", "svarSenast")


def _s3(form: SipKallelse) -> Iterator[FormIssue]:
    if not any(d.roll is Roll.VARDCENTRAL for d in form.deltagare):
        yield _at(form, "S3", "Minst en deltagare ska ha rollen VARDCENTRAL: vårdcentralen som "
                              "kallas.", "deltagare")


def _s4(form: SipKallelse) -> Iterator[FormIssue]:
    lank = form.mote.digital_lank
    if lank is None:
        return
    parts = urlsplit(lank)
    if parts.scheme.lower() != "https" or not parts.hostname:
        yield _at(form, "S4", "Den digitala länken ska vara en https-adress med värdnamn.",
                  "mote/digitalLank")

