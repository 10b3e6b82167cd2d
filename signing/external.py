"""Signing an answer PDF with a signature value made elsewhere (pyHanko's interrupted signing):
the key stays with its holder, in the REKO's browser or a central signing service.

prepare_signature reserves the signature in the PDF and returns the bytes the holder signs (the
DER of the CMS signed attributes, which carry the document's digest) and an opaque state;
finish_signature puts the holder's signature value, the certificates and those attributes into
the CMS and writes it into the reserved place. The state holds the prepared PDF: keep it sealed
on the server, never with the holder.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.aio import run_sync
from signing.pdfsign import SUBFILTERS, SigningRefused, check_field, open_writer

DIGEST = "sha256"
MAX_CHAIN = 5
MAX_CERTIFICATE = 16 * 1024
# Room for the largest signature value we take (RSA-4096); the CMS is sized from it.
MAX_SIGNATURE = 512


@dataclass(frozen=True)
class PreparedSignature:
    """What the key holder needs (to_sign, algorithm) and what finishing needs (state)."""

    to_sign: bytes
    """DER of the signed attributes: sign these bytes with SHA-256 and the certificate's key."""
    algorithm: str
    """The signature algorithm as WebCrypto names it (with SHA-256): "RSASSA-PKCS1-v1_5"."""
    state: bytes
    """Opaque input to finish_signature; holds the PDF, so seal it and keep it server-side."""


def prepare_signature(pdf: bytes, chain: Sequence[bytes], field_name: str) -> PreparedSignature:
    """Return the data to sign for a PAdES signature in the empty field field_name of pdf by the
    first certificate (DER) in chain; the others are its issuers, embedded in the CMS.

    Raises SigningRefused for certificates that cannot be read, a key other than RSA, a PDF
    that cannot be read, or a field that is missing or already signed.
    """
    certificates = _certificates(chain)
    algorithm = _algorithm(certificates[0])
    writer = open_writer(pdf)
    check_field(writer, field_name)
    signer = _external(certificates, bytes(MAX_SIGNATURE))
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=SUBFILTERS["pades"], md_algorithm=DIGEST,
    )

    async def prepare() -> tuple[PreparedByteRangeDigest, cms.CMSAttributes, bytes]:
        pdf_signer = signers.PdfSigner(meta, signer=signer)
        digest, tbs, output = await pdf_signer.async_digest_doc_for_signing(
            writer, existing_fields_only=True
        )
        # No post-sign instructions: without embed_validation_info (PAdES-LT) pyHanko makes
        # none, so finishing needs nothing but the CMS.
        del tbs
        attributes = await signer.signed_attrs(digest.document_digest, DIGEST, use_pades=True)
        output.seek(0)
        return digest, attributes, output.read()

    digest, attributes, prepared = run_sync(prepare)
    state = {
        "pdf": _b64(prepared),
        "digest": _b64(digest.document_digest),
        "start": digest.reserved_region_start,
        "end": digest.reserved_region_end,
        "attributes": _b64(attributes.dump()),
        "chain": [_b64(c.dump()) for c in certificates],
    }
    return PreparedSignature(attributes.dump(), algorithm, json.dumps(state).encode())


def finish_signature(state: bytes, signature_value: bytes) -> bytes:
    """Return the signed PDF: the prepared one with the CMS built from signature_value.

    The value is not checked here: validating the result (P2) refuses a value that does not verify.
    Raises SigningRefused for an empty or oversized value or a state that is not ours.
    """
    if not signature_value or len(signature_value) > MAX_SIGNATURE:
        raise SigningRefused("Underskriften saknas eller har fel storlek.")
    try:
        saved = json.loads(state)
        certificates = [asn1_x509.Certificate.load(_unb64(c)) for c in saved["chain"]]
        digest = PreparedByteRangeDigest(
            _unb64(saved["digest"]), int(saved["start"]), int(saved["end"])
        )
        attributes = cms.CMSAttributes.load(_unb64(saved["attributes"]))
        output = io.BytesIO(_unb64(saved["pdf"]))
    except (ValueError, KeyError, TypeError):
        raise SigningRefused("Underskriften kan inte slutföras; börja om.") from None
    signer = _external(certificates, signature_value)

    async def finish() -> bytes:
        signed_cms = await signer.async_sign_prescribed_attributes(DIGEST, attributes)
        await PdfTBSDocument.async_finish_signing(output, digest, signed_cms)
        return output.getvalue()

    return run_sync(finish)


def _external(certificates: list[asn1_x509.Certificate], value: bytes) -> signers.ExternalSigner:
    return signers.ExternalSigner(
        signing_cert=certificates[0],
        cert_registry=SimpleCertificateStore.from_certs(certificates[1:]),
        signature_value=value,
    )


def _certificates(chain: Sequence[bytes]) -> list[asn1_x509.Certificate]:
    if not chain or len(chain) > MAX_CHAIN or any(len(c) > MAX_CERTIFICATE for c in chain):
        raise SigningRefused("Välj en e-legitimation med ett certifikat och dess utfärdare.")
    try:
        found = [asn1_x509.Certificate.load(bytes(c)) for c in chain]
        for certificate in found:
            certificate.native  # noqa: B018 - parses fully; asn1crypto is lazy
    except ValueError:
        raise SigningRefused("E-legitimationens certifikat kan inte läsas.") from None
    return found


def _algorithm(certificate: asn1_x509.Certificate) -> str:
    # RSA only: the development PKI's and SITHS's keys; ECDSA would need its value DER-encoded.
    try:
        key = x509.load_der_x509_certificate(certificate.dump()).public_key()
    except ValueError:
        raise SigningRefused("E-legitimationens certifikat kan inte läsas.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SigningRefused("E-legitimationens nyckel är inte en RSA-nyckel och fungerar inte.")
    return "RSASSA-PKCS1-v1_5"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
