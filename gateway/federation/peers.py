"""Who is served where (DESIGN 7.1): peer organisations from the directory, this gateway's own
organisation keys from the instance PKI, and the CAs trusted for peers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from flask import current_app
from sqlalchemy.orm import Session

from gateway.directory.models import CareUnit, Organisation
from signing.certificates import IssuedCertificate, is_issued_by, load_key_pair
from signing.devpki import PkiLayout


class PeerError(Exception):
    """A peer or an own key that cannot serve; the message is safe to store."""


@dataclass(frozen=True)
class Peer:
    """An organisation another gateway serves: where to POST and the certificates it holds."""

    organisation_id: str
    endpoint: str
    signing_certificate: x509.Certificate
    encryption_certificate: x509.Certificate


def is_peer(organisation: Organisation | None) -> bool:
    """Return whether another gateway serves the organisation (it has an endpoint)."""
    return organisation is not None and bool(organisation.endpoint)


def care_unit_is_remote(care_unit: CareUnit) -> bool:
    """Return whether the care unit's organisation is served by a peer gateway."""
    return is_peer(care_unit.organisation)


def peer(session: Session, organisation_id: str) -> Peer:
    """Return the peer organisation; PeerError when it is unknown, served here or incomplete."""
    org = session.get(Organisation, organisation_id)
    if org is None or not org.endpoint:
        raise PeerError(f"{organisation_id} is not a peer organisation")
    if not org.signing_certificate or not org.encryption_certificate:
        raise PeerError(f"{organisation_id} has no signing or encryption certificate")
    try:
        signing = x509.load_pem_x509_certificate(org.signing_certificate.encode())
        encryption = x509.load_pem_x509_certificate(org.encryption_certificate.encode())
    except ValueError:
        raise PeerError(f"{organisation_id}: a directory certificate is unreadable") from None
    return Peer(org.id, org.endpoint, signing, encryption)


def served_here(session: Session, organisation_id: str) -> bool:
    org = session.get(Organisation, organisation_id)
    return org is not None and not org.endpoint


def _layout() -> PkiLayout:
    return PkiLayout.for_instance(current_app.instance_path)


def signing_paths(organisation_id: str) -> tuple[Path, Path]:
    """Return the own organisation's function certificate and key files (TLS client, XMLDSig)."""
    layout = _layout()
    return layout.org_cert(organisation_id), layout.org_key(organisation_id)


def signing_key(organisation_id: str) -> IssuedCertificate:
    """Return the signing certificate and key of an organisation served here."""
    cert, key = signing_paths(organisation_id)
    return _load(cert, key, organisation_id)


def encryption_key(organisation_id: str) -> IssuedCertificate:
    """Return the encryption certificate and key (the signing pair when it has none)."""
    layout = _layout()
    cert, key = layout.org_enc_cert(organisation_id), layout.org_enc_key(organisation_id)
    if cert.exists() and key.exists():
        return _load(cert, key, organisation_id)
    return signing_key(organisation_id)


def _load(cert: Path, key: Path, organisation_id: str) -> IssuedCertificate:
    try:
        return load_key_pair(cert, key)
    except (OSError, ValueError):
        raise PeerError(
            f"no usable key for {organisation_id} in the PKI (run 'gateway pki init')"
        ) from None


def federation_ca_files() -> list[str]:
    return list(current_app.config["FEDERATION_CA"])


def federation_cas() -> list[x509.Certificate]:
    """Return the CA certificates trusted for peers (GATEWAY_FEDERATION_CA)."""
    found: list[x509.Certificate] = []
    for name in federation_ca_files():
        try:
            found.extend(x509.load_pem_x509_certificates(Path(name).read_bytes()))
        except (OSError, ValueError):
            continue
    return found


def trusted(certificate: x509.Certificate) -> bool:
    """Return whether a federation CA issued the certificate."""
    return any(is_issued_by(certificate, ca) for ca in federation_cas())
