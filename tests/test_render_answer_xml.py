"""The structured answer XML: refusals with their codes first, then build and parse."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from forms import FormError
from forms.answer import (
    Besvarare,
    Lakare,
    StructuredAnswer,
    Svar,
    answer_issues,
    build_answer_xml,
    check_answer,
    parse_answer_xml,
)
from forms.halsoforfragan import Fraga, FragaKod

DATA = Path(__file__).parent / "data"
VALID = (DATA / "halsoforfragan-svar-valid.xml").read_bytes()
INQUIRY = "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"
SECRET = "Diagnosen är hemlig"

ANSWER = StructuredAnswer(
    forfragan_id=INQUIRY,
    besvarad=dt.datetime(2024, 3, 18, 14, 2, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    besvarad_av=Besvarare("Karin Persson", "SE2321000255-K0R1"),
    svar=(
        Svar(FragaKod.AKTIVITETSFORMAGA, "Klarar lättare arbete fyra timmar per dag."),
        Svar(FragaKod.OVRIGT, "Inga hinder för förmiddagar."),
    ),
    sip_rekommenderas=False,
    i_samrad_med=Lakare("Johan Ek", "SE2321000255-K0L7"),
)


def replaced(old: bytes, new: bytes) -> bytes:
    assert old in VALID
    return VALID.replace(old, new, 1)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", "XML_EMPTY", id="empty"),
        pytest.param(b"<svar/>", "XML_NAMESPACE", id="other-root"),
        pytest.param(replaced(b'version="1.0">', b'version="2.0">'), "VERSION", id="version"),
        pytest.param(
            replaced(b"<?xml", b'<!DOCTYPE x [<!ENTITY e "e">]><?xml'), "XML_DTD", id="doctype"
        ),
        pytest.param(replaced(b"<sipRekommenderas>true", b"<sipRekommenderas>kanske"),
                     "SVAR_XSD", id="not-boolean"),
        pytest.param(replaced(b'kod="BEGRANSNINGAR"', b'kod="AKTIVITETSFORMAGA"'), "SVAR_XSD",
                     id="two-answers-one-code"),
        pytest.param(replaced(b'kod="SIP"', b'kod="DIAGNOS"'), "SVAR_XSD", id="unknown-code"),
        pytest.param(replaced(b"SE2321000255-K0R1", b"19121212-1212"), "SVAR_XSD",
                     id="not-an-hsa-id"),
        pytest.param(replaced(b"<forfraganId>", b"<forfraganId>x"), "SVAR_XSD", id="bad-uuid"),
        pytest.param(replaced(b"Inga hinder", b"<b>Inga</b> hinder"), "SVAR_XSD",
                     id="markup-in-answer"),
    ],
)
def test_bad_xml_is_refused_with_its_code(data: bytes, code: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_answer_xml(data)
    assert code in caught.value.codes


def test_xsd_messages_do_not_repeat_the_health_data() -> None:
    data = replaced(b"<sipRekommenderas>true", f"<sipRekommenderas>{SECRET}".encode())
    with pytest.raises(FormError) as caught:
        parse_answer_xml(data)
    assert SECRET not in str([(i.title, i.detail) for i in caught.value.issues])
    assert caught.value.issues[0].path == "/halsoforfraganSvar/sipRekommenderas"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"svar": (Svar(FragaKod.OVRIGT, "x" * 4001),)}, "SVAR_XSD", id="too-long"),
        pytest.param({"svar": (Svar(FragaKod.OVRIGT, "   "),)}, "SVAR_XSD", id="blank"),
        pytest.param({"svar": ()}, "SVAR_XSD", id="no-answers"),
        pytest.param({"svar": (Svar(FragaKod.OVRIGT, "a\x00b"),)}, "SVAR_TECKEN",
                     id="control-character"),
        pytest.param({"besvarad_av": Besvarare("Karin", "K0R1")}, "SVAR_XSD", id="bad-hsa-id"),
        pytest.param({"besvarad": dt.datetime(2024, 3, 18, 14, 2)}, "SVAR_XSD",  # noqa: DTZ001
                     id="naive-time"),
    ],
)
def test_answers_that_cannot_be_built(change: dict, code: str) -> None:
    with pytest.raises(FormError) as caught:
        build_answer_xml(dataclasses.replace(ANSWER, **change))
    assert code in caught.value.codes


def test_answer_for_another_inquiry_or_other_questions() -> None:
    issues = answer_issues(
        ANSWER,
        inquiry_id="00000000-0000-0000-0000-000000000000",
        questions=[FragaKod.AKTIVITETSFORMAGA, FragaKod.PROGNOS],
    )
    assert [i.code for i in issues] == [
        "SVAR_FORFRAGAN_ID", "SVAR_FRAGA_SAKNAS", "SVAR_FRAGA_EJ_STALLD"
    ]
    assert "PROGNOS" in issues[1].detail and "OVRIGT" in issues[2].detail
    with pytest.raises(FormError):
        check_answer(ANSWER, inquiry_id=INQUIRY, questions=[FragaKod.AKTIVITETSFORMAGA])


def test_answer_that_fits_its_inquiry() -> None:
    questions = [Fraga(FragaKod.OVRIGT, "Förmiddagar?"), Fraga(FragaKod.AKTIVITETSFORMAGA)]
    assert answer_issues(ANSWER, inquiry_id=INQUIRY.upper(), questions=questions) == ()


def test_the_example_file_parses() -> None:
    answer = parse_answer_xml(VALID)
    assert answer.forfragan_id == INQUIRY
    assert answer.besvarad_av == Besvarare("Karin Persson", "SE2321000255-K0R1", "Rehabkoordinator")
    assert answer.i_samrad_med == Lakare("Johan Ek", "SE2321000255-K0L7")
    assert [s.kod for s in answer.svar] == [
        FragaKod.AKTIVITETSFORMAGA, FragaKod.BEGRANSNINGAR, FragaKod.REKOMMENDATIONER,
        FragaKod.SIP, FragaKod.OVRIGT,
    ]
    assert answer.text_for(FragaKod.SIP) == "En SIP föreslås med socialtjänst och vårdcentral."
    assert answer.text_for(FragaKod.PROGNOS) is None
    assert answer.sip_rekommenderas is True
    assert answer.besvarad.utcoffset() == dt.timedelta(hours=1)


def test_build_then_parse_gives_the_same_answer() -> None:
    xml = build_answer_xml(ANSWER)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert parse_answer_xml(xml) == ANSWER
    without = dataclasses.replace(ANSWER, i_samrad_med=Lakare("Johan Ek"))
    assert parse_answer_xml(build_answer_xml(without)) == without
    nobody = dataclasses.replace(ANSWER, i_samrad_med=None)
    assert parse_answer_xml(build_answer_xml(nobody)) == nobody


def test_free_text_stays_out_of_repr() -> None:
    assert "Klarar" not in repr(ANSWER)
