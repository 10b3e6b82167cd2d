"""The consent withdrawal notice between gateways (schemas/samtyckesaterkallelse-1.xsd): build
and parse its XML. It names the person, the sender unit and the vårdcentral, never an inquiry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from forms.errors import FormError, FormIssue
from forms.identifiers import IdentifierError, parse_personnummer
from forms.schemas import (
    SAMTYCKESATERKALLELSE_XSD,
    load_schema,
    redact_schema_message,
    schema_errors,
)
from forms.xmlsafe import DEFAULT_LIMITS, element_path, parse_xml

NS = "urn:kryddgarden:samtyckesaterkallelse:1"
VERSION = "1.0"
ROOT = "samtyckesaterkallelse"
_Q = f"{{{NS}}}"

TITLES = {
    "XML_NAMESPACE": "Dokumentet är inte en samtyckesåterkallelse",
    "ATERKALLELSE_XSD": "Återkallelsen följer inte schemat för samtyckesåterkallelser",
    "PERSONNUMMER": "Personnumret är inte giltigt",
}


@dataclass(frozen=True)
class Aterkallelse:
    """A registered consent withdrawal: who withdrew (personnummer) the consent given to which
    sender unit (its organisation and functional address) towards which vårdcentral."""

    id: str
    registrerad: dt.datetime
    organisation: str
    funktionsadress: str
    vardcentral_hsa_id: str
    personnummer: str = field(repr=False)
    aterkallat: dt.date


def build_withdrawal_xml(notice: Aterkallelse) -> bytes:
    """Return the notice as UTF-8 XML valid against the XSD; raise FormError if it is not."""
    root = etree.Element(_Q + ROOT, nsmap={None: NS})
    root.set("version", VERSION)
    _sub(root, "id", notice.id)
    _sub(root, "registrerad", notice.registrerad.isoformat())
    sender = _sub(root, "avsandare")
    _sub(sender, "organisation", notice.organisation)
    _sub(sender, "funktionsadress", notice.funktionsadress)
    _sub(root, "vardcentral").set("hsaId", notice.vardcentral_hsa_id)
    _sub(root, "personnummer", notice.personnummer)
    _sub(root, "aterkallat", notice.aterkallat.isoformat())
    _validate(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def parse_withdrawal_xml(data: bytes) -> Aterkallelse:
    """Return the notice in `data`, read with the hardened parser and validated against the XSD
    and the personnummer's check digit; raise FormError listing what is wrong."""
    root = parse_xml(data, limits=DEFAULT_LIMITS)
    if root.tag != _Q + ROOT:
        raise FormError([_issue("XML_NAMESPACE", f"Rotelementet ska vara {ROOT} i namnrymden "
                                f"{NS}.", element_path(root), root.sourceline)])
    _validate(root)
    personnummer = _text(root, "personnummer")
    try:
        parse_personnummer(personnummer)
    except IdentifierError as exc:
        raise FormError([_issue("PERSONNUMMER", exc.detail, f"/{ROOT}/personnummer")]) from None
    sender = root.find(_Q + "avsandare")
    vardcentral = root.find(_Q + "vardcentral")
    assert sender is not None and vardcentral is not None  # required by the XSD
    return Aterkallelse(
        id=_text(root, "id").lower(),
        registrerad=dt.datetime.fromisoformat(_text(root, "registrerad")),
        organisation=_text(sender, "organisation"),
        funktionsadress=_text(sender, "funktionsadress"),
        vardcentral_hsa_id=vardcentral.get("hsaId", ""),
        personnummer=personnummer,
        aterkallat=dt.date.fromisoformat(_text(root, "aterkallat")),
    )


def _issue(code: str, detail: str, path: str = "", line: int | None = None) -> FormIssue:
    return FormIssue(code, TITLES.get(code, code), detail, line, path)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _Q + name)
    element.text = text
    return element


def _text(parent: etree._Element, name: str) -> str:
    return (parent.findtext(_Q + name) or "").strip()


def _validate(root: etree._Element) -> None:
    schema = load_schema(SAMTYCKESATERKALLELSE_XSD)
    issues = [
        # Without the value: it may be the personnummer.
        _issue("ATERKALLELSE_XSD", redact_schema_message(entry.message, NS), path,
               entry.line or None)
        for entry, path in schema_errors(schema, root)
    ]
    if issues:
        raise FormError(issues, total=len(schema.error_log))
