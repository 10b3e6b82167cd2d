"""Validation of answer PDFs (DESIGN 5.3, rules P1–P9) with pyHanko, within bounds (offline
unless the trust store allows online revocation checks).

`validate_answer` returns an AnswerReport; the gateway then decides P4 and P6 from the
directory with `apply_signer_rule`. Exceptions mean "could not evaluate" (a bug of ours or a
caller passing naive datetimes); everything about the file is a rule result.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import gc
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.signers.constants import DEFAULT_SIGNER_KEY_USAGE
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    CertificateFetchError,
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    StaleRevinfoError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers.api import OwnedFetcherBackend
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from common.rules import RuleResult, failed, not_evaluated, passed
from signing.aio import run_sync
from signing.answer_report import (
    AnswerReport,
    DocumentTimestampRecord,
    SignerIdentity,
    SignerRecord,
    apply_signer_rule,
)
from signing.pdfmeta import MetadataError
from signing.pdfscan import (
    DEFAULT_MAX_BYTES,
    MALFORMED,
    MAX_SIGNATURE_FIELDS,
    DocumentScan,
    PdfRefused,
    open_pdf,
    references,
    scan_document,
)
from signing.trust import CertificateLike, CrlLike, TrustStore

# A file this large is worth a garbage collection after its validation (see validate_answer).
_COLLECT_AFTER = 1024 * 1024

__all__ = [
    "AnswerReport",
    "SignerIdentity",
    "apply_signer_rule",
    "async_validate_answer",
    "validate_answer",
]

CLOCK_SKEW = dt.timedelta(minutes=5)
SUBFILTERS = {SigSeedSubFilter.ADOBE_PKCS7_DETACHED.value, SigSeedSubFilter.PADES.value}
TIMESTAMP_SUBFILTER = SigSeedSubFilter.ETSI_RFC3161.value
# What may change after an earlier signature: nothing, validation data, form fields (P5).
ALLOWED_LATER_CHANGES = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)
ACTIVE_CONTENT_NAMES = {
    "javascript": "JavaScript",
    "launch": "startkommandon (Launch)",
    "embedded_file": "inbäddade filer",
    "xfa": "XFA-formulär (som kan innehålla skript)",
    "goto_remote": "hopp till andra filer (GoToR)",
    "goto_embedded": "hopp till inbäddade filer (GoToE)",
    "submit_form": "formulär som skickar data (SubmitForm)",
    "import_data": "import av data (ImportData)",
    "uri": "länkar till webben eller nätverket (URI)",
    "media": "uppspelning av media (Rendition, Sound, Movie)",
}


def validate_answer(
    pdf: bytes,
    *,
    trust_roots: TrustStore | Iterable[CertificateLike],
    crls: Iterable[CrlLike] = (),
    received_at: dt.datetime,
    now: dt.datetime,
    expected_reference: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> AnswerReport:
    """Return the report of rules P1, P2, P3, P5, P7, P8 and P9 for pdf.

    Safe to call from inside an event loop (it then runs in a worker thread). Raises only when
    the file could not be evaluated at all (naive datetimes, a bug of ours).
    """
    report = run_sync(
        lambda: async_validate_answer(
            pdf,
            trust_roots=trust_roots,
            crls=crls,
            received_at=received_at,
            now=now,
            expected_reference=expected_reference,
            max_bytes=max_bytes,
        )
    )
    if len(pdf) >= _COLLECT_AFTER:
        # The reader's objects refer to each other, and with them the streams read from a
        # large file: free them now rather than whenever the collector next runs.
        gc.collect()
    return report


async def async_validate_answer(
    pdf: bytes,
    *,
    trust_roots: TrustStore | Iterable[CertificateLike],
    crls: Iterable[CrlLike] = (),
    received_at: dt.datetime,
    now: dt.datetime,
    expected_reference: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> AnswerReport:
    """The coroutine behind validate_answer, for callers already in an event loop."""
    for name, value in (("received_at", received_at), ("now", now)):
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    store = _store(trust_roots, crls)
    facts = _Facts(pdf, received_at, now, expected_reference)
    try:
        reader = open_pdf(pdf, max_bytes=max_bytes)
        scan = scan_document(reader)
    except PdfRefused as refused:
        return facts.report([failed("P1", refused.message, refused.detail)])
    found = _collect(reader)
    last = len(found.signatures) - 1
    checked = [
        await _validate(sig, store, now, is_last=index == last)
        for index, sig in enumerate(found.signatures)
    ]
    reference, p7 = _reference_rule(reader, found.signatures, expected_reference)
    results = [
        _p1(pdf, scan),
        _p2(checked, found.problems),
        _p3(checked),
        _p5(checked),
        p7,
        _p8(scan),
        _p9(checked, received_at, now),
    ]
    return facts.report(
        results,
        reference=reference,
        signers=tuple(c.signer_record() for c in checked if not c.is_timestamp),
        timestamps=tuple(c.timestamp_record() for c in checked if c.is_timestamp),
    )


@dataclass(frozen=True)
class _Facts:
    """The facts every report carries, whatever the file turns out to be."""

    pdf: bytes
    received_at: dt.datetime
    now: dt.datetime
    expected_reference: str | None

    def report(
        self,
        results: list[RuleResult],
        *,
        reference: str | None = None,
        signers: tuple[SignerRecord, ...] = (),
        timestamps: tuple[DocumentTimestampRecord, ...] = (),
    ) -> AnswerReport:
        done = {result.code for result in results}
        results = results + [
            not_evaluated(code, "Kontrolleras inte eftersom filen inte kunde läsas (P1).")
            for code in ("P2", "P3", "P5", "P7", "P8", "P9")
            if code not in done
        ]
        return AnswerReport(
            results=tuple(results),
            size=len(self.pdf),
            sha256=hashlib.sha256(self.pdf).hexdigest(),
            received_at=self.received_at,
            validated_at=self.now,
            expected_reference=self.expected_reference,
            inquiry_reference=reference,
            signers=signers,
            document_timestamps=timestamps,
        )


def _store(roots: TrustStore | Iterable[CertificateLike], crls: Iterable[CrlLike]) -> TrustStore:
    if isinstance(roots, TrustStore):
        extra = TrustStore.of(roots.roots, crls)
        return TrustStore(roots.roots, roots.crls + extra.crls, roots.online_timeout)
    return TrustStore.of(roots, crls)


def _context(store: TrustStore, now: dt.datetime) -> ValidationContext:
    """Return a fresh context (pyhanko's keep state): our CRLs, validated at now.

    Every certificate below a root must have revocation information ("require"): pyhanko's
    "hard-fail" never consults a CRL for a certificate that names no distribution point, as the
    development CA's do, and would accept one nobody can revoke. Offline (the default, and in
    tests) the CRLs given are the only source; with `store.online_timeout` the certificates'
    CRL distribution points and OCSP responders are fetched too, each request bounded.
    """
    online = store.online_timeout is not None
    # Owned: the context releases the backend when it is closed (each validation has its own).
    backend = (OwnedFetcherBackend(RequestsFetcherBackend(per_request_timeout=store.online_timeout))
               if online else None)
    return ValidationContext(
        trust_roots=list(store.roots),
        crls=list(store.crls),
        allow_fetching=online,
        fetcher_backend=backend,
        revocation_mode="require",
        moment=now,
    )


# --- finding the signatures ----------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    signatures: tuple[EmbeddedPdfSignature, ...]
    problems: tuple[str, ...]


def _collect(reader: PdfFileReader) -> _Found:
    """Return the filled signature fields pyhanko can validate, and why others cannot be."""
    signatures: list[EmbeddedPdfSignature] = []
    problems: list[str] = []
    try:
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except MALFORMED as exc:
        return _Found((), (f"signaturfälten kunde inte läsas ({type(exc).__name__})",))
    if len(fields) > MAX_SIGNATURE_FIELDS:
        return _Found((), (f"filen har fler än {MAX_SIGNATURE_FIELDS} underskrifter",))
    for name, value, field_ref in fields:
        try:
            sig_object = value.get_object()
            subfilter = str(sig_object.get("/SubFilter", ""))
            if subfilter not in SUBFILTERS | {TIMESTAMP_SUBFILTER}:
                problems.append(f"fältet {name}: okänd underskriftstyp {subfilter or '(ingen)'}")
                continue
            signatures.append(EmbeddedPdfSignature(reader, field_ref, name))
        except MALFORMED as exc:
            problems.append(f"fältet {name}: underskriften kan inte läsas ({type(exc).__name__})")
    signatures.sort(key=lambda sig: sig.signed_revision)
    return _Found(tuple(signatures), tuple(problems))


# --- validating each signature ---------------------------------------------------------------


class TrustFailure(enum.Enum):
    """Why a signer's certificate is not accepted (P3); the name goes in the rule's detail."""

    REVOKED = "revoked"
    NO_REVOCATION_INFO = "no_revocation_info"
    STALE_REVOCATION_INFO = "stale_revocation_info"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    KEY_USAGE = "key_usage"
    WEAK_ALGORITHM = "weak_algorithm"
    OTHER = "other"


@dataclass(frozen=True)
class _Failure:
    kind: TrustFailure
    detail: str


@dataclass(frozen=True)
class _Checked:
    """One signature and what pyhanko said about it (status), or why it could not say; for a
    signer's certificate pyhanko did not accept, why (failure)."""

    sig: EmbeddedPdfSignature
    is_last: bool
    status: PdfSignatureStatus | DocumentTimestampStatus | None
    error: str | None
    failure: _Failure | None = None

    @property
    def is_timestamp(self) -> bool:
        return self.sig.sig_object_type == "/DocTimeStamp"

    @property
    def name(self) -> str:
        return str(self.sig.field_name)

    @property
    def cert(self) -> asn1_x509.Certificate | None:
        if self.status is not None:
            return self.status.signing_cert
        try:
            return self.sig.signer_cert
        except MALFORMED:
            return None

    @property
    def sound(self) -> bool:
        """Intact and cryptographically valid (P2)."""
        status = self.status
        return status is not None and status.intact and status.valid

    @property
    def coverage(self) -> SignatureCoverageLevel | None:
        return self.status.coverage if self.status is not None else self.sig.coverage

    @functools.cached_property
    def facts(self) -> _CertFacts:
        return _cert_facts(self.cert)

    def who(self) -> str:
        facts = self.facts
        if not facts.subject:
            return f"underskriften i fältet {self.name}"
        name = facts.common_name or facts.subject
        return f"{name} ({facts.serial_number})" if facts.serial_number else name

    def signer_record(self) -> SignerRecord:
        status = self.status
        assert status is None or isinstance(status, PdfSignatureStatus)
        facts = self.facts
        ts = status.timestamp_validity if status is not None else None
        return SignerRecord(
            field_name=self.name,
            revision=self.sig.signed_revision,
            is_last=self.is_last,
            subfilter=str(self.sig.sig_object.get("/SubFilter", "")).lstrip("/"),
            subject=facts.subject,
            subject_cn=facts.common_name,
            hsa_id=facts.serial_number,
            issuer=facts.issuer,
            fingerprint=facts.fingerprint,
            signing_time=_signing_time(self),
            timestamp_time=ts.timestamp if ts is not None else None,
            timestamp_valid=_timestamp_ok(ts) if ts is not None else None,
            coverage=_enum_name(self.coverage),
            modification_level=_enum_name(status.modification_level) if status else None,
            docmdp_ok=status.docmdp_ok if status is not None else None,
            intact=bool(status and status.intact),
            valid=bool(status and status.valid),
            trusted=bool(status and status.trusted),
            trust_problem=_enum_name(status.trust_problem_indic) if status else None,
            error=self.error,
        )

    def timestamp_record(self) -> DocumentTimestampRecord:
        status = self.status
        assert status is None or isinstance(status, DocumentTimestampStatus)
        return DocumentTimestampRecord(
            field_name=self.name,
            revision=self.sig.signed_revision,
            is_last=self.is_last,
            time=status.timestamp if status is not None else None,
            tsa=self.facts.subject,
            coverage=_enum_name(self.coverage),
            intact=bool(status and status.intact),
            valid=bool(status and status.valid),
            trusted=bool(status and status.trusted),
            error=self.error,
        )


@dataclass(frozen=True)
class _CertFacts:
    """What the report says about a certificate; empty strings when it cannot be read."""

    subject: str = ""
    common_name: str | None = None
    serial_number: str | None = None
    issuer: str = ""
    fingerprint: str = ""


def _cert_facts(cert: asn1_x509.Certificate | None) -> _CertFacts:
    if cert is None:
        return _CertFacts()
    try:
        # asn1crypto parses lazily: a malformed name surfaces only here.
        subject = cert.subject.native
        return _CertFacts(
            subject=cert.subject.human_friendly,
            common_name=_text(subject.get("common_name")),
            serial_number=_text(subject.get("serial_number")),
            issuer=cert.issuer.human_friendly,
            fingerprint=cert.sha256.hex(),
        )
    except MALFORMED:
        return _CertFacts()


async def _validate(
    sig: EmbeddedPdfSignature, store: TrustStore, now: dt.datetime, *, is_last: bool
) -> _Checked:
    context = _context(store, now)
    try:
        status: PdfSignatureStatus | DocumentTimestampStatus
        if sig.sig_object_type == "/DocTimeStamp":
            status = await async_validate_pdf_timestamp(sig, validation_context=context)
        else:
            status = await async_validate_pdf_signature(sig, context)
    except (SignatureValidationError, *MALFORMED) as exc:
        return _Checked(sig, is_last, None, f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await context.aclose()
    failure = None
    if isinstance(status, PdfSignatureStatus) and status.intact and status.valid \
            and not status.trusted:
        failure = await _trust_failure(sig, status.signing_cert, store, now)
    return _Checked(sig, is_last, status, None, failure)


# pyhanko's status keeps only an AdES indication for a certificate it does not accept
# (CERTIFICATE_CHAIN_GENERAL_FAILURE covers "no revocation information" and "untrusted" alike);
# certvalidator's exception says which. Most specific first: StaleRevinfoError is an
# InsufficientRevinfoError, and all but InvalidCertificateError are PathValidationErrors.
_FAILURES: tuple[tuple[type[Exception], TrustFailure], ...] = (
    (RevokedError, TrustFailure.REVOKED),
    (StaleRevinfoError, TrustFailure.STALE_REVOCATION_INFO),
    (InsufficientRevinfoError, TrustFailure.NO_REVOCATION_INFO),
    (ExpiredError, TrustFailure.EXPIRED),
    (NotYetValidError, TrustFailure.NOT_YET_VALID),
    (DisallowedAlgorithmError, TrustFailure.WEAK_ALGORITHM),
    (PathBuildingError, TrustFailure.UNTRUSTED),
    (InvalidCertificateError, TrustFailure.KEY_USAGE),
    (PathValidationError, TrustFailure.OTHER),
    (ValidationError, TrustFailure.OTHER),
)


async def _trust_failure(
    sig: EmbeddedPdfSignature, cert: asn1_x509.Certificate, store: TrustStore, now: dt.datetime
) -> _Failure:
    """Return why the signer's certificate is not accepted, from certvalidator's exception
    (validated again with a fresh context, the key usage pyhanko requires of a signer)."""
    context = _context(store, now)
    try:
        validator = CertificateValidator(
            cert, intermediate_certs=sig.other_embedded_certs, validation_context=context
        )
        await validator.async_validate_usage(key_usage=set(DEFAULT_SIGNER_KEY_USAGE))
    except (ValidationError, PathBuildingError) as exc:
        kind = next(f for cls, f in _FAILURES if isinstance(exc, cls))
        return _Failure(kind, f"{type(exc).__name__}: {str(exc)[:200]}")
    except (*MALFORMED, CertificateFetchError) as exc:
        return _Failure(TrustFailure.OTHER, f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await context.aclose()
    return _Failure(TrustFailure.OTHER, "accepted when validated again")


# --- the rules -------------------------------------------------------------------------------


def _p1(pdf: bytes, scan: DocumentScan) -> RuleResult:
    return passed(
        "P1",
        "Filen är en läsbar PDF inom storleksgränsen.",
        f"{len(pdf)} bytes, {scan.objects} objects, {scan.revisions} revisions",
    )


def _p2(checked: list[_Checked], problems: tuple[str, ...]) -> RuleResult:
    signatures = [c for c in checked if not c.is_timestamp]
    reasons = list(problems)
    details = list(problems)
    for c in checked:
        if c.status is None:
            reasons.append(f"{c.who()} kunde inte kontrolleras")
            details.append(f"{c.name}: {c.error}")
        elif not c.sound:
            reasons.append(f"{c.who()} stämmer inte med filens innehåll (filen har ändrats "
                           "efter underskriften eller underskriften är skadad)")
            details.append(f"{c.name}: intact={c.status.intact} valid={c.status.valid}")
        elif isinstance(c.status, PdfSignatureStatus) and not c.status.seed_value_ok:
            reasons.append(f"{c.who()} uppfyller inte signaturfältets krav")
            details.append(f"{c.name}: {c.status.seed_value_constraint_error}")
    if not signatures and not reasons:
        return failed("P2", "Filen saknar underskrift.", "no filled signature field")
    if not signatures:
        reasons.insert(0, "filen saknar giltig underskrift")
    if reasons:
        return failed("P2", _sentence("Underskrifterna godtas inte", reasons), "; ".join(details))
    count = len(signatures)
    return passed(
        "P2",
        "Filen har en giltig underskrift." if count == 1
        else f"Filen har {count} giltiga underskrifter.",
        ", ".join(c.name for c in checked),
    )


def _p3(checked: list[_Checked]) -> RuleResult:
    signatures = [c for c in checked if not c.is_timestamp]
    evaluable = [c for c in signatures if c.sound]
    if not evaluable:
        return not_evaluated("P3", "Certifikaten kontrolleras när det finns en giltig underskrift.")
    reasons, details = [], []
    for c in evaluable:
        problem = _certificate_problem(c)
        if problem is not None:
            reasons.append(problem)
            status = c.status
            indic = _enum_name(status.trust_problem_indic) if status else ""
            failure = c.failure
            details.append(f"{c.name}: {failure.kind.name} ({indic}): {failure.detail}"
                           if failure else f"{c.name}: {indic}")
    if reasons:
        return failed("P3", _sentence("Certifikaten godtas inte", reasons), "; ".join(details))
    if len(evaluable) < len(signatures):
        return not_evaluated("P3", "Alla certifikat kunde inte kontrolleras (se P2).")
    return passed(
        "P3",
        "Certifikaten är utfärdade av en betrodd utfärdare, giltiga och får användas för "
        "underskrift.",
        "; ".join(f"{c.name}: {c.facts.issuer}" for c in evaluable),
    )


def _certificate_problem(c: _Checked) -> str | None:
    """Return a Swedish reason why c's certificate is not accepted, or None if it is."""
    status = c.status
    cert = c.cert
    if status is None or cert is None or status.trusted:
        return None
    who = c.who()
    signed = _signing_time(c)
    if "non_repudiation" not in (cert.key_usage_value.native if cert.key_usage_value else ()):
        return (
            f"certifikatet för {who} får inte användas för underskrifter "
            "(nyckelanvändningen nonRepudiation saknas)"
        )
    if signed is not None and not _within_validity(cert, signed):
        return f"certifikatet för {who} var inte giltigt när underskriften gjordes"
    if not _within_validity(cert, status.validation_time or dt.datetime.now(dt.UTC)):
        return f"certifikatet för {who} är inte giltigt (utgånget eller ännu inte giltigt)"
    if status.revoked:
        return _REASONS[TrustFailure.REVOKED].format(who=who, issuer=c.facts.issuer)
    kind = c.failure.kind if c.failure is not None else TrustFailure.OTHER
    return _REASONS[kind].format(who=who, issuer=c.facts.issuer)


# P3's reason for each trust failure, in Swedish ({who}: the signer, {issuer}: its issuer).
_REASONS = {
    TrustFailure.REVOKED: "certifikatet för {who} är spärrat",
    TrustFailure.NO_REVOCATION_INFO: (
        "spärrstatus för certifikatet för {who} kunde inte kontrolleras: gatewayen har ingen "
        "spärrinformation från utfärdaren ({issuer})"
    ),
    TrustFailure.STALE_REVOCATION_INFO: (
        "spärrstatus för certifikatet för {who} kunde inte kontrolleras: gatewayens "
        "spärrlista från utfärdaren ({issuer}) är för gammal"
    ),
    TrustFailure.UNTRUSTED: "certifikatet för {who} är inte utfärdat av en betrodd utfärdare",
    TrustFailure.EXPIRED: "certifikatet för {who} eller dess utfärdare har gått ut",
    TrustFailure.NOT_YET_VALID: "certifikatet för {who} eller dess utfärdare är ännu inte giltigt",
    TrustFailure.KEY_USAGE: "certifikatet för {who} får inte användas för underskrifter",
    TrustFailure.WEAK_ALGORITHM: "certifikatet för {who} använder en otillåten algoritm",
    TrustFailure.OTHER: "certifikatet för {who} godtas inte",
}


def _p5(checked: list[_Checked]) -> RuleResult:
    if not checked:
        return not_evaluated("P5", "Täckningen kontrolleras när filen har underskrifter.")
    last = checked[-1]
    if last.coverage is None:
        return not_evaluated("P5", f"Täckningen för {last.who()} kunde inte avgöras (se P2).")
    if last.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return failed(
            "P5",
            f"Filen har ändrats efter den sista underskriften ({last.who()}).",
            f"{last.name}: coverage {_enum_name(last.coverage)}",
        )
    reasons, details = [], []
    for c in checked[:-1]:
        status = c.status
        if status is None:
            return not_evaluated("P5", f"Ändringarna efter {c.who()} kunde inte avgöras (se P2).")
        level = status.modification_level
        if (
            status.coverage is None
            or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION
            or level not in ALLOWED_LATER_CHANGES
            or status.docmdp_ok is False
        ):
            reasons.append(f"efter {c.who()} har annat än formulärfält och underskrifter ändrats")
            details.append(
                f"{c.name}: coverage {_enum_name(status.coverage)}, modification "
                f"{_enum_name(level)}, docmdp_ok {status.docmdp_ok}"
            )
    if reasons:
        return failed("P5", _sentence("Filen har ändrats otillåtet", reasons), "; ".join(details))
    return passed(
        "P5",
        "Den sista underskriften omfattar hela filen; tidigare versioner har bara fått "
        "underskrifter och formulärfält.",
        "; ".join(
            f"{c.name}: {_enum_name(c.coverage)}/"
            f"{_enum_name(c.status.modification_level) if c.status else None}"
            for c in checked
        ),
    )


def _reference_rule(
    reader: PdfFileReader,
    signatures: tuple[EmbeddedPdfSignature, ...],
    expected: str | None,
) -> tuple[str | None, RuleResult]:
    """Return the file's inquiry reference and P7: read from the final document and from each
    signed revision, so a reference changed after a signature cannot slip through."""
    values: set[str] = set()
    read: dict[bytes, str | None] = {}
    try:
        values.update(references(reader, read))
        for revision in sorted({sig.signed_revision for sig in signatures}):
            values.update(references(reader.get_historical_resolver(revision), read))
    except PdfRefused as refused:
        return None, failed("P7", refused.message, refused.detail)
    except (MetadataError, *MALFORMED) as exc:
        return None, failed(
            "P7", "Filens metadata kan inte läsas.", f"{type(exc).__name__}: {str(exc)[:300]}"
        )
    if not values:
        return None, passed("P7", "Filen anger ingen förfrågningsreferens.", "none in Info or XMP")
    if len({value.casefold() for value in values}) > 1:
        return None, failed(
            "P7", "Filen anger olika förfrågningsreferenser.", ", ".join(sorted(values))
        )
    value = values.pop()
    if expected is not None and value.casefold() != expected.strip().casefold():
        return value, failed(
            "P7",
            f"Filen gäller förfrågan {value}, inte den som besvaras ({expected}).",
            f"reference {value!r} != expected {expected!r}",
        )
    return value, passed("P7", f"Filen gäller förfrågan {value}.", f"reference {value!r}")


def _p8(scan: DocumentScan) -> RuleResult:
    if not scan.active_content:
        return passed("P8", "Filen innehåller inget JavaScript, inga startkommandon, inga "
                            "åtgärder som lämnar dokumentet och inga inbäddade filer.")
    kinds = sorted({item.kind for item in scan.active_content})
    names = ", ".join(ACTIVE_CONTENT_NAMES[kind] for kind in kinds)
    return failed(
        "P8",
        f"Filen innehåller {names}, vilket inte tas emot.",
        "; ".join(f"{item.kind} in {item.where}" for item in scan.active_content[:20]),
    )


def _p9(checked: list[_Checked], received_at: dt.datetime, now: dt.datetime) -> RuleResult:
    evaluable = [c for c in checked if c.status is not None]
    if not evaluable:
        return not_evaluated("P9", "Tiderna kontrolleras när filen har underskrifter.")
    earliest = received_at.replace(microsecond=0)
    latest = now + CLOCK_SKEW
    reasons, details = [], []
    for c in evaluable:
        for reason in _time_problems(c, earliest, latest):
            reasons.append(reason)
            details.append(f"{c.name}: {reason}")
    if reasons:
        return failed("P9", _sentence("Tiderna godtas inte", reasons), "; ".join(details))
    return passed(
        "P9",
        "Underskrifterna är gjorda efter att förfrågan togs emot, och eventuella tidsstämplar "
        "är giltiga.",
        "; ".join(f"{c.name}: {_iso(_signing_time(c))}" for c in evaluable),
    )


def _time_problems(c: _Checked, earliest: dt.datetime, latest: dt.datetime) -> list[str]:
    status = c.status
    problems: list[str] = []
    stamps: list[TimestampSignatureStatus] = []
    if isinstance(status, DocumentTimestampStatus):
        if not _timestamp_ok(status):
            problems.append(f"dokumenttidsstämpeln i fältet {c.name} kunde inte verifieras")
        times = [status.timestamp]
    else:
        assert isinstance(status, PdfSignatureStatus)
        stamps = [s for s in (status.timestamp_validity, status.content_timestamp_validity) if s]
        problems += [
            f"tidsstämpeln för {c.who()} kunde inte verifieras"
            for s in stamps if not _timestamp_ok(s)
        ]
        times = [t for t in (status.signer_reported_dt, *(s.timestamp for s in stamps)) if t]
    if not times:
        problems.append(f"{c.who()} saknar signeringstid")
    for moment in times:
        whole = moment.replace(microsecond=0)
        if whole < earliest:
            problems.append(
                f"{c.who()} är gjord {_iso(whole)}, före att förfrågan togs emot {_iso(earliest)}"
            )
        elif moment > latest:
            problems.append(f"{c.who()} har en signeringstid i framtiden ({_iso(whole)})")
    return problems


# --- small helpers ---------------------------------------------------------------------------


def _signing_time(c: _Checked) -> dt.datetime | None:
    """The time the signer claims (CMS signingTime or /M), else the timestamp's."""
    status = c.status
    if isinstance(status, PdfSignatureStatus):
        if status.signer_reported_dt is not None:
            return status.signer_reported_dt
        if status.timestamp_validity is not None:
            return status.timestamp_validity.timestamp
        return None
    if isinstance(status, DocumentTimestampStatus):
        return status.timestamp
    try:
        return c.sig.self_reported_timestamp
    except MALFORMED:
        return None


def _timestamp_ok(status: TimestampSignatureStatus) -> bool:
    return status.intact and status.valid and status.trusted


def _within_validity(cert: asn1_x509.Certificate, moment: dt.datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    start = validity["not_before"].native
    end = validity["not_after"].native
    return bool(start <= moment <= end)


def _enum_name(value: object) -> str | None:
    name = getattr(value, "name", None)
    return str(name) if name is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _iso(value: dt.datetime | None) -> str:
    if value is None:
        return "okänd tid"
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sentence(lead: str, reasons: list[str]) -> str:
    return f"{lead}: " + "; ".join(reasons) + "."
