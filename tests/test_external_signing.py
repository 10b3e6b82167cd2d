"""Signing with a value made outside the server (prepare_signature, finish_signature): the
holder signs the prepared bytes with their own key; the result validates like any answer, and a
value from another key or a spoiled state is refused."""

from __future__ import annotations

import pytest

from signing.external import finish_signature, prepare_signature
from signing.pdfsign import SigningRefused
from tests.support.holder import chain_of, sign_with
from tests.support.pdfs import REKO, REKO_OTHER_VC, TestPki, plain_pdf, signed_by_reko, validate


def signed_externally(pki: TestPki, *, signer_p12: bytes | None = None) -> bytes:
    p12 = pki.reko_p12()
    prepared = prepare_signature(plain_pdf(), chain_of(p12), "reko")
    assert prepared.algorithm == "RSASSA-PKCS1-v1_5"
    return finish_signature(prepared.state, sign_with(signer_p12 or p12, prepared.to_sign))


def test_a_value_made_by_the_holder_gives_a_valid_answer(pki: TestPki) -> None:
    report = validate(signed_externally(pki), pki, allowed_hsa_ids=[REKO.hsa_id])
    assert report.ok, report


def test_a_value_from_another_key_fails_p2(pki: TestPki) -> None:
    pdf = signed_externally(pki, signer_p12=pki.reko_p12(REKO_OTHER_VC))
    report = validate(pdf, pki, allowed_hsa_ids=[REKO.hsa_id])
    assert not report.ok
    assert "P2" in report.failed_codes


@pytest.mark.parametrize(
    ("chain", "words"),
    [([], "ett certifikat"), ([b"not a certificate"], "kan inte läsas"),
     ([b"x"] * 6, "ett certifikat")],
)
def test_unreadable_chains_are_refused(pki: TestPki, chain: list[bytes], words: str) -> None:
    with pytest.raises(SigningRefused, match=words):
        prepare_signature(plain_pdf(), chain, "reko")


def test_a_signed_field_or_a_missing_one_is_refused(pki: TestPki) -> None:
    chain = chain_of(pki.reko_p12())
    with pytest.raises(SigningRefused, match="redan underskrivet"):
        prepare_signature(signed_by_reko(pki), chain, "reko")
    with pytest.raises(SigningRefused, match="inget signaturfält"):
        prepare_signature(plain_pdf(), chain, "saknas")


@pytest.mark.parametrize("value", [b"", bytes(513)])
def test_an_empty_or_oversized_value_is_refused(pki: TestPki, value: bytes) -> None:
    prepared = prepare_signature(plain_pdf(), chain_of(pki.reko_p12()), "reko")
    with pytest.raises(SigningRefused, match="fel storlek"):
        finish_signature(prepared.state, value)


def test_a_spoiled_state_is_refused(pki: TestPki) -> None:
    with pytest.raises(SigningRefused, match="börja om"):
        finish_signature(b"{}", bytes(256))
