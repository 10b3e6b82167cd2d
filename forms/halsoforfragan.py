"""The hälsoförfrågan (DESIGN 5.1): parse and validate its XML into a frozen, typed object."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

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
    """What the consent is for: each form type's XSD allows its own (a SIP: SIP)."""

    PLANERING_ARBETE_STUDIER = "PLANERING_ARBETE_STUDIER"
    SIP = "SIP"


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


class Located:
    """What every form type's parsed form has beside its fields: the Swedish date of `skapad`
    and the source line of an element (forms.formtypes.IntakeForm)."""

    skapad: dt.datetime
    source_lines: tuple[tuple[str, int], ...]

    @property
    def skapad_datum(self) -> dt.date:
        """The Swedish calendar date of `skapad`."""
        return local_date(self.skapad)

    def line(self, path: str) -> int | None:
        """Return the source line of the element at `path` (its first, if repeated), or None."""
        lines = dict(self.source_lines)
        return lines.get(path) or lines.get(f"{path}[1]")


def source_lines(root: etree._Element) -> tuple[tuple[str, int], ...]:
    """Return (element path, source line) of every element under `root`, for `Located.line`:
    the paths `element_path` gives, in document order, each parent's children counted once
    (where a walk up from every element counted them again for each: issue 17)."""
    found: list[tuple[str, int]] = []

    def visit(element: etree._Element, path: str) -> None:
        found.append((path, element.sourceline or 0))
        children = [child for child in element if isinstance(child.tag, str)]
        counts = Counter(child.tag for child in children)
        seen: Counter[str] = Counter()
        for child in children:
            name = etree.QName(child).localname
            seen[child.tag] += 1
            step = name if counts[child.tag] == 1 else f"{name}[{seen[child.tag]}]"
            visit(child, f"{path}/{step}")

    visit(root, element_path(root))
    return tuple(found)


@dataclass(frozen=True)
class Halsoforfragan(Located):
    """A parsed, schema-valid hälsoförfrågan. `id` is the lower-case canonical UUID."""

    ROOT: ClassVar[str] = "halsoforfragan"

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
    return read_halsoforfragan(parse_xml(data, limits=limits))


def read_halsoforfragan(root: etree._Element) -> Halsoforfragan:
    """Return the hälsoförfrågan of a tree read with forms.xmlsafe.parse_xml (see
    `parse_halsoforfragan`); what forms.formtypes calls once it has read the document."""
    check_root(root, NS, Halsoforfragan.ROOT, VERSION)
    validate(root, HALSOFORFRAGAN_XSD, NS)
    form = _build(root)
    problems = list(_semantic_issues(form, root))
    if problems:
        raise FormError(problems)
    return form


def check_root(root: etree._Element, namespace: str, name: str, version: str,
               title: str | None = None) -> None:
    """Raise FormError XML_NAMESPACE unless `root` is `name` in `namespace` (`title`, when given,
    says what the document is not), VERSION unless its version is `version`."""
    if root.tag != f"{{{namespace}}}{name}":
        found = issue("XML_NAMESPACE", f"Rotelementet ska vara {name} i namnrymden {namespace}.",
                      line=root.sourceline, path=element_path(root))
        if title is not None:
            found = FormIssue(found.code, title, found.detail, found.line, found.path)
        raise FormError([found])
    if root.get("version") != version:
        raise FormError([issue("VERSION", f'Attributet version ska vara "{version}".',
                               line=root.sourceline, path=f"/{name}/@version")])


# --- XSD and identifiers -------------------------------------------------------------------

def validate(root: etree._Element, xsd: str, namespace: str) -> None:
    """Raise FormError listing every XSD error of `root` against `xsd` and every malformed
    identifier (`identifier_issues_of`), in document order."""
    identifier_issues = dict(identifier_issues_of(root))
    schema = load_schema(xsd)
    problems: list[FormIssue] = []
    said_twice = 0
    for entry, path in schema_errors(schema, root):
        found = _xsd_issue(entry, path, namespace)
        # The identifier check names the same fault more precisely; report that one only.
        if found.path in identifier_issues:
            said_twice += 1
        else:
            problems.append(found)
    problems.extend(identifier_issues.values())
    if problems:
        problems.sort(key=lambda i: i.line or 0)
        raise FormError(problems, total=len(schema.error_log) - said_twice + len(identifier_issues))


def _xsd_issue(entry: etree._LogEntry, path: str, namespace: str) -> FormIssue:
    title = XSD_TITLES.get(entry.type_name, XSD_DEFAULT_TITLE)
    detail = redact_schema_message(entry.message, namespace)
    return FormIssue("XSD", title, detail, entry.line or None, path)


_IdentifierCheck = Callable[[str], object]


def identifier_issues_of(root: etree._Element) -> Iterator[tuple[str, FormIssue]]:
    """Yield (path, issue) for every malformed identifier or attachment in the parts every form
    type shares (avsandare, mottagare, person, samtycke), keyed as the XSD issues are."""
    q = _q(root)
    organisation = root.findtext(f"{q}avsandare/{q}organisation")
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
        xpath = "/".join(q + step for step in relative.split("/"))
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


def _q(element: etree._Element) -> str:
    """The "{namespace}" prefix of `element`'s own namespace: a form type's parts are all in
    its namespace, so the readers below serve every form type."""
    return f"{{{etree.QName(element).namespace}}}"


def child(parent: etree._Element, name: str) -> etree._Element:
    """Return the required child `name` (in the parent's namespace)."""
    found = parent.find(_q(parent) + name)
    if found is None:  # the XSD guarantees required elements; this guards against drift
        raise FormError([issue("XSD", f"Elementet {name} saknas.", path=element_path(parent))])
    return found


def optional(parent: etree._Element, name: str) -> etree._Element | None:
    """Return the optional child `name` (in the parent's namespace), or None."""
    return parent.find(_q(parent) + name)


def token(element: etree._Element) -> str:
    """Text with whitespace collapsed, as xs:token compares it."""
    return " ".join((element.text or "").split())


def free_text(element: etree._Element | None) -> str | None:
    """Free text stripped at the ends; None when absent or blank."""
    if element is None:
        return None
    text = (element.text or "").strip()
    return text or None


def date_of(element: etree._Element) -> dt.date:
    """Return the xs:date text of `element` as a date."""
    return dt.date.fromisoformat(token(element))


def _build(root: etree._Element) -> Halsoforfragan:
    svar_senast_el = optional(root, "svarSenast")
    skapad = dt.datetime.fromisoformat(token(child(root, "skapad")))
    svar_senast = (
        date_of(svar_senast_el) if svar_senast_el is not None else default_svar_senast(skapad)
    )
    return Halsoforfragan(
        id=token(child(root, "id")).lower(),
        skapad=skapad,
        avsandare=read_avsandare(child(root, "avsandare")),
        mottagare=read_mottagare(child(root, "mottagare")),
        person=read_person(child(root, "person")),
        samtycke=read_samtycke(child(root, "samtycke")),
        bakgrund=free_text(child(root, "bakgrund")) or "",
        planerade_insatser=free_text(optional(root, "planeradeInsatser")),
        fragor=tuple(Fraga(FragaKod(f.get("kod", "")), free_text(f))
                     for f in child(root, "fragor")),
        svar_senast=svar_senast,
        svar_senast_angiven=svar_senast_el is not None,
        source_lines=source_lines(root),
    )


def read_avsandare(el: etree._Element) -> Avsandare:
    h = child(el, "handlaggare")
    return Avsandare(
        organisation=token(child(el, "organisation")),
        enhet=token(child(el, "enhet")),
        funktionsadress=token(child(el, "funktionsadress")),
        handlaggare=Handlaggare(
            namn=token(child(h, "namn")),
            titel=Titel(token(child(h, "titel"))),
            telefon=token(child(h, "telefon")),
            epost=token(child(h, "epost")),
        ),
    )


def read_mottagare(el: etree._Element) -> Mottagare:
    vc = child(el, "vardcentral")
    return Mottagare(hsa_id=vc.get("hsaId", ""), namn=token(vc))


def read_person(el: etree._Element) -> Person:
    number = parse_personnummer(token(child(el, "personnummer")))
    telefon = optional(el, "telefon")
    tolk = optional(el, "tolkbehov")
    return Person(
        personnummer=number.value,
        namn=token(child(el, "namn")),
        telefon=token(telefon) if telefon is not None else None,
        tolkbehov_sprak=tolk.get("sprak") if tolk is not None else None,
        samordningsnummer=number.samordningsnummer,
        fodelsedatum=number.birth_date,
    )


def read_samtycke(el: etree._Element) -> Samtycke:
    dokumenterat = optional(el, "dokumenteratAv")
    bilaga = optional(el, "bilaga")
    return Samtycke(
        givet=date_of(child(el, "givet")),
        giltigt_till=date_of(child(el, "giltigtTill")),
        form=SamtyckeForm(token(child(el, "form"))),
        uppgiftslamnare_hsa_id=child(el, "uppgiftslamnare").get("hsaId", ""),
        mottagare=tuple(Mottagarkategori(token(m)) for m in el.iterfind(_q(el) + "mottagare")),
        syfte=Syfte(token(child(el, "syfte"))),
        dokumenterat_av=token(dokumenterat) if dokumenterat is not None else None,
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
    yield from consent_recipient_issues(root)


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
        if kod == FragaKod.OVRIGT and free_text(element) is None:
            yield issue(
                "FRAGA_OVRIGT_TEXT",
                "En fråga med koden OVRIGT måste ha en text.",
                line=element.sourceline,
                path=element_path(element),
            )


def consent_recipient_issues(root: etree._Element) -> Iterator[FormIssue]:
    """Yield an issue for each consent recipient named twice (every form type's samtycke)."""
    q = _q(root)
    seen: set[str] = set()
    for element in root.iterfind(f"{q}samtycke/{q}mottagare"):
        value = token(element)
        if value in seen:
            yield issue(
                "SAMTYCKE_MOTTAGARE_DUPLICATE",
                f"Mottagaren {value} förekommer mer än en gång.",
                line=element.sourceline,
                path=element_path(element),
            )
        seen.add(value)
