"""The hälsoförfrågan writer is the exact inverse of the parser: parse(write(x)) == x for any
valid form (hypothesis), and write(parse(b)) reads back equal for every form in the corpus."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import parse_halsoforfragan
from forms.dates import local_date
from forms.halsoforfragan import (
    Avsandare,
    Bilaga,
    Fraga,
    FragaKod,
    Halsoforfragan,
    Handlaggare,
    Mottagare,
    Mottagarkategori,
    Person,
    Samtycke,
    SamtyckeForm,
    Syfte,
    Titel,
    default_svar_senast,
)
from forms.identifiers import make_personnummer, parse_personnummer
from forms.writer import (
    HalsoforfraganText,
    halsoforfragan_text,
    write_halsoforfragan,
    write_halsoforfragan_text,
)
from gateway.demo_inquiries import DEMO_INQUIRIES, demo_halsoforfragan
from gateway.inquiries.webform import Sender
from tests.support.forms import CONSENT_PDF, ama_form, personnummer, valid_form

DATA = Path(__file__).parent / "data"
SETTINGS = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Text as people type it, over all of Unicode that XML carries; the parser collapses the
# white space of names (xs:token) and strips free text, so the strategies do the same.
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co"))
_RAW = st.text(_CHARS | st.sampled_from([" ", "\n", "\t"]), min_size=1, max_size=60)
NAMES = _RAW.map(lambda text: " ".join(text.split())).filter(bool)
FREE_TEXT = _RAW.map(str.strip).filter(bool)
# Fixed offsets: an aware time in a DST gap or fold compares unequal across zones.
ZONES = st.sampled_from([dt.UTC, *(dt.timezone(dt.timedelta(hours=h)) for h in (1, 2, -5))])
HSA_IDS = st.sampled_from(["SE2321000255-K001", "SE2321000255-K002", "SE5561234567-V001x",
                           "SE1234567890-a"])
SENDERS = st.sampled_from([
    ("0203:malmo.se", "sdk:ebb-oster:0203:malmo.se"),
    ("0203:malmo.se", "sdk:ama:0203:malmo.se"),
    ("0007:2120000142", "sdk:socialtjanst.norr:0007:2120000142"),
])


@st.composite
def forms(draw: st.DrawFn) -> Halsoforfragan:
    skapad = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2090, 12, 31),
                               timezones=ZONES))
    # Born before skapad's date (Sweden is ahead of UTC, so the UTC date is a safe bound).
    latest = skapad.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    born = draw(st.dates(dt.date(1890, 1, 1), latest))
    number = parse_personnummer(make_personnummer(born, draw(st.integers(0, 999)),
                                                  samordningsnummer=draw(st.booleans())))
    organisation, address = draw(SENDERS)
    given_svar = draw(st.none() | st.integers(1, 400))
    svar_senast = (default_svar_senast(skapad) if given_svar is None
                   else local_date(skapad) + dt.timedelta(days=given_svar))
    codes = draw(st.lists(st.sampled_from(list(FragaKod)), min_size=1, unique=True))
    return Halsoforfragan(
        id=str(draw(st.uuids())),
        skapad=skapad,
        avsandare=Avsandare(organisation, draw(NAMES), address, Handlaggare(
            draw(NAMES), draw(st.sampled_from(list(Titel))),
            draw(st.sampled_from(["040-34 10 00", "+46 40 341000", "0701234567"])),
            draw(st.sampled_from(["asa@malmo.se", "x.y@example.org"])))),
        mottagare=Mottagare(draw(HSA_IDS), draw(NAMES)),
        person=Person(number.value, draw(NAMES), draw(st.none() | st.just("070-123 45 67")),
                      draw(st.none() | st.sampled_from(["ar", "so", "fa"])),
                      number.samordningsnummer, number.birth_date),
        samtycke=Samtycke(
            givet=draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31))),
            giltigt_till=draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31))),
            form=draw(st.sampled_from(list(SamtyckeForm))),
            uppgiftslamnare_hsa_id=draw(HSA_IDS),
            mottagare=tuple(draw(st.lists(st.sampled_from(list(Mottagarkategori)), min_size=1,
                                          unique=True))),
            syfte=Syfte.PLANERING_ARBETE_STUDIER,
            dokumenterat_av=draw(st.none() | NAMES),
            bilaga=draw(st.none() | st.builds(
                Bilaga, st.sampled_from(["samtycke.pdf", "Samtycke Tolvan.PDF"]),
                st.binary(max_size=40).map(lambda tail: b"%PDF-1.7\n" + tail))),
        ),
        bakgrund=draw(FREE_TEXT),
        planerade_insatser=draw(st.none() | FREE_TEXT),
        fragor=tuple(
            Fraga(code, draw(FREE_TEXT) if code is FragaKod.OVRIGT else draw(st.none() | FREE_TEXT))
            for code in codes
        ),
        svar_senast=svar_senast,
        svar_senast_angiven=given_svar is not None,
    )


@SETTINGS
@given(forms())
def test_parse_of_write_is_the_form_itself(form: Halsoforfragan) -> None:
    assert parse_halsoforfragan(write_halsoforfragan(form)) == form


def _corpus() -> list[tuple[str, bytes]]:
    now = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    sender = Sender("0203:malmo.se", "EBB Öster", "sdk:ebb-oster:0203:malmo.se", "Åsa",
                    "socialsekreterare")
    demo = [
        (f"demo-{sample.id[-2:]}", write_halsoforfragan(demo_halsoforfragan(
            sample.id, now, sender, Mottagarkategori.SOCIALTJANST,
            (sample.care_unit, "Vårdcentralen"), sample.person, sample.questions)))
        for sample in DEMO_INQUIRIES
    ]
    return [
        ("valid.xml", (DATA / "halsoforfragan-valid.xml").read_bytes()),
        ("builder", valid_form(now).xml()),
        ("ama", ama_form(now).xml()),
        ("interpreter, answer date", valid_form(now, tolkbehov="ar",
                                                svar_senast="2026-04-30").xml()),
        ("oral consent, no attachment", valid_form(now, samtycke_form="muntligt",
                                                   bilaga=None, planerade_insatser=None).xml()),
        ("samordningsnummer", valid_form(
            now, personnummer=personnummer(dt.date(1980, 5, 17), samordning=True)).xml()),
        ("upper-case id", valid_form(now, id=str(uuid.uuid4()).upper()).xml()),
        *demo,
    ]


@pytest.mark.parametrize(("name", "data"), _corpus(), ids=[name for name, _ in _corpus()])
def test_write_of_parse_reads_back_equal(name: str, data: bytes) -> None:
    form = parse_halsoforfragan(data)
    assert parse_halsoforfragan(write_halsoforfragan(form)) == form


def test_text_layer_leaves_out_what_is_none_and_keeps_empty_text() -> None:
    form = parse_halsoforfragan(valid_form().xml())
    text = halsoforfragan_text(form)
    assert text.svar_senast is None and not form.svar_senast_angiven
    xml = write_halsoforfragan_text(HalsoforfraganText(id="", fragor=(), bilaga_filnamn="x.pdf"))
    assert b"<id/>" in xml and b"<fragor/>" in xml
    # No element holds anything under avsandare, person or samtycke: none of them is written.
    assert b"avsandare" not in xml and b"samtycke" not in xml and b"person" not in xml


def test_consent_attachment_survives_byte_for_byte() -> None:
    form = parse_halsoforfragan(valid_form(bilaga=CONSENT_PDF).xml())
    again = parse_halsoforfragan(write_halsoforfragan(form))
    assert again.samtycke.bilaga is not None
    assert again.samtycke.bilaga.innehall == CONSENT_PDF

