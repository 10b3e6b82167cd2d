"""Signing a composed answer where the key is: the seam between the gateway and whoever holds
the REKO's key (the REKO's browser today; a central signing service for SITHS could take its
place). The gateway never sees the key.

A holder of the key meets the gateway in two calls:
1. start_signing: the holder's certificate chain in; the composed PDF is prepared for a PAdES
   signature and kept sealed under a one-time id for SIGNING_MINUTES; the DER bytes to sign
   (the CMS signed attributes) and the algorithm out.
2. finish_signing: the id and the signature value in; the signature is embedded and the PDF is
   accepted exactly as an uploaded answer is (P1–P9, consent), or refused with the failed rules.
A central signing service that issues the certificate while signing would call start_signing
with the certificate it will use, or (if it signs other attributes) needs finish_signing to take
the attributes it signed: see docs/signing.md.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway import codes
from gateway.errors import GatewayError
from gateway.inquiries.answers import accept_answer
from gateway.inquiries.models import Answer, Inquiry, SigningRequest
from gateway.vault.service import get_vault
from signing.external import finish_signature, prepare_signature
from signing.pdfsign import SigningRefused

SIGNING_MINUTES = 10
CHANNEL = "web-composer"


@dataclass(frozen=True)
class SigningStarted:
    """What the key holder needs: sign `to_sign` with `algorithm` (SHA-256), then finish with
    `request_id` before `expires_at`."""

    request_id: str
    to_sign: bytes
    algorithm: str
    expires_at: dt.datetime


def start_signing(
    session: Session, inquiry: Inquiry, *, pdf: bytes, structured: bytes | None,
    chain: Sequence[bytes], field_name: str, requested_by: str, now: dt.datetime,
) -> SigningStarted:
    """Prepare pdf (the composed answer) for the signature of chain's first certificate in
    field_name, keep it sealed, and return what to sign (the caller commits).

    Raises GatewayError 422 SIGNING_FAILED when the certificates cannot be used.
    """
    try:
        prepared = prepare_signature(pdf, chain, field_name)
    except SigningRefused as exc:
        raise GatewayError.at(codes.SIGNING_FAILED, str(exc), status=422) from None
    # Answers prepared and never finished hold health data: gone once expired.
    session.execute(delete(SigningRequest).where(SigningRequest.expires_at < now))
    request_id = secrets.token_hex(16)
    vault = get_vault()
    row = SigningRequest(
        id=request_id, inquiry_id=inquiry.id, requested_by=requested_by,
        state=vault.seal(prepared.state, f"signing_requests.state:{request_id}"),
        structured=None if structured is None
        else vault.seal(structured, f"signing_requests.structured:{request_id}"),
        created_at=now, expires_at=now + dt.timedelta(minutes=SIGNING_MINUTES),
    )
    session.add(row)
    session.flush()
    return SigningStarted(request_id, prepared.to_sign, prepared.algorithm, row.expires_at)


def finish_signing(
    session: Session, inquiry: Inquiry, *, request_id: str, signature_value: bytes,
    requested_by: str, now: dt.datetime,
) -> Answer:
    """Embed signature_value in the answer prepared under request_id and accept it; the request
    is used up with the accepted answer (a refused attempt leaves it until it expires). The
    caller commits.

    Raises GatewayError 422 SIGNING_EXPIRED for an id that is unknown, expired, used, or
    another user's or inquiry's; 422 SIGNING_FAILED for a value of the wrong size; and what
    accept_answer raises (422 ANSWER_REFUSED naming each failed P rule, ...).
    """
    row = session.scalars(
        select(SigningRequest).where(SigningRequest.id == request_id,
                                     SigningRequest.inquiry_id == inquiry.id,
                                     SigningRequest.requested_by == requested_by)
    ).one_or_none()
    if row is None or row.expires_at <= now:
        raise GatewayError.at(
            codes.SIGNING_EXPIRED,
            f"Underskriften måste slutföras inom {SIGNING_MINUTES} minuter och kan bara "
            "användas en gång. Signera svaret igen.", status=422,
        )
    vault = get_vault()
    state = vault.open(row.state, f"signing_requests.state:{row.id}")
    structured = (None if row.structured is None
                  else vault.open(row.structured, f"signing_requests.structured:{row.id}"))
    try:
        pdf = finish_signature(state, signature_value)
    except SigningRefused as exc:
        raise GatewayError.at(codes.SIGNING_FAILED, str(exc), status=422) from None
    answer = accept_answer(session, inquiry.id, pdf, submitter=requested_by, channel=CHANNEL,
                           now=now, structured=structured)
    session.delete(row)
    return answer
