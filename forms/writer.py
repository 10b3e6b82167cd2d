"""Writing a hälsoförfrågan (DESIGN 5.1) and SIP's invitation and reply (5.8) as XML: the inverse
of `parse_halsoforfragan`, `parse_sip_kallelse` and `parse_sip_svar`.

Two layers: `write_halsoforfragan` and `write_sip_kallelse` write a typed form (what the web
forms and the demo build); the `*_text` writers write every element as the text it will have,
so that tests can also write what the parser must refuse. The element names and their order
are written down here once.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from lxml import etree

from forms import sip
from forms.halsoforfragan import NS, VERSION, Halsoforfragan


@dataclass(frozen=True)
class HeadText:
    """The elements every form type begins with (id, skapad, avsandare, mottagare, person,
    samtycke) as text, in schema order.

    None leaves an element (or attribute) out, "" writes it empty. An element that holds
    others is written when any of them is. `mottagare` are the consent's recipients; `bilaga`
    is the base64 text of the consent PDF.
    """

    id: str | None = None
    skapad: str | None = None
    organisation: str | None = None
    enhet: str | None = None
    funktionsadress: str | None = None
    handlaggare_namn: str | None = None
    titel: str | None = None
    handlaggare_telefon: str | None = None
    epost: str | None = None
    vardcentral: str | None = None
    vardcentral_namn: str | None = None
    personnummer: str | None = None
    person_namn: str | None = None
    person_telefon: str | None = None
    tolkbehov: str | None = None
    givet: str | None = None
    giltigt_till: str | None = None
    samtycke_form: str | None = None
    uppgiftslamnare: str | None = None
    mottagare: tuple[str, ...] | None = None
    syfte: str | None = None
    dokumenterat_av: str | None = None
    bilaga: str | None = None
    bilaga_filnamn: str | None = None


@dataclass(frozen=True)
class HalsoforfraganText(HeadText):
    """Every element and attribute of a hälsoförfrågan as text, in schema order (see HeadText);
    `fragor` are (code, text) pairs."""

    bakgrund: str | None = None
    planerade_insatser: str | None = None
    fragor: tuple[tuple[str, str | None], ...] | None = None
    svar_senast: str | None = None
    version: str | None = VERSION
    namespace: str = NS


def write_halsoforfragan(form: Halsoforfragan) -> bytes:
    """Return `form` as UTF-8 XML that `parse_halsoforfragan` reads back as an equal object.

    svarSenast is written only when the sender gave it (`svar_senast_angiven`).
    """
    return write_halsoforfragan_text(halsoforfragan_text(form))


def halsoforfragan_text(form: Halsoforfragan) -> HalsoforfraganText:
    """Return the text of every element of `form`, as `write_halsoforfragan` writes it."""
    return HalsoforfraganText(
        **_head_values(form),
        bakgrund=form.bakgrund,
        planerade_insatser=form.planerade_insatser,
        fragor=tuple((fraga.kod.value, fraga.text) for fraga in form.fragor),
        svar_senast=form.svar_senast.isoformat() if form.svar_senast_angiven else None,
        version=form.version,
    )


def _head_values(form: Halsoforfragan | sip.SipKallelse) -> dict[str, Any]:
    """Return the HeadText fields of a form of either type (the parts they share)."""
    sender, person, consent = form.avsandare, form.person, form.samtycke
    bilaga = consent.bilaga
    return {
        "id": form.id,
        "skapad": form.skapad.isoformat(),
        "organisation": sender.organisation,
        "enhet": sender.enhet,
        "funktionsadress": sender.funktionsadress,
        "handlaggare_namn": sender.handlaggare.namn,
        "titel": sender.handlaggare.titel.value,
        "handlaggare_telefon": sender.handlaggare.telefon,
        "epost": sender.handlaggare.epost,
        "vardcentral": form.mottagare.hsa_id,
        "vardcentral_namn": form.mottagare.namn,
        "personnummer": person.personnummer,
        "person_namn": person.namn,
        "person_telefon": person.telefon,
        "tolkbehov": person.tolkbehov_sprak,
        "givet": consent.givet.isoformat(),
        "giltigt_till": consent.giltigt_till.isoformat(),
        "samtycke_form": consent.form.value,
        "uppgiftslamnare": consent.uppgiftslamnare_hsa_id,
        "mottagare": tuple(m.value for m in consent.mottagare),
        "syfte": consent.syfte.value,
        "dokumenterat_av": consent.dokumenterat_av,
        "bilaga": base64.b64encode(bilaga.innehall).decode("ascii") if bilaga else None,
        "bilaga_filnamn": bilaga.filnamn if bilaga else None,
    }


def write_halsoforfragan_text(text: HalsoforfraganText) -> bytes:
    """Return `text` as UTF-8 XML with a declaration, one element a line, whatever it holds."""
    writer = _Writer(text.namespace)
    root = writer.root("halsoforfragan", version=text.version)
    _write_head(writer, root, text)
    writer.add(root, "bakgrund", text.bakgrund)
    writer.add(root, "planeradeInsatser", text.planerade_insatser)
    if text.fragor is not None:
        fragor = writer.add(root, "fragor", "")
        for kod, question in text.fragor:
            writer.add(fragor, "fraga", question or "", kod=kod)
    writer.add(root, "svarSenast", text.svar_senast)
    return writer.finish(root)


@dataclass(frozen=True)
class SipKallelseText(HeadText):
    """Every element of a SIP invitation as text (see HeadText); `sip_syfte` is the root's
    syfte (why coordination is needed), `syfte` the consent's; `deltagare` (roll, name)."""

    syfte: str | None = "SIP"
    sip_syfte: str | None = None
    mote_tid: str | None = None
    langd_minuter: str | None = None
    plats: str | None = None
    digital_lank: str | None = None
    deltagare: tuple[tuple[str, str], ...] | None = None
    svar_senast: str | None = None
    version: str | None = sip.VERSION
    namespace: str = sip.NS


@dataclass(frozen=True)
class SipSvarText:
    """Every element of a reply to a SIP invitation as text; None leaves it out."""

    id: str | None = None
    kallelse: str | None = None
    skapad: str | None = None
    besvarare: str | None = None
    besvarare_hsa_id: str | None = None
    beslut: str | None = None
    ny_tid: str | None = None
    deltagare: tuple[str, ...] = ()
    kommentar: str | None = None
    version: str | None = sip.VERSION
    namespace: str = sip.NS


def write_sip_kallelse(form: sip.SipKallelse) -> bytes:
    """Return `form` as UTF-8 XML that `parse_sip_kallelse` reads back as an equal object."""
    mote = form.mote
    return write_sip_kallelse_text(SipKallelseText(
        **_head_values(form),
        sip_syfte=form.syfte,
        mote_tid=mote.tid.isoformat(),
        langd_minuter=str(mote.langd_minuter),
        plats=mote.plats,
        digital_lank=mote.digital_lank,
        deltagare=tuple((d.roll.value, d.namn) for d in form.deltagare),
        svar_senast=form.svar_senast.isoformat(),
        version=form.version,
    ))


def write_sip_kallelse_text(text: SipKallelseText) -> bytes:
    """Return the invitation as UTF-8 XML with a declaration, one element a line."""
    writer = _Writer(text.namespace)
    root = writer.root(sip.KALLELSE, version=text.version)
    _write_head(writer, root, text)
    writer.add(root, "syfte", text.sip_syfte)
    mote = writer.add(root, "mote")
    writer.add(mote, "tid", text.mote_tid)
    writer.add(mote, "langdMinuter", text.langd_minuter)
    writer.add(mote, "plats", text.plats)
    writer.add(mote, "digitalLank", text.digital_lank)
    for roll, namn in text.deltagare or ():
        writer.add(root, "deltagare", namn, roll=roll)
    writer.add(root, "svarSenast", text.svar_senast)
    return writer.finish(root)


def write_sip_svar_text(text: SipSvarText) -> bytes:
    """Return the reply as UTF-8 XML with a declaration, one element a line."""
    writer = _Writer(text.namespace)
    root = writer.root(sip.SVAR, version=text.version)
    writer.add(root, "id", text.id)
    writer.add(root, "kallelse", text.kallelse)
    writer.add(root, "skapad", text.skapad)
    writer.add(root, "besvarare", text.besvarare, hsaId=text.besvarare_hsa_id)
    writer.add(root, "beslut", text.beslut)
    writer.add(root, "nyTid", text.ny_tid)
    for namn in text.deltagare:
        writer.add(root, "deltagare", namn)
    writer.add(root, "kommentar", text.kommentar)
    return writer.finish(root)


def _write_head(writer: _Writer, root: etree._Element, text: HeadText) -> None:
    writer.add(root, "id", text.id)
    writer.add(root, "skapad", text.skapad)
    avsandare = writer.add(root, "avsandare")
    writer.add(avsandare, "organisation", text.organisation)
    writer.add(avsandare, "enhet", text.enhet)
    writer.add(avsandare, "funktionsadress", text.funktionsadress)
    handlaggare = writer.add(avsandare, "handlaggare")
    writer.add(handlaggare, "namn", text.handlaggare_namn)
    writer.add(handlaggare, "titel", text.titel)
    writer.add(handlaggare, "telefon", text.handlaggare_telefon)
    writer.add(handlaggare, "epost", text.epost)
    mottagare = writer.add(root, "mottagare")
    writer.add(mottagare, "vardcentral", text.vardcentral_namn, hsaId=text.vardcentral)
    person = writer.add(root, "person")
    writer.add(person, "personnummer", text.personnummer)
    writer.add(person, "namn", text.person_namn)
    writer.add(person, "telefon", text.person_telefon)
    writer.add(person, "tolkbehov", sprak=text.tolkbehov)
    samtycke = writer.add(root, "samtycke")
    writer.add(samtycke, "givet", text.givet)
    writer.add(samtycke, "giltigtTill", text.giltigt_till)
    writer.add(samtycke, "form", text.samtycke_form)
    writer.add(samtycke, "uppgiftslamnare", hsaId=text.uppgiftslamnare)
    for recipient in text.mottagare or ():
        writer.add(samtycke, "mottagare", recipient)
    writer.add(samtycke, "syfte", text.syfte)
    writer.add(samtycke, "dokumenteratAv", text.dokumenterat_av)
    writer.add(samtycke, "bilaga", text.bilaga, filnamn=text.bilaga_filnamn)


class _Absent:
    """No text given: the element holds others, or only attributes."""


_ABSENT = _Absent()


class _Writer:
    """Builds the tree: leaves with their text, containers kept only when they hold something."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.containers: list[etree._Element] = []

    def root(self, name: str, *, version: str | None) -> etree._Element:
        root = etree.Element(f"{{{self.namespace}}}{name}", nsmap={None: self.namespace})
        if version is not None:
            root.set("version", version)
        return root

    def add(
        self,
        parent: etree._Element,
        name: str,
        text: str | None | _Absent = _ABSENT,
        **attributes: str | None,
    ) -> etree._Element:
        """Add element `name` with `text` (None: not at all) and the attributes not None.

        Without text: with attributes, an empty element written when any attribute is given;
        without, a container, dropped at the end if nothing was added to it.
        """
        given = {key: value for key, value in attributes.items() if value is not None}
        if text is None or (isinstance(text, _Absent) and attributes and not given):
            return parent  # left out: nothing is added below it either
        element = etree.SubElement(parent, f"{{{self.namespace}}}{name}", given)
        if isinstance(text, str):
            element.text = text or None
        elif not attributes:
            self.containers.append(element)
        return element

    def finish(self, root: etree._Element) -> bytes:
        for container in reversed(self.containers):
            parent = container.getparent()
            if len(container) == 0 and parent is not None:
                parent.remove(container)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                    pretty_print=True))
