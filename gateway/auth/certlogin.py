"""Certificate login (SITHS style): the HSA-id of a client certificate that nginx verified.

nginx verifies the certificate in the TLS handshake and passes the subject's serialNumber (the
HSA-id) in the header named by GATEWAY_CERT_LOGIN_HEADER, together with a shared secret in
X-Gateway-Proxy-Secret. Anyone who reaches the web process some other way can send the same
headers, so the HSA-id is believed only with the secret.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from flask import Flask, Request, current_app

from forms.identifiers import IdentifierError, check_hsa_id
from gateway.errors import ConfigError

PROXY_SECRET_HEADER = "X-Gateway-Proxy-Secret"  # noqa: S105 - a header name, not a secret
SECRET_MIN_LENGTH = 32
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True)
class CertificateClaim:
    """What the request says about a client certificate: the HSA-id, or why there is none."""

    hsa_id: str | None
    reason: str = ""


def enabled() -> bool:
    return bool(current_app.config.get("CERT_LOGIN_HEADER"))


def claim_from(request: Request) -> CertificateClaim:
    """Return the verified certificate's HSA-id from the proxy's headers, or why not.

    Reasons: "untrusted_proxy" (the shared secret is missing or wrong: the headers did not come
    from nginx), "no_certificate" (nginx verified none), "bad_hsa_id" (not an HSA-id).
    """
    config = current_app.config
    sent = request.headers.get(PROXY_SECRET_HEADER, "").encode()
    if not hmac.compare_digest(sent, config["CERT_LOGIN_SECRET"].encode()):
        return CertificateClaim(None, "untrusted_proxy")
    value = request.headers.get(config["CERT_LOGIN_HEADER"], "").strip()
    if not value:
        return CertificateClaim(None, "no_certificate")
    try:
        return CertificateClaim(check_hsa_id(value))
    except IdentifierError:
        return CertificateClaim(None, "bad_hsa_id")


def check_config(app: Flask) -> None:
    """Raise ConfigError, naming the variable, when certificate login is half configured."""
    header = app.config.get("CERT_LOGIN_HEADER")
    if not header:
        return
    if not _HEADER_NAME.fullmatch(header):
        raise ConfigError("GATEWAY_CERT_LOGIN_HEADER: expected a header name, e.g. X-Client-Hsa-Id")
    secret = app.config.get("CERT_LOGIN_SECRET") or ""
    if len(secret) < SECRET_MIN_LENGTH:
        raise ConfigError(
            f"GATEWAY_CERT_LOGIN_SECRET: certificate login needs the secret nginx sends in "
            f"{PROXY_SECRET_HEADER}, at least {SECRET_MIN_LENGTH} characters"
        )
    if app.config.get("PROXY_HOPS", 0) < 1:
        raise ConfigError(
            "GATEWAY_PROXY_HOPS: certificate login needs nginx in front (set it to 1)"
        )
