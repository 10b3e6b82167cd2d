"""Trust roots and CRLs: what may be configured, and clear refusals for what may not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing.certificates import create_ca, make_crl
from signing.trust import TrustError, TrustStore, load_trust_store, stale_crls
from tests.support.pdfs import REKO, TestPki, signed_by_reko, validate

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


def test_without_crls_certificates_naming_none_are_accepted(pki: TestPki) -> None:
    report = validate(signed_by_reko(pki), pki, crls=[])
    assert report.document_ok


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
