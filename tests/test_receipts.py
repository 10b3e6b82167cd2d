"""Signed receipts: canonical JSON, detached CMS signatures made and checked, and a receipt from
the API verified by an independent tool (`openssl cms -verify`)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient

from gateway.db import get_session
from signing.devpki import PkiLayout, init_pki, load_certificates, load_key_pair
from signing.receipts import (
    ReceiptError,
    canonical_json,
    sign_detached,
    signature_certificates,
    signer_certificate,
    verify_detached,
)
from tests.conftest import AppMaker
from tests.support.forms import halsoforfragan
from tests.support.intake import load_directory, new_client, post_xml
from tests.support.pki import install_pki

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
SKANE = "0203:skane.se"


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    root = tmp_path_factory.mktemp("other") / "pki"
    init_pki(root, passphrase="x", organisations={SKANE: "Falska Skåne"})
    return PkiLayout(root)


def layout(template: Path) -> PkiLayout:
    return PkiLayout(template)


def ca_of(template: Path) -> list[x509.Certificate]:
    return load_certificates(layout(template).ca_cert)


# --- canonical JSON ----------------------------------------------------------------------------


def test_canonical_json_sorts_keys_without_whitespace_in_utf8() -> None:
    value = {"b": [1, {"d": 2, "c": "å"}], "a": None}
    assert canonical_json(value) == '{"a":null,"b":[1,{"c":"å","d":2}]}'.encode()


def test_canonical_json_refuses_what_json_cannot_say() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


# --- signing and verifying ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(pki_template: Path) -> tuple[bytes, bytes]:
    org = layout(pki_template)
    signer = load_key_pair(org.org_cert(SKANE), org.org_key(SKANE))
    data = canonical_json({"inquiry_id": "x", "received_at": "2024-05-01T10:00:00Z"})
    return data, sign_detached(data, signer)


def test_a_signature_verifies_and_names_the_signer(
    pki_template: Path, signed: tuple[bytes, bytes]
) -> None:
    data, signature = signed
    cert = verify_detached(data, signature, ca_of(pki_template))
    assert cert == signer_certificate(signature)
    assert [c.subject for c in signature_certificates(signature)] == [cert.subject]
    assert SKANE in cert.subject.rfc4514_string()


def test_other_content_does_not_verify(pki_template: Path, signed: tuple[bytes, bytes]) -> None:
    data, signature = signed
    with pytest.raises(ReceiptError) as caught:
        verify_detached(data.replace(b"10:00", b"11:00"), signature, ca_of(pki_template))
    assert caught.value.code == "DIGEST_MISMATCH"


def test_a_signer_from_another_ca_is_untrusted(
    pki_template: Path, other_ca: PkiLayout, signed: tuple[bytes, bytes]
) -> None:
    data = signed[0]
    forged = sign_detached(data, load_key_pair(other_ca.org_cert(SKANE), other_ca.org_key(SKANE)))
    with pytest.raises(ReceiptError) as caught:
        verify_detached(data, forged, ca_of(pki_template))
    assert caught.value.code == "UNTRUSTED"


def test_a_tampered_signature_value_is_refused(
    pki_template: Path, signed: tuple[bytes, bytes]
) -> None:
    data, signature = signed
    tampered = bytearray(signature)
    tampered[-5] ^= 0xFF  # inside the RSA signature value at the end of the SignerInfo
    with pytest.raises(ReceiptError) as caught:
        verify_detached(data, bytes(tampered), ca_of(pki_template))
    assert caught.value.code == "BAD_SIGNATURE"


def test_a_signature_outside_the_certificates_validity_is_refused(
    pki_template: Path, signed: tuple[bytes, bytes]
) -> None:
    data, signature = signed
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 30)
    with pytest.raises(ReceiptError) as caught:
        verify_detached(data, signature, ca_of(pki_template), at=later)
    assert caught.value.code == "EXPIRED"


@pytest.mark.parametrize("garbage", [b"", b"not der", b"\x30\x03\x02\x01\x01"])
def test_garbage_is_malformed(pki_template: Path, garbage: bytes) -> None:
    with pytest.raises(ReceiptError) as caught:
        verify_detached(b"x", garbage, ca_of(pki_template))
    assert caught.value.code == "MALFORMED"


# --- a receipt from the API --------------------------------------------------------------------


@pytest.fixture
def receipt(
    app: Flask, client: FlaskClient, instance: Path, pki_template: Path
) -> tuple[dict[str, object], bytes]:
    install_pki(instance, pki_template)
    session = get_session()
    load_directory(session)
    data = halsoforfragan()
    response = post_xml(client, data, new_client(session))
    assert response.status_code == 201
    return response.get_json(), data


def test_the_receipt_is_the_canonical_json_that_was_signed(
    receipt: tuple[dict[str, object], bytes], pki_template: Path
) -> None:
    body, data = receipt
    signed = canonical_json(body["receipt"])
    signature = base64.b64decode(str(body["receipt_signature"]))
    cert = verify_detached(signed, signature, ca_of(pki_template))
    assert body["receipt_certificate"] == cert.public_bytes(Encoding.PEM).decode()
    assert body["receipt"]["content_sha256"] == hashlib.sha256(data).hexdigest()  # type: ignore[index]


def _openssl_verify(
    folder: Path, content: bytes, signature: bytes, ca: Path
) -> subprocess.CompletedProcess[str]:
    (folder / "receipt.json").write_bytes(content)
    (folder / "sig.der").write_bytes(signature)
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, "cms", "-verify", "-binary", "-content", str(folder / "receipt.json"),
         "-inform", "DER", "-in", str(folder / "sig.der"), "-CAfile", str(ca),
         "-purpose", "any", "-out", str(folder / "out")],
        capture_output=True, text=True, check=False, timeout=60,
    )


@needs_openssl
def test_openssl_verifies_the_receipt_from_the_api(
    receipt: tuple[dict[str, object], bytes], pki_template: Path, tmp_path: Path
) -> None:
    body, _data = receipt
    content = canonical_json(body["receipt"])
    signature = base64.b64decode(str(body["receipt_signature"]))
    done = _openssl_verify(tmp_path, content, signature, layout(pki_template).ca_cert)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    assert (tmp_path / "out").read_bytes() == content


@needs_openssl
def test_openssl_refuses_an_altered_receipt(
    receipt: tuple[dict[str, object], bytes], pki_template: Path, tmp_path: Path
) -> None:
    body, _data = receipt
    altered = dict(body["receipt"])  # type: ignore[call-overload]
    altered["deadline"] = "2099-12-31"
    signature = base64.b64decode(str(body["receipt_signature"]))
    done = _openssl_verify(tmp_path, canonical_json(altered), signature,
                           layout(pki_template).ca_cert)
    assert done.returncode != 0


@needs_openssl
def test_openssl_refuses_the_receipt_against_another_ca(
    receipt: tuple[dict[str, object], bytes], other_ca: PkiLayout, tmp_path: Path
) -> None:
    body, _data = receipt
    signature = base64.b64decode(str(body["receipt_signature"]))
    done = _openssl_verify(tmp_path, canonical_json(body["receipt"]), signature, other_ca.ca_cert)
    assert done.returncode != 0


# --- readiness ---------------------------------------------------------------------------------


def test_readiness_reports_the_receipt_key(
    client: FlaskClient, instance: Path, pki_template: Path
) -> None:
    missing = client.get("/readyz").get_json()["checks"]["receipts"]
    assert missing["ok"] is False and "gateway pki init" in missing["detail"]
    install_pki(instance, pki_template)
    present = client.get("/readyz").get_json()["checks"]["receipts"]
    assert present == {"ok": True, "detail": f"signing as {SKANE}"}


def test_the_receipt_organisation_is_configurable(
    make_app: AppMaker, instance: Path, pki_template: Path
) -> None:
    install_pki(instance, pki_template)
    other = make_app(RECEIPT_ORGANISATION="0203:malmo.se")
    with other.app_context():
        from gateway.inquiries.receipts import receipt_signer

        signer = receipt_signer().signer()
    assert "0203:malmo.se" in signer.cert.subject.rfc4514_string()
