"""The consent withdrawal notice between gateways (forms/withdrawal.py): built and read back the
same, and refused with a code for a wrong namespace, a schema fault or a bad check digit, never
repeating the personnummer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from forms.errors import FormError
from forms.withdrawal import Aterkallelse, build_withdrawal_xml, parse_withdrawal_xml

EXAMPLE = (Path(__file__).parent / "data" / "samtyckesaterkallelse-valid.xml").read_bytes()
NOTICE = Aterkallelse(
    id="6f1c7b8e-1f2a-4c3b-9d4e-5f6a7b8c9d0e",
    registrerad=dt.datetime(2026, 12, 2, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    organisation="0203:malmo.se",
    funktionsadress="sdk:ebb-oster:0203:malmo.se",
    vardcentral_hsa_id="SE2321000255-K001",
    personnummer="191212121212",
    aterkallat=dt.date(2026, 12, 1),
)


def test_the_example_reads_as_the_notice_and_a_built_one_reads_back() -> None:
    assert parse_withdrawal_xml(EXAMPLE) == NOTICE
    assert parse_withdrawal_xml(build_withdrawal_xml(NOTICE)) == NOTICE
    assert "191212121212" not in repr(NOTICE)


@pytest.mark.parametrize(("old", "new", "code"), [
    (b"urn:kryddgarden:samtyckesaterkallelse:1", b"urn:kryddgarden:halsoforfragan:1",
     "XML_NAMESPACE"),
    (b"<personnummer>191212121212", b"<personnummer>191212121213", "PERSONNUMMER"),
    (b"<personnummer>191212121212", b"<personnummer>1212121212", "ATERKALLELSE_XSD"),
    (b'hsaId="SE2321000255-K001"', b'hsaId="K001"', "ATERKALLELSE_XSD"),
    (b"<aterkallat>2026-12-01", b"<aterkallat>igar", "ATERKALLELSE_XSD"),
    (b':1" version="1.0"', b':1" version="2.0"', "ATERKALLELSE_XSD"),
])
def test_a_bad_notice_is_refused_with_its_code(old: bytes, new: bytes, code: str) -> None:
    assert old in EXAMPLE
    with pytest.raises(FormError) as refused:
        parse_withdrawal_xml(EXAMPLE.replace(old, new, 1))
    assert refused.value.codes[0] == code
    assert "1212121212" not in str(refused.value.issues)


def test_a_notice_the_schema_refuses_is_not_built() -> None:
    with pytest.raises(FormError) as refused:
        build_withdrawal_xml(dataclasses.replace(NOTICE, vardcentral_hsa_id="K001"))
    assert refused.value.codes == ("ATERKALLELSE_XSD",)
