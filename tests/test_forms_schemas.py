"""The project's XSDs: they compile (in xmllint too), accept the examples and refuse bad answers;
and `forms` stays a pure library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from forms.schemas import (
    HALSOFORFRAGAN_SVAR_XSD,
    HALSOFORFRAGAN_XSD,
    SAMTYCKESATERKALLELSE_XSD,
    load_schema,
    schema_path,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SVAR = (DATA / "halsoforfragan-svar-valid.xml").read_text(encoding="utf-8")
EXAMPLES = [
    (HALSOFORFRAGAN_XSD, DATA / "halsoforfragan-valid.xml"),
    (HALSOFORFRAGAN_SVAR_XSD, DATA / "halsoforfragan-svar-valid.xml"),
    (SAMTYCKESATERKALLELSE_XSD, DATA / "samtyckesaterkallelse-valid.xml"),
]
XMLLINT = shutil.which("xmllint")


def test_schemas_are_found_in_the_repository() -> None:
    assert schema_path(HALSOFORFRAGAN_XSD) == ROOT / "schemas" / HALSOFORFRAGAN_XSD
    with pytest.raises(FileNotFoundError):
        schema_path("nonexistent.xsd")


@pytest.mark.skipif(XMLLINT is None, reason="xmllint (Debian libxml2-utils) not installed")
@pytest.mark.parametrize(("xsd", "example"), EXAMPLES)
def test_xmllint_compiles_schema_and_validates_example(xsd: str, example: Path) -> None:
    assert XMLLINT
    result = subprocess.run(
        [XMLLINT, "--noout", "--nonet", "--schema", str(schema_path(xsd)), str(example)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "validates" in result.stderr


@pytest.mark.parametrize(("xsd", "example"), EXAMPLES)
def test_lxml_validates_example(xsd: str, example: Path) -> None:
    schema = load_schema(xsd)
    assert schema.validate(etree.parse(str(example))), schema.error_log


@pytest.mark.parametrize(
    ("old", "new", "mentions"),
    [
        ('<svar kod="OVRIGT">', '<svar kod="SIP">', "Duplicate"),
        ("<sipRekommenderas>true</sipRekommenderas>", "", "sipRekommenderas"),
        ("<sipRekommenderas>true", "<sipRekommenderas>kanske", "boolean"),
        ('<svar kod="SIP">', '<svar kod="HALSA">', "enumeration"),
        ("3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f", "ärende-17", "pattern"),
        ("2024-03-18T14:02:00+01:00", "2024-03-18T14:02:00", "pattern"),
        ("<hsaId>SE2321000255-K0R1</hsaId>", "<hsaId>K0R1</hsaId>", "pattern"),
        ("<titel>Rehabkoordinator</titel>", "", "titel"),
        ('version="1.0">', 'version="2.0">', "fixed"),
        ("Inga hinder för förmiddagar.", "", "minLength"),
    ],
)
def test_answer_schema_refuses(old: str, new: str, mentions: str) -> None:
    assert old in SVAR
    document = etree.fromstring(SVAR.replace(old, new, 1).encode())
    schema = load_schema(HALSOFORFRAGAN_SVAR_XSD)
    assert not schema.validate(document)
    assert mentions in str(schema.error_log)


def test_answer_without_consulted_physician_is_valid() -> None:
    start, end = SVAR.index("<iSamradMed>"), SVAR.index("</iSamradMed>") + len("</iSamradMed>")
    document = etree.fromstring((SVAR[:start] + SVAR[end:]).encode())
    assert load_schema(HALSOFORFRAGAN_SVAR_XSD).validate(document)


def test_forms_imports_nothing_of_flask_sqlalchemy_or_gateway() -> None:
    code = (
        "import sys, forms, forms.consent, forms.halsoforfragan, forms.identifiers;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'sqlalchemy', 'gateway', 'werkzeug'});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
