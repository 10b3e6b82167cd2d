"""The hälsoförfrågan (DESIGN 5.1): parse and validate its XML into a frozen, typed object."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from forms.dates import local_date
from forms.errors import FormError, FormIssue, issue
from forms.identifiers import (
    IdentifierError,
    check_functional_address,
    check_hsa_id,
    check_organisation_id,
    parse_personnummer,
)
from forms.schemas import (
    HALSOFORFRAGAN_XSD,
    XSD_DEFAULT_TITLE,
    XSD_TITLES,
    load_schema,
    redact_schema_message,
    schema_errors,
)
from forms.xmlsafe import DEFAULT_LIMITS, Limits, element_path, parse_xml

NS = "urn:kryddgarden:halsoforfragan:1"
VERSION = "1.0"
DEFAULT_ANSWER_DAYS = 30
_Q = f"{{{NS}}}"
_WHITESPACE = re.compile(r"\s+")


class Titel(enum.StrEnum):
    SOCIALSEKRETERARE = "socialsekreterare"
    ARBETSMARKNADSSEKRETERARE = "arbetsmarknadssekreterare"


class SamtyckeForm(enum.StrEnum):
    SKRIFTLIGT = "skriftligt"
    MUNTLIGT = "muntligt"


class Mottagarkategori(enum.StrEnum):
    """Who may receive the answer; also the kind of the sending unit (EBB, AMA)."""

    SOCIALTJANST = "socialtjanst"
    ARBETSMARKNAD = "arbetsmarknad"


class Syfte(enum.StrEnum):
    PLANERING_ARBETE_STUDIER = "PLANERING_ARBETE_STUDIER"


class FragaKod(enum.StrEnum):
    AKTIVITETSFORMAGA = "AKTIVITETSFORMAGA"
    BEGRANSNINGAR = "BEGRANSNINGAR"
    BEHANDLING = "BEHANDLING"
    PROGNOS = "PROGNOS"
    REKOMMENDATIONER = "REKOMMENDATIONER"
    SIP = "SIP"
    OVRIGT = "OVRIGT"


@dataclass(frozen=True)
class Handlaggare:
    namn: str
    titel: Titel
    telefon: str
    epost: str


@dataclass(frozen=True)
class Avsandare:
    organisation: str
    enhet: str
    funktionsadress: str
    handlaggare: Handlaggare


@dataclass(frozen=True)
class Mottagare:
    """The vårdcentral where the person is listed."""

    hsa_id: str
    namn: str


@dataclass(frozen=True)
class Person:
    """The person asked about; personal data stays out of repr (and so out of logs)."""

    personnummer: str = field(repr=False)
    namn: str = field(repr=False)
    telefon: str | None = field(default=None, repr=False)
    tolkbehov_sprak: str | None = None
    samordningsnummer: bool = False
    fodelsedatum: dt.date | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Bilaga:
    """The signed consent form: PDF bytes and the sender's file name."""

    filnamn: str
    innehall: bytes = field(repr=False)


@dataclass(frozen=True)
class Samtycke:
    givet: dt.date
    giltigt_till: dt.date
    form: SamtyckeForm
    uppgiftslamnare_hsa_id: str
    mottagare: tuple[Mottagarkategori, ...]
    syfte: Syfte
    dokumenterat_av: str | None = None
    bilaga: Bilaga | None = None


@dataclass(frozen=True)
class Fraga:
    kod: FragaKod
    text: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Halsoforfragan:
    """A parsed, schema-valid hälsoförfrågan. `id` is the lower-case canonical UUID."""

    id: str
    skapad: dt.datetime
    avsandare: Avsandare
    mottagare: Mottagare
    person: Person
    samtycke: Samtycke
    bakgrund: str = field(repr=False)
    planerade_insatser: str | None = field(repr=False)
    fragor: tuple[Fraga, ...]
    svar_senast: dt.date
    # False when svarSenast was absent and the default (skapad + 30 days) applies.
    svar_senast_angiven: bool = False
    version: str = VERSION
    # Element path -> source line, so later checks (consent) can name the line.
    source_lines: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)

    @property
    def skapad_datum(self) -> dt.date:
        """The Swedish calendar date of `skapad`."""
        return local_date(self.skapad)

    def line(self, path: str) -> int | None:
        """Return the source line of the element at `path` (its first, if repeated), or None."""
        lines = dict(self.source_lines)
        return lines.get(path) or lines.get(f"{path}[1]")


def default_svar_senast(skapad: dt.datetime) -> dt.date:
    """Return the answer date when the form gives none: 30 days after the Swedish date of
    `skapad`."""
    return local_date(skapad) + dt.timedelta(days=DEFAULT_ANSWER_DAYS)


def parse_halsoforfragan(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Halsoforfragan:
    """Return the hälsoförfrågan in `data`; raise FormError listing every problem found.

    Checks, in order: safe XML (forms.xmlsafe), root element and version, the XSD together
    with the identifiers (personnummer, HSA-ids, organisation id, functional address) and the
    attached consent PDF, then the rules the XSD cannot express. The consent rules are
    separate (forms.consent).
    """
    root = parse_xml(data, limits=limits)
    _check_root(root)
    _validate(root)
    form = _build(root)
    problems = list(_semantic_issues(form, root))
    if problems:
        raise FormError(problems)
    return form


def _check_root(root: etree._Element) -> None:
    if root.tag != f"{_Q}halsoforfragan":
        raise FormError(
            [
                issue(
                    "XML_NAMESPACE",
                    f"Rotelementet ska vara halsoforfragan i namnrymden {NS}.",
                    line=root.sourceline,
                    path=element_path(root),
                )
            ]
        )
    if root.get("version") != VERSION:
        raise FormError(
            [
                issue(
                    "VERSION",
                    f'Attributet version ska vara "{VERSION}".',
                    line=root.sourceline,
                    path="/halsoforfragan/@version",
                )
            ]
        )


# --- XSD and identifiers -------------------------------------------------------------------

def _validate(root: etree._Element) -> None:
    identifier_issues = dict(_field_issues(root))
    schema = load_schema(HALSOFORFRAGAN_XSD)
    problems: list[FormIssue] = []
    said_twice = 0
    for entry, path in schema_errors(schema, root):
        found = _xsd_issue(entry, path)
        # The identifier check names the same fault more precisely; report that one only.
        if found.path in identifier_issues:
            said_twice += 1
        else:
            problems.append(found)
    problems.extend(identifier_issues.values())
    if problems:
        problems.sort(key=lambda i: i.line or 0)
        raise FormError(problems, total=len(schema.error_log) - said_twice + len(identifier_issues))


def _xsd_issue(entry: etree._LogEntry, path: str) -> FormIssue:
    title = XSD_TITLES.get(entry.type_name, XSD_DEFAULT_TITLE)
    detail = redact_schema_message(entry.message, NS)
    return FormIssue("XSD", title, detail, entry.line or None, path)


_IdentifierCheck = Callable[[str], object]


def _field_issues(root: etree._Element) -> Iterator[tuple[str, FormIssue]]:
    """Yield (path, issue) for every malformed identifier or attachment, keyed as the XSD
    issues are."""
    organisation = root.findtext(f"{_Q}avsandare/{_Q}organisation")
    targets: list[tuple[str, str | None, _IdentifierCheck]] = [
        ("avsandare/organisation", None, check_organisation_id),
        (
            "avsandare/funktionsadress",
            None,
            lambda v: check_functional_address(v, _valid_org(organisation)),
        ),
        ("mottagare/vardcentral", "hsaId", check_hsa_id),
        ("person/personnummer", None, parse_personnummer),
        ("samtycke/uppgiftslamnare", "hsaId", check_hsa_id),
        ("samtycke/bilaga", None, _decode_pdf),
    ]
    for relative, attribute, check in targets:
        xpath = "/".join(_Q + step for step in relative.split("/"))
        for element in root.iterfind(xpath):
            value = element.get(attribute) if attribute else element.text
            if value is None:
                continue
            try:
                check(value)
            except IdentifierError as exc:
                path = element_path(element) + (f"/@{attribute}" if attribute else "")
                yield path, issue(exc.code, exc.detail, line=element.sourceline, path=path)


def _valid_org(organisation: str | None) -> str | None:
    """Return the sender's organisation id if it is valid (else the address is not compared)."""
    if organisation is None:
        return None
    try:
        return check_organisation_id(organisation)
    except IdentifierError:
        return None


# --- building the typed object from a schema-valid tree -------------------------------------


def _el(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(_Q + name)
    if found is None:  # the XSD guarantees required elements; this guards against drift
        raise FormError([issue("XSD", f"Elementet {name} saknas.", path=element_path(parent))])
    return found


def _opt(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(_Q + name)


def _token(element: etree._Element) -> str:
    """Text with whitespace collapsed, as xs:token compares it."""
    return " ".join((element.text or "").split())


def _text(element: etree._Element | None) -> str | None:
    """Free text stripped at the ends; None when absent or blank."""
    if element is None:
        return None
    text = (element.text or "").strip()
    return text or None


def _date(element: etree._Element) -> dt.date:
    return dt.date.fromisoformat(_token(element))


def _build(root: etree._Element) -> Halsoforfragan:
    svar_senast_el = _opt(root, "svarSenast")
    skapad = dt.datetime.fromisoformat(_token(_el(root, "skapad")))
    svar_senast = (
        _date(svar_senast_el) if svar_senast_el is not None else default_svar_senast(skapad)
    )
    return Halsoforfragan(
        id=_token(_el(root, "id")).lower(),
        skapad=skapad,
        avsandare=_avsandare(_el(root, "avsandare")),
        mottagare=_mottagare(_el(root, "mottagare")),
        person=_person(_el(root, "person")),
        samtycke=_samtycke(_el(root, "samtycke")),
        bakgrund=_text(_el(root, "bakgrund")) or "",
        planerade_insatser=_text(_opt(root, "planeradeInsatser")),
        fragor=tuple(Fraga(FragaKod(f.get("kod", "")), _text(f)) for f in _el(root, "fragor")),
        svar_senast=svar_senast,
        svar_senast_angiven=svar_senast_el is not None,
        source_lines=tuple((element_path(e), e.sourceline or 0) for e in root.iter(etree.Element)),
    )


def _avsandare(el: etree._Element) -> Avsandare:
    h = _el(el, "handlaggare")
    return Avsandare(
        organisation=_token(_el(el, "organisation")),
        enhet=_token(_el(el, "enhet")),
        funktionsadress=_token(_el(el, "funktionsadress")),
        handlaggare=Handlaggare(
            namn=_token(_el(h, "namn")),
            titel=Titel(_token(_el(h, "titel"))),
            telefon=_token(_el(h, "telefon")),
            epost=_token(_el(h, "epost")),
        ),
    )


def _mottagare(el: etree._Element) -> Mottagare:
    vc = _el(el, "vardcentral")
    return Mottagare(hsa_id=vc.get("hsaId", ""), namn=_token(vc))


def _person(el: etree._Element) -> Person:
    number = parse_personnummer(_token(_el(el, "personnummer")))
    telefon = _opt(el, "telefon")
    tolk = _opt(el, "tolkbehov")
    return Person(
        personnummer=number.value,
        namn=_token(_el(el, "namn")),
        telefon=_token(telefon) if telefon is not None else None,
        tolkbehov_sprak=tolk.get("sprak") if tolk is not None else None,
        samordningsnummer=number.samordningsnummer,
        fodelsedatum=number.birth_date,
    )


def _samtycke(el: etree._Element) -> Samtycke:
    dokumenterat = _opt(el, "dokumenteratAv")
    bilaga = _opt(el, "bilaga")
    return Samtycke(
        givet=_date(_el(el, "givet")),
        giltigt_till=_date(_el(el, "giltigtTill")),
        form=SamtyckeForm(_token(_el(el, "form"))),
        uppgiftslamnare_hsa_id=_el(el, "uppgiftslamnare").get("hsaId", ""),
        mottagare=tuple(Mottagarkategori(_token(m)) for m in el.iterfind(_Q + "mottagare")),
        syfte=Syfte(_token(_el(el, "syfte"))),
        dokumenterat_av=_token(dokumenterat) if dokumenterat is not None else None,
        bilaga=_bilaga(bilaga) if bilaga is not None else None,
    )


def _bilaga(el: etree._Element) -> Bilaga:
    filnamn = " ".join((el.get("filnamn") or "").split())
    return Bilaga(filnamn, _decode_pdf(el.text or ""))


def _decode_pdf(text: str) -> bytes:
    """Return the PDF in base64 `text`; raise IdentifierError (code BILAGA) if it is not one."""
    try:
        content = base64.b64decode(_WHITESPACE.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        raise IdentifierError("BILAGA", "base64", "Bilagan är inte giltig base64.") from None
    if not content.startswith(b"%PDF-"):
        raise IdentifierError("BILAGA", "pdf", "Bilagan är inte en PDF-fil.")
    return content


# --- rules beyond the XSD -------------------------------------------------------------------


def _semantic_issues(form: Halsoforfragan, root: etree._Element) -> Iterator[FormIssue]:
    yield from _date_issues(form)
    yield from _question_issues(root)
    yield from _consent_recipient_issues(root)


def _date_issues(form: Halsoforfragan) -> Iterator[FormIssue]:
    if form.svar_senast <= form.skapad_datum:
        path = "/halsoforfragan/svarSenast"
        yield issue(
            "SVAR_SENAST",
            "Sista svarsdag måste vara efter den dag förfrågan skapades.",
            line=form.line(path),
            path=path,
        )
    birth = form.person.fodelsedatum
    if birth is not None and birth > form.skapad_datum:
        path = "/halsoforfragan/person/personnummer"
        yield issue(
            "PERSONNUMMER",
            "Personnumrets födelsedatum ligger efter den dag förfrågan skapades.",
            line=form.line(path),
            path=path,
        )


def _question_issues(root: etree._Element) -> Iterator[FormIssue]:
    seen: set[str] = set()
    for element in root.iterfind(f"{_Q}fragor/{_Q}fraga"):
        kod = element.get("kod", "")
        if kod in seen:
            yield issue(
                "FRAGA_DUPLICATE",
                f"Frågan {kod} förekommer mer än en gång.",
                line=element.sourceline,
                path=element_path(element),
            )
        seen.add(kod)
        if kod == FragaKod.OVRIGT and _text(element) is None:
            yield issue(
                "FRAGA_OVRIGT_TEXT",
                "En fråga med koden OVRIGT måste ha en text.",
                line=element.sourceline,
                path=element_path(element),
            )


def _consent_recipient_issues(root: etree._Element) -> Iterator[FormIssue]:
    seen: set[str] = set()
    for element in root.iterfind(f"{_Q}samtycke/{_Q}mottagare"):
        value = _token(element)
        if value in seen:
            yield issue(
                "SAMTYCKE_MOTTAGARE_DUPLICATE",
                f"Mottagaren {value} förekommer mer än en gång.",
                line=element.sourceline,
                path=element_path(element),
            )
        seen.add(value)
