"""Trust roots and CRLs for answer signatures: read from PEM or DER files, checked, immutable."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing.errors import SigningError

# A trust store is configuration: a few roots and CRLs. Bounding the file size keeps a wrong
# path (a disk image, a log file) from being read into memory whole.
MAX_FILE_BYTES = 64 * 1024 * 1024

Certificate = asn1_x509.Certificate
CertificateLike: TypeAlias = x509.Certificate | asn1_x509.Certificate | bytes
CrlLike: TypeAlias = x509.CertificateRevocationList | asn1_crl.CertificateList | bytes


class TrustError(SigningError, ValueError):
    """A trust root or CRL that cannot be used; the message names the file and the reason."""

    code = "TRUST"


@dataclass(frozen=True)
class TrustStore:
    """The CA certificates answer signatures must chain to, the CRLs known for them, and
    whether revocation may also be checked online.

    `online_timeout` None: offline, the CRLs given are the only revocation source (every
    certificate below a root must be covered by one). A number: the certificates' own CRL
    distribution points and OCSP responders are consulted too, each request given at most that
    many seconds.
    """

    roots: tuple[asn1_x509.Certificate, ...]
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    online_timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.roots:
            raise TrustError("a trust store needs at least one root certificate")
        if self.online_timeout is not None and self.online_timeout <= 0:
            raise TrustError("the timeout of online revocation checks must be above 0 seconds")

    @classmethod
    def of(
        cls,
        roots: Iterable[CertificateLike],
        crls: Iterable[CrlLike] = (),
        *,
        online_timeout: float | None = None,
    ) -> TrustStore:
        """Return a store of roots and crls given as cryptography, asn1crypto or DER objects."""
        return cls(
            tuple(as_asn1_certificate(root) for root in roots),
            tuple(as_asn1_crl(item) for item in crls),
            online_timeout,
        )

    def roots_without_revocation(self) -> list[str]:
        """Return the subjects of roots with no revocation source: offline, and no CRL issued
        by the root. Every answer signed below such a root fails P3 for want of revocation
        information, so start-up and readiness report them."""
        if self.online_timeout is not None:
            return []
        issuers = {item.issuer.dump() for item in self.crls}
        return [root.subject.human_friendly for root in self.roots
                if root.subject.dump() not in issuers]

    def describe(self) -> list[dict[str, str]]:
        """Return subject, SHA-256 fingerprint and validity of each root, for display."""
        return [
            {
                "subject": root.subject.human_friendly,
                "fingerprint": root.sha256.hex(),
                "not_after": root.not_valid_after.isoformat(),
            }
            for root in self.roots
        ]


def load_trust_store(
    root_paths: Iterable[str | os.PathLike[str]],
    crl_paths: Iterable[str | os.PathLike[str]] = (),
    *,
    online_timeout: float | None = None,
) -> TrustStore:
    """Return the store made of every CA certificate in root_paths and every CRL in crl_paths.

    Raises TrustError for a missing or unreadable file, a file without a certificate, or a
    certificate that is not a CA (a signer's own certificate must never be a root).
    """
    roots: list[asn1_x509.Certificate] = []
    for path in root_paths:
        roots.extend(load_root_certificates(Path(path)))
    crls = [load_crl_file(Path(path)) for path in crl_paths]
    if not roots:
        raise TrustError("no trust root configured (GATEWAY_TRUST_ROOTS is empty)")
    return TrustStore(tuple(roots), tuple(crls), online_timeout)


def load_root_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Return the CA certificates in a PEM (one or more) or DER file; raise TrustError."""
    data = _read(path)
    try:
        if pem.detect(data):
            certs = [Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            certs = [Certificate.load(data)]
        for cert in certs:
            cert.native  # noqa: B018 - parsing is lazy; force it so errors surface here
    except (ValueError, TypeError) as exc:
        raise TrustError(f"{path}: not a readable certificate file ({exc})") from None
    if not certs:
        raise TrustError(f"{path}: no certificate in the file")
    for cert in certs:
        if not cert.ca:
            raise TrustError(
                f"{path}: {cert.subject.human_friendly} is not a CA certificate; "
                "trust roots must be CAs, never a signer's own certificate"
            )
    return certs


def load_crl_file(path: Path) -> asn1_crl.CertificateList:
    """Return the CRL in a PEM or DER file; raise TrustError if it is not one."""
    data = _read(path)
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        item = asn1_crl.CertificateList.load(data)
        item.native  # noqa: B018 - force the lazy parse
    except (ValueError, TypeError) as exc:
        raise TrustError(f"{path}: not a readable CRL ({exc})") from None
    return item


def stale_crls(store: TrustStore, now: dt.datetime) -> list[str]:
    """Return the issuers of CRLs whose next update is before now (for readiness checks)."""
    stale = []
    for item in store.crls:
        next_update = item["tbs_cert_list"]["next_update"].native
        if next_update is not None and next_update < now:
            stale.append(item.issuer.human_friendly)
    return stale


def as_asn1_certificate(value: CertificateLike) -> asn1_x509.Certificate:
    """Return value as an asn1crypto certificate (from cryptography, asn1crypto or DER)."""
    if isinstance(value, asn1_x509.Certificate):
        return value
    if isinstance(value, x509.Certificate):
        return Certificate.load(value.public_bytes(Encoding.DER))
    if isinstance(value, bytes):
        return Certificate.load(value)
    raise TypeError(f"not a certificate: {type(value).__name__}")


def as_asn1_crl(value: CrlLike) -> asn1_crl.CertificateList:
    """Return value as an asn1crypto CRL (from cryptography, asn1crypto or DER)."""
    if isinstance(value, asn1_crl.CertificateList):
        return value
    if isinstance(value, x509.CertificateRevocationList):
        return asn1_crl.CertificateList.load(value.public_bytes(Encoding.DER))
    if isinstance(value, bytes):
        return asn1_crl.CertificateList.load(value)
    raise TypeError(f"not a CRL: {type(value).__name__}")


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TrustError(f"{path}: {size} bytes is too large for a certificate or CRL file")
        return path.read_bytes()
    except OSError as exc:
        raise TrustError(f"{path}: cannot read ({exc.strerror or exc})") from None
