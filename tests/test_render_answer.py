"""The rendered answer PDF: refusals first; then A4, embedded fonts, extractable Swedish text,
the reference in metadata and on the page, signature fields; then sign, co-sign, validate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from forms import FormError
from forms.answer import Besvarare, Lakare, StructuredAnswer, Svar
from forms.halsoforfragan import Fraga, FragaKod
from forms.render import SIGNATURE_FIELD_PHYSICIAN, SIGNATURE_FIELD_REKO, render_answer_pdf
from forms.statement import InquiryFacts
from signing.pdfscan import open_pdf, references
from signing.pdfsign import sign_answer
from tests.support.pdfs import (
    PASSPHRASE,
    PHYSICIAN,
    REKO,
    TestPki,
    nss_db,
    pdfsig_sign,
    pdfsig_tools,
    pdftotext,
    validate,
)

REFERENCE = "0b5e1c2a-7d3f-4e8a-9c6b-1f2e3d4c5b6a"
QUESTIONS = (
    Fraga(FragaKod.AKTIVITETSFORMAGA),
    Fraga(FragaKod.BEGRANSNINGAR),
    Fraga(FragaKod.OVRIGT, "Kan hon börja på förmiddagar?"),
)
ANSWER = StructuredAnswer(
    forfragan_id=REFERENCE,
    besvarad=dt.datetime(2024, 3, 18, 13, 2, tzinfo=dt.UTC),
    besvarad_av=Besvarare(REKO.name, REKO.hsa_id),
    svar=(
        Svar(FragaKod.AKTIVITETSFORMAGA, "Klarar lättare arbete fyra timmar per dag."),
        Svar(FragaKod.BEGRANSNINGAR, "Undvika tunga lyft; gå gärna i trappor, ät frukost."),
        Svar(FragaKod.OVRIGT, "Ja, förmiddagar går bra.\nUppföljning om två månader."),
    ),
    sip_rekommenderas=True,
    i_samrad_med=Lakare(PHYSICIAN.name, PHYSICIAN.hsa_id),
)
FACTS = InquiryFacts(
    reference="HF-2024-000042",
    person_name="Tolvan Tolvansson",
    personnummer="191212121212",
    care_unit_name="Vårdcentralen Kryddgården",
    care_unit_hsa_id="SE2321000255-K001",
    sender_unit="EBB Öster",
    case_worker="Åsa Lindqvist, socialsekreterare",
    sent=dt.date(2024, 2, 20),
    received=dt.date(2024, 2, 21),
    deadline=dt.date(2024, 3, 22),
)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_answer_pdf(ANSWER, REFERENCE, QUESTIONS, facts=FACTS)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("questions", "code"),
    [
        pytest.param(QUESTIONS[:2], "SVAR_FRAGA_EJ_STALLD", id="answer-to-a-question-not-asked"),
        pytest.param((*QUESTIONS, Fraga(FragaKod.PROGNOS)), "SVAR_FRAGA_SAKNAS",
                     id="question-not-answered"),
    ],
)
def test_answer_must_fit_the_questions(questions: tuple[Fraga, ...], code: str) -> None:
    with pytest.raises(FormError) as caught:
        render_answer_pdf(ANSWER, REFERENCE, questions)
    assert caught.value.codes == (code,)


def test_a_reference_is_required() -> None:
    with pytest.raises(ValueError, match="reference"):
        render_answer_pdf(ANSWER, " \n", QUESTIONS)


# --- the document -------------------------------------------------------------------------------


def test_a4_with_every_font_embedded(pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0]
    assert [round(float(v)) for v in page["/MediaBox"]] == [0, 0, 595, 842]
    fonts = page["/Resources"]["/Font"]
    assert len(fonts) >= 2
    for name in fonts:
        descriptor = fonts[name]["/FontDescriptor"]
        assert "/FontFile2" in descriptor, f"{name} is not embedded"


def test_text_is_extractable_with_swedish_letters(pdf: bytes, tmp_path: Path) -> None:
    text = pdftotext(pdf, tmp_path)
    for expected in [
        "Svar på hälsoförfrågan",
        "Personen som utlåtandet gäller",
        "Namn Tolvan Tolvansson",
        "Personnummer 19121212-1212",
        "Referens HF-2024-000042",
        "Från EBB Öster",
        "Handläggare Åsa Lindqvist, socialsekreterare",
        "Skickad 2024-02-20",
        "Mottagen 2024-02-21",
        "Sista svarsdag 2024-03-22",
        "Till Vårdcentralen Kryddgården (SE2321000255-K001)",
        "1. Aktivitetsförmåga",
        "Klarar lättare arbete fyra timmar per dag.",
        "2. Begränsningar",
        "gå gärna i trappor, ät frukost",
        "3. Övrigt",
        "Fråga: Kan hon börja på förmiddagar?",
        "Uppföljning om två månader.",
        f"I samråd med {PHYSICIAN.name}, läkare ({PHYSICIAN.hsa_id})",
        "SIP rekommenderas: Ja",
        f"{REKO.name}, Rehabkoordinator ({REKO.hsa_id})",
        "2024-03-18 14:02",  # Swedish time
        "Underskrift rehabkoordinator",
        "Underskrift läkare",
        "Innehåller uppgifter som omfattas av sekretess",
    ]:
        assert expected in text, expected


def test_reference_in_info_and_xmp(pdf: bytes) -> None:
    reader = open_pdf(pdf)
    assert references(reader) == (REFERENCE, REFERENCE)
    info = reader.trailer_view["/Info"]
    assert str(info["/Title"]) == "Svar på hälsoförfrågan"
    assert reader.xrefs.total_revisions == 1


def test_two_empty_signature_fields(pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf))
    fields = list(enumerate_sig_fields(reader))
    assert [(name, value) for name, value, _ in fields] == [
        (SIGNATURE_FIELD_REKO, None), (SIGNATURE_FIELD_PHYSICIAN, None)
    ]
    # The statement may run onto a second page; the fields are where it ends.
    page = reader.root["/Pages"]["/Kids"][-1]
    rects = [ref.get_object()["/Rect"] for _, _, ref in fields]
    assert all(ref.get_object()["/P"] == page for _, _, ref in fields)
    assert all(float(r[1]) > 0 and float(r[3]) < 842 for r in rects)


def test_text_that_looks_like_markup_is_printed_as_text(tmp_path: Path) -> None:
    sneaky = '<img src="/etc/passwd"/> <b>fet</b> & <font size="40">stor</font>'
    answer = dataclasses.replace(ANSWER, svar=(Svar(FragaKod.AKTIVITETSFORMAGA, sneaky),))
    pdf = render_answer_pdf(answer, REFERENCE, QUESTIONS[:1])
    assert '<img src="/etc/passwd"/> <b>fet</b> &' in pdftotext(pdf, tmp_path)


def test_characters_the_font_lacks_or_controls_do_not_break_rendering(tmp_path: Path) -> None:
    odd = "Emoji 🙂, kinesiska 你好, styrtecken \x07\x1b och tabb\tslut."
    answer = dataclasses.replace(ANSWER, svar=(Svar(FragaKod.AKTIVITETSFORMAGA, odd),))
    pdf = render_answer_pdf(answer, REFERENCE, QUESTIONS[:1])
    assert "styrtecken" in pdftotext(pdf, tmp_path)


def test_long_answers_flow_onto_more_pages_with_fields_on_the_last(tmp_path: Path) -> None:
    long = "\n".join(f"Rad {n}: återbesök, överväganden och åtgärder." for n in range(300))
    answer = dataclasses.replace(ANSWER, svar=(Svar(FragaKod.AKTIVITETSFORMAGA, long[:4000]),
                                               *ANSWER.svar[1:]))
    pdf = render_answer_pdf(answer, REFERENCE, QUESTIONS)
    reader = PdfFileReader(io.BytesIO(pdf))
    pages = list(reader.root["/Pages"]["/Kids"])
    assert len(pages) >= 2
    for _, _, ref in enumerate_sig_fields(reader):
        assert ref.get_object().raw_get("/P") == pages[-1]
    text = pdftotext(pdf, tmp_path)
    assert "Sida 2" in text and text.count(REFERENCE) >= len(pages)


def test_no_answering_physician(tmp_path: Path) -> None:
    answer = dataclasses.replace(ANSWER, i_samrad_med=None, sip_rekommenderas=False)
    text = pdftotext(render_answer_pdf(answer, REFERENCE, QUESTIONS), tmp_path)
    assert "I samråd med Ingen läkare angiven" in text
    assert "SIP rekommenderas: Nej" in text


# --- sign, co-sign, validate ------------------------------------------------------------------


def test_render_sign_cosign_validate(pdf: bytes, pki: TestPki) -> None:
    received = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    signed = sign_answer(pdf, pki.reko_p12(), PASSPHRASE, SIGNATURE_FIELD_REKO, pki.timestamper())
    both = sign_answer(signed, pki.physician_p12(), PASSPHRASE, SIGNATURE_FIELD_PHYSICIAN)
    report = validate(
        both, pki, received_at=received, expected_reference=REFERENCE,
        allowed_hsa_ids=[REKO.hsa_id],
    )
    assert report.ok, [(r.code, r.message) for r in report.failed]
    assert report.inquiry_reference == REFERENCE
    assert report.reko_signer is not None and report.reko_signer.timestamp_valid
    assert [s.hsa_id for s in report.co_signers] == [PHYSICIAN.hsa_id]
    # pyhanko rewrote the XMP on each signature; the reference is still in both places.
    assert references(open_pdf(both)) == (REFERENCE, REFERENCE)


def test_rendered_answer_for_another_inquiry_fails_p7(pdf: bytes, pki: TestPki) -> None:
    signed = sign_answer(pdf, pki.reko_p12(), PASSPHRASE, SIGNATURE_FIELD_REKO)
    report = validate(signed, pki, expected_reference="6e0d4c1b-0000-4000-8000-000000000000")
    assert report.failed_codes == ("P7",)


def test_rendered_answer_signed_by_pdfsig(pdf: bytes, pki: TestPki, tmp_path: Path) -> None:
    pdfsig_tools()
    db = nss_db(tmp_path / "nss", pki, [(pki.reko_p12(), REKO.name)])
    signed = pdfsig_sign(pdf, db, REKO.name, tmp_path, field_name=SIGNATURE_FIELD_REKO)
    report = validate(signed, pki, expected_reference=REFERENCE, allowed_hsa_ids=[REKO.hsa_id])
    assert report.ok, [(r.code, r.message) for r in report.failed]


def test_info_values_are_text_strings(pdf: bytes) -> None:
    info = PdfFileReader(io.BytesIO(pdf)).trailer_view["/Info"]
    assert isinstance(info["/KryddgardenInquiry"], generic.TextStringObject)
