"""Trust roots and CRLs: what may be configured, and clear refusals for what may not."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing.answer_report import AnswerReport
from signing.certificates import (
    CertificateAuthority,
    IssuedCertificate,
    create_ca,
    issue_person_certificate,
    load_crl,
    make_crl,
)
from signing.pades import validate_answer
from signing.trust import TrustError, TrustStore, load_trust_store, stale_crls
from tests.support.pdfs import (
    PASSPHRASE,
    REKO,
    TestPki,
    plain_pdf,
    sign,
    signed_by_reko,
    validate,
)

UTC = dt.UTC


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "saknas.pem"
    with pytest.raises(TrustError, match="saknas.pem: cannot read"):
        load_trust_store([missing])


def test_garbage_is_not_a_certificate(tmp_path: Path) -> None:
    path = tmp_path / "skrap.pem"
    path.write_bytes(b"this is not a certificate")
    with pytest.raises(TrustError, match="skrap.pem: not a readable certificate"):
        load_trust_store([path])


def test_a_signers_own_certificate_is_never_a_root(pki: TestPki) -> None:
    leaf_and_ca = pki.layout.reko_pem(REKO.hsa_id)  # the REKO's certificate, then the CA
    with pytest.raises(TrustError, match="is not a CA certificate"):
        load_trust_store([leaf_and_ca])


def test_no_roots_is_refused() -> None:
    with pytest.raises(TrustError, match="no trust root"):
        load_trust_store([])
    with pytest.raises(TrustError):
        TrustStore(())


def test_pem_bundle_and_der_files_are_read(pki: TestPki, tmp_path: Path) -> None:
    other = create_ca(common_name="Annan CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.layout.ca_cert.read_bytes() + other.cert_pem())
    der = tmp_path / "other.der"
    der.write_bytes(other.cert.public_bytes(Encoding.DER))
    store = load_trust_store([bundle, der])
    assert [r.subject.native["common_name"] for r in store.roots] == [
        "Kryddgården utvecklings-CA", "Annan CA", "Annan CA"
    ]
    described = store.describe()
    assert described[1]["fingerprint"] == other.fingerprint


def test_crls_in_pem_and_der(pki: TestPki, tmp_path: Path) -> None:
    der = tmp_path / "ca.crl.der"
    der.write_bytes(make_crl(pki.ca).public_bytes(Encoding.DER))
    store = load_trust_store([pki.layout.ca_cert], [pki.layout.crl, der])
    assert len(store.crls) == 2


def test_garbage_crl_is_refused(pki: TestPki, tmp_path: Path) -> None:
    path = tmp_path / "bad.crl"
    path.write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(TrustError, match="bad.crl: not a readable CRL"):
        load_trust_store([pki.layout.ca_cert], [path])


def test_stale_crls_are_reported(pki: TestPki) -> None:
    old = make_crl(
        pki.ca,
        now=dt.datetime.now(UTC) - dt.timedelta(days=30),
        next_update=dt.datetime.now(UTC) - dt.timedelta(days=1),
    )
    store = TrustStore.of([pki.ca.cert], [old])
    assert stale_crls(store, dt.datetime.now(UTC)) != []
    assert stale_crls(pki.store(), dt.datetime.now(UTC)) == []


def test_a_stale_crl_makes_revocation_unknown(pki: TestPki) -> None:
    old = make_crl(
        pki.ca,
        now=dt.datetime.now(UTC) - dt.timedelta(days=30),
        next_update=dt.datetime.now(UTC) - dt.timedelta(days=1),
    )
    report = validate(signed_by_reko(pki), pki, crls=[old])
    assert report.failed_codes == ("P3",)


def test_without_crls_revocation_cannot_be_checked_and_p3_says_so(pki: TestPki) -> None:
    report = validate(signed_by_reko(pki), pki, crls=[])
    assert report.failed_codes == ("P3",)
    message = report.result("P3").message
    assert "spärrstatus" in message and "betrodd" not in message
    assert "NO_REVOCATION_INFO" in report.result("P3").detail


def test_another_root_does_not_trust_our_signers(pki: TestPki) -> None:
    from signing.pades import validate_answer

    now = dt.datetime.now(UTC)
    report = validate_answer(
        signed_by_reko(pki),
        trust_roots=[create_ca(common_name="Annan CA").cert],
        received_at=now - dt.timedelta(hours=1),
        now=now,
        expected_reference=None,
    )
    assert report.failed_codes == ("P3",)


# --- a region's own CA: the trust configuration a production gateway has ----------------------


@dataclass(frozen=True)
class Region:
    """A CA other than the development CA, its REKO's answer, and that REKO's certificate."""

    ca: CertificateAuthority
    signer: IssuedCertificate
    pdf: bytes


@pytest.fixture(scope="module")
def region() -> Region:
    ca = create_ca(common_name="Region Skåne test-CA", organisation="Region Skåne")
    signer = issue_person_certificate(ca, hsa_id=REKO.hsa_id, name=REKO.name,
                                      organisation="Region Skåne")
    return Region(ca, signer, sign(plain_pdf(), signer.to_pkcs12(PASSPHRASE)))


def validate_under(region: Region, roots: list[x509.Certificate],
                   crls: list[x509.CertificateRevocationList]) -> AnswerReport:
    now = dt.datetime.now(UTC)
    return validate_answer(region.pdf, trust_roots=TrustStore.of(roots, crls),
                           received_at=now - dt.timedelta(hours=1), now=now,
                           expected_reference=None)


def test_an_answer_under_a_custom_root_with_its_crl_is_accepted(region: Region) -> None:
    report = validate_under(region, [region.ca.cert], [make_crl(region.ca)])
    assert report.document_ok, report.failed_codes


@pytest.mark.parametrize("crls", ["none", "the development CA's"])
def test_a_custom_root_without_its_crl_is_refused_for_revocation_not_trust(
    region: Region, pki: TestPki, crls: str
) -> None:
    configured = [] if crls == "none" else [load_crl(pki.layout.crl)]
    report = validate_under(region, [region.ca.cert], configured)
    assert report.failed_codes == ("P3",)
    message = report.result("P3").message
    assert "spärrstatus" in message and REKO.name in message
    assert "betrodd utfärdare" not in message
    assert "NO_REVOCATION_INFO" in report.result("P3").detail


def test_a_revoked_signer_under_a_custom_root_is_refused_as_revoked(region: Region) -> None:
    report = validate_under(region, [region.ca.cert],
                            [make_crl(region.ca, revoked=[region.signer.cert])])
    assert report.failed_codes == ("P3",)
    assert "är spärrat" in report.result("P3").message
    assert "REVOKED" in report.result("P3").detail


def test_a_signer_of_an_untrusted_ca_is_refused_as_untrusted(
    region: Region, pki: TestPki
) -> None:
    report = validate_under(region, [pki.ca.cert], [load_crl(pki.layout.crl)])
    assert report.failed_codes == ("P3",)
    assert "inte utfärdat av en betrodd utfärdare" in report.result("P3").message
    assert "UNTRUSTED" in report.result("P3").detail


def test_roots_without_a_revocation_source_are_named(region: Region, pki: TestPki) -> None:
    dev_crl = load_crl(pki.layout.crl)
    store = TrustStore.of([pki.ca.cert, region.ca.cert], [dev_crl])
    [missing] = store.roots_without_revocation()
    assert "Region Skåne test-CA" in missing
    assert TrustStore.of([pki.ca.cert], [dev_crl]).roots_without_revocation() == []
    online = TrustStore.of([region.ca.cert], [], online_timeout=5)
    assert online.roots_without_revocation() == []


# --- online revocation checks (GATEWAY_REVOCATION_FETCH) ----------------------------------------


class _CrlServer:
    """A loopback HTTP server publishing one CRL at /region.crl (DER), as a CA's CDP does."""

    def __init__(self) -> None:
        self.crl = b""
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = owner.crl if self.path == "/region.crl" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/region.crl"

    def __enter__(self) -> _CrlServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_online_checks_fetch_the_crl_the_certificate_names() -> None:
    ca = create_ca(common_name="Region Online test-CA", organisation="Region Skåne")
    with _CrlServer() as published:
        signer = issue_person_certificate(ca, hsa_id=REKO.hsa_id, name=REKO.name,
                                          organisation="Region Skåne", crl_urls=[published.url])
        received = dt.datetime.now(UTC)
        pdf = sign(plain_pdf(), signer.to_pkcs12(PASSPHRASE))

        def check(store: TrustStore) -> AnswerReport:
            # Validated after the CRL was published: a CRL issued after the validation time
            # is not yet valid (a second boundary between the two made this test flaky).
            now = dt.datetime.now(UTC) + dt.timedelta(seconds=1)
            return validate_answer(pdf, trust_roots=store, received_at=received, now=now,
                                   expected_reference=None)

        published.crl = make_crl(ca).public_bytes(Encoding.DER)
        offline = check(TrustStore.of([ca.cert]))
        assert "NO_REVOCATION_INFO" in offline.result("P3").detail
        assert check(TrustStore.of([ca.cert], online_timeout=5)).document_ok

        published.crl = make_crl(ca, revoked=[signer.cert]).public_bytes(Encoding.DER)
        revoked = check(TrustStore.of([ca.cert], online_timeout=5))
        assert "är spärrat" in revoked.result("P3").message

        published.crl = b""  # the distribution point answers 404: no revocation information
        missing = check(TrustStore.of([ca.cert], online_timeout=5))
        assert "spärrstatus" in missing.result("P3").message
