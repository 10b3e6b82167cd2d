"""X.509 building blocks: CAs, leaf certificates, CRLs and PKCS#12 files, made with cryptography."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from signing.errors import SigningError

# RSA 2048: NSS/pdfsig, openssl, xmlsec and pyhanko's DummyTimeStamper all take it.
KEY_SIZE = 2048
CA_VALIDITY = dt.timedelta(days=3652)
LEAF_VALIDITY = dt.timedelta(days=730)
# Backdating covers a verifier whose clock runs a little behind ours.
CLOCK_SKEW = dt.timedelta(minutes=5)
CRL_VALIDITY = dt.timedelta(days=365)
# PBKDF2 rounds for PKCS#12: well above OpenSSL's 2048, still quick to open in tests.
PKCS12_KDF_ROUNDS = 50_000

HSA_ID_PATTERN = re.compile(r"SE[0-9]{10}-[A-Za-z0-9]{1,18}")
HSA_ID_MAX_LENGTH = 31
# RFC 5280's upper bound for CN and O (ub-common-name, ub-organization-name).
NAME_MAX_LENGTH = 64

# Names for rfc4514_string() where cryptography prints a bare OID.
NAME_LABELS = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.TITLE: "title",
}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

KEY_USAGE_NAMES = frozenset(
    {"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment",
     "key_agreement"}
)
# A natural person's signing certificate (REKO, physician): what pyhanko requires by default.
PERSON_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})
# An organisation's function certificate signs (XMLDSig, CMS receipts), authenticates it as a
# TLS client, and, where the organisation has no encryption certificate, takes XML Encryption.
FUNCTION_KEY_USAGE = frozenset({"digital_signature", "key_encipherment", "non_repudiation"})
FUNCTION_EXTENDED_USAGE = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)
# An encryption certificate only receives session keys (rsa-oaep key transport).
ENCRYPTION_KEY_USAGE = frozenset({"key_encipherment"})


class PkiError(SigningError, ValueError):
    """Input or files the PKI cannot use; the message says what and why."""

    code = "PKI"


def validate_hsa_id(value: str) -> str:
    """Return value when it is an HSA-id (SE, 10 digits, '-', 1-18 letters/digits); else raise."""
    if len(value) > HSA_ID_MAX_LENGTH or not HSA_ID_PATTERN.fullmatch(value):
        raise PkiError(
            f"not an HSA-id: {value!r} (expected SE, 10 digits, '-', 1-18 letters or digits, "
            "e.g. SE2321000255-P001)"
        )
    return value


def validate_name(value: str, what: str = "name") -> str:
    """Return value stripped when it fits a certificate name attribute; else raise PkiError."""
    stripped = value.strip()
    if not stripped or len(stripped) > NAME_MAX_LENGTH:
        raise PkiError(f"{what} must be 1-{NAME_MAX_LENGTH} characters: {value!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in stripped):
        raise PkiError(f"{what} must not contain control characters: {value!r}")
    return stripped


def fingerprint(cert: x509.Certificate) -> str:
    """Return the SHA-256 fingerprint as 64 lowercase hex digits (as the directory stores it)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def subject_text(name: x509.Name) -> str:
    """Return the name as an RFC 4514 string with readable labels for serialNumber and friends."""
    return name.rfc4514_string(NAME_LABELS)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM (store it 0600)."""
        return _private_pem(self.key)


@dataclass(frozen=True)
class IssuedCertificate:
    """A leaf certificate, its private key and its issuers (nearest first)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """Return the leaf and then its issuers, PEM."""
        certs = (self.cert, *self.chain)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def key_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM (store it 0600)."""
        return _private_pem(self.key)

    def to_pkcs12(self, passphrase: str | bytes, friendly_name: str | None = None) -> bytes:
        """Return a PKCS#12 (PBES2, AES-256-CBC, HMAC-SHA256) holding key, certificate and chain."""
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        if not secret:
            raise PkiError("a PKCS#12 passphrase must not be empty")
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(PKCS12_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(secret)
        )
        label = (friendly_name or _common_name(self.cert) or "certificate").encode()
        return pkcs12.serialize_key_and_certificates(
            label, self.key, self.cert, list(self.chain) or None, encryption
        )


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(
    *,
    common_name: str = "Kryddgården utvecklings-CA",
    organisation: str = "Kryddgården Gateway (utveckling)",
    now: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> CertificateAuthority:
    """Return a new self-signed root CA valid for ten years (backdated for clock skew)."""
    start = (now or utc_now()) - CLOCK_SKEW
    end = not_after or start + CA_VALIDITY
    ca_key = key or new_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, validate_name(organisation, "organisation")),
        x509.NameAttribute(NameOID.COMMON_NAME, validate_name(common_name, "CA name")),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    builder = (
        _base_builder(name, ca_key, start, end)
        .issuer_name(name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage({"digital_signature"}, cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return CertificateAuthority(builder.sign(ca_key, hashes.SHA256()), ca_key)


def issue_certificate(
    ca: CertificateAuthority,
    subject: x509.Name,
    *,
    key_usage: Iterable[str],
    extended_usage: Sequence[ObjectIdentifier] = (),
    extended_usage_critical: bool = False,
    alt_names: Sequence[x509.GeneralName] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
    crl_urls: Sequence[str] = (),
) -> IssuedCertificate:
    """Return a leaf certificate for subject signed by ca.

    Defaults: valid from a few minutes ago for two years, but never beyond the CA, naming no
    CRL distribution point (crl_urls: the URLs where its CA publishes its CRL). Raises
    PkiError for unknown key usages or an empty validity period.
    """
    start = not_before or utc_now() - CLOCK_SKEW
    end = not_after or min(start + LEAF_VALIDITY, ca.cert.not_valid_after_utc)
    if end <= start:
        raise PkiError(f"validity period is empty: {start.isoformat()} to {end.isoformat()}")
    leaf_key = key or new_key()
    builder = (
        _base_builder(subject, leaf_key, start, end)
        .issuer_name(ca.cert.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(set(key_usage)), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(_authority_key_id(ca.cert), critical=False)
    )
    if extended_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_usage)), critical=extended_usage_critical
        )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), False)
    if crl_urls:
        points = [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
                  for url in crl_urls]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    return IssuedCertificate(builder.sign(ca.key, hashes.SHA256()), leaf_key, (ca.cert,))


def person_name(
    *, hsa_id: str, name: str, organisation: str, title: str | None = None
) -> x509.Name:
    """Return a SITHS-style subject: C, O, CN = the person's name, serialNumber = the HSA-id."""
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, validate_name(organisation, "organisation")),
    ]
    if title:
        attributes.append(x509.NameAttribute(NameOID.TITLE, validate_name(title, "title")))
    attributes += [
        x509.NameAttribute(NameOID.COMMON_NAME, validate_name(name)),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, validate_hsa_id(hsa_id)),
    ]
    return x509.Name(attributes)


def issue_person_certificate(
    ca: CertificateAuthority,
    *,
    hsa_id: str,
    name: str,
    organisation: str,
    title: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: Iterable[str] = PERSON_KEY_USAGE,
    key: PrivateKey | None = None,
    crl_urls: Sequence[str] = (),
) -> IssuedCertificate:
    """Return a signing certificate for a person (REKO, physician) identified by HSA-id.

    The defaults are what answer validation expects (digitalSignature + nonRepudiation);
    pass other validity or key usages to make certificates it must refuse, crl_urls to name
    where its CA's CRL is published (for online revocation checks).
    """
    subject = person_name(hsa_id=hsa_id, name=name, organisation=organisation, title=title)
    return issue_certificate(
        ca, subject, key_usage=key_usage, not_before=not_before, not_after=not_after, key=key,
        crl_urls=crl_urls,
    )


def issue_function_certificate(
    ca: CertificateAuthority,
    *,
    org_id: str,
    organisation: str,
    common_name: str | None = None,
    key_usage: Iterable[str] = FUNCTION_KEY_USAGE,
    extended_usage: Sequence[ObjectIdentifier] = FUNCTION_EXTENDED_USAGE,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> IssuedCertificate:
    """Return an organisation's function certificate (signing, XML Encryption, mutual TLS).

    The SDK organisation id is both organizationIdentifier and serialNumber. Its extended key
    usages are clientAuth (mutual TLS) and emailProtection, which `openssl cms -verify` needs.
    """
    org_id = org_id.strip()
    if not org_id or len(org_id) > NAME_MAX_LENGTH or not org_id.isprintable():
        raise PkiError(f"not an organisation id: {org_id!r}")
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, validate_name(organisation, "organisation")),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_id),
        x509.NameAttribute(
            NameOID.COMMON_NAME,
            validate_name(common_name or f"{organisation} funktionscertifikat", "name"),
        ),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, org_id),
    ])
    return issue_certificate(
        ca,
        subject,
        key_usage=key_usage,
        extended_usage=extended_usage,
        not_before=not_before,
        not_after=not_after,
    )


def issue_encryption_certificate(
    ca: CertificateAuthority, *, org_id: str, organisation: str
) -> IssuedCertificate:
    """Return an organisation's encryption certificate: the same subject as its function
    certificate, keyEncipherment only (XML Encryption's rsa-oaep key transport)."""
    return issue_function_certificate(
        ca,
        org_id=org_id,
        organisation=organisation,
        common_name=f"{validate_name(organisation, 'organisation')} krypteringscertifikat",
        key_usage=ENCRYPTION_KEY_USAGE,
        extended_usage=(),
    )


def issue_tls_certificate(
    ca: CertificateAuthority,
    *,
    hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    organisation: str = "Kryddgården Gateway (utveckling)",
) -> IssuedCertificate:
    """Return a TLS server certificate whose SAN lists hosts (names and IP addresses)."""
    if not hosts:
        raise PkiError("a TLS certificate needs at least one host name")
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, validate_name(organisation, "organisation")),
        x509.NameAttribute(NameOID.COMMON_NAME, validate_name(hosts[0], "host")),
    ])
    return issue_certificate(
        ca,
        subject,
        key_usage={"digital_signature", "key_encipherment"},
        extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        alt_names=[_general_name(host) for host in hosts],
    )


def issue_tsa_certificate(
    ca: CertificateAuthority,
    *,
    common_name: str = "Kryddgården utvecklings-TSA",
    organisation: str = "Kryddgården Gateway (utveckling)",
) -> IssuedCertificate:
    """Return an RSA time-stamping certificate (EKU timeStamping, critical, as RFC 3161 wants)."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, validate_name(organisation, "organisation")),
        x509.NameAttribute(NameOID.COMMON_NAME, validate_name(common_name, "TSA name")),
    ])
    return issue_certificate(
        ca,
        subject,
        key_usage={"digital_signature", "non_repudiation"},
        extended_usage=[ExtendedKeyUsageOID.TIME_STAMPING],
        extended_usage_critical=True,
    )


def make_crl(
    ca: CertificateAuthority,
    *,
    revoked: Iterable[x509.Certificate] = (),
    now: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> x509.CertificateRevocationList:
    """Return a CRL signed by ca listing the revoked certificates (none: an empty CRL)."""
    this_update = (now or utc_now()) - CLOCK_SKEW
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(next_update or this_update + CRL_VALIDITY)
        .add_extension(_authority_key_id(ca.cert), critical=False)
        # A CRL number that grows with time, so a newer CRL always supersedes an older one.
        .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(this_update)
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Return every certificate in a PEM file; raise PkiError when there is none readable."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(f"{path}: no readable PEM certificate ({exc})") from None
    return certs


def load_private_key(path: Path) -> PrivateKey:
    """Return the unencrypted PEM private key in path (RSA or EC)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"{path}: no readable private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: only RSA and EC keys are supported")
    return key


def load_ca(cert_path: Path, key_path: Path) -> CertificateAuthority:
    """Return the CA stored as PEM certificate and key; raise PkiError if they do not match."""
    cert = load_certificates(cert_path)[0]
    key = load_private_key(key_path)
    if cert.public_key() != key.public_key():
        raise PkiError(f"{key_path} is not the key of {cert_path}")
    return CertificateAuthority(cert, key)


def load_key_pair(cert_path: Path, key_path: Path) -> IssuedCertificate:
    """Return the leaf (first certificate in cert_path, issuers after it) with its key."""
    certs = load_certificates(cert_path)
    key = load_private_key(key_path)
    if certs[0].public_key() != key.public_key():
        raise PkiError(f"{key_path} is not the key of {cert_path}")
    return IssuedCertificate(certs[0], key, tuple(certs[1:]))


def load_pkcs12(data: bytes, passphrase: str | bytes) -> IssuedCertificate:
    """Return the key, certificate and chain in a PKCS#12; raise PkiError on a wrong passphrase."""
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        bundle = pkcs12.load_pkcs12(data, secret)
    except ValueError:
        raise PkiError("cannot open the PKCS#12: wrong passphrase or damaged file") from None
    key = bundle.key
    if bundle.cert is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("the PKCS#12 lacks a certificate or an RSA/EC key")
    return IssuedCertificate(
        bundle.cert.certificate, key, tuple(c.certificate for c in bundle.additional_certs)
    )


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Return True when issuer's key signed cert (and the names match)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """Return the CRL in path, PEM or DER."""
    try:
        data = path.read_bytes()
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except (OSError, ValueError) as exc:
        raise PkiError(f"{path}: no readable CRL ({exc})") from None


def _base_builder(
    subject: x509.Name, key: PrivateKey, start: dt.datetime, end: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _key_usage(names: set[str], *, cert_sign: bool = False) -> x509.KeyUsage:
    unknown = names - KEY_USAGE_NAMES
    if unknown:
        raise PkiError(f"unknown key usage {sorted(unknown)}; known: {sorted(KEY_USAGE_NAMES)}")
    return x509.KeyUsage(
        digital_signature="digital_signature" in names,
        content_commitment="non_repudiation" in names,
        key_encipherment="key_encipherment" in names,
        data_encipherment="data_encipherment" in names,
        key_agreement="key_agreement" in names,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(validate_name(host, "host"))


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else None


def _private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
