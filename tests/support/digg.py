"""DIGG's published SDK material as an independent check: where it is, and what its XSDs
(xmllint) and XSLT 2.0 schematron (saxonche) say about a document.

The material is referenced, never copied into the project. It is found through
GATEWAY_SHARED_SDK, or as a `shared/sdk` folder beside any folder above this file (the
checkout's parent in CI); tests that need it skip with a visible reason when it is absent.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree


def _find_shared_sdk() -> Path | None:
    configured = os.environ.get("GATEWAY_SHARED_SDK")
    if configured:
        return Path(configured) if Path(configured).is_dir() else None
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "sdk"
        if candidate.is_dir():
            return candidate
    return None


SDK = _find_shared_sdk()
MISSING = "DIGG's SDK material not found (set GATEWAY_SHARED_SDK or keep shared/sdk beside " \
          "the checkout)"
XMLLINT = shutil.which("xmllint")
XMLSEC1 = shutil.which("xmlsec1")

needs_sdk = pytest.mark.skipif(SDK is None, reason=MISSING)
needs_xmllint = pytest.mark.skipif(XMLLINT is None, reason="xmllint is not installed")
needs_xmlsec1 = pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 is not installed")


def sdk_path(relative: str) -> Path:
    """Return a file of DIGG's material; skip the test when the material is absent."""
    if SDK is None:
        pytest.skip(MISSING)
    return SDK / relative


XHE_XSD = "xhe/xsd/XHE-1.0.xsd"
XHE_SCHEMATRON = "xhe/schematron/DIGG-XHE-Business-Rules.xslt"
RECEIPT_XSD = "receipt/xsd/Response-2.1.xsd"
RECEIPT_SCHEMATRON = "receipt/schematron/DIGG-AppRes-Business-Rules.xslt"
MESSAGE_XSD = "message/xsd/infrastructure_messaging_MessageWithAttachments_3.0.xsd"
MESSAGE_EXAMPLE = "message/examples/messageWithAttachments3.xml"
# Schematron source with abstract patterns, no compiled form: see MessageSchematron.
MESSAGE_SCHEMATRON = "message/schematron/MessageConstraints.xml"
MESSAGE_NS = "urn:riv:infrastructure:messaging:MessageWithAttachments:3"
OPENAPI = "api/sdk-api-restful.yml"
_SCH = "http://purl.oclc.org/dsdl/schematron"
# DIGG's XHE examples, and the two envelopes among its message examples (the others are AS4).
XHE_EXAMPLES = (
    "xhe/examples/XHE-tm-base.xml",
    "xhe/examples/XHE-tm-base-ext-sigenc.xml",
    "xhe/examples/XHE-NonXML-tm-base.xml",
    "message/examples/xhe_unencrypted_payload.xml",
    "message/examples/xhe_encrypted_payload.xml",
)
RECEIPT_EXAMPLES = (
    "receipt/examples/Kvittens_AP-Accepterat.xml",
    "receipt/examples/Kvittens_RE-AnnatFel.xml",
    "receipt/examples/Kvittens_RE-SCHFel.xml",
    "receipt/examples/Kvittens_RE-SIG.xml",
    "receipt/examples/Kvittens_RE-XSDFel.xml",
)


@dataclass(frozen=True)
class DiggVerdict:
    """What DIGG's artefacts say: xmllint's errors and the ids of failed schematron asserts."""

    xsd_errors: tuple[str, ...]
    failed_asserts: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.xsd_errors and not self.failed_asserts


def xsd_errors(xsd: str, data: bytes) -> tuple[str, ...]:
    """Return xmllint's validity errors for data against DIGG's XSD (empty: it validates)."""
    if XMLLINT is None:
        pytest.skip("xmllint is not installed")
    schema = sdk_path(xsd)
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "document.xml"
        document.write_bytes(data)
        done = subprocess.run(
            [XMLLINT, "--noout", "--nonet", "--schema", str(schema), str(document)],
            capture_output=True, text=True, check=False,
        )
    if done.returncode == 0:
        return ()
    return tuple(line for line in done.stderr.splitlines() if "error" in line) or (done.stderr,)


@functools.cache
def _saxon() -> Any:
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheet(relative: str) -> Any:
    return _saxon().new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(sdk_path(relative))
    )


_FAILED = re.compile(r"<svrl:failed-assert\b[^>]*?\bid=\"([^\"]+)\"")


def schematron_failures(xslt: str, data: bytes) -> tuple[str, ...]:
    """Return the ids of the svrl:failed-assert that DIGG's compiled schematron reports."""
    stylesheet = _stylesheet(xslt)
    document = _saxon().parse_xml(xml_text=data.decode("utf-8-sig"))
    output = stylesheet.transform_to_string(xdm_node=document)
    failed = _FAILED.findall(output)
    assert len(failed) == output.count("<svrl:failed-assert"), output
    return tuple(failed)


def digg_xhe(data: bytes) -> DiggVerdict:
    """DIGG's verdict on an XHE: its XSD, then its schematron."""
    return DiggVerdict(xsd_errors(XHE_XSD, data), schematron_failures(XHE_SCHEMATRON, data))


def digg_receipt(data: bytes) -> DiggVerdict:
    """DIGG's verdict on an ApplicationResponse: its reduced UBL XSD, then its schematron."""
    return DiggVerdict(xsd_errors(RECEIPT_XSD, data),
                       schematron_failures(RECEIPT_SCHEMATRON, data))


# --- the SDK message: xmllint on many files, and the message schematron by its XPath --------


def message_testdata() -> list[Path]:
    """DIGG's error-handling test messages (testdata-felhantering/*.xml)."""
    return sorted(sdk_path("message/testdata-felhantering").glob("*.xml"))


def message_payloads() -> list[bytes]:
    """DIGG's example messages: the message example and the payload inside the unencrypted
    XHE example, each as a document of its own."""
    found = [sdk_path(MESSAGE_EXAMPLE).read_bytes()]
    xhe = etree.parse(str(sdk_path("message/examples/xhe_unencrypted_payload.xml")))
    for payload in xhe.iter(f"{{{MESSAGE_NS}}}messagePayload"):
        found.append(etree.tostring(payload, xml_declaration=True, encoding="UTF-8"))
    return found


# --- xmllint with DIGG's XSD ----------------------------------------------------------------

_ERROR = re.compile(r"^(?P<file>.+?):(?P<line>\d+): element (?P<element>[^:]+): Schemas validity")


@dataclass(frozen=True)
class LintResult:
    """xmllint's verdict on one file and the (line, element) of each error it names."""

    valid: bool
    errors: frozenset[tuple[int, str]]
    output: str


def lint_messages(paths: Iterable[Path]) -> dict[Path, LintResult]:
    """Validate the files against DIGG's message XSD in one xmllint run (--huge: files up to
    30 MB), with the (line, element) of each error xmllint names."""
    if XMLLINT is None:
        pytest.skip("xmllint is not installed")
    files = list(paths)
    run = subprocess.run(
        [XMLLINT, "--noout", "--nonet", "--huge", "--schema", str(sdk_path(MESSAGE_XSD)),
         *map(str, files)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    lines = run.stderr.splitlines()
    results = {}
    for path in files:
        mine = [line for line in lines if line.startswith((f"{path}:", f"{path} "))]
        errors = set()
        for line in mine:
            found = _ERROR.match(line)
            if found:
                errors.add((int(found["line"]), found["element"]))
        valid = f"{path} validates" in mine
        if not valid and f"{path} fails to validate" not in mine:
            raise AssertionError(f"xmllint gave no verdict on {path}:\n{run.stderr[-2000:]}")
        results[path] = LintResult(valid, frozenset(errors), "\n".join(mine))
    return results


# --- DIGG's schematron, evaluated by Saxon --------------------------------------------------

# The element path as forms.xmlsafe.element_path writes it: an index only where siblings share
# the element's name.
_PATH = (
    "'/' || string-join(for $n in ancestor-or-self::* return "
    "(let $same := count($n/../*[node-name(.) eq node-name($n)]) return "
    "if ($same gt 1) then local-name($n) || '[' || "
    "(count($n/preceding-sibling::*[node-name(.) eq node-name($n)]) + 1) || ']' "
    "else local-name($n)), '/')"
)


@dataclass(frozen=True)
class Pattern:
    id: str
    context: str
    tests: tuple[str, ...]


@functools.cache
def schematron_patterns() -> tuple[Pattern, ...]:
    """Return DIGG's message schematron patterns after its own abstract-pattern expansion (the
    ISO skeleton's iso_dsdl_include and iso_abstract_expand, as lxml ships them)."""
    import lxml.isoschematron as iso

    xsl = Path(iso.__file__).parent / "resources" / "xsl" / "iso-schematron-xslt1"
    source = etree.parse(str(sdk_path(MESSAGE_SCHEMATRON)))
    include = etree.XSLT(etree.parse(str(xsl / "iso_dsdl_include.xsl")))
    expand = etree.XSLT(etree.parse(str(xsl / "iso_abstract_expand.xsl")))
    expanded = expand(include(source)).getroot()
    found = []
    for pattern in expanded.iterfind(f"{{{_SCH}}}pattern"):
        for rule in pattern.iterfind(f"{{{_SCH}}}rule"):
            tests = tuple(a.get("test") for a in rule.iterfind(f"{{{_SCH}}}assert"))
            found.append(Pattern(pattern.get("id"), rule.get("context"), tests))
    return tuple(found)


class MessageSchematron:
    """DIGG's message schematron as an oracle: (pattern id, element path) per failed assert.

    Each rule's context is a relative XSLT pattern here (tns:messageId, tns:recipientID/tns:root,
    tns:messagePayload//*), so `//(context)` selects exactly the nodes it matches; each pattern
    has one rule, so no rule shadows another. The tests are DIGG's XPath 2.0, run by Saxon.
    """

    def __init__(self) -> None:
        saxonche = pytest.importorskip("saxonche", reason="saxonche is not installed")
        self.patterns = schematron_patterns()
        self.processor = saxonche.PySaxonProcessor(license=False)
        # One XPath for the whole schema: for each pattern, its context nodes ("!" makes each
        # the context item) whose test is false, as "pattern id|element path".
        self.expression = "(" + ", ".join(
            f"//({p.context}) ! (if ({test}) then () else '{p.id}|' || {_PATH})"
            for p in self.patterns
            for test in p.tests
        ) + ")"

    def failures(self, path: Path) -> frozenset[tuple[str, str]]:
        """Return the (pattern id, element path) of every failed assert in the file."""
        return self.failures_of([path])[path]

    def failures_of(self, paths: Iterable[Path]) -> dict[Path, frozenset[tuple[str, str]]]:
        """The same for many files in one evaluation (a call into Saxon costs more than a
        small document)."""
        files = {p.resolve().as_uri(): p for p in paths}
        uris = ", ".join(f"'{uri}'" for uri in files)
        xpath = self.processor.new_xpath_processor()
        xpath.declare_namespace("tns", MESSAGE_NS)
        each = f"for $f in {self.expression} return $u || '|' || $f"
        found = xpath.evaluate(f"for $u in ({uris}) return doc($u) ! ({each})")
        failed: dict[Path, set[tuple[str, str]]] = {p: set() for p in files.values()}
        for i in range(found.size if found is not None else 0):
            uri, pattern, where = found.item_at(i).string_value.split("|", 2)
            failed[files[uri]].add((pattern, where))
        return {p: frozenset(f) for p, f in failed.items()}


@functools.cache
def message_schematron() -> MessageSchematron:
    return MessageSchematron()


# --- DIGG's OpenAPI examples ----------------------------------------------------------------


def _example(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> Any:
    """An instance made of the `example` values of an OpenAPI schema (an object of its
    properties' examples, a one-item array, a string named after a property without one)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components, name)
    if "example" in schema:
        return schema["example"]
    if "properties" in schema:
        return {k: _example(v, components, k) for k, v in schema["properties"].items()}
    if schema.get("type") == "array":
        return [_example(schema["items"], components, name)]
    if schema.get("type") == "boolean":
        return True
    return f"exempel-{name}"


def openapi_example_body() -> dict[str, Any]:
    """Return the createMessage body made of DIGG's OpenAPI examples (no status, no events:
    B1.4.2 lets the client set neither)."""
    spec = yaml.safe_load(sdk_path(OPENAPI).read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]
    attributes = _example(components["messageCreateAttributesDef"], components)
    # B1.4.2: the client sets no status; events are the service's.
    for key in ("messageStatus", "events"):
        attributes.pop(key)
    return {"data": {"type": "messages", "attributes": attributes}}
