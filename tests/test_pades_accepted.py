"""Answer PDFs accepted: REKO-signed, co-signed, both subfilters, timestamped, signed by pdfsig;
and the report as the gateway stores and shows it."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from signing.answer_report import AnswerReport, RuleStatus, SignerRole
from signing.pades import apply_signer_rule, async_validate_answer
from tests.support.pdfs import (
    PASSPHRASE,
    PHYSICIAN,
    REFERENCE,
    REKO,
    TestPki,
    co_signed,
    nss_db,
    pdfsig_sign,
    pdfsig_tools,
    pdfsig_verify,
    plain_pdf,
    sign,
    signed_by_reko,
    validate,
)

UTC = dt.UTC
ALLOWED = [REKO.hsa_id]


def assert_accepted(report: AnswerReport) -> None:
    assert report.failed_codes == ()
    assert report.ok, [(r.code, r.status, r.message) for r in report.results]
    assert [r.code for r in report.results] == [f"P{n}" for n in range(1, 10)]


@pytest.mark.parametrize(
    ("subfilter", "name"),
    [("pades", "ETSI.CAdES.detached"), ("adbe", "adbe.pkcs7.detached")],
)
def test_reko_signed_answer_is_accepted(pki: TestPki, subfilter: str, name: str) -> None:
    report = validate(signed_by_reko(pki, subfilter=subfilter), pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    (signer,) = report.signers
    assert signer.subfilter == name
    assert (signer.subject_cn, signer.hsa_id) == (REKO.name, REKO.hsa_id)
    assert signer.role is SignerRole.REKO
    assert signer.is_last and signer.coverage == "ENTIRE_FILE"
    assert "Kryddgården utvecklings-CA" in signer.issuer
    assert report.inquiry_reference == REFERENCE
    assert report.co_signers == ()
    assert report.result("P6").message == "Inga medundertecknare."


def test_fingerprint_identifies_the_reko_when_the_hsa_id_is_not_registered(
    pki: TestPki,
) -> None:
    report = validate(signed_by_reko(pki), pki)
    fingerprint = report.signers[0].fingerprint
    by_print = apply_signer_rule(
        report, allowed_hsa_ids=[], allowed_fingerprints=[fingerprint.upper()]
    )
    assert by_print.ok
    assert len(fingerprint) == 64


def test_co_signed_answer_records_the_physician(pki: TestPki) -> None:
    report = validate(co_signed(pki), pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    reko, physician = report.signers
    assert (reko.field_name, reko.is_last, reko.modification_level) == ("reko", False,
                                                                        "FORM_FILLING")
    assert reko.docmdp_ok is True
    assert (physician.field_name, physician.is_last, physician.hsa_id) == (
        "lakare", True, PHYSICIAN.hsa_id
    )
    assert report.reko_signer is reko and reko.role is SignerRole.REKO
    assert [s.hsa_id for s in report.co_signers] == [PHYSICIAN.hsa_id]
    assert PHYSICIAN.name in report.result("P6").message


def test_physician_first_then_reko_is_accepted(pki: TestPki) -> None:
    pdf = sign(sign(plain_pdf(), pki.physician_p12(), "lakare"), pki.reko_p12(), "reko")
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    assert report.reko_signer is not None and report.reko_signer.is_last


def test_timestamped_signature_is_accepted_and_its_time_reported(pki: TestPki) -> None:
    before = dt.datetime.now(UTC)
    pdf = signed_by_reko(pki, timestamper=pki.timestamper())
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    (signer,) = report.signers
    assert signer.timestamp_valid is True
    assert signer.timestamp_time is not None
    assert before - dt.timedelta(seconds=1) <= signer.timestamp_time <= dt.datetime.now(UTC)


def test_document_timestamp_after_the_signature_is_accepted(pki: TestPki) -> None:
    signed = signed_by_reko(pki)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    stamper = signers.PdfTimeStamper(pki.timestamper())
    out = stamper.timestamp_pdf(writer, md_algorithm="sha256")
    report = validate(out.getvalue(), pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    (stamp,) = report.document_timestamps
    assert stamp.is_last and stamp.trusted and stamp.coverage == "ENTIRE_FILE"
    assert not report.signers[0].is_last


def test_a_file_without_a_reference_passes_p7_and_says_so(pki: TestPki) -> None:
    pdf = sign(plain_pdf(reference=None), pki.reko_p12())
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    assert report.inquiry_reference is None
    assert report.result("P7").message == "Filen anger ingen förfrågningsreferens."


def test_reference_compare_ignores_case_and_spaces(pki: TestPki) -> None:
    report = validate(signed_by_reko(pki), pki, expected_reference=f"  {REFERENCE.upper()} ")
    assert report.result("P7").passed


def test_without_an_expected_reference_the_files_reference_is_still_reported(
    pki: TestPki,
) -> None:
    report = validate(signed_by_reko(pki), pki, expected_reference=None)
    assert report.result("P7").passed
    assert report.inquiry_reference == REFERENCE


def test_signature_by_plain_pyhanko_with_sha512_is_accepted(pki: TestPki) -> None:
    # Files signed elsewhere need not use our helper or its digest.
    signer = signers.SimpleSigner.load_pkcs12_data(pki.reko_p12(), [], PASSPHRASE.encode())
    writer = IncrementalPdfFileWriter(io.BytesIO(plain_pdf()))
    meta = signers.PdfSignatureMetadata(
        field_name="reko", md_algorithm="sha512", subfilter=SigSeedSubFilter.PADES
    )
    pdf = signers.sign_pdf(writer, meta, signer=signer).getvalue()
    assert_accepted(validate(pdf, pki, allowed_hsa_ids=ALLOWED))


# --- the report --------------------------------------------------------------------------------


def test_report_round_trips_through_json(pki: TestPki) -> None:
    pdf = co_signed(pki)
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    stored = report.to_json()
    data = json.loads(stored)
    assert data["ok"] is True and data["failed_codes"] == []
    assert data["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert data["signers"][0]["role"] == "reko"
    again = AnswerReport.from_json(stored)
    assert again == report
    assert again.ok


def test_report_of_a_refused_file_round_trips_too(pki: TestPki) -> None:
    report = validate(b"not a pdf", pki)
    again = AnswerReport.from_json(report.to_json())
    assert again == report
    assert again.result("P2").status is RuleStatus.NOT_EVALUATED


def test_from_json_refuses_what_is_not_a_report() -> None:
    with pytest.raises(ValueError, match="not a stored answer report"):
        AnswerReport.from_dict({"version": 1})
    with pytest.raises(ValueError, match="unknown report version"):
        AnswerReport.from_dict({"version": 99})


def test_ok_needs_the_directory_rules(pki: TestPki) -> None:
    report = validate(signed_by_reko(pki), pki)
    assert report.document_ok
    assert not report.ok  # P4 and P6 not decided yet
    with pytest.raises(KeyError):
        report.result("P4")
    identities = report.signer_identities
    assert [(i.field_name, i.hsa_id) for i in identities] == [("reko", REKO.hsa_id)]
    assert identities[0].signing_time is not None


def test_apply_signer_rule_again_replaces_p4_and_p6(pki: TestPki) -> None:
    report = validate(signed_by_reko(pki), pki)
    refused = apply_signer_rule(report, allowed_hsa_ids=["SE2321000255-X999"])
    accepted = apply_signer_rule(refused, allowed_hsa_ids=[REKO.hsa_id.lower()])
    assert refused.failed_codes == ("P4",)
    assert accepted.ok
    assert [r.code for r in accepted.results].count("P4") == 1


def test_validation_works_inside_a_running_event_loop(pki: TestPki) -> None:
    pdf = signed_by_reko(pki)

    async def in_loop() -> tuple[AnswerReport, AnswerReport]:
        from_sync = validate(pdf, pki)
        now = dt.datetime.now(UTC)
        from_async = await async_validate_answer(
            pdf,
            trust_roots=pki.store(),
            received_at=now - dt.timedelta(hours=1),
            now=now,
            expected_reference=REFERENCE,
        )
        return from_sync, from_async

    from_sync, from_async = asyncio.run(in_loop())
    assert from_sync.document_ok and from_async.document_ok


def test_naive_datetimes_are_a_caller_bug(pki: TestPki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate(signed_by_reko(pki), pki, now=dt.datetime.now())  # noqa: DTZ005


# --- poppler's pdfsig, an independent signer over NSS -------------------------------------------


@pytest.fixture(scope="module")
def nss(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    pdfsig_tools()
    people = [(pki.reko_p12(), REKO.name), (pki.physician_p12(), PHYSICIAN.name)]
    return nss_db(tmp_path_factory.mktemp("nss"), pki, people)


@pytest.mark.parametrize("etsi", [False, True], ids=["adbe", "etsi"])
def test_answer_signed_by_pdfsig_is_accepted(
    pki: TestPki, nss: str, tmp_path: Path, etsi: bool
) -> None:
    pdf = pdfsig_sign(plain_pdf(), nss, REKO.name, tmp_path, field_name="reko", etsi=etsi)
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    assert report.signers[0].field_name == "reko"


def test_pdfsig_files_are_not_strictly_tidy_yet_accepted(
    pki: TestPki, nss: str, tmp_path: Path
) -> None:
    from pyhanko.pdf_utils.misc import PdfStrictReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    pdf = pdfsig_sign(plain_pdf(), nss, REKO.name, tmp_path, field_name="reko")
    with pytest.raises(PdfStrictReadError):
        PdfFileReader(io.BytesIO(pdf), strict=True).embedded_signatures  # noqa: B018
    assert validate(pdf, pki, allowed_hsa_ids=ALLOWED).ok


def test_pdfsig_signature_in_a_new_field_then_pyhanko_co_signs(
    pki: TestPki, nss: str, tmp_path: Path
) -> None:
    pdf = pdfsig_sign(plain_pdf(), nss, REKO.name, tmp_path)
    pdf = sign(pdf, pki.physician_p12(), "lakare")
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert_accepted(report)
    assert [s.hsa_id for s in report.signers] == [REKO.hsa_id, PHYSICIAN.hsa_id]
    checked = pdfsig_verify(pdf, nss, tmp_path)
    assert checked.count("Signature is Valid.") == 2


def test_pdfsig_agrees_with_a_co_signed_answer(pki: TestPki, nss: str, tmp_path: Path) -> None:
    checked = pdfsig_verify(co_signed(pki), nss, tmp_path)
    assert checked.count("Signature is Valid.") == 2
    assert checked.count("Certificate is Trusted.") == 2
