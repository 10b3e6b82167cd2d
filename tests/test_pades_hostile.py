"""Hostile answer files: every one gets a report naming the rule, never an exception; bombs,
deep nesting, loops, encryption, odd metadata and random damage."""

from __future__ import annotations

import datetime as dt
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import signing.pades
import signing.pdfscan
from common.answer_pdf import PDFX_NS
from signing.answer_report import AnswerReport
from tests.support.pdfs import (
    REFERENCE,
    TestPki,
    co_signed,
    deep_pdf,
    encrypted_pdf,
    loop_pdf,
    minimal_objects,
    raw_pdf,
    signed_by_reko,
    validate,
)

UTC = dt.UTC


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:pdfx="{PDFX_NS}">{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    ).encode()


def metadata_pdf(data: bytes, filters: bytes = b"", *, reference: str | None = None) -> bytes:
    """An unsigned PDF whose catalog has an XMP stream of data (already encoded by filters).

    Written by hand: pyhanko's writers would replace or re-serialise the XMP.
    """
    objects = minimal_objects()
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>"
    objects.append(
        b"<< /Type /Metadata /Subtype /XML /Length %d %s>>\nstream\n" % (len(data), filters)
        + data + b"\nendstream"
    )
    extra = b""
    if reference is not None:
        objects.append(b"<< /KryddgardenInquiry (" + reference.encode() + b") >>")
        extra = b"/Info 6 0 R "
    return raw_pdf(objects, trailer_extra=extra)


@pytest.mark.parametrize(
    ("pdf", "words"),
    [
        pytest.param(deep_pdf(100), "nästlade för djupt", id="nested-100"),
        pytest.param(deep_pdf(100_000), "nästlade för djupt", id="nested-100000"),
        pytest.param(loop_pdf(), "slinga", id="reference-loop"),
        pytest.param(encrypted_pdf(), "Krypterade", id="encrypted"),
        pytest.param(b"%PDF-1.7\n" + b"\x00" * 5000, "kunde inte läsas", id="no-xref"),
        pytest.param(b"%PDF-", "kunde inte läsas", id="header-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "inte en PDF", id="png"),
    ],
)
def test_unreadable_structures_fail_p1(pki: TestPki, pdf: bytes, words: str) -> None:
    report = validate(pdf, pki)
    assert report.failed_codes == ("P1",)
    assert words in report.result("P1").message


def test_shallow_nesting_is_fine(pki: TestPki) -> None:
    report = validate(deep_pdf(30), pki)
    assert report.result("P1").passed
    assert report.failed_codes == ("P2",)  # unsigned, but readable


def test_bomb_in_the_xmp_metadata_fails_p1(pki: TestPki) -> None:
    bomb = zlib.compress(zlib.compress(bytes(16 * 1024 * 1024), 9), 9)
    pdf = metadata_pdf(bomb, b"/Filter [/FlateDecode /FlateDecode] ")
    report = validate(pdf, pki)
    assert report.failed_codes == ("P1",)
    assert "komprimeringsbomb" in report.result("P1").message


def test_too_many_revisions_fail_p1(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing.pdfscan, "MAX_REVISIONS", 2)
    report = validate(signed_by_reko(pki), pki)  # two revisions: fine
    assert report.result("P1").passed
    report = validate(co_signed(pki), pki)  # three
    assert report.failed_codes == ("P1",)
    assert "versioner" in report.result("P1").message


def test_too_many_objects_fail_p1(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing.pdfscan, "MAX_OBJECTS", 5)
    report = validate(signed_by_reko(pki), pki)
    assert report.failed_codes == ("P1",)
    assert "objekt" in report.result("P1").message


def test_too_many_signatures_fail_p2(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing.pades, "MAX_SIGNATURE_FIELDS", 1)
    report = validate(co_signed(pki), pki)
    assert report.failed_codes == ("P2",)


def sig_field_pdf(signature: bytes) -> bytes:
    objects = minimal_objects()
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>"
    objects.append(b"<< /FT /Sig /T (reko) /V 6 0 R >>")
    objects.append(signature)
    return raw_pdf(objects)


@pytest.mark.parametrize(
    ("signature", "words"),
    [
        pytest.param(
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.x509.rsa_sha1 "
            b"/Contents <3082> /ByteRange [0 10 20 10] >>",
            "okänd underskriftstyp",
            id="unsupported-subfilter",
        ),
        pytest.param(
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
            b"/Contents <30820102deadbeef> /ByteRange [0 10 20 10] >>",
            "kan inte läsas",
            id="garbage-cms",
        ),
        pytest.param(
            b"<< /Type /Sig /SubFilter /adbe.pkcs7.detached /Contents (x) >>",
            "kan inte läsas",
            id="no-byterange",
        ),
    ],
)
def test_broken_signatures_fail_p2(pki: TestPki, signature: bytes, words: str) -> None:
    report = validate(sig_field_pdf(signature), pki)
    assert report.failed_codes == ("P2",)
    assert words in report.result("P2").message


def test_javascript_in_an_annotation_action_fails_p8(pki: TestPki) -> None:
    objects = minimal_objects()
    objects[2] = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] "
        b"/AA << /E << /S /JavaScript /JS 5 0 R >> >> >>] >>"
    )
    objects.append(b"(app.launchURL\\('https://example.org'\\))")
    report = validate(raw_pdf(objects), pki)
    assert report.result("P8").failed
    assert "JavaScript" in report.result("P8").message


def test_file_attachment_annotation_fails_p8(pki: TestPki) -> None:
    objects = minimal_objects()
    objects[2] = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Annots [<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] >>] >>"
    )
    assert "inbäddade filer" in validate(raw_pdf(objects), pki).result("P8").message


def test_xfa_forms_fail_p8(pki: TestPki) -> None:
    objects = minimal_objects()
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 5 0 R >> >>"
    objects.append(b"<< /Length 0 >>\nstream\n\nendstream")
    assert "XFA" in validate(raw_pdf(objects), pki).result("P8").message


def test_image_filters_pyhanko_cannot_decode_are_no_fault(pki: TestPki) -> None:
    pdf = raw_pdf(minimal_objects(b"\xff\xd8\xff\xe0 not really a jpeg", b"/Filter /DCTDecode "))
    report = validate(pdf, pki)
    assert report.result("P1").passed


# --- odd metadata (P7) ---------------------------------------------------------------------


def test_reference_in_xmp_only_is_read(pki: TestPki) -> None:
    body = f"<pdfx:KryddgardenInquiry>{REFERENCE}</pdfx:KryddgardenInquiry>"
    report = validate(metadata_pdf(xmp_packet(body)), pki, expected_reference="another")
    assert report.inquiry_reference == REFERENCE
    assert report.failed_codes == ("P2", "P7")


def test_xmp_attribute_form_is_read(pki: TestPki) -> None:
    packet = xmp_packet("").replace(
        b'rdf:about=""', f'rdf:about="" pdfx:KryddgardenInquiry="{REFERENCE}"'.encode()
    )
    report = validate(metadata_pdf(packet), pki)
    assert report.inquiry_reference == REFERENCE
    assert report.result("P7").passed


def test_compressed_xmp_is_read(pki: TestPki) -> None:
    body = f"<pdfx:KryddgardenInquiry>{REFERENCE}</pdfx:KryddgardenInquiry>"
    pdf = metadata_pdf(zlib.compress(xmp_packet(body)), b"/Filter /FlateDecode ")
    assert validate(pdf, pki).inquiry_reference == REFERENCE


def test_xmp_and_info_disagreeing_fail_p7(pki: TestPki) -> None:
    body = "<pdfx:KryddgardenInquiry>another-inquiry</pdfx:KryddgardenInquiry>"
    report = validate(metadata_pdf(xmp_packet(body), reference=REFERENCE), pki)
    assert report.failed_codes == ("P2", "P7")
    assert "olika" in report.result("P7").message


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', id="dtd"),
        pytest.param(b"<x:xmpmeta", id="not-well-formed"),
        pytest.param(xmp_packet("<pdfx:KryddgardenInquiry>a\x07b</pdfx:KryddgardenInquiry>"),
                     id="control-character"),
    ],
)
def test_unreadable_xmp_fails_p7(pki: TestPki, packet: bytes) -> None:
    report = validate(metadata_pdf(packet), pki)
    assert report.failed_codes == ("P2", "P7")
    assert report.result("P7").message == "Filens metadata kan inte läsas."


def test_reference_that_is_not_a_string_fails_p7(pki: TestPki) -> None:
    objects = minimal_objects()
    objects.append(b"<< /KryddgardenInquiry 42 >>")
    report = validate(raw_pdf(objects, trailer_extra=b"/Info 5 0 R "), pki)
    assert report.result("P7").failed


# --- random damage -----------------------------------------------------------------------------

TOKENS = st.sampled_from([
    b"<<", b">>", b"[", b"]", b"(", b")", b"/", b" R ", b"obj", b"endobj", b"stream\n",
    b"endstream", b"xref", b"trailer", b"startxref", b"%%EOF", b"999999999 0 R", b"-1",
    b"1e400", b"/Filter /FlateDecode", b"/Length 999999999999", b"\x00", b"\xff\xfe",
])


@st.composite
def damaged(draw: st.DrawFn, pdf: bytes) -> bytes:
    position = draw(st.integers(0, len(pdf)))
    operation = draw(st.sampled_from(["truncate", "overwrite", "insert", "delete"]))
    if operation == "truncate":
        return pdf[:position]
    chunk = draw(st.one_of(TOKENS, st.binary(min_size=1, max_size=8)))
    if operation == "overwrite":
        return pdf[:position] + chunk + pdf[position + len(chunk):]
    if operation == "insert":
        return pdf[:position] + chunk + pdf[position:]
    return pdf[:position] + pdf[position + draw(st.integers(1, 64)):]


@pytest.fixture(scope="module")
def victim(pki: TestPki) -> bytes:
    return co_signed(pki)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_damaged_files_get_a_report_never_an_exception(
    pki: TestPki, victim: bytes, data: st.DataObject
) -> None:
    pdf = data.draw(damaged(victim))
    report = validate(pdf, pki)
    assert isinstance(report, AnswerReport)
    assert AnswerReport.from_json(report.to_json()) == report
    assert set(report.failed_codes) <= {"P1", "P2", "P3", "P5", "P7", "P8", "P9"}
    for result in report.failed:
        assert result.message  # every refusal says why, in Swedish
