"""Answer PDFs refused, each by the rule that names its fault (DESIGN 5.3), with a real dev PKI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from signing.answer_report import RuleStatus
from tests.support.pdfs import (
    PHYSICIAN,
    REFERENCE,
    REKO,
    REKO_OTHER_VC,
    TestPki,
    action_catalog,
    altered,
    bomb_pdf,
    embedded_file_catalog,
    foreign_timestamper,
    javascript_catalog,
    launch_catalog,
    link_annotation,
    nss_db,
    pdfsig_sign,
    pdfsig_tools,
    pdfsig_verify,
    plain_pdf,
    sign,
    signed_by_reko,
    validate,
    with_appended_javascript,
    with_changed_page,
    with_reference,
)

UTC = dt.UTC
ALLOWED = [REKO.hsa_id]


def signed_plain(catalog: dict) -> Callable[[TestPki], bytes]:
    return lambda pki: sign(plain_pdf(extra_catalog=catalog), pki.reko_p12())


def signed_with(kind: str) -> Callable[[TestPki], bytes]:
    return lambda pki: sign(plain_pdf(), pki.extra_p12(kind))


def reko_then_physician_after(spoil: Callable[[bytes], bytes]) -> Callable[[TestPki], bytes]:
    """Signed by the REKO, spoiled, then co-signed by the physician over the spoiled file."""
    return lambda pki: sign(spoil(signed_by_reko(pki)), pki.physician_p12(), "lakare")


# Each row: a file maker, extra arguments to validate, and exactly the rules that must fail.
REFUSALS: list[tuple[str, Callable[[TestPki], bytes], dict, tuple[str, ...]]] = [
    ("not a PDF", lambda pki: b"Hej, detta ar ingen PDF.", {}, ("P1",)),
    ("empty file", lambda pki: b"", {}, ("P1",)),
    ("over the size given", signed_by_reko, {"max_bytes": 1000}, ("P1",)),
    ("stacked compression bomb", lambda pki: bomb_pdf("stacked"), {}, ("P1",)),
    ("unsigned", lambda pki: plain_pdf(), {}, ("P2",)),
    (
        "altered after signing",
        lambda pki: altered(signed_by_reko(pki), b"595 842", b"595 843"),
        {},
        ("P2",),
    ),
    ("page changed in a later revision", lambda pki: with_changed_page(signed_by_reko(pki)), {},
     ("P5",)),
    ("page changed, then co-signed", reko_then_physician_after(with_changed_page), {}, ("P5",)),
    ("untrusted CA", signed_with("foreign_ca"), {}, ("P3",)),
    ("expired certificate", signed_with("expired"), {}, ("P3",)),
    ("no nonRepudiation", signed_with("no_nonrepudiation"), {}, ("P3",)),
    ("wrong reference", signed_by_reko, {"expected_reference": "another-inquiry"}, ("P7",)),
    (
        "reference changed after the REKO signed",
        reko_then_physician_after(lambda pdf: with_reference(pdf, "another-inquiry")),
        {},
        ("P7",),
    ),
    ("JavaScript", signed_plain(javascript_catalog()), {}, ("P8",)),
    ("launch action", signed_plain(launch_catalog()), {}, ("P8",)),
    ("embedded file", signed_plain(embedded_file_catalog()), {}, ("P8",)),
    (
        "JavaScript added after signing",
        lambda pki: with_appended_javascript(signed_by_reko(pki)),
        {},
        ("P5", "P8"),
    ),
    (
        "signed before the inquiry was received",
        signed_by_reko,
        # Taken when the test runs, not at import: a slow run signed after it and failed.
        {"received_at": lambda: dt.datetime.now(UTC) + dt.timedelta(hours=1)},
        ("P9",),
    ),
    (
        "timestamp from an untrusted TSA",
        lambda pki: signed_by_reko(pki, timestamper=foreign_timestamper()),
        {},
        ("P9",),
    ),
]


@pytest.mark.parametrize(
    ("make", "kwargs", "codes"),
    [pytest.param(make, kwargs, codes, id=name) for name, make, kwargs, codes in REFUSALS],
)
def test_refused_by_the_rule_that_names_the_fault(
    pki: TestPki, make: Callable[[TestPki], bytes], kwargs: dict, codes: tuple[str, ...]
) -> None:
    now_kwargs = {key: value() if callable(value) else value for key, value in kwargs.items()}
    report = validate(make(pki), pki, allowed_hsa_ids=ALLOWED, **now_kwargs)
    document_failures = tuple(c for c in report.failed_codes if c not in {"P4", "P6"})
    assert document_failures == codes
    assert not report.ok
    for code in codes:
        result = report.result(code)
        assert result.message and result.message[0].isupper()


OUTWARD = ["/GoToR", "/GoToE", "/SubmitForm", "/ImportData", "/URI", "/Rendition", "/Sound",
           "/Movie"]


@pytest.mark.parametrize("placement", ["open", "additional", "names", "annotation"])
@pytest.mark.parametrize("kind", OUTWARD)
def test_actions_that_leave_the_document_are_refused_by_p8(
    pki: TestPki, kind: str, placement: str
) -> None:
    if placement == "annotation":
        pdf = plain_pdf(annotations=[link_annotation(kind)])
    else:
        pdf = plain_pdf(extra_catalog=action_catalog(kind, placement))
    report = validate(sign(pdf, pki.reko_p12()), pki, allowed_hsa_ids=ALLOWED)
    assert report.result("P8").status is RuleStatus.FAILED
    # The refusal names the action, so the REKO knows what to remove.
    assert kind.strip("/") in report.result("P8").message


def test_a_plain_link_free_answer_passes_p8(pki: TestPki) -> None:
    report = validate(sign(plain_pdf(), pki.reko_p12()), pki, allowed_hsa_ids=ALLOWED)
    assert report.result("P8").status is RuleStatus.PASSED


def test_a_file_that_is_not_a_pdf_leaves_every_other_rule_unevaluated(pki: TestPki) -> None:
    report = validate(b"%!PS-Adobe-3.0\n", pki)
    assert report.failed_codes == ("P1",)
    assert report.result("P1").message == "Filen är inte en PDF."
    assert {r.code for r in report.results if r.status is RuleStatus.NOT_EVALUATED} == {
        "P2", "P3", "P5", "P7", "P8", "P9"
    }


def test_over_30_mb_is_refused_before_it_is_parsed(pki: TestPki) -> None:
    huge = b"%PDF-1.7\n" + bytes(30 * 1024 * 1024)
    report = validate(huge, pki)
    assert report.failed_codes == ("P1",)
    assert "högst 30,0 MB" in report.result("P1").message
    assert report.size == len(huge)


def test_a_single_layer_bomb_beyond_the_stream_cap_is_refused(pki: TestPki) -> None:
    report = validate(bomb_pdf("single"), pki)
    assert report.failed_codes == ("P1",)
    assert "komprimeringsbomb" in report.result("P1").message


def test_unsigned_says_so(pki: TestPki) -> None:
    report = validate(plain_pdf(), pki, allowed_hsa_ids=ALLOWED)
    assert report.result("P2").message == "Filen saknar underskrift."
    assert report.result("P4").failed
    assert report.signers == ()


def test_revoked_certificate_is_refused_with_the_crl(pki: TestPki) -> None:
    pdf = signed_with("revoked")(pki)
    assert validate(pdf, pki).document_ok  # the CA's own CRL lists nothing
    report = validate(pdf, pki, crls=[pki.revoked_crl()])
    assert report.failed_codes == ("P3",)
    assert "spärrat" in report.result("P3").message


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("foreign_ca", "inte utfärdat av en betrodd utfärdare"),
        ("expired", "inte giltigt när underskriften gjordes"),
        ("no_nonrepudiation", "nonRepudiation saknas"),
    ],
)
def test_certificate_refusals_say_why(pki: TestPki, kind: str, words: str) -> None:
    report = validate(signed_with(kind)(pki), pki)
    assert words in report.result("P3").message
    assert REKO.name in report.result("P3").message


def test_physician_alone_is_refused_by_p4(pki: TestPki) -> None:
    pdf = sign(plain_pdf(), pki.physician_p12(), "lakare")
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert report.document_ok
    assert report.failed_codes == ("P4",)
    assert PHYSICIAN.name in report.result("P4").message
    assert report.result("P6").status is RuleStatus.NOT_EVALUATED


def test_reko_of_another_vc_is_refused_by_p4(pki: TestPki) -> None:
    pdf = sign(plain_pdf(), pki.reko_p12(REKO_OTHER_VC))
    report = validate(pdf, pki, allowed_hsa_ids=ALLOWED)
    assert report.failed_codes == ("P4",)
    assert REKO_OTHER_VC.hsa_id in report.result("P4").message


def test_an_untrusted_reko_certificate_does_not_satisfy_p4(pki: TestPki) -> None:
    # Same HSA-id as the assigned REKO, but from a CA nobody trusts: an impostor.
    report = validate(signed_with("foreign_ca")(pki), pki, allowed_hsa_ids=ALLOWED)
    assert report.failed_codes == ("P3", "P4")


def test_signed_in_the_future_is_refused_by_p9(pki: TestPki) -> None:
    pdf = signed_by_reko(pki)
    now = dt.datetime.now(UTC) - dt.timedelta(minutes=30)
    report = validate(pdf, pki, now=now, received_at=now - dt.timedelta(hours=1))
    assert "P9" in report.failed_codes
    assert "framtiden" in report.result("P9").message


def test_five_minutes_of_clock_skew_are_allowed(pki: TestPki) -> None:
    pdf = signed_by_reko(pki)
    now = dt.datetime.now(UTC) - dt.timedelta(minutes=4)
    report = validate(pdf, pki, now=now, received_at=now - dt.timedelta(minutes=20))
    assert report.result("P9").passed


def test_received_in_the_same_second_as_signed_is_accepted(pki: TestPki) -> None:
    pdf = signed_by_reko(pki)
    signed_at = validate(pdf, pki).signers[0].signing_time
    assert signed_at is not None and signed_at.microsecond == 0
    received = signed_at + dt.timedelta(microseconds=999_999)
    report = validate(pdf, pki, received_at=received)
    assert report.result("P9").passed
    late = validate(pdf, pki, received_at=signed_at + dt.timedelta(seconds=1))
    assert late.failed_codes == ("P9",)


# --- the same files through an independent checker ---------------------------------------------


@pytest.fixture(scope="module")
def nss(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    pdfsig_tools()
    return nss_db(tmp_path_factory.mktemp("nss"), pki, [(pki.reko_p12(), REKO.name)])


@pytest.mark.parametrize(
    ("make", "verdict"),
    [
        pytest.param(signed_by_reko, "Certificate is Trusted", id="valid"),
        pytest.param(
            lambda pki: altered(signed_by_reko(pki), b"595 842", b"595 843"),
            "Digest Mismatch",
            id="altered",
        ),
        pytest.param(signed_with("foreign_ca"), "Certificate issuer isn't Trusted", id="foreign"),
        pytest.param(signed_with("expired"), "Certificate has Expired", id="expired"),
    ],
)
def test_pdfsig_agrees(
    pki: TestPki, nss: str, tmp_path: Path, make: Callable[[TestPki], bytes], verdict: str
) -> None:
    assert verdict in pdfsig_verify(make(pki), nss, tmp_path)


def test_a_file_pdfsig_signed_then_altered_is_refused(
    pki: TestPki, nss: str, tmp_path: Path
) -> None:
    pdf = pdfsig_sign(plain_pdf(), nss, REKO.name, tmp_path, field_name="reko")
    report = validate(altered(pdf, b"595 842", b"595 843"), pki)
    assert report.failed_codes == ("P2",)
    assert REFERENCE  # the file carries the reference; only the digest is wrong
