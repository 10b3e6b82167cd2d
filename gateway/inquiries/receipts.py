"""Intake receipts: what a receipt says, signing it with the receiving organisation's function
certificate (development PKI in the instance folder), and the response body built from it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Flask, current_app

from gateway import codes
from gateway.errors import GatewayError
from gateway.inquiries.models import Inquiry
from signing.certificates import IssuedCertificate, PkiError
from signing.devpki import PkiLayout, load_key_pair
from signing.receipts import ReceiptError, canonical_json, sign_detached, signer_certificate

RECEIPT_VERSION = 1
# The status an accepted send reports; GET /api/v1/inquiries/{id} tells where it stands now.
INTAKE_STATUS = "received"


def utc_text(at: dt.datetime) -> str:
    """Return an aware time as RFC 3339 in UTC with a Z, as every JSON body of ours writes it."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def receipt_fields(
    *,
    inquiry_id: str,
    received_at: dt.datetime,
    routed_to: str,
    care_unit: str,
    deadline: dt.date,
    content_sha256: str,
    flags: list[dict[str, Any]],
    issuer: str,
) -> dict[str, Any]:
    """Return the receipt: what was received (its digest), when, where it went, by when."""
    return {
        "version": RECEIPT_VERSION,
        "inquiry_id": inquiry_id,
        "received_at": utc_text(received_at),
        "routed_to": routed_to,
        "care_unit": care_unit,
        "deadline": deadline.isoformat(),
        "content_sha256": content_sha256,
        "flags": flags,
        "issuer": issuer,
    }


def key_missing(detail: str) -> GatewayError:
    return GatewayError.at(
        codes.RECEIPT_KEY_MISSING,
        f"Gatewayen kan inte signera kvittenser: {detail}. Kör 'gateway pki init'.", status=503,
    )


@dataclass
class _Cached:
    stamp: tuple[int, int]
    signer: IssuedCertificate


class ReceiptSigner:
    """The function certificate and key that sign receipts; re-read when the files change."""

    def __init__(self, layout: PkiLayout, organisation: str) -> None:
        self.organisation = organisation
        self.cert_path = layout.org_cert(organisation)
        self.key_path = layout.org_key(organisation)
        self._lock = threading.Lock()
        self._cached: _Cached | None = None

    def signer(self) -> IssuedCertificate:
        """Return the certificate and key; raise GatewayError 503 RECEIPT_KEY_MISSING when they
        are missing, unreadable or expired."""
        try:
            stamp = (_mtime(self.cert_path), _mtime(self.key_path))
        except FileNotFoundError:
            raise key_missing(f"{self.cert_path.name} saknas i {self.cert_path.parent}") from None
        with self._lock:
            if self._cached is None or self._cached.stamp != stamp:
                try:
                    loaded = load_key_pair(self.cert_path, self.key_path)
                except (PkiError, OSError, ValueError) as exc:
                    raise key_missing(f"{self.cert_path.name}: {type(exc).__name__}") from None
                self._cached = _Cached(stamp, loaded)
            signer = self._cached.signer
        if signer.cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
            raise key_missing(f"{self.cert_path.name} har gått ut")
        return signer

    def sign(self, fields: dict[str, Any]) -> tuple[bytes, bytes]:
        """Return the receipt's canonical bytes and their detached CMS signature (DER)."""
        data = canonical_json(fields)
        return data, sign_detached(data, self.signer())


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def receipt_signer(app: Flask | None = None) -> ReceiptSigner:
    signer: ReceiptSigner = (app or current_app).extensions["gateway.receipts"]
    return signer


def receipt_body(inquiry: Inquiry) -> dict[str, Any]:
    """Return the response to an accepted send, from the stored receipt alone: a repeat of the
    same send gets the same bytes back."""
    if inquiry.receipt is None or inquiry.receipt_signature is None:
        raise GatewayError.at(codes.RECEIPT_MISSING, status=500)
    receipt = json.loads(inquiry.receipt)
    signature = bytes(inquiry.receipt_signature)
    try:
        cert = signer_certificate(signature)
    except ReceiptError:
        raise GatewayError.at(codes.RECEIPT_DAMAGED, status=500) from None
    return {
        "id": inquiry.id,
        "reference": inquiry.reference,
        "status": INTAKE_STATUS,
        "deadline": receipt["deadline"],
        "flags": receipt["flags"],
        "receipt": receipt,
        "receipt_signature": base64.b64encode(signature).decode("ascii"),
        "receipt_certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def check_receipts() -> tuple[bool, str]:
    """Readiness: the receipt certificate and key are there and belong together."""
    signer = receipt_signer()
    try:
        signer.signer()
    except GatewayError as exc:
        return False, (f"{exc.code}: no key to sign intake receipts as {signer.organisation} "
                       f"({signer.cert_path}); every inquiry is refused with 503 until "
                       "'gateway pki init' or the organisation's certificate provides one")
    return True, f"signing as {signer.organisation}"


def init_app(app: Flask) -> None:
    from gateway.health.service import register_check

    layout = PkiLayout.for_instance(app.instance_path)
    app.extensions["gateway.receipts"] = ReceiptSigner(layout, app.config["RECEIPT_ORGANISATION"])
    register_check(app, "receipts", check_receipts, at_startup=True)
