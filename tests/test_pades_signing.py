"""sign_answer: refusals a REKO can meet (wrong passphrase, wrong field), and signing that works
inside an event loop."""

from __future__ import annotations

import asyncio

import pytest

from signing.pdfsign import SigningError, sign_answer
from tests.support.pdfs import (
    PASSPHRASE,
    REKO,
    TestPki,
    plain_pdf,
    signed_by_reko,
    validate,
)


@pytest.mark.parametrize(
    ("passphrase", "words"),
    [("fel", "Fel lösenord"), ("", "Ange lösenordet"), (b"", "Ange lösenordet")],
)
def test_wrong_or_missing_passphrase(pki: TestPki, passphrase: str, words: str) -> None:
    with pytest.raises(SigningError, match=words):
        sign_answer(plain_pdf(), pki.reko_p12(), passphrase, "reko")


def test_not_a_pkcs12(pki: TestPki) -> None:
    with pytest.raises(SigningError, match="inte en giltig e-legitimation"):
        sign_answer(plain_pdf(), b"not a p12", PASSPHRASE, "reko")


def test_not_a_pdf(pki: TestPki) -> None:
    with pytest.raises(SigningError, match="kan inte läsas som PDF"):
        sign_answer(b"not a pdf", pki.reko_p12(), PASSPHRASE, "reko")


def test_missing_field(pki: TestPki) -> None:
    with pytest.raises(SigningError, match="inget signaturfält som heter saknas"):
        sign_answer(plain_pdf(), pki.reko_p12(), PASSPHRASE, "saknas")


def test_field_already_signed(pki: TestPki) -> None:
    with pytest.raises(SigningError, match="redan underskrivet"):
        sign_answer(signed_by_reko(pki), pki.reko_p12(), PASSPHRASE, "reko")


def test_unknown_subfilter_is_a_programming_error(pki: TestPki) -> None:
    with pytest.raises(ValueError, match="subfilter"):
        sign_answer(plain_pdf(), pki.reko_p12(), PASSPHRASE, "reko", subfilter="x509")


def test_passphrase_as_bytes_works(pki: TestPki) -> None:
    pdf = sign_answer(plain_pdf(), pki.reko_p12(), PASSPHRASE.encode(), "reko")
    assert validate(pdf, pki, allowed_hsa_ids=[REKO.hsa_id]).ok


def test_signing_inside_an_event_loop(pki: TestPki) -> None:
    async def in_loop() -> bytes:
        return sign_answer(plain_pdf(), pki.reko_p12(), PASSPHRASE, "reko")

    pdf = asyncio.run(in_loop())
    assert validate(pdf, pki, allowed_hsa_ids=[REKO.hsa_id]).ok


def test_signing_appends_and_keeps_the_original_bytes(pki: TestPki) -> None:
    original = plain_pdf()
    signed = sign_answer(original, pki.reko_p12(), PASSPHRASE, "reko")
    assert signed.startswith(original)
