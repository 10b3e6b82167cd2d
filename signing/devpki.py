"""The development PKI: a CA and every certificate the demo needs, kept in one folder.

Layout of the folder (`<instance>/pki/`):

    ca.pem, ca-key.pem (0600)   the root CA
    ca.crl                      an empty CRL signed by the CA, PEM
    org/<org id>.pem, .key.pem, .p12   organisation function certificates ("0203:malmo.se"
                                       is stored as "0203_malmo.se"): XMLDSig, TLS client
    org/<org id>.enc.pem, .enc.key.pem organisation encryption certificates (XML Encryption),
                                       where asked for; absent, the function certificate serves
    ap/tls.pem, tls.key.pem     the access point's TLS server certificate (localhost, 127.0.0.1)
    smtp/tls.pem, tls.key.pem   the SMTP listener's STARTTLS certificate (localhost, 127.0.0.1, ::1)
    tsa/tsa.pem, tsa.key.pem    the RFC 3161 time-stamping certificate (RSA, EKU timeStamping)
    reko/<HSA-id>.p12, .pem     a REKO's signing certificate; the .pem holds it and the CA
    physician/<HSA-id>.p12, .pem   a co-signing physician's, the same shape

Certificate .pem files of org, ap, smtp and tsa hold the leaf only. Keys and PKCS#12 files are 0600.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.certificates import (
    PERSON_KEY_USAGE,
    CertificateAuthority,
    IssuedCertificate,
    PkiError,
    create_ca,
    fingerprint,
    is_issued_by,
    issue_encryption_certificate,
    issue_function_certificate,
    issue_person_certificate,
    issue_tls_certificate,
    issue_tsa_certificate,
    load_ca,
    load_certificates,
    load_crl,
    load_key_pair,
    load_pkcs12,
    make_crl,
    subject_text,
    utc_now,
    validate_hsa_id,
    validate_name,
)

__all__ = [
    "CARE_ORGANISATION",
    "DEMO_ORGANISATIONS",
    "DEMO_PASSPHRASE",
    "PERSON_KEY_USAGE",
    "CertificateAuthority",
    "CertificateSummary",
    "IssuedCertificate",
    "Person",
    "PkiError",
    "PkiLayout",
    "PkiOverview",
    "PkiResult",
    "create_ca",
    "describe_pki",
    "fingerprint",
    "init_pki",
    "is_issued_by",
    "issue_encryption_certificate",
    "issue_function_certificate",
    "issue_person_certificate",
    "issue_tls_certificate",
    "issue_tsa_certificate",
    "load_ca",
    "load_certificates",
    "load_crl",
    "load_key_pair",
    "load_pkcs12",
    "make_crl",
    "validate_hsa_id",
]

DEMO_ORGANISATIONS: Mapping[str, str] = {
    "0203:malmo.se": "Malmö stad",
    "0203:skane.se": "Region Skåne",
}
# REKOs and physicians work at Region Skåne's vårdcentraler.
CARE_ORGANISATION = "Region Skåne"
PHYSICIAN_TITLE = "Läkare"
DEMO_PASSPHRASE = "demo"  # noqa: S105 - the documented demo passphrase, printed by the CLI
# A CRL this close to its next update is renewed, so verifiers never meet a stale one.
CRL_RENEW_BEFORE = dt.timedelta(days=30)
SUBFOLDERS = ("org", "ap", "smtp", "tsa", "reko", "physician")
# The access point's TLS server certificate names what a peer on this machine dials.
AP_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Person:
    """A person who signs with a certificate: HSA-id and display name (checked on creation)."""

    hsa_id: str
    name: str

    def __post_init__(self) -> None:
        validate_hsa_id(self.hsa_id)
        object.__setattr__(self, "name", validate_name(self.name))


@dataclass(frozen=True)
class PkiLayout:
    """Where each file of the development PKI lives under its root folder."""

    root: Path

    @classmethod
    def for_instance(cls, instance_path: str | os.PathLike[str]) -> PkiLayout:
        return cls(Path(instance_path) / "pki")

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def crl(self) -> Path:
        return self.root / "ca.crl"

    @property
    def smtp_cert(self) -> Path:
        return self.root / "smtp" / "tls.pem"

    @property
    def smtp_key(self) -> Path:
        return self.root / "smtp" / "tls.key.pem"

    @property
    def ap_tls_cert(self) -> Path:
        return self.root / "ap" / "tls.pem"

    @property
    def ap_tls_key(self) -> Path:
        return self.root / "ap" / "tls.key.pem"

    @property
    def tsa_cert(self) -> Path:
        return self.root / "tsa" / "tsa.pem"

    @property
    def tsa_key(self) -> Path:
        return self.root / "tsa" / "tsa.key.pem"

    def org_cert(self, org_id: str) -> Path:
        return self.root / "org" / f"{safe_filename(org_id)}.pem"

    def org_key(self, org_id: str) -> Path:
        return self.root / "org" / f"{safe_filename(org_id)}.key.pem"

    def org_pkcs12(self, org_id: str) -> Path:
        return self.root / "org" / f"{safe_filename(org_id)}.p12"

    def org_enc_cert(self, org_id: str) -> Path:
        return self.root / "org" / f"{safe_filename(org_id)}.enc.pem"

    def org_enc_key(self, org_id: str) -> Path:
        return self.root / "org" / f"{safe_filename(org_id)}.enc.key.pem"

    def reko_pkcs12(self, hsa_id: str) -> Path:
        return self.root / "reko" / f"{validate_hsa_id(hsa_id)}.p12"

    def reko_pem(self, hsa_id: str) -> Path:
        return self.root / "reko" / f"{validate_hsa_id(hsa_id)}.pem"

    def physician_pkcs12(self, hsa_id: str) -> Path:
        return self.root / "physician" / f"{validate_hsa_id(hsa_id)}.p12"

    def physician_pem(self, hsa_id: str) -> Path:
        return self.root / "physician" / f"{validate_hsa_id(hsa_id)}.pem"


def safe_filename(org_id: str) -> str:
    """Return org_id with chars outside [A-Za-z0-9._-] as '_' (0203:malmo.se -> 0203_malmo.se)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", org_id.strip())
    if not name.strip("._"):
        raise PkiError(f"not an organisation id: {org_id!r}")
    return name


@dataclass(frozen=True)
class PkiResult:
    """What init_pki did: files written, files left as they were, and (with force) removed."""

    root: Path
    ca_fingerprint: str
    created: tuple[Path, ...]
    kept: tuple[Path, ...]
    removed: tuple[Path, ...] = ()

    @property
    def ca_created(self) -> bool:
        return self.root / "ca.pem" in self.created


@dataclass(frozen=True)
class _Item:
    """One certificate and the files it is stored in; `render` turns it into their bytes."""

    cert_path: Path
    paths: tuple[Path, ...]
    issue: Callable[[CertificateAuthority], IssuedCertificate]
    render: Callable[[IssuedCertificate], Mapping[Path, bytes]]


def init_pki(
    root: Path,
    *,
    passphrase: str,
    rekos: Iterable[Person] = (),
    physicians: Iterable[Person] = (),
    organisations: Mapping[str, str] = DEMO_ORGANISATIONS,
    care_organisation: str = CARE_ORGANISATION,
    encryption_certificates: bool = False,
    force: bool = False,
) -> PkiResult:
    """Make the development PKI in root (the pki folder), adding only what is missing.

    Each organisation gets a function certificate, and with encryption_certificates an
    encryption certificate besides. An existing CA and every file still issued by it and
    unexpired are kept; with force everything is made anew. Raises PkiError for bad input or
    a CA that cannot be reused.
    """
    if not passphrase:
        raise PkiError("the PKCS#12 passphrase must not be empty")
    validate_name(care_organisation, "organisation")
    layout = PkiLayout(Path(root))
    # Every name is checked here, before the first file is touched.
    items = _items(
        layout, passphrase, rekos, physicians, organisations, care_organisation,
        encryption_certificates,
    )
    removed = _clear(layout) if force else ()
    created: list[Path] = []
    kept: list[Path] = []
    ca = _ensure_ca(layout, created, kept)
    _ensure_crl(layout, ca, created, kept)
    now = utc_now()
    for item in items:
        if _still_good(item, ca, now):
            kept.extend(item.paths)
            continue
        for path, data in item.render(item.issue(ca)).items():
            _write(path, data)
            created.append(path)
    # Certificates made earlier for people not named this time stay too: list them as kept.
    done = set(created) | set(kept)
    kept.extend(path for path in _owned_files(layout) if path not in done)
    return PkiResult(layout.root, ca.fingerprint, tuple(created), tuple(kept), removed)


@dataclass(frozen=True)
class CertificateSummary:
    """One certificate file: who it names, its SHA-256 fingerprint and its validity."""

    path: Path
    subject: str
    issuer: str
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.not_after <= (now or utc_now())


@dataclass(frozen=True)
class PkiOverview:
    """Every certificate in the PKI folder, the CRL's next update, and unreadable files."""

    root: Path
    certificates: tuple[CertificateSummary, ...]
    crl_next_update: dt.datetime | None
    problems: tuple[str, ...] = field(default=())


def describe_pki(root: Path) -> PkiOverview:
    """Return an overview of the PKI in root; raise PkiError when there is no CA there."""
    layout = PkiLayout(Path(root))
    if not layout.ca_cert.is_file():
        raise PkiError(f"no development PKI in {layout.root} (run 'gateway pki init')")
    summaries: list[CertificateSummary] = []
    problems: list[str] = []
    for path in _certificate_files(layout):
        try:
            cert = load_certificates(path)[0]
        except PkiError as exc:
            problems.append(str(exc))
            continue
        summaries.append(_summary(path.relative_to(layout.root), cert))
    next_update: dt.datetime | None = None
    if layout.crl.is_file():
        try:
            next_update = load_crl(layout.crl).next_update_utc
        except PkiError as exc:
            problems.append(str(exc))
    return PkiOverview(layout.root, tuple(summaries), next_update, tuple(problems))


def _ensure_ca(layout: PkiLayout, created: list[Path], kept: list[Path]) -> CertificateAuthority:
    have_cert, have_key = layout.ca_cert.exists(), layout.ca_key.exists()
    if have_cert and have_key:
        ca = load_ca(layout.ca_cert, layout.ca_key)
        if ca.cert.not_valid_after_utc <= utc_now():
            raise PkiError(f"the CA in {layout.ca_cert} has expired; make a new PKI with --force")
        kept.extend((layout.ca_cert, layout.ca_key))
        return ca
    if have_cert or have_key:
        # Reusing half a CA would leave certificates no one can verify or issue.
        present = layout.ca_cert if have_cert else layout.ca_key
        raise PkiError(f"{present} exists without its pair; make a new PKI with --force")
    ca = create_ca()
    _write(layout.ca_key, ca.key_pem())
    _write(layout.ca_cert, ca.cert_pem())
    created.extend((layout.ca_cert, layout.ca_key))
    return ca


def _ensure_crl(
    layout: PkiLayout, ca: CertificateAuthority, created: list[Path], kept: list[Path]
) -> None:
    if layout.crl.exists():
        try:
            crl = load_crl(layout.crl)
        except PkiError:
            crl = None
        fresh = (
            crl is not None
            and crl.issuer == ca.cert.subject
            and crl.is_signature_valid(ca.key.public_key())
            and (crl.next_update_utc or utc_now()) > utc_now() + CRL_RENEW_BEFORE
        )
        if fresh:
            kept.append(layout.crl)
            return
    _write(layout.crl, make_crl(ca).public_bytes(serialization.Encoding.PEM))
    created.append(layout.crl)


def _items(
    layout: PkiLayout,
    passphrase: str,
    rekos: Iterable[Person],
    physicians: Iterable[Person],
    organisations: Mapping[str, str],
    care_organisation: str,
    encryption_certificates: bool,
) -> list[_Item]:
    items = [_org_item(layout, org_id, name, passphrase) for org_id, name in organisations.items()]
    if encryption_certificates:
        items += [_encryption_item(layout, org_id, name) for org_id, name in organisations.items()]
    items.append(_pem_item(
        layout.ap_tls_cert, layout.ap_tls_key, lambda ca: issue_tls_certificate(ca, hosts=AP_HOSTS)
    ))
    items.append(_pem_item(layout.smtp_cert, layout.smtp_key, issue_tls_certificate))
    items.append(_pem_item(layout.tsa_cert, layout.tsa_key, issue_tsa_certificate))
    for person in _unique(rekos):
        items.append(_person_item(
            layout.reko_pkcs12(person.hsa_id), layout.reko_pem(person.hsa_id),
            person, care_organisation, None, passphrase,
        ))
    for person in _unique(physicians):
        items.append(_person_item(
            layout.physician_pkcs12(person.hsa_id), layout.physician_pem(person.hsa_id),
            person, care_organisation, PHYSICIAN_TITLE, passphrase,
        ))
    return items


def _org_item(layout: PkiLayout, org_id: str, name: str, passphrase: str) -> _Item:
    validate_name(name, "organisation")
    pem, key, p12 = layout.org_cert(org_id), layout.org_key(org_id), layout.org_pkcs12(org_id)

    def issue(ca: CertificateAuthority) -> IssuedCertificate:
        return issue_function_certificate(ca, org_id=org_id, organisation=name)

    return _Item(
        pem,
        (pem, key, p12),
        issue,
        lambda issued: {
            key: issued.key_pem(), p12: issued.to_pkcs12(passphrase), pem: issued.cert_pem()
        },
    )


def _pem_item(
    pem: Path, key: Path, issue: Callable[[CertificateAuthority], IssuedCertificate]
) -> _Item:
    """A certificate stored as a leaf PEM beside its private key."""
    return _Item(
        pem, (pem, key), issue, lambda issued: {key: issued.key_pem(), pem: issued.cert_pem()}
    )


def _encryption_item(layout: PkiLayout, org_id: str, name: str) -> _Item:
    def issue(ca: CertificateAuthority) -> IssuedCertificate:
        return issue_encryption_certificate(ca, org_id=org_id, organisation=name)

    return _pem_item(layout.org_enc_cert(org_id), layout.org_enc_key(org_id), issue)


def _person_item(
    p12: Path, pem: Path, person: Person, organisation: str, title: str | None, passphrase: str
) -> _Item:
    def issue(ca: CertificateAuthority) -> IssuedCertificate:
        return issue_person_certificate(
            ca, hsa_id=person.hsa_id, name=person.name, organisation=organisation, title=title
        )

    return _Item(
        pem,
        (p12, pem),
        issue,
        lambda issued: {p12: issued.to_pkcs12(passphrase), pem: issued.chain_pem()},
    )


def _unique(people: Iterable[Person]) -> list[Person]:
    """Return people once per HSA-id; the last name given for an HSA-id wins."""
    by_id = {person.hsa_id: person for person in people}
    return list(by_id.values())


def _still_good(item: _Item, ca: CertificateAuthority, now: dt.datetime) -> bool:
    """Return True when every file exists and the certificate is the CA's and unexpired."""
    if not all(path.is_file() for path in item.paths):
        return False
    try:
        cert = load_certificates(item.cert_path)[0]
    except PkiError:
        return False
    return is_issued_by(cert, ca.cert) and cert.not_valid_after_utc > now


def _owned_files(layout: PkiLayout) -> list[Path]:
    """Return the files of the PKI that exist (not files in it that it does not know)."""
    files = [layout.ca_cert, layout.ca_key, layout.crl]
    for sub in SUBFOLDERS:
        folder = layout.root / sub
        if folder.is_dir():
            files += sorted(p for p in folder.iterdir() if p.suffix in {".pem", ".p12"})
    return [path for path in files if path.is_file()]


def _clear(layout: PkiLayout) -> tuple[Path, ...]:
    """Remove every file the PKI owns and return their paths."""
    removed = _owned_files(layout)
    for path in removed:
        path.unlink()
    return tuple(removed)


def _write(path: Path, data: bytes) -> None:
    """Write data atomically; private keys and PKCS#12 files are readable by the owner only."""
    secret = path.name.endswith(("key.pem", ".p12"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600 if secret else 0o644)
    os.replace(tmp, path)


def _certificate_files(layout: PkiLayout) -> list[Path]:
    files = [layout.ca_cert]
    for sub in SUBFOLDERS:
        folder = layout.root / sub
        if folder.is_dir():
            files += sorted(
                p for p in folder.iterdir() if p.suffix == ".pem" and not p.name.endswith("key.pem")
            )
    return files


def _summary(path: Path, cert: x509.Certificate) -> CertificateSummary:
    return CertificateSummary(
        path=path,
        subject=subject_text(cert.subject),
        issuer=subject_text(cert.issuer),
        fingerprint=fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
