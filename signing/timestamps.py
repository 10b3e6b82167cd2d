"""RFC 3161 timestamps over SHA-256 digests: ask a TSA for a token, and verify one later."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.aio import run_sync
from signing.errors import SigningError
from signing.pdfsign import timestamper_from_files


class TimestampError(SigningError):
    """The TSA could not be reached or gave no usable token."""

    code = "TIMESTAMP"


@dataclass(frozen=True)
class TimestampCheck:
    """The verdict on one token: its time, and whether it is intact, valid and trusted."""

    intact: bool
    valid: bool
    trusted: bool
    at: dt.datetime | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted


class Rfc3161Timestamper:
    """A TSA client: `timestamp(digest)` returns the DER token over a SHA-256 digest."""

    def __init__(self, stamper: TimeStamper, name: str) -> None:
        self._stamper = stamper
        self.name = name

    @classmethod
    def over_http(cls, url: str) -> Rfc3161Timestamper:
        return cls(HTTPTimeStamper(url, timeout=10), url)

    @classmethod
    def development(cls, cert_path: Path, key_path: Path) -> Rfc3161Timestamper:
        """The development TSA of `gateway pki init`, signing tokens in-process."""
        return cls(timestamper_from_files(cert_path, key_path), f"dev-tsa:{cert_path.name}")

    def timestamp(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise TimestampError("expected a SHA-256 digest (32 bytes)")
        try:
            token = run_sync(lambda: self._stamper.async_timestamp(digest, "sha256"))
        except Exception as exc:  # noqa: BLE001 - network and TSA failures of any kind
            raise TimestampError(
                f"the TSA {self.name} gave no token ({type(exc).__name__})"
            ) from exc
        return bytes(token.dump())


def verify_token(
    token: bytes, digest: bytes, trust_roots: Sequence[asn1_x509.Certificate]
) -> TimestampCheck:
    """Return whether token is a valid RFC 3161 token over digest from a TSA chaining to a root."""
    try:
        content = cms.ContentInfo.load(token)
        signed_data = content["content"]
        context = ValidationContext(
            trust_roots=list(trust_roots), allow_fetching=False, revocation_mode="soft-fail"
        )
        kwargs = run_sync(
            lambda: validate_tst_signed_data(
                signed_data, context, lambda alg: digest if alg == "sha256" else b""
            )
        )
        status = TimestampSignatureStatus(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a token we cannot read is simply not valid
        return TimestampCheck(False, False, False, None, f"unreadable token ({type(exc).__name__})")
    trusted = status.trusted
    reason = (
        ""
        if status.intact and status.valid and trusted
        else (
            "imprint or signature does not match"
            if not status.intact or not status.valid
            else "the TSA certificate does not chain to a trusted root"
        )
    )
    return TimestampCheck(status.intact, status.valid, trusted, status.timestamp, reason)
