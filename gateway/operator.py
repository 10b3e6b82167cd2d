"""Who may see an operator's details (metrics, readiness checks): a request from loopback that
did not come through the proxy, or one with the operator token (GATEWAY_METRICS_TOKEN)."""

from __future__ import annotations

import hmac
import ipaddress

from flask import current_app, request


def from_loopback() -> bool:
    """Whether the request comes from this machine itself, not through nginx."""
    # A request that came through nginx carries X-Forwarded-For: nginx runs on loopback, but
    # its client does not.
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def has_operator_token() -> bool:
    """Whether the request carries the operator token as a bearer token."""
    token: str | None = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode())


def is_operator() -> bool:
    return has_operator_token() or from_loopback()
