"""The development PKI: what REKOs sign with, what the TSA, SMTP and receipts need, and the CLI."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from pyhanko.keys import load_private_key_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from gateway.db import database
from gateway.directory.models import Coordinator, Organisation
from gateway.pki_cli import pki_group
from signing.certificates import (
    IssuedCertificate,
    create_ca,
    load_key_pair,
)
from signing.devpki import (
    CertificateAuthority,
    Person,
    PkiError,
    PkiLayout,
    describe_pki,
    init_pki,
    issue_person_certificate,
    load_ca,
    load_crl,
    load_pkcs12,
    validate_hsa_id,
)

PASSPHRASE = "hemligt-lösen"
REKO = Person("SE2321000255-P001", "Anna Rekosson")
PHYSICIAN = Person("SE2321000255-L001", "Lars Läkarsson")
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    """One development PKI for the module: RSA key generation is the slow part."""
    root = tmp_path_factory.mktemp("instance") / "pki"
    init_pki(root, passphrase=PASSPHRASE, rekos=[REKO], physicians=[PHYSICIAN],
             encryption_certificates=True)
    return PkiLayout(root)


@pytest.fixture(scope="module")
def ca(pki: PkiLayout) -> CertificateAuthority:
    return load_ca(pki.ca_cert, pki.ca_key)


@pytest.fixture(scope="module")
def reko(pki: PkiLayout) -> IssuedCertificate:
    return load_pkcs12(pki.reko_pkcs12(REKO.hsa_id).read_bytes(), PASSPHRASE)


@pytest.fixture(scope="module")
def timestamper(pki: PkiLayout) -> DummyTimeStamper:
    """The demo TSA, reused across signatures as pyhanko advises."""
    return DummyTimeStamper(
        tsa_cert=_asn1(load_key_pair(pki.tsa_cert, pki.tsa_key).cert),
        tsa_key=load_private_key_from_pemder(str(pki.tsa_key), passphrase=None),
    )


# --- bad input first -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hsa_id",
    [
        "",
        "SE232100025-P001",  # nine digits
        "SE23210002555-P001",  # eleven digits
        "se2321000255-P001",
        "SE2321000255P001",  # no dash
        "SE2321000255-",
        "SE2321000255-" + "A" * 19,  # 32 characters
        "SE2321000255-P 01",
        "SE2321000255-P001\n",
        "SE２３２１０００２５５-P001",  # full-width digits
        "SE2321000255-PÅ1",
        "SE2321000255-P001/../x",
    ],
)
def test_bad_hsa_ids_are_refused(hsa_id: str) -> None:
    with pytest.raises(PkiError, match="not an HSA-id"):
        validate_hsa_id(hsa_id)
    with pytest.raises(PkiError):
        Person(hsa_id, "Anna")


@pytest.mark.parametrize("hsa_id", ["SE2321000255-K001", "SE2321000255-" + "a1" * 9])
def test_good_hsa_ids_pass(hsa_id: str) -> None:
    assert validate_hsa_id(hsa_id) == hsa_id


@pytest.mark.parametrize("name", ["", "   ", "A" * 65, "Anna\x00Rekosson", "Anna\nRekosson"])
def test_unusable_names_are_refused(name: str) -> None:
    with pytest.raises(PkiError):
        Person("SE2321000255-P001", name)


def test_empty_passphrase_is_refused(tmp_path: Path, reko: IssuedCertificate) -> None:
    with pytest.raises(PkiError, match="passphrase"):
        init_pki(tmp_path / "pki", passphrase="")
    with pytest.raises(PkiError, match="passphrase"):
        reko.to_pkcs12("")
    assert not (tmp_path / "pki").exists()


def test_bad_organisation_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for organisations in ({"0203:malmo.se": ""}, {"::": "Malmö stad"}):
        with pytest.raises(PkiError):
            init_pki(tmp_path / "pki", passphrase=PASSPHRASE, organisations=organisations)
    assert not (tmp_path / "pki").exists()


def test_half_a_ca_is_refused(tmp_path: Path, pki: PkiLayout) -> None:
    root = tmp_path / "pki"
    root.mkdir()
    shutil.copy(pki.ca_cert, root / "ca.pem")
    with pytest.raises(PkiError, match="without its pair"):
        init_pki(root, passphrase=PASSPHRASE)


def test_a_ca_with_someone_elses_key_is_refused(tmp_path: Path, pki: PkiLayout) -> None:
    root = tmp_path / "pki"
    root.mkdir()
    shutil.copy(pki.ca_cert, root / "ca.pem")
    shutil.copy(pki.tsa_key, root / "ca-key.pem")
    with pytest.raises(PkiError, match="is not the key of"):
        init_pki(root, passphrase=PASSPHRASE)


def test_wrong_pkcs12_passphrase_is_refused(pki: PkiLayout) -> None:
    with pytest.raises(PkiError, match="wrong passphrase"):
        load_pkcs12(pki.reko_pkcs12(REKO.hsa_id).read_bytes(), "fel")


def test_unknown_key_usage_and_empty_validity_are_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(PkiError, match="unknown key usage"):
        issue_person_certificate(
            ca, hsa_id=REKO.hsa_id, name=REKO.name, organisation="Region Skåne",
            key_usage={"digital_signature", "sign_everything"},
        )
    start = dt.datetime.now(dt.UTC)
    with pytest.raises(PkiError, match="validity period is empty"):
        issue_person_certificate(
            ca, hsa_id=REKO.hsa_id, name=REKO.name, organisation="Region Skåne",
            not_before=start, not_after=start,
        )


def test_show_without_a_pki_says_so(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="gateway pki init"):
        describe_pki(tmp_path / "pki")


def test_signing_is_a_library_without_flask_or_the_database() -> None:
    probe = (
        "import sys, signing.devpki; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', 'gateway'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- the files and the chain ----------------------------------------------------------------


def test_layout_and_private_files(pki: PkiLayout) -> None:
    expected = [
        pki.ca_cert, pki.ca_key, pki.crl, pki.smtp_cert, pki.smtp_key, pki.tsa_cert, pki.tsa_key,
        pki.ap_tls_cert, pki.ap_tls_key,
        pki.reko_pkcs12(REKO.hsa_id), pki.reko_pem(REKO.hsa_id),
        pki.physician_pkcs12(PHYSICIAN.hsa_id), pki.physician_pem(PHYSICIAN.hsa_id),
    ]
    for org in ("0203:malmo.se", "0203:skane.se"):
        expected += [pki.org_cert(org), pki.org_key(org), pki.org_pkcs12(org),
                     pki.org_enc_cert(org), pki.org_enc_key(org)]
    for path in expected:
        assert path.is_file(), path
    assert pki.org_cert("0203:malmo.se").name == "0203_malmo.se.pem"
    assert pki.org_enc_key("0203:malmo.se").name == "0203_malmo.se.enc.key.pem"
    assert pki.ap_tls_cert.relative_to(pki.root) == Path("ap/tls.pem")
    for secret in (pki.ca_key, pki.smtp_key, pki.tsa_key, pki.reko_pkcs12(REKO.hsa_id),
                   pki.org_key("0203:skane.se"), pki.org_pkcs12("0203:skane.se"),
                   pki.org_enc_key("0203:skane.se"), pki.ap_tls_key):
        assert secret.stat().st_mode & 0o777 == 0o600, secret


def test_ca_is_a_ten_year_root(ca: CertificateAuthority) -> None:
    cert = ca.cert
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3660)
    # Backdated for clock skew, but only by minutes.
    age = dt.datetime.now(dt.UTC) - cert.not_valid_before_utc
    assert dt.timedelta(minutes=1) < age < dt.timedelta(hours=1)


def test_every_leaf_chains_to_the_ca(pki: PkiLayout, ca: CertificateAuthority) -> None:
    leaves = [_leaf(pki.smtp_cert), _leaf(pki.tsa_cert), _leaf(pki.reko_pem(REKO.hsa_id)),
              _leaf(pki.physician_pem(PHYSICIAN.hsa_id)), _leaf(pki.org_cert("0203:malmo.se")),
              _leaf(pki.org_enc_cert("0203:malmo.se")), _leaf(pki.ap_tls_cert)]
    for leaf in leaves:
        leaf.verify_directly_issued_by(ca.cert)
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert dt.timedelta(days=729) <= lifetime <= dt.timedelta(days=731)


@needs_openssl
def test_openssl_verifies_the_chain_with_the_crl(pki: PkiLayout) -> None:
    files = [pki.smtp_cert, pki.tsa_cert, pki.reko_pem(REKO.hsa_id),
             pki.org_cert("0203:malmo.se"), pki.org_cert("0203:skane.se")]
    done = _openssl("verify", "-CAfile", pki.ca_cert, "-crl_check", "-CRLfile", pki.crl, *files)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": OK") == len(files)


@needs_openssl
def test_openssl_rejects_a_certificate_from_another_ca(tmp_path: Path, pki: PkiLayout) -> None:
    stranger = _stranger_reko()
    path = tmp_path / "stranger.pem"
    path.write_bytes(stranger.cert_pem())
    done = _openssl("verify", "-CAfile", pki.ca_cert, path)
    assert done.returncode != 0


def test_crl_is_empty_pem_signed_by_the_ca(pki: PkiLayout, ca: CertificateAuthority) -> None:
    assert pki.crl.read_bytes().startswith(b"-----BEGIN X509 CRL-----")
    crl = load_crl(pki.crl)
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0
    assert crl.next_update_utc and crl.next_update_utc > dt.datetime.now(dt.UTC)


# --- REKO and physician certificates --------------------------------------------------------


def test_reko_pkcs12_carries_hsa_id_and_signing_usages(reko: IssuedCertificate) -> None:
    subject = reko.cert.subject
    assert _attr(subject, NameOID.SERIAL_NUMBER) == REKO.hsa_id
    assert _attr(subject, NameOID.COMMON_NAME) == REKO.name
    assert _attr(subject, NameOID.ORGANIZATION_NAME) == "Region Skåne"
    usage = reko.cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_encipherment
    assert isinstance(reko.key, rsa.RSAPrivateKey) and reko.key.key_size == 2048
    assert [c.subject for c in reko.chain] == [reko.cert.issuer]


def test_physician_certificate_has_the_same_shape_and_a_title(pki: PkiLayout) -> None:
    physician = load_pkcs12(pki.physician_pkcs12(PHYSICIAN.hsa_id).read_bytes(), PASSPHRASE)
    assert _attr(physician.cert.subject, NameOID.SERIAL_NUMBER) == PHYSICIAN.hsa_id
    assert _attr(physician.cert.subject, NameOID.TITLE) == "Läkare"
    usage = physician.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment


@needs_openssl
def test_openssl_3_opens_the_pkcs12(pki: PkiLayout) -> None:
    p12 = pki.reko_pkcs12(REKO.hsa_id)
    good = _openssl("pkcs12", "-in", p12, "-passin", f"pass:{PASSPHRASE}", "-nokeys")
    assert good.returncode == 0, good.stderr
    assert REKO.hsa_id in good.stdout
    bad = _openssl("pkcs12", "-in", p12, "-passin", "pass:fel", "-nokeys")
    assert bad.returncode != 0


def test_pdf_signed_by_a_reko_validates_against_the_ca(
    pki: PkiLayout, ca: CertificateAuthority, timestamper: DummyTimeStamper
) -> None:
    signed = _sign(_one_page_pdf(), pki.reko_pkcs12(REKO.hsa_id), "REKO", timestamper)
    status = _validate(signed, ca, pki)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.signing_cert.subject.native["serial_number"] == REKO.hsa_id
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted


def test_physician_co_signature_validates_too(
    pki: PkiLayout, ca: CertificateAuthority, timestamper: DummyTimeStamper
) -> None:
    by_reko = _sign(_one_page_pdf(), pki.reko_pkcs12(REKO.hsa_id), "REKO", timestamper)
    both = _sign(by_reko, pki.physician_pkcs12(PHYSICIAN.hsa_id), "Lakare", timestamper)
    reader = PdfFileReader(BytesIO(both), strict=False)
    assert len(reader.embedded_signatures) == 2
    for embedded in reader.embedded_signatures:
        status = validate_pdf_signature(embedded, _context(ca, pki))
        assert status.intact and status.valid and status.trusted


@pytest.mark.parametrize(
    ("case", "indication"),
    [
        ("expired", AdESIndeterminate.OUT_OF_BOUNDS_NO_POE),
        ("without nonRepudiation", AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE),
        ("from an untrusted CA", AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND),
    ],
)
def test_extra_reko_certificates_that_validation_must_refuse(
    case: str, indication: AdESIndeterminate, pki: PkiLayout, ca: CertificateAuthority,
    tmp_path: Path,
) -> None:
    now = dt.datetime.now(dt.UTC)
    if case == "expired":
        issued = issue_person_certificate(
            ca, hsa_id=REKO.hsa_id, name=REKO.name, organisation="Region Skåne",
            not_before=now - dt.timedelta(days=800), not_after=now - dt.timedelta(days=70),
        )
    elif case == "without nonRepudiation":
        issued = issue_person_certificate(
            ca, hsa_id=REKO.hsa_id, name=REKO.name, organisation="Region Skåne",
            key_usage={"digital_signature"},
        )
    else:
        issued = _stranger_reko()
    p12 = tmp_path / "signer.p12"
    p12.write_bytes(issued.to_pkcs12(PASSPHRASE))

    status = _validate(_sign(_one_page_pdf(), p12, "REKO", None), ca, pki)

    assert status.intact and status.valid  # the mathematics hold ...
    assert not status.trusted and not status.bottom_line  # ... but the signer is not accepted
    assert status.trust_problem_indic == indication


# --- organisation, TSA and SMTP certificates ------------------------------------------------


def test_function_certificates_name_the_organisation(pki: PkiLayout) -> None:
    for org_id, name in (("0203:malmo.se", "Malmö stad"), ("0203:skane.se", "Region Skåne")):
        cert = _leaf(pki.org_cert(org_id))
        assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == name
        assert _attr(cert.subject, NameOID.ORGANIZATION_IDENTIFIER) == org_id
        assert _attr(cert.subject, NameOID.SERIAL_NUMBER) == org_id
        assert _attr(cert.subject, NameOID.COMMON_NAME) == f"{name} funktionscertifikat"
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.key_encipherment and usage.content_commitment
        opened = load_pkcs12(pki.org_pkcs12(org_id).read_bytes(), PASSPHRASE)
        assert opened.cert == cert


@needs_openssl
def test_openssl_cms_verifies_a_receipt_signed_with_the_function_certificate(
    pki: PkiLayout, tmp_path: Path
) -> None:
    org = load_key_pair(pki.org_cert("0203:skane.se"), pki.org_key("0203:skane.se"))
    receipt = b"<kvittens>ACCEPTED</kvittens>"
    assert isinstance(org.key, rsa.RSAPrivateKey)
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(receipt)
        .add_signer(org.cert, org.key, hashes.SHA256())
        .sign(serialization.Encoding.DER,
              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    (tmp_path / "receipt.xml").write_bytes(receipt)
    (tmp_path / "receipt.p7s").write_bytes(signature)
    done = _openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "receipt.p7s",
        "-content", tmp_path / "receipt.xml", "-CAfile", pki.ca_cert, "-out", tmp_path / "out",
    )
    assert done.returncode == 0, done.stderr


def test_tsa_certificate_is_rsa_with_critical_timestamping(pki: PkiLayout) -> None:
    cert = _leaf(pki.tsa_cert)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)


def test_smtp_certificate_serves_tls_for_loopback(pki: PkiLayout) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.smtp_cert, pki.smtp_key)
    client = ssl.create_default_context(cafile=str(pki.ca_cert))
    for host in ("localhost", "127.0.0.1", "::1"):
        peer = _handshake(server, client, host)
        assert ("DNS", "localhost") in peer["subjectAltName"]
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "mail.example.org")


def test_encryption_certificates_only_take_session_keys(pki: PkiLayout) -> None:
    for org_id, name in (("0203:malmo.se", "Malmö stad"), ("0203:skane.se", "Region Skåne")):
        cert = _leaf(pki.org_enc_cert(org_id))
        assert _attr(cert.subject, NameOID.ORGANIZATION_IDENTIFIER) == org_id
        assert _attr(cert.subject, NameOID.COMMON_NAME) == f"{name} krypteringscertifikat"
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_encipherment
        assert not (usage.digital_signature or usage.content_commitment)
        assert cert.public_key() != _leaf(pki.org_cert(org_id)).public_key()
        load_key_pair(pki.org_enc_cert(org_id), pki.org_enc_key(org_id))  # the pair matches


def test_access_point_serves_tls_to_a_peer_presenting_its_function_certificate(
    pki: PkiLayout,
) -> None:
    """DESIGN 7.4: the AP's server certificate and an organisation's certificate as client."""
    ap = _leaf(pki.ap_tls_cert)
    eku = ap.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _attr(ap.subject, NameOID.COMMON_NAME) == "localhost"
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.ap_tls_cert, pki.ap_tls_key)
    server.load_verify_locations(cafile=str(pki.ca_cert))
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(pki.ca_cert))
    client.load_cert_chain(pki.org_cert("0203:malmo.se"), pki.org_key("0203:malmo.se"))
    for host in ("localhost", "127.0.0.1"):
        peer = _handshake(server, client, host)
        assert peer["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))


# --- idempotence ----------------------------------------------------------------------------


def test_rerun_keeps_the_ca_and_adds_a_new_reko(tmp_path: Path, pki: PkiLayout) -> None:
    root = tmp_path / "pki"
    shutil.copytree(pki.root, root)
    layout = PkiLayout(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    newcomer = Person("SE2321000255-P002", "Bo Bosson")

    result = init_pki(root, passphrase=PASSPHRASE, rekos=[REKO, newcomer])

    made = {layout.reko_pkcs12(newcomer.hsa_id), layout.reko_pem(newcomer.hsa_id)}
    assert set(result.created) == made
    assert not result.ca_created
    assert set(result.kept) == set(before)  # the physician, not named this time, is kept too
    for path, content in before.items():
        assert path.read_bytes() == content, path
    new_cert = load_pkcs12(layout.reko_pkcs12(newcomer.hsa_id).read_bytes(), PASSPHRASE).cert
    new_cert.verify_directly_issued_by(load_ca(layout.ca_cert, layout.ca_key).cert)


def test_force_makes_everything_anew(
    tmp_path: Path, pki: PkiLayout, ca: CertificateAuthority
) -> None:
    root = tmp_path / "pki"
    shutil.copytree(pki.root, root)
    (root / "notes.txt").write_text("not ours")

    result = init_pki(root, passphrase=PASSPHRASE, rekos=[REKO], force=True)

    assert result.ca_created and not result.kept
    assert result.ca_fingerprint != ca.fingerprint
    assert not PkiLayout(root).physician_pem(PHYSICIAN.hsa_id).exists()  # old CA's leftovers go
    assert (root / "notes.txt").exists()  # files the PKI does not own stay
    new_ca = load_ca(PkiLayout(root).ca_cert, PkiLayout(root).ca_key)
    _leaf(PkiLayout(root).reko_pem(REKO.hsa_id)).verify_directly_issued_by(new_ca.cert)


def test_certificates_of_a_vanished_ca_are_reissued(tmp_path: Path, pki: PkiLayout) -> None:
    root = tmp_path / "pki"
    shutil.copytree(pki.root, root)
    layout = PkiLayout(root)
    layout.ca_cert.unlink()
    layout.ca_key.unlink()

    result = init_pki(root, passphrase=PASSPHRASE, rekos=[REKO])

    assert layout.tsa_cert in result.created and layout.reko_pem(REKO.hsa_id) in result.created
    new_ca = load_ca(layout.ca_cert, layout.ca_key)
    _leaf(layout.tsa_cert).verify_directly_issued_by(new_ca.cert)


def test_a_damaged_certificate_is_reissued(tmp_path: Path, pki: PkiLayout) -> None:
    root = tmp_path / "pki"
    shutil.copytree(pki.root, root)
    layout = PkiLayout(root)
    layout.smtp_cert.write_text("not a certificate")

    assert describe_pki(root).problems  # show names the unreadable file
    result = init_pki(root, passphrase=PASSPHRASE)

    assert {layout.smtp_cert, layout.smtp_key} <= set(result.created)
    assert layout.ca_cert in result.kept
    load_key_pair(layout.smtp_cert, layout.smtp_key)


def test_describe_lists_fingerprints_and_expiry(pki: PkiLayout, ca: CertificateAuthority) -> None:
    overview = describe_pki(pki.root)
    by_path = {str(c.path): c for c in overview.certificates}
    assert by_path["ca.pem"].fingerprint == ca.fingerprint
    assert f"serialNumber={REKO.hsa_id}" in by_path[f"reko/{REKO.hsa_id}.pem"].subject
    assert not any(c.expired() for c in overview.certificates)
    assert not any(p.endswith("key.pem") for p in by_path)
    assert overview.crl_next_update is not None and not overview.problems


# --- the command line -----------------------------------------------------------------------


def test_cli_refuses_a_bad_reko_before_making_anything(
    committing_app: Flask, instance: Path
) -> None:
    for bad in ("SE232100025-P009:Nils", "SE2321000255-P009", "SE2321000255-P009:"):
        result = _run(committing_app, instance, ["init", "--reko", bad])
        assert result.exit_code == 2, result.output
        assert "--reko" in result.output
    assert not (instance / "pki").exists()


def test_cli_init_uses_the_directory_and_show_lists_it(
    committing_app: Flask, instance: Path
) -> None:
    with database(committing_app).transaction() as session:
        session.add(Coordinator(hsa_id="SE2321000255-P001", name="Anna Rekosson",
                                email="anna.rekosson@example.org"))

    made = _run(committing_app, instance, ["init", "--reko", "SE2321000255-P002:Bo Bosson",
                                           "--passphrase-stdin"], stdin="s3kret\n")
    assert made.exit_code == 0, made.output
    assert "given on stdin" in made.output and "s3kret" not in made.output
    layout = PkiLayout.for_instance(instance)
    for hsa_id in ("SE2321000255-P001", "SE2321000255-P002"):
        opened = load_pkcs12(layout.reko_pkcs12(hsa_id).read_bytes(), "s3kret")
        assert _attr(opened.cert.subject, NameOID.SERIAL_NUMBER) == hsa_id

    again = _run(committing_app, instance, ["init"])
    assert again.exit_code == 0, again.output
    assert "(kept)" in again.output and "'demo'" in again.output

    shown = _run(committing_app, instance, ["show"])
    assert shown.exit_code == 0, shown.output
    ca_fingerprint = load_ca(layout.ca_cert, layout.ca_key).fingerprint
    assert ca_fingerprint in shown.output and "serialNumber=SE2321000255-P002" in shown.output


def test_cli_init_makes_keys_for_the_organisations_served_here(
    committing_app: Flask, instance: Path
) -> None:
    with database(committing_app).transaction() as session:
        session.add(Organisation(id="0203:malmo.se", name="Malmö stad"))
        session.add(Organisation(id="0203:skane.se", name="Region Skåne",
                                 endpoint="https://ap.skane.example/ap/v1/envelopes"))

    made = _run(committing_app, instance, ["init"])

    assert made.exit_code == 0, made.output
    layout = PkiLayout.for_instance(instance)
    for path in (layout.org_cert("0203:malmo.se"), layout.org_key("0203:malmo.se"),
                 layout.org_enc_cert("0203:malmo.se"), layout.org_enc_key("0203:malmo.se"),
                 layout.ap_tls_cert, layout.ap_tls_key):
        assert path.is_file(), path
    assert not layout.org_cert("0203:skane.se").exists()  # the peer gateway makes its own


def test_cli_show_without_a_pki_fails_clearly(committing_app: Flask, instance: Path) -> None:
    result = _run(committing_app, instance, ["show"])
    assert result.exit_code == 1
    assert "gateway pki init" in result.output


# --- helpers --------------------------------------------------------------------------------


def _run(app: Flask, instance: Path, args: list[str], stdin: str | None = None) -> Result:
    env = {
        "GATEWAY_INSTANCE_PATH": str(instance),
        "GATEWAY_DATABASE_URL": app.config["DATABASE_URL"],
        "GATEWAY_SECRET_KEY": "test-secret-key",
    }
    return CliRunner().invoke(pki_group, args, env=env, input=stdin)


def _openssl(*args: object) -> subprocess.CompletedProcess[str]:
    assert OPENSSL
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, check=False)


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | bytes:
    values = name.get_attributes_for_oid(oid)
    assert len(values) == 1, (oid, name)
    return values[0].value


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _stranger_reko() -> IssuedCertificate:
    """A REKO certificate that looks right but comes from a CA nobody trusts."""
    stranger = create_ca(common_name="Främmande CA")
    return issue_person_certificate(
        stranger, hsa_id=REKO.hsa_id, name=REKO.name, organisation="Region Skåne"
    )


def _one_page_pdf() -> bytes:
    writer = PdfFileWriter()
    content = writer.add_object(generic.StreamObject(stream_data=b"BT ET"))
    writer.insert_page(PageObject(contents=content, media_box=(0, 0, 595, 842)))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _sign(pdf: bytes, p12: Path, field: str, timestamper: DummyTimeStamper | None) -> bytes:
    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=PASSPHRASE.encode())
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=field),
        signer=signer,
        timestamper=timestamper,
    )
    return out.getvalue()


def _context(ca: CertificateAuthority, pki: PkiLayout) -> ValidationContext:
    """A fresh, offline context per validation: the CA as the only root, our CRL."""
    crl = load_crl(pki.crl).public_bytes(serialization.Encoding.DER)
    return ValidationContext(trust_roots=[_asn1(ca.cert)], crls=[crl], allow_fetching=False)


def _validate(pdf: bytes, ca: CertificateAuthority, pki: PkiLayout) -> PdfSignatureStatus:
    embedded = PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures[0]
    return validate_pdf_signature(embedded, _context(ca, pki))


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str) -> dict[str, Any]:
    """Run a TLS handshake in memory and return the certificate the client saw."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    client_end = client.wrap_bio(c_in, c_out, server_hostname=host)
    for _ in range(10):
        done = 0
        for end in (client_end, server_end):
            try:
                end.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            break
    peer = client_end.getpeercert()
    assert peer
    return peer
