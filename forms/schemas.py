"""The project's XSDs (in the repository's `schemas/` folder), compiled once per thread."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from forms.errors import MAX_ISSUES
from forms.xmlsafe import element_path

# The canonical XSDs live in `schemas/` beside this package; the project is installed from
# its checkout (`pip install -e .`, as the Makefile, CI and deploy do), so they are found here.
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

HALSOFORFRAGAN_XSD = "halsoforfragan-1.xsd"
HALSOFORFRAGAN_SVAR_XSD = "halsoforfragan-svar-1.xsd"
SDK_MESSAGE_XSD = "sdk-message-3.xsd"
SAMTYCKESATERKALLELSE_XSD = "samtyckesaterkallelse-1.xsd"
SIP_XSD = "sip-1.xsd"

# Swedish titles for libxml2's most common XSD errors, by the log entry's type name.
XSD_TITLES = {
    "SCHEMAV_ELEMENT_CONTENT": "Ett element saknas eller står på fel plats",
    "SCHEMAV_CVC_PATTERN_VALID": "Värdet har fel format",
    "SCHEMAV_CVC_ENUMERATION_VALID": "Värdet är inte ett av de tillåtna",
    "SCHEMAV_CVC_MAXLENGTH_VALID": "Värdet är för långt",
    "SCHEMAV_CVC_MINLENGTH_VALID": "Värdet saknas eller är för kort",
    "SCHEMAV_CVC_COMPLEX_TYPE_4": "Ett obligatoriskt attribut saknas",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1": "Attributet är inte tillåtet här",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2": "Attributet är inte tillåtet här",
}
XSD_DEFAULT_TITLE = "Värdet är inte giltigt enligt schemat"
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")

# An XMLSchema keeps its error_log on the instance, so concurrent validations in one process
# (threaded web workers) each need their own instance.
_local = threading.local()


def schema_path(name: str) -> Path:
    """Return the path of the XSD `name`; raise FileNotFoundError if it is not installed."""
    path = SCHEMA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"XSD {name} not found in {SCHEMA_DIR}")
    return path


def load_schema(name: str) -> etree.XMLSchema:
    """Return this thread's compiled XSD `name` (our own files: no network, no DTD)."""
    cache: dict[str, etree.XMLSchema] = _local.__dict__.setdefault("schemas", {})
    schema = cache.get(name)
    if schema is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema = etree.XMLSchema(etree.parse(str(schema_path(name)), parser))
        cache[name] = schema
    return schema


def schema_errors(
    schema: etree.XMLSchema, root: etree._Element, *, limit: int = MAX_ISSUES
) -> Iterator[tuple[etree._LogEntry, str]]:
    """Validate the tree of `root` and yield the first `limit` XSD errors, each with the element
    path (forms.xmlsafe.element_path) of the node it names, "/@name" added for an attribute
    error; the path is "" where the node cannot be found. `len(schema.error_log)` then counts
    them all."""
    for entry, element in itertools.islice(schema_error_elements(schema, root), limit):
        yield entry, element_path(element) + attribute_step(entry) if element is not None else ""


def attribute_step(entry: etree._LogEntry) -> str:
    """Return "/@name" when the XSD error is about attribute `name`, else ""."""
    attribute = _ATTRIBUTE.search(entry.message)
    return f"/@{attribute.group(1)}" if attribute else ""


def schema_error_elements(
    schema: etree.XMLSchema, root: etree._Element, *, limit: int | None = None
) -> Iterator[tuple[etree._LogEntry, etree._Element | None]]:
    """Validate the tree of `root` and yield each XSD error with the element it names (None
    where it cannot be found, and after the first `limit` errors: finding one walks the tree)."""
    if schema.validate(root.getroottree()):
        return
    # libxml2's paths use the document's own prefixes, e.g. /ns2:messagePayload/ns2:message.
    prefixes: dict[str, str] = {}
    for element in root.iter(etree.Element):
        for prefix, uri in element.nsmap.items():
            if prefix:
                prefixes.setdefault(prefix, uri)
    for n, entry in enumerate(schema.error_log):
        found = _error_element(root, entry, prefixes) if limit is None or n < limit else None
        yield entry, found


def _error_element(
    root: etree._Element, entry: etree._LogEntry, prefixes: dict[str, str]
) -> etree._Element | None:
    if not entry.path:
        return None
    try:
        nodes = root.getroottree().xpath(entry.path, namespaces=prefixes)
    except etree.XPathError:
        return None
    if isinstance(nodes, list) and nodes and isinstance(nodes[0], etree._Element):
        return nodes[0]
    return None


def redact_schema_message(message: str, namespace: str) -> str:
    """Return libxml2's message without `namespace` and without the offending value, which
    may be personal or health data (a personnummer, a name, a label)."""
    message = message.replace(f"{{{namespace}}}", "")
    message = re.sub(
        r"The value '.*?' (?=is not|does not|has a length)", "The value ", message, flags=re.S
    )
    return re.sub(r": '.*?' (?=is not a valid value)", ": The value ", message, flags=re.S)
