"""The form types the gateway carries, and the registry that picks one by the document's root
element and namespace: what is specific to a form type lives in its module (forms.halsoforfragan,
forms.sip); intake, routing and the channels take a `FormKind` and do the rest once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from lxml import etree

from forms import halsoforfragan, sip
from forms.errors import FormError, issue
from forms.halsoforfragan import Avsandare, Mottagare, Person, Samtycke
from forms.xmlsafe import DEFAULT_LIMITS, Limits, element_path, parse_xml


class IntakeForm(Protocol):
    """What the intake reads of a form of any type: the sender's id for it, when it was made,
    who sends it, to which care unit, about whom, and the consent (forms.consent's rules)."""

    ROOT: ClassVar[str]

    @property
    def id(self) -> str: ...

    @property
    def skapad(self) -> dt.datetime: ...

    @property
    def skapad_datum(self) -> dt.date: ...

    @property
    def avsandare(self) -> Avsandare: ...

    @property
    def mottagare(self) -> Mottagare: ...

    @property
    def person(self) -> Person: ...

    @property
    def samtycke(self) -> Samtycke: ...

    def line(self, path: str) -> int | None: ...


@dataclass(frozen=True)
class FormKind:
    """One form type: its name (inquiries.form_type), the root element and namespace that
    identify its documents, its Swedish name, and its reader (checks, XSD, its own rules)."""

    name: str
    namespace: str
    root: str
    title: str
    read: Callable[[etree._Element], IntakeForm]

    @property
    def label(self) -> str:
        """The label of its SDK message ("Hälsoförfrågan", "SIP-kallelse")."""
        return self.title[:1].upper() + self.title[1:]

    @property
    def reply_label(self) -> str:
        """The label of the SDK message that answers it ("Svar på hälsoförfrågan")."""
        return f"Svar på {self.title}"


HALSOFORFRAGAN = FormKind("halsoforfragan", halsoforfragan.NS, halsoforfragan.Halsoforfragan.ROOT,
                          "hälsoförfrågan", halsoforfragan.read_halsoforfragan)
SIP = FormKind("sip", sip.NS, sip.KALLELSE, "SIP-kallelse", sip.read_sip_kallelse)
KINDS: tuple[FormKind, ...] = (HALSOFORFRAGAN, SIP)


def kind_named(name: str) -> FormKind:
    """Return the form type called `name`; raise ValueError for an unknown one."""
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise ValueError(f"unknown form type {name!r}")


def kind_of(root: etree._Element) -> FormKind:
    """Return the form type whose documents have `root`'s element and namespace; raise
    FormError XML_NAMESPACE naming the ones the gateway takes."""
    for kind in KINDS:
        if root.tag == f"{{{kind.namespace}}}{kind.root}":
            return kind
    known = ", ".join(f"{kind.root} i {kind.namespace}" for kind in KINDS)
    raise FormError([issue("XML_NAMESPACE", f"Rotelementet ska vara ett av: {known}.",
                           line=root.sourceline, path=element_path(root))])


def parse_form(data: bytes, *, kind: FormKind | None = None,
               limits: Limits = DEFAULT_LIMITS) -> tuple[FormKind, IntakeForm]:
    """Return the form type and the form in `data`: of `kind` when given (another type's
    document is refused), else of the type its root names. Raises FormError."""
    root = parse_xml(data, limits=limits)
    found = kind or kind_of(root)
    return found, found.read(root)
