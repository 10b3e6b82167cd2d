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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


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
