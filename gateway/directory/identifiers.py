"""Directory identifier checks phrased for import errors: each returns None or a short reason.

HSA-ids, organisation ids and functional addresses are decided by `forms.identifiers` (one
rule, written once); e-mail, phone and certificate fingerprints are checked here.
"""

from __future__ import annotations

import re

from forms.identifiers import (
    IdentifierError,
)
from forms.identifiers import (
    check_functional_address as _functional_address,
)
from forms.identifiers import (
    check_hsa_id as _hsa_id,
)
from forms.identifiers import (
    check_organisation_id as _organisation_id,
)

EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
PHONE = re.compile(r"\+?[0-9][0-9 ()-]{1,38}")
ADDRESS_MAX = 200

_WHY = {
    "length": "too long",
    "check_digit": "wrong check digit",
    "organisation": "bad organisation id",
}


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:59] + "…")


def check_hsa_id(value: str) -> str | None:
    try:
        _hsa_id(value)
    except IdentifierError as exc:
        hint = _WHY.get(exc.reason, "expected e.g. SE2321000255-K001")
        return f"not an HSA-id ({_shown(value)}; {hint})"
    return None


def check_org_id(value: str) -> str | None:
    try:
        _organisation_id(value)
    except IdentifierError as exc:
        hint = _WHY.get(exc.reason, "expected 0203:<domain> or 0007:<org.nr>")
        return f"not an SDK organisation id ({_shown(value)}; {hint})"
    return None


def check_email(value: str) -> str | None:
    if len(value) <= 254 and EMAIL.fullmatch(value):
        return None
    return f"not an e-mail address ({_shown(value)})"


def check_phone(value: str) -> str | None:
    if PHONE.fullmatch(value):
        return None
    return f"not a phone number ({_shown(value)})"


def address_owner(address: str) -> str | None:
    """Return the organisation id an `sdk:<function>:<org id>` address ends in, or None."""
    if len(address) > ADDRESS_MAX:
        return None
    try:
        _functional_address(address)
    except IdentifierError:
        return None
    return address.split(":", 2)[2]


def check_functional_address(address: str, organisation: str) -> str | None:
    """Check that `address` is `sdk:<function>:<organisation>`, naming the owner when another."""
    owner = address_owner(address)
    if owner is None:
        return (
            f"not a functional address ({_shown(address)}); expected sdk:<function>:{organisation}"
        )
    if owner != organisation:
        return f"{address!r} belongs to organisation {owner}, not {organisation}"
    return None


def normalise_fingerprint(value: str) -> str | None:
    """Return a SHA-256 fingerprint as 64 lowercase hex digits (colons allowed), or None."""
    cleaned = value.replace(":", "").strip().lower()
    return cleaned if FINGERPRINT.fullmatch(cleaned) else None
