"""The transport of envelopes between access points: one interface (an AS4 access point could
replace it) and its HTTPS implementation with mutual TLS (DESIGN 7.2 step 3, 7.4)."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

CONTENT_TYPE = "application/xml"
TIMEOUT_SECONDS = 60.0


class TransportError(Exception):
    """The peer could not be reached or did not take the envelope; the text is safe to store.

    `permanent` says a resend cannot help (the peer answered 4xx: it is not an XHE to it).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ClientIdentity:
    """The sending organisation's function certificate and key, presented in the handshake."""

    certificate: Path
    key: Path


class Transport(Protocol):
    def post(self, endpoint: str, envelope: bytes, identity: ClientIdentity) -> int:
        """Hand the envelope to the peer's access point; return the (2xx) status or raise
        TransportError."""
        ...


class HttpsTransport:
    """POST over HTTPS: client certificate = the sender's function certificate; the server's
    certificate verified against the federation CAs (not the system store)."""

    def __init__(self, ca_files: list[str], timeout: float = TIMEOUT_SECONDS) -> None:
        self.ca_files = ca_files
        self.timeout = timeout

    def context(self, identity: ClientIdentity) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        loaded = 0
        for name in self.ca_files:
            try:
                context.load_verify_locations(cafile=name)
                loaded += 1
            except (OSError, ssl.SSLError):
                continue
        if not loaded:
            raise TransportError("no readable GATEWAY_FEDERATION_CA file")
        try:
            context.load_cert_chain(str(identity.certificate), str(identity.key))
        except (OSError, ssl.SSLError):
            raise TransportError("the sender's function certificate cannot be loaded") from None
        return context

    def post(self, endpoint: str, envelope: bytes, identity: ClientIdentity) -> int:
        url = urlsplit(endpoint)
        if url.scheme != "https" or not url.hostname:
            raise TransportError(f"the endpoint is not an https URL: {endpoint}", permanent=True)
        connection = http.client.HTTPSConnection(
            url.hostname, url.port or 443, timeout=self.timeout, context=self.context(identity)
        )
        try:
            connection.request("POST", url.path or "/", body=envelope,
                               headers={"Content-Type": CONTENT_TYPE})
            response = connection.getresponse()
            response.read(4096)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{url.hostname}:{url.port}: {type(exc).__name__}") from None
        finally:
            connection.close()
        if 200 <= status < 300:
            return status
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise TransportError(f"the peer answered {status}", permanent=permanent)
