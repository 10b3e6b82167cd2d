"""The structured answer (schemas/halsoforfragan-svar-1.xsd): build and parse its XML, and check
that it answers exactly the questions the hälsoförfrågan asked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from lxml import etree

from forms.errors import FormError, FormIssue
from forms.halsoforfragan import Fraga, FragaKod
from forms.schemas import (
    HALSOFORFRAGAN_SVAR_XSD,
    load_schema,
    redact_schema_message,
    schema_errors,
)
from forms.xmlsafe import DEFAULT_LIMITS, NOT_XML_CHARACTER, Limits, element_path, parse_xml

NS = "urn:kryddgarden:halsoforfragan-svar:1"
VERSION = "1.0"
_Q = f"{{{NS}}}"
# XML 1.0 allows tab, newline and carriage return below U+0020, and nothing in the
# surrogate range or U+FFFE/U+FFFF.

# Swedish titles of the codes this module uses (forms.errors holds the hälsoförfrågan's).
TITLES = {
    "XML_NAMESPACE": "Dokumentet är inte ett strukturerat svar på en hälsoförfrågan",
    "VERSION": "Versionen av det strukturerade svaret stöds inte",
    "SVAR_XSD": "Svaret följer inte schemat för strukturerade svar",
    "SVAR_TECKEN": "Svaret innehåller tecken som inte är tillåtna",
    "SVAR_FORFRAGAN_ID": "Svaret gäller en annan förfrågan",
    "SVAR_FRAGA_SAKNAS": "En fråga i förfrågan är inte besvarad",
    "SVAR_FRAGA_EJ_STALLD": "Svaret besvarar en fråga som inte ställdes",
}


@dataclass(frozen=True)
class Besvarare:
    """The REKO who answers."""

    namn: str
    hsa_id: str
    titel: str = "Rehabkoordinator"


@dataclass(frozen=True)
class Lakare:
    """The physician consulted (who may co-sign the PDF)."""

    namn: str
    hsa_id: str | None = None


@dataclass(frozen=True)
class Svar:
    kod: FragaKod
    text: str = field(repr=False)


@dataclass(frozen=True)
class StructuredAnswer:
    """One answer per question asked, who answered and consulted whom, and whether SIP is
    recommended. Free text stays out of repr (it is health data)."""

    forfragan_id: str
    besvarad: dt.datetime
    besvarad_av: Besvarare
    svar: tuple[Svar, ...]
    sip_rekommenderas: bool
    i_samrad_med: Lakare | None = None
    version: str = VERSION

    def text_for(self, kod: FragaKod) -> str | None:
        """Return the answer to question kod, or None if it has none."""
        return next((s.text for s in self.svar if s.kod == kod), None)


def build_answer_xml(answer: StructuredAnswer) -> bytes:
    """Return the answer as UTF-8 XML valid against the XSD; raise FormError if it cannot be
    (a text too long or empty, a malformed HSA-id, a naive datetime, characters XML forbids)."""
    bad = list(_character_issues(answer))
    if bad:
        raise FormError(bad)
    if answer.besvarad.utcoffset() is None:
        raise FormError([_issue("SVAR_XSD", "Tiden för svaret saknar tidszon.", "/besvarad")])
    root = etree.Element(_Q + "halsoforfraganSvar", nsmap={None: NS})
    root.set("version", VERSION)
    _sub(root, "forfraganId", answer.forfragan_id)
    _sub(root, "besvarad", answer.besvarad.isoformat())
    person = _sub(root, "besvaradAv")
    _sub(person, "namn", answer.besvarad_av.namn)
    _sub(person, "hsaId", answer.besvarad_av.hsa_id)
    _sub(person, "titel", answer.besvarad_av.titel)
    if answer.i_samrad_med is not None:
        lakare = _sub(root, "iSamradMed")
        _sub(lakare, "namn", answer.i_samrad_med.namn)
        if answer.i_samrad_med.hsa_id:
            _sub(lakare, "hsaId", answer.i_samrad_med.hsa_id)
    for svar in answer.svar:
        _sub(root, "svar", svar.text).set("kod", svar.kod.value)
    _sub(root, "sipRekommenderas", "true" if answer.sip_rekommenderas else "false")
    _validate(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def parse_answer_xml(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> StructuredAnswer:
    """Return the structured answer in data; raise FormError listing what is wrong.

    The XML is read with the hardened parser (forms.xmlsafe) and validated against the XSD.
    """
    root = parse_xml(data, limits=limits)
    if root.tag != _Q + "halsoforfraganSvar":
        raise FormError([_issue(
            "XML_NAMESPACE",
            f"Rotelementet ska vara halsoforfraganSvar i namnrymden {NS}.",
            element_path(root),
            root.sourceline,
        )])
    if root.get("version") != VERSION:
        raise FormError([_issue(
            "VERSION", f'Attributet version ska vara "{VERSION}".', "/halsoforfraganSvar/@version"
        )])
    _validate(root)
    return _build(root)


def answer_issues(
    answer: StructuredAnswer, *, inquiry_id: str, questions: Iterable[Fraga | FragaKod]
) -> tuple[FormIssue, ...]:
    """Return why answer does not fit the inquiry: another inquiry id, a question asked but
    not answered, or an answer to a question not asked (empty when it fits)."""
    issues: list[FormIssue] = []
    if answer.forfragan_id.strip().lower() != inquiry_id.strip().lower():
        issues.append(_issue(
            "SVAR_FORFRAGAN_ID",
            f"Svaret gäller förfrågan {answer.forfragan_id}, inte {inquiry_id}.",
            "/halsoforfraganSvar/forfraganId",
        ))
    asked = [q.kod if isinstance(q, Fraga) else FragaKod(q) for q in questions]
    answered = [s.kod for s in answer.svar]
    issues += [
        _issue("SVAR_FRAGA_SAKNAS", f"Frågan {kod.value} har inget svar.", "/halsoforfraganSvar")
        for kod in asked if kod not in answered
    ]
    issues += [
        _issue(
            "SVAR_FRAGA_EJ_STALLD",
            f"Frågan {kod.value} ställdes inte i förfrågan.",
            f"/halsoforfraganSvar/svar[@kod='{kod.value}']",
        )
        for kod in answered if kod not in asked
    ]
    return tuple(issues)


def check_answer(
    answer: StructuredAnswer, *, inquiry_id: str, questions: Iterable[Fraga | FragaKod]
) -> None:
    """Raise FormError when answer_issues finds anything; return quietly otherwise."""
    issues = answer_issues(answer, inquiry_id=inquiry_id, questions=questions)
    if issues:
        raise FormError(issues)


def ordered_answers(answer: StructuredAnswer, questions: Sequence[Fraga]) -> list[Svar]:
    """Return the answers in the order the questions were asked."""
    order = {q.kod: index for index, q in enumerate(questions)}
    return sorted(answer.svar, key=lambda s: order.get(s.kod, len(order)))


# --- helpers -----------------------------------------------------------------------------


def _issue(code: str, detail: str, path: str = "", line: int | None = None) -> FormIssue:
    return FormIssue(code, TITLES.get(code, code), detail, line, path)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _Q + name)
    if text is not None:
        element.text = text
    return element


def _character_issues(answer: StructuredAnswer) -> Iterator[FormIssue]:
    texts = [
        ("/halsoforfraganSvar/besvaradAv/namn", answer.besvarad_av.namn),
        ("/halsoforfraganSvar/besvaradAv/titel", answer.besvarad_av.titel),
        *((f"/halsoforfraganSvar/svar[@kod='{s.kod.value}']", s.text) for s in answer.svar),
    ]
    if answer.i_samrad_med is not None:
        texts.append(("/halsoforfraganSvar/iSamradMed/namn", answer.i_samrad_med.namn))
    for path, text in texts:
        if NOT_XML_CHARACTER.search(text):
            yield _issue("SVAR_TECKEN", "Texten innehåller styrtecken som inte kan sparas.", path)


def _validate(root: etree._Element) -> None:
    schema = load_schema(HALSOFORFRAGAN_SVAR_XSD)
    issues = [
        _issue("SVAR_XSD", redact_schema_message(entry.message, NS), path, entry.line or None)
        for entry, path in schema_errors(schema, root)
    ]
    if issues:
        raise FormError(issues, total=len(schema.error_log))


def _text(parent: etree._Element, name: str) -> str:
    element = parent.find(_Q + name)
    return " ".join((element.text or "").split()) if element is not None else ""


def _build(root: etree._Element) -> StructuredAnswer:
    besvarad_av = root.find(_Q + "besvaradAv")
    lakare = root.find(_Q + "iSamradMed")
    assert besvarad_av is not None  # required by the XSD, validated above
    return StructuredAnswer(
        forfragan_id=_text(root, "forfraganId").lower(),
        besvarad=dt.datetime.fromisoformat(_text(root, "besvarad")),
        besvarad_av=Besvarare(
            namn=_text(besvarad_av, "namn"),
            hsa_id=_text(besvarad_av, "hsaId"),
            titel=_text(besvarad_av, "titel"),
        ),
        i_samrad_med=(
            Lakare(namn=_text(lakare, "namn"), hsa_id=_text(lakare, "hsaId") or None)
            if lakare is not None else None
        ),
        svar=tuple(
            Svar(FragaKod(element.get("kod", "")), (element.text or "").strip())
            for element in root.iterfind(_Q + "svar")
        ),
        sip_rekommenderas=_text(root, "sipRekommenderas") in {"true", "1"},
    )
