"""DIGG's SDK reference material for tests: where it lies, and DIGG's own validators as oracles
(xmllint with DIGG's XSD; DIGG's message schematron, its XPath evaluated by Saxon).

The material is not copied into the project. It is found through GATEWAY_SHARED_SDK (relative
paths from the repository root; the default ../shared/sdk) or, failing that, as shared/sdk beside
any folder above this file (a worktree in /work/wt/NAME finds /work/shared). Tests that need it
skip, naming what is missing, when it is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

REPO = Path(__file__).resolve().parents[2]
ENV = "GATEWAY_SHARED_SDK"
DEFAULT = "../shared/sdk"
TNS = "urn:riv:infrastructure:messaging:MessageWithAttachments:3"
_SCH = "http://purl.oclc.org/dsdl/schematron"


def shared_sdk() -> Path | None:
    """Return DIGG's SDK folder, or None where it cannot be found."""
    configured = os.environ.get(ENV)
    candidates = [REPO / (configured or DEFAULT)]
    if not configured:
        candidates += [folder.parent / "shared" / "sdk" for folder in REPO.parents]
    for candidate in candidates:
        if (candidate / "message" / "xsd").is_dir():
            return candidate.resolve()
    return None


def sdk_file(*parts: str) -> Path:
    """Return a path in DIGG's material; skip the test (saying what is missing) if absent."""
    root = shared_sdk()
    if root is None:
        pytest.skip(f"DIGG's SDK material not found: set {ENV} or put shared/sdk beside the repo")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"DIGG's SDK material lacks {path}")
    return path


def message_xsd() -> Path:
    return sdk_file("message", "xsd", "infrastructure_messaging_MessageWithAttachments_3.0.xsd")


def message_example() -> Path:
    return sdk_file("message", "examples", "messageWithAttachments3.xml")


def testdata() -> list[Path]:
    """DIGG's error-handling test messages (testdata-felhantering/*.xml)."""
    return sorted(sdk_file("message", "testdata-felhantering").glob("*.xml"))


def openapi() -> Path:
    return sdk_file("api", "sdk-api-restful.yml")


def example_payloads() -> list[bytes]:
    """DIGG's example messages: the message example and the payload inside the unencrypted
    XHE example, each as a document of its own."""
    found = [message_example().read_bytes()]
    xhe = etree.parse(str(sdk_file("message", "examples", "xhe_unencrypted_payload.xml")))
    for payload in xhe.iter(f"{{{TNS}}}messagePayload"):
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


def xmllint(paths: Iterable[Path]) -> dict[Path, LintResult]:
    """Validate the files against DIGG's XSD in one xmllint run (--huge: files up to 30 MB)."""
    files = list(paths)
    run = subprocess.run(
        ["xmllint", "--noout", "--huge", "--schema", str(message_xsd()), *map(str, files)],
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


@cache
def schematron_patterns() -> tuple[Pattern, ...]:
    """Return DIGG's message schematron patterns after its own abstract-pattern expansion (the
    ISO skeleton's iso_dsdl_include and iso_abstract_expand, as lxml ships them)."""
    import lxml.isoschematron as iso

    xsl = Path(iso.__file__).parent / "resources" / "xsl" / "iso-schematron-xslt1"
    source = etree.parse(str(sdk_file("message", "schematron", "MessageConstraints.xml")))
    include = etree.XSLT(etree.parse(str(xsl / "iso_dsdl_include.xsl")))
    expand = etree.XSLT(etree.parse(str(xsl / "iso_abstract_expand.xsl")))
    expanded = expand(include(source)).getroot()
    found = []
    for pattern in expanded.iterfind(f"{{{_SCH}}}pattern"):
        for rule in pattern.iterfind(f"{{{_SCH}}}rule"):
            tests = tuple(a.get("test") for a in rule.iterfind(f"{{{_SCH}}}assert"))
            found.append(Pattern(pattern.get("id"), rule.get("context"), tests))
    return tuple(found)


class Schematron:
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
        xpath.declare_namespace("tns", TNS)
        each = f"for $f in {self.expression} return $u || '|' || $f"
        found = xpath.evaluate(f"for $u in ({uris}) return doc($u) ! ({each})")
        failed: dict[Path, set[tuple[str, str]]] = {p: set() for p in files.values()}
        for i in range(found.size if found is not None else 0):
            uri, pattern, where = found.item_at(i).string_value.split("|", 2)
            failed[files[uri]].add((pattern, where))
        return {p: frozenset(f) for p, f in failed.items()}


@cache
def schematron() -> Schematron:
    return Schematron()
