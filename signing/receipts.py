"""Signed receipts: canonical JSON and detached CMS (PKCS#7) signatures over it, made and checked.

A receipt is signed as `openssl cms -sign -binary` would: SHA-256, the signer's certificate
included, the content detached. `openssl cms -verify -binary -content receipt.json -inform DER
-in sig.der -CAfile ca.pem` accepts it. No Flask, no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from signing.certificates import IssuedCertificate
from signing.errors import CheckFailed


class ReceiptError(CheckFailed):
    """A signature that cannot be made or does not verify; `code` says which check failed."""

    code = "RECEIPT"


def canonical_json(value: Any) -> bytes:
    """Return value as canonical JSON: sorted keys, UTF-8, no insignificant whitespace."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sign_detached(data: bytes, signer: IssuedCertificate) -> bytes:
    """Return a detached CMS SignedData (DER) over data, SHA-256, carrying the signer's
    certificate (and its `chain`, if any)."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    builder = builder.add_signer(signer.cert, signer.key, hashes.SHA256())
    for cert in signer.chain:
        builder = builder.add_certificate(cert)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    return builder.sign(serialization.Encoding.DER, options)


def signature_certificates(signature: bytes) -> list[x509.Certificate]:
    """Return the certificates a DER CMS signature carries; raise ReceiptError if unreadable."""
    try:
        return pkcs7.load_der_pkcs7_certificates(signature)
    except ValueError:
        raise ReceiptError("MALFORMED", "not a DER CMS SignedData") from None


def signer_certificate(signature: bytes) -> x509.Certificate:
    """Return the certificate of the (single) signer of a DER CMS signature."""
    signed_data, signer_info = _parse(signature)
    return _find_signer_cert(signed_data, signer_info)


def verify_detached(
    data: bytes,
    signature: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    at: dt.datetime | None = None,
) -> x509.Certificate:
    """Return the signer's certificate when `signature` is a valid detached CMS signature over
    data by a certificate that a trust root issued and that was valid at `at` (default: now).

    Raises ReceiptError: MALFORMED, DIGEST_MISMATCH, BAD_SIGNATURE, UNTRUSTED, EXPIRED.
    """
    signed_data, signer_info = _parse(signature)
    cert = _find_signer_cert(signed_data, signer_info)
    _check_digest(data, signer_info)
    _check_signature(cert, signer_info)
    _check_trust(cert, trust_roots, at or dt.datetime.now(dt.UTC))
    return cert


def _parse(signature: bytes) -> tuple[Any, Any]:
    try:
        info = asn1_cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            raise ReceiptError("MALFORMED", "not a CMS SignedData")
        signed_data = info["content"]
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise ReceiptError("MALFORMED", "a receipt signature has exactly one signer")
        if signed_data["encap_content_info"]["content"].native is not None:
            raise ReceiptError("MALFORMED", "the signature is not detached")
        return signed_data, signer_infos[0]
    except (ValueError, TypeError, KeyError):
        raise ReceiptError("MALFORMED", "not a DER CMS SignedData") from None


def _find_signer_cert(signed_data: Any, signer_info: Any) -> x509.Certificate:
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise ReceiptError("MALFORMED", "the signer is not named by issuer and serial number")
    wanted = sid.chosen
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue
        tbs = choice.chosen["tbs_certificate"]
        # Names compared as DER bytes: exact, and far cheaper than asn1crypto's LDAP matching.
        if (
            tbs["serial_number"].native == wanted["serial_number"].native
            and tbs["issuer"].dump() == wanted["issuer"].dump()
        ):
            return x509.load_der_x509_certificate(choice.chosen.dump())
    raise ReceiptError("MALFORMED", "the signer's certificate is not in the signature")


def _signed_attribute(signer_info: Any, name: str) -> Any:
    attributes = signer_info["signed_attrs"]
    if not attributes:
        raise ReceiptError("MALFORMED", "the signature has no signed attributes")
    for attribute in attributes:
        if attribute["type"].native == name:
            return attribute["values"][0].native
    raise ReceiptError("MALFORMED", f"the signed attribute {name} is missing")


def _check_digest(data: bytes, signer_info: Any) -> None:
    if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
        raise ReceiptError("MALFORMED", "the digest algorithm is not SHA-256")
    if _signed_attribute(signer_info, "content_type") != "data":
        raise ReceiptError("MALFORMED", "the signed content type is not data")
    if _signed_attribute(signer_info, "message_digest") != hashlib.sha256(data).digest():
        raise ReceiptError("DIGEST_MISMATCH", "the signature is over other content")


def _check_signature(cert: x509.Certificate, signer_info: Any) -> None:
    # The signature covers the signed attributes DER-encoded as a SET OF (RFC 5652 5.4),
    # not with the [0] IMPLICIT tag they carry inside SignerInfo.
    signed = bytearray(signer_info["signed_attrs"].dump())
    signed[0] = 0x31
    value = signer_info["signature"].native
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, bytes(signed), padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(value, bytes(signed), ec.ECDSA(hashes.SHA256()))
        else:
            raise ReceiptError("BAD_SIGNATURE", "the signer's key type is not supported")
    except InvalidSignature:
        raise ReceiptError("BAD_SIGNATURE", "the signature does not verify") from None


def _check_trust(
    cert: x509.Certificate, trust_roots: Sequence[x509.Certificate], at: dt.datetime
) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise ReceiptError("EXPIRED", "the signer's certificate was not valid at that time")
    for root in trust_roots:
        if root.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise ReceiptError("UNTRUSTED", "no trust root issued the signer's certificate")
