"""Signing an answer PDF in one of its signature fields with a person's PKCS#12 (pyHanko).

The passphrase opens the PKCS#12 for this one signature; nothing keeps it, or the key,
after sign_answer returns.
"""

from __future__ import annotations

import io
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from signing.aio import run_sync
from signing.errors import SigningError
from signing.pdfscan import DECODE_LIMITS, MALFORMED

SUBFILTERS = {
    "pades": SigSeedSubFilter.PADES,
    "adbe": SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
}


class SigningRefused(SigningError, ValueError):
    """Signing refused; the message is Swedish and says what to do."""

    code = "SIGNING_REFUSED"


def sign_answer(
    pdf: bytes,
    p12_bytes: bytes,
    passphrase: str | bytes,
    field_name: str,
    timestamper: TimeStamper | None = None,
    *,
    subfilter: str = "pades",
    reason: str | None = None,
) -> bytes:
    """Return pdf with a new signature in the empty field field_name (an incremental update).

    subfilter is "pades" (ETSI.CAdES.detached) or "adbe" (adbe.pkcs7.detached). Raises
    SigningRefused for a wrong passphrase or damaged PKCS#12, a file that is not a readable PDF,
    or a field that does not exist or is already signed.
    """
    if subfilter not in SUBFILTERS:
        raise ValueError(f"subfilter must be one of {sorted(SUBFILTERS)}")
    signer = _signer(p12_bytes, passphrase)
    writer = open_writer(pdf)
    check_field(writer, field_name)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SUBFILTERS[subfilter],
        md_algorithm="sha256",
        reason=reason,
    )

    async def sign() -> bytes:
        out = await signers.async_sign_pdf(
            writer, meta, signer=signer, timestamper=timestamper, existing_fields_only=True
        )
        return bytes(out.getbuffer())

    return run_sync(sign)


def timestamper_from_files(cert_path: Path, key_path: Path) -> DummyTimeStamper:
    """Return a timestamper that signs tokens itself with the TSA certificate and key given
    (the development PKI's tsa/ files); for tests and the demo, not for production."""
    cert = asn1_x509.Certificate.load(_der(cert_path.read_bytes()))
    key = load_private_key_from_pemder_data(key_path.read_bytes(), passphrase=None)
    return DummyTimeStamper(tsa_cert=cert, tsa_key=key)


def _signer(p12_bytes: bytes, passphrase: str | bytes) -> signers.SimpleSigner:
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not secret:
        raise SigningRefused("Ange lösenordet till din e-legitimation (PKCS#12-filen).")
    try:
        return signers.SimpleSigner.load_pkcs12_data(p12_bytes, [], secret)
    except (ValueError, TypeError):
        raise SigningRefused(
            "Fel lösenord, eller så är filen inte en giltig e-legitimation (PKCS#12)."
        ) from None


def open_writer(pdf: bytes) -> IncrementalPdfFileWriter:
    """Return a writer that appends to pdf; SigningRefused when pdf cannot be read."""
    try:
        return IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False, decode_limits=DECODE_LIMITS)
    except MALFORMED:
        raise SigningRefused("Filen kan inte läsas som PDF och kan därför inte signeras.") from None


def check_field(writer: IncrementalPdfFileWriter, field_name: str) -> None:
    """Raise SigningRefused unless field_name is an empty signature field of the writer's PDF."""
    try:
        found = list(enumerate_sig_fields(writer.prev, with_name=field_name))
    except MALFORMED:
        raise SigningRefused("Filens signaturfält kan inte läsas.") from None
    if not found:
        raise SigningRefused(f"Filen har inget signaturfält som heter {field_name}.")
    _, value, _ = found[0]
    if value is not None:
        raise SigningRefused(f"Signaturfältet {field_name} är redan underskrivet.")


def _der(data: bytes) -> bytes:
    if pem.detect(data):
        _, _, der = pem.unarmor(data)
        return bytes(der)
    return data
