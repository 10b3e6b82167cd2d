"""The key holder's side of signing in the browser, played in Python outside the server: open
the PKCS#12 (as the browser does with pkijs), send only the certificates, sign the bytes the
server prepared (as the browser does with WebCrypto)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from signing.certificates import load_pkcs12
from tests.support.pdfs import PASSPHRASE


def chain_of(p12: bytes, passphrase: str = PASSPHRASE) -> list[bytes]:
    """The PKCS#12's certificate and its issuers, DER: all the browser sends of the file."""
    issued = load_pkcs12(p12, passphrase)
    certificates = [issued.cert, *issued.chain]
    return [c.public_bytes(serialization.Encoding.DER) for c in certificates]


def sign_with(p12: bytes, to_sign: bytes, passphrase: str = PASSPHRASE) -> bytes:
    """The signature value over to_sign with the PKCS#12's RSA key (PKCS#1 v1.5, SHA-256)."""
    key = load_pkcs12(p12, passphrase).key
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
