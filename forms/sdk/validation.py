"""Checking SDK documents against a profile in code: structure, datatypes, rule ids, one report.

DIGG publishes each envelope profile as an XSD plus XSLT 2.0 schematron. The project checks
the same things here without either: a content model (which elements, in which order, how
many, what text) and the profile's business rules, each problem reported with the rule id
DIGG uses (`R3-XHE`, `R8-APP`, ...) or `XSD` for what a schema validator would refuse, the
element's path and its line. The verdict is derived from the frozen report.
"""

from __future__ import annotations

import calendar
import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from forms.errors import MAX_ISSUES, FormError, FormIssue
from forms.xmlsafe import element_path

# The rule id of problems an XSD validator would report (order, datatypes, attributes).
SCHEMA = "XSD"
# Reports are bounded: a hostile document must not make a receipt of a million lines.
MAX_PROBLEMS = MAX_ISSUES

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# xsi attributes an XSD validator accepts on any element without changing its type.
_XSI_ALLOWED = frozenset({f"{{{XSI}}}schemaLocation", f"{{{XSI}}}noNamespaceSchemaLocation"})

# XPath's normalize-space strips and collapses exactly these four characters.
_XML_SPACE = re.compile(r"[ \t\r\n]+")


def normalize_space(value: str | None) -> str:
    """Return value as XPath's normalize-space() does (None counts as empty)."""
    return _XML_SPACE.sub(" ", value or "").strip(" ")


@dataclass(frozen=True)
class Problem:
    """One finding: the rule broken, a Swedish message, and where (path, line)."""

    rule: str
    message: str
    path: str
    line: int | None = None

    @property
    def schema(self) -> bool:
        """True when a schema validator would report it (a receipt's SV); else a rule (BV)."""
        return self.rule == SCHEMA

    def as_issue(self) -> FormIssue:
        return FormIssue(self.rule, self.message, "", self.line, self.path)


def unreadable(message: str, path: str) -> FormError:
    """Return the FormError for a checked document whose value still cannot be read."""
    return FormError([Problem(SCHEMA, message, path).as_issue()])


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found in one document (at most MAX_PROBLEMS); `valid` is the verdict."""

    document: str
    problems: tuple[Problem, ...]
    truncated: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def rules(self) -> tuple[str, ...]:
        """The rule ids broken, each once, in the order first found."""
        return tuple(dict.fromkeys(problem.rule for problem in self.problems))

    def raise_for_problems(self) -> None:
        """Raise FormError listing every problem; return quietly when the document is valid."""
        if self.problems:
            raise FormError(problem.as_issue() for problem in self.problems)


@dataclass
class Findings:
    """Collects problems up to a limit; anything past it only marks the report truncated."""

    limit: int = MAX_PROBLEMS
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False

    def add(self, rule: str, message: str, where: etree._Element | str) -> None:
        if len(self.problems) >= self.limit:
            self.truncated = True
            return
        if isinstance(where, str):
            self.problems.append(Problem(rule, message, where))
        else:
            self.problems.append(Problem(rule, message, element_path(where), where.sourceline))

    def report(self, document: str) -> ValidationReport:
        return ValidationReport(document, tuple(self.problems), self.truncated)


class Text(enum.Enum):
    """The datatype of a leaf's text, as the profile's XSD declares it."""

    STRING = "string"
    DATETIME = "dateTime"
    DATE = "date"
    TIME = "time"
    BOOLEAN = "boolean"


class Content(enum.Enum):
    ELEMENTS = "elements"  # child elements only, in the model's order
    LEAF = "leaf"  # text of a datatype, no child elements
    ANY = "any"  # mixed content with at most one element of another namespace (xsd:any lax)
    OPAQUE = "opaque"  # checked elsewhere (a ds:Signature is the verifier's business)


@dataclass(frozen=True)
class Node:
    """One element of a content model: name, occurrences, and what it may contain.

    `attributes` are those the profile allows; `schema_attributes` those the underlying
    standard's XSD allows besides, which the profile forbids (reported as the profile's R1).
    """

    name: str
    min: int = 1
    max: int | None = 1
    children: tuple[Node, ...] = ()
    text: Text | None = None
    content: Content | None = None
    attributes: frozenset[str] = frozenset()
    schema_attributes: frozenset[str] = frozenset()

    @property
    def kind(self) -> Content:
        if self.content is not None:
            return self.content
        return Content.ELEMENTS if self.children else Content.LEAF


@dataclass(frozen=True)
class Profile:
    """The rule ids a profile uses for unknown elements and for wrong occurrences."""

    unknown: str
    cardinality: str


def local(name: str) -> str:
    return etree.QName(name).localname


def check_structure(root: etree._Element, model: Node, profile: Profile, out: Findings) -> bool:
    """Check root against model, adding problems to out; return False when root is not it."""
    if root.tag != model.name:
        out.add(SCHEMA, f"Rotelementet ska vara {local(model.name)} i rätt namnrymd, "
                        f"men är {root.tag}.", root)
        return False
    _check_element(root, model, profile, out)
    return True


def _check_element(element: etree._Element, model: Node, profile: Profile, out: Findings) -> None:
    _check_attributes(element, model, profile, out)
    kind = model.kind
    if kind is Content.OPAQUE:
        return
    if kind is Content.LEAF:
        _check_leaf(element, model, profile, out)
    elif kind is Content.ANY:
        _check_any(element, out)
    else:
        _check_children(element, model, profile, out)


def _check_attributes(
    element: etree._Element, model: Node, profile: Profile, out: Findings
) -> None:
    for name in element.attrib:
        if name in model.attributes or name in _XSI_ALLOWED:
            continue
        if name in model.schema_attributes:
            out.add(profile.unknown, f"Attributet {name} ska inte anges på "
                                     f"{local(model.name)} enligt profilen.", element)
        else:
            out.add(SCHEMA, f"Attributet {name} är inte tillåtet på {local(model.name)}.",
                    element)


def _check_leaf(element: etree._Element, model: Node, profile: Profile, out: Findings) -> None:
    for child in element:
        if isinstance(child.tag, str):
            out.add(profile.unknown, f"Elementet {local(child.tag)} ska inte förekomma i "
                                     f"{local(model.name)}.", child)
    value = "".join(element.itertext())
    datatype = model.text or Text.STRING
    if not valid_lexical(datatype, value):
        shown = value.strip()[:60]
        out.add(SCHEMA, f"Värdet '{shown}' är inte giltigt som {datatype.value} "
                        f"i {local(model.name)}.", element)


def _check_any(element: etree._Element, out: Findings) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    if len(children) > 1:
        out.add(SCHEMA, f"{local(element.tag)} får innehålla högst ett element.", children[1])
    own = etree.QName(element).namespace
    for child in children:
        namespace = etree.QName(child).namespace
        if namespace is None or namespace == own:
            out.add(SCHEMA, f"Elementet {local(child.tag)} måste ha en annan namnrymd än "
                            f"{local(element.tag)}.", child)


def _check_children(
    element: etree._Element, model: Node, profile: Profile, out: Findings
) -> None:
    if _has_text(element):
        out.add(SCHEMA, f"Text är inte tillåten direkt i {local(model.name)}.", element)
    by_name = {child.name: index for index, child in enumerate(model.children)}
    counts = [0] * len(model.children)
    last = -1
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments were dropped by the parser; nothing else can be here
        index = by_name.get(child.tag)
        if index is None:
            out.add(profile.unknown, f"Elementet {local(child.tag)} ska inte förekomma i "
                                     f"{local(model.name)}.", child)
            continue
        if index < last:
            previous = local(model.children[last].name)
            out.add(SCHEMA, f"Elementet {local(child.tag)} ska stå före {previous}.", child)
        last = max(last, index)
        counts[index] += 1
        _check_element(child, model.children[index], profile, out)
    for node, count in zip(model.children, counts, strict=True):
        if count < node.min:
            out.add(profile.cardinality, f"{local(node.name)} saknas i {local(model.name)} "
                                         f"(ska anges minst {node.min} gång(er)).", element)
        elif node.max is not None and count > node.max:
            out.add(profile.cardinality, f"{local(node.name)} får anges högst {node.max} "
                                         f"gång(er) i {local(model.name)}, anges {count}.",
                    element)


def _has_text(element: etree._Element) -> bool:
    if element.text and element.text.strip():
        return True
    return any(child.tail and child.tail.strip() for child in element)


def check_empty(
    root: etree._Element,
    rule: str,
    out: Findings,
    *,
    skip: Callable[[etree._Element], bool],
) -> None:
    """Report elements without child elements and text, and blank attributes, under `rule`.

    `skip(element)` exempts an element from the element check (DIGG's rules exempt XML
    Encryption and XMLDSig elements, and the XHE's payload).
    """
    for element in root.iter():
        if not isinstance(element.tag, str) or skip(element):
            continue
        has_children = any(isinstance(child.tag, str) for child in element)
        if not has_children and not normalize_space("".join(element.itertext())):
            out.add(rule, f"Elementet {local(element.tag)} är tomt; tomma element ska inte "
                          "anges.", element)
        for name, value in element.attrib.items():
            if not normalize_space(value):
                out.add(rule, f"Attributet {name} på {local(element.tag)} är tomt; tomma "
                              "attribut ska inte anges.", element)


def children_named(parent: etree._Element | None, *path: str) -> Iterator[etree._Element]:
    """Yield the elements reached from parent by the expanded names in path, in order."""
    if parent is None:
        return
    if not path:
        yield parent
        return
    for child in parent.iterchildren(path[0]):
        yield from children_named(child, *path[1:])


# --- XSD datatypes (lexical spaces of XML Schema 1.0, as libxml2 checks them) ---------------

_TZ = r"(?:Z|[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00))?"
_YMD = r"(-?(?:[1-9]\d{4,}|\d{4}))-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_HMS = r"(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?|24:00:00(?:\.0+)?)"
_DATETIME = re.compile(f"{_YMD}T{_HMS}{_TZ}")
_DATE = re.compile(f"{_YMD}{_TZ}")
_TIME = re.compile(f"{_HMS}{_TZ}")
_BOOLEANS = frozenset({"true", "false", "1", "0"})


def valid_lexical(datatype: Text, value: str) -> bool:
    """Return True when value (whitespace collapsed as the XSD type does) is of datatype."""
    if datatype is Text.STRING:
        return True
    collapsed = value.strip(" \t\r\n")
    if datatype is Text.BOOLEAN:
        return collapsed in _BOOLEANS
    if datatype is Text.TIME:
        return _TIME.fullmatch(collapsed) is not None
    pattern = _DATETIME if datatype is Text.DATETIME else _DATE
    match = pattern.fullmatch(collapsed)
    return match is not None and _real_day(*match.groups()[:3])


def _real_day(year: str, month: str, day: str) -> bool:
    number = int(year)
    if number == 0:  # XML Schema 1.0 has no year zero
        return False
    return int(day) <= calendar.monthrange(2000 if calendar.isleap(number) else 2001,
                                           int(month))[1]
