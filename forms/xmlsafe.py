"""Hardened XML parsing: UTF-8 only, no DTDs, entities, network or processing instructions,
bounded size, depth and element count; every refusal a FormError naming the line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from forms.errors import FormError, FormIssue, issue

MIB = 1024 * 1024

# libxml2 refuses a text node above 10,000,000 bytes unless huge_tree is on, which we keep
# off; so no valid document is much larger than that and 12 MiB is a safe default ceiling.
DEFAULT_MAX_BYTES = 12 * MIB
# Bytes fed to the incremental parser at a time (Limits.huge_text): small enough that a document
# of many tiny elements is stopped within a few thousand elements of max_elements.
_CHUNK = 64 * 1024

_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\Z")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(
    rb"(?:\xef\xbb\xbf)?<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*([\"'])(.*?)\1",
    re.DOTALL,
)
_FOREIGN_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# A character that XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF):
# lxml refuses to put one into a tree, so builders check text with this first.
NOT_XML_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Limits:
    """Bounds on an input document; the defaults fit a hälsoförfrågan with its consent PDF."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = 16
    max_elements: int = 5000
    # Allow text nodes above libxml2's 10 MB (huge_tree), for documents that carry large base64
    # files (the SDK message, up to 30 MB). Safe only together with the other bounds: the DOCTYPE
    # is refused before parsing (so no entity can expand), max_bytes bounds every text and name,
    # and depth and element count are enforced while parsing, chunk by chunk, so that a document
    # of millions of tiny elements is stopped early instead of being built whole.
    huge_text: bool = False


DEFAULT_LIMITS = Limits()


def parse_xml(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Return the root element of `data`; raise FormError if it is not safe, well-formed XML.

    Comments are dropped; CDATA becomes text. A DOCTYPE, a processing instruction, an
    encoding other than UTF-8, or a document beyond `limits` is refused.
    """
    if not isinstance(data, bytes):
        raise TypeError("parse_xml takes bytes")
    _check_bytes(data, limits)
    root = _parse_incrementally(data, limits) if limits.huge_text else _parse(data)
    _check_tree(root, limits)
    return root


def element_path(element: etree._Element) -> str:
    """Return a readable path of local names, e.g. /halsoforfragan/fragor/fraga[2].

    An index is added only where siblings share the element's name.
    """
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        steps.append(_step(node))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def _step(node: etree._Element) -> str:
    name = etree.QName(node).localname
    parent = node.getparent()
    if parent is None:
        return name
    same = [sibling for sibling in parent if sibling.tag == node.tag]
    if len(same) == 1:
        return name
    return f"{name}[{same.index(node) + 1}]"


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_bytes(data: bytes, limits: Limits) -> None:
    if len(data) > limits.max_bytes:
        raise FormError(
            [issue("XML_TOO_LARGE", f"Dokumentet är {len(data)} byte; högst {limits.max_bytes}.")]
        )
    if _BLANK.match(data):
        raise FormError([issue("XML_EMPTY", "Dokumentet innehåller ingen XML.")])
    _check_encoding(data)
    doctype = _DOCTYPE.search(data)
    if doctype:
        raise FormError(
            [
                issue(
                    "XML_DTD",
                    "DTD:er och entiteter tas inte emot.",
                    line=_line_at(data, doctype.start()),
                )
            ]
        )


def _check_encoding(data: bytes) -> None:
    # UTF-16 and UTF-32 are recognised by a BOM or by NUL bytes among the first four.
    if data.startswith(_FOREIGN_BOMS) or b"\x00" in data[:4]:
        raise FormError([issue("XML_ENCODING", "Dokumentet är inte kodat i UTF-8.", line=1)])
    declared = _DECLARED_ENCODING.match(data[:512])
    if declared and declared.group(2).decode("ascii", "replace").lower() != "utf-8":
        raise FormError(
            [
                issue(
                    "XML_ENCODING",
                    "XML-deklarationen anger en annan teckenkodning än UTF-8.",
                    line=1,
                )
            ]
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(
            [
                issue(
                    "XML_ENCODING",
                    "Dokumentet innehåller byte som inte är giltig UTF-8.",
                    line=_line_at(data, exc.start),
                )
            ]
        ) from None


_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    # Kept so that they can be refused below rather than silently dropped.
    "remove_pis": False,
    "remove_comments": True,
    "strip_cdata": True,
    "collect_ids": False,
}


def _parser() -> etree.XMLParser:
    # A new parser per document: lxml parsers are not safe to share between threads.
    return etree.XMLParser(huge_tree=False, **_PARSER_OPTIONS)


def _parse(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise FormError([_syntax_issue(exc)]) from None


def _parse_incrementally(data: bytes, limits: Limits) -> etree._Element:
    """Parse with huge text nodes allowed, refusing too deep or too many elements as soon as
    a chunk shows them (see Limits.huge_text)."""
    parser = etree.XMLPullParser(events=("start", "end"), huge_tree=True, **_PARSER_OPTIONS)
    shape = _Shape(limits)
    try:
        for offset in range(0, len(data), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
            shape.see(parser.read_events())
        return parser.close()
    except etree.XMLSyntaxError as exc:
        raise FormError([_syntax_issue(exc)]) from None


def _syntax_issue(exc: etree.XMLSyntaxError) -> FormIssue:
    # libxml2 appends ", line N, column M"; the place is given in Swedish below instead.
    message = re.sub(r", line \d+, column \d+\Z", "", str(exc.msg or exc))
    line = exc.lineno if exc.lineno else None
    if "Excessive depth" in message:
        return issue("XML_TOO_DEEP", "Elementen är nästlade för djupt.", line=line)
    if "Resource limit" in message or "too long" in message or "huge" in message.lower():
        return issue(
            "XML_TOO_LARGE",
            "En text i dokumentet är för stor (högst 10 000 000 tecken; en bilaga högst ca 7 MB).",
            line=line,
        )
    column = exc.position[1] if exc.position else None
    where = f" (rad {line}, kolumn {column})" if line else ""
    return issue("XML_SYNTAX", f"Fel från XML-tolken: {message}{where}", line=line)


def _check_tree(root: etree._Element, limits: Limits) -> None:
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise FormError([issue("XML_DTD", "DTD:er och entiteter tas inte emot.", line=1)])
    for node in (*root.itersiblings(preceding=True), *root.itersiblings(), *root.iter(etree.PI)):
        if isinstance(node, etree._ProcessingInstruction):
            raise FormError(
                [issue("XML_PI", "Processinstruktioner tas inte emot.", line=node.sourceline)]
            )
    _check_shape(root, limits)


def _check_shape(root: etree._Element, limits: Limits) -> None:
    _Shape(limits).see(etree.iterwalk(root, events=("start", "end")))


class _Shape:
    """Depth and element count over start and end events; a FormError past the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.depth = 0
        self.count = 0

    def see(self, events: Iterable[tuple[str, etree._Element]]) -> None:
        for event, element in events:
            if event == "end":
                self.depth -= 1
                continue
            self.depth += 1
            self.count += 1
            _check_counts(element, self.depth, self.count, self.limits)


def _check_counts(element: etree._Element, depth: int, count: int, limits: Limits) -> None:
    if depth > limits.max_depth:
        raise FormError(
            [
                issue(
                    "XML_TOO_DEEP",
                    f"Elementen är nästlade i mer än {limits.max_depth} nivåer.",
                    line=element.sourceline,
                    path=element_path(element),
                )
            ]
        )
    if count > limits.max_elements:
        raise FormError(
            [
                issue(
                    "XML_TOO_MANY_ELEMENTS",
                    f"Dokumentet har fler än {limits.max_elements} element.",
                    line=element.sourceline,
                )
            ]
        )
