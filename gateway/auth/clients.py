"""API clients: create, list and revoke them; check their secrets and what they may use."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from gateway import codes
from gateway.audit.service import record
from gateway.auth.models import ApiClient, ApiToken
from gateway.auth.users import configured_throttle, record_attempt, throttled_until
from gateway.directory.identifiers import check_functional_address, check_org_id
from gateway.directory.models import FunctionalAddress, Organisation
from gateway.errors import GatewayError, Issue
from gateway.vault.service import get_vault

# The SDK API's scopes (DESIGN 5.4); a new client gets all of them unless told otherwise.
SDK_SCOPES: tuple[str, ...] = (
    "urn:sdk.api:sendMessage",
    "urn:sdk.api:getMessage",
    "urn:sdk.api:getMessageByFilter",
    "urn:sdk.api:deleteMessage",
)
# The gateway's own: reading the response statistics (aggregates, no personal data) over
# /api/v1/stats, for a client given it with `--scope`; not among a new client's defaults.
STATS_SCOPE = "urn:kryddgarden:stats"
KNOWN_SCOPES: tuple[str, ...] = (*SDK_SCOPES, STATS_SCOPE)
# B1.4.2 spells the send scope `sendMessages`, DIGG's OpenAPI file `sendMessage`: both name one
# permission. Clients are stored with the spellings above; a client may ask for either and a
# token holding either may send.
SCOPE_SPELLINGS = {"urn:sdk.api:sendMessages": "urn:sdk.api:sendMessage"}
CLIENT_ID_PREFIX = "gw-"

# Looking up an existing address needs only a sane string; new ones must have the directory's form.
_ADDRESS = re.compile(r"^[!-~]{1,200}$")

# Client secrets are 256-bit random values, not passwords: a keyed hash (HMAC-SHA-256 under the
# vault's hash key) is as safe against a stolen database and costs microseconds, so failed
# token requests cannot be used to exhaust memory and CPU. Secrets made before were hashed with
# argon2id; they are still verified that way once and then re-hashed.
SECRET_HASH_PREFIX = "hmac-sha256$"  # noqa: S105 - a format marker, no secret
SECRET_PURPOSE = "api-client-secret"  # noqa: S105 - an HMAC purpose label, no secret
_hasher = PasswordHasher()


def normalise_organisation_id(raw: str) -> str:
    """Return the SDK organisation id in lower case; raise GatewayError if malformed."""
    # Domain names are case-insensitive; the directory keeps them in lower case.
    value = raw.strip().lower()
    if check_org_id(value) is not None:
        raise GatewayError.at(
            codes.INVALID_ORGANISATION_ID,
            f"{raw!r} har fel form; väntat 0203:<domän> (t.ex. 0203:malmo.se) "
            "eller 0007:<organisationsnummer, 10 siffror>",
            "organisation",
        )
    return value


def normalise_address(raw: str) -> str:
    """Return a functional address stripped of surrounding space; raise GatewayError if unusable."""
    value = raw.strip()
    if not _ADDRESS.match(value):
        raise GatewayError.at(
            codes.INVALID_FUNCTIONAL_ADDRESS,
            f"{raw!r}: 1–200 synliga ASCII-tecken utan mellanslag", "functional_address",
        )
    return value


def normalise_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Return the scopes in KNOWN_SCOPES order without repeats; none given means the SDK ones;
    raise on unknown."""
    wanted = {canonical_scope(s.strip()) for s in scopes or () if s.strip()}
    unknown = sorted(wanted - set(KNOWN_SCOPES))
    if unknown:
        code = codes.INVALID_SCOPE
        raise GatewayError.at(
            code, f"Okänd: {', '.join(unknown)}. Tillåtna: {', '.join(KNOWN_SCOPES)}",
            issues=[Issue(code.code, code.title, s, "scope") for s in unknown],
        )
    return [s for s in KNOWN_SCOPES if s in wanted] if wanted else list(SDK_SCOPES)


def canonical_scope(scope: str) -> str:
    """Return the scope as clients are stored with it (one spelling per permission)."""
    return SCOPE_SPELLINGS.get(scope, scope)


def client_scopes(client: ApiClient) -> list[str]:
    """Return the scopes a client may ask for."""
    return client.scopes.split()


def find_organisation(
    session: Session, organisation_id: str, *, create_with_name: str | None = None, actor: str
) -> Organisation:
    """Return the organisation; create it only when a name is given; else raise GatewayError 404."""
    org_id = normalise_organisation_id(organisation_id)
    organisation = session.get(Organisation, org_id)
    if organisation is not None:
        return organisation
    name = (create_with_name or "").strip()
    if not name:
        raise GatewayError.at(
            codes.ORGANISATION_NOT_FOUND, f"{org_id} finns inte i katalogen", status=404,
        )
    organisation = Organisation(id=org_id, name=name[:200])
    session.add(organisation)
    session.flush()
    record(session, actor=actor, action="organisation.create", object_type="organisation",
           object_id=org_id, detail={"name": organisation.name})
    return organisation


def find_addresses(
    session: Session,
    organisation: Organisation,
    addresses: Sequence[str],
    *,
    create: bool,
    actor: str,
) -> list[FunctionalAddress]:
    """Return the organisation's functional addresses, creating missing ones only when `create`.

    Raises GatewayError when an address is malformed, belongs to another organisation, or is
    missing and `create` is false.
    """
    found: list[FunctionalAddress] = []
    for address in dict.fromkeys(normalise_address(a) for a in addresses):
        row = session.scalar(select(FunctionalAddress).where(FunctionalAddress.address == address))
        if row is None:
            if not create:
                raise GatewayError.at(
                    codes.ADDRESS_NOT_FOUND, f"{address} finns inte i katalogen", status=404,
                )
            problem = check_functional_address(address, organisation.id)
            if problem is not None:
                raise GatewayError.at(
                    codes.INVALID_FUNCTIONAL_ADDRESS, problem, "functional_address",
                )
            row = FunctionalAddress(address=address, organisation_id=organisation.id)
            session.add(row)
            session.flush()
            record(session, actor=actor, action="functional_address.create",
                   object_type="functional_address", object_id=address,
                   detail={"organisation": organisation.id})
        found.append(row)
    return found


def _check_addresses(organisation: Organisation, addresses: Sequence[FunctionalAddress]) -> None:
    if not addresses:
        raise GatewayError.at(
            codes.ADDRESS_REQUIRED, "En klient behöver minst en funktionsadress",
            "functional_address",
        )
    foreign = [a for a in addresses if a.organisation_id != organisation.id]
    if foreign:
        code = codes.ADDRESS_OF_OTHER_ORGANISATION
        raise GatewayError.at(
            code,
            f"En klient för {organisation.id} får bara ha den organisationens funktionsadresser: "
            + "; ".join(f"{a.address} tillhör {a.organisation_id}" for a in foreign),
            issues=[
                Issue(code.code, code.title, f"{a.address} tillhör {a.organisation_id}",
                      "functional_address")
                for a in foreign
            ],
        )


def create_client(
    session: Session,
    *,
    organisation: Organisation | str,
    functional_addresses: Sequence[FunctionalAddress | str],
    scopes: Iterable[str] | None = None,
    jwks: str | None = None,
    actor: str = "system:gateway",
) -> tuple[ApiClient, str]:
    """Create an active client in the caller's transaction; return it and its secret (shown once).

    Strings name an existing organisation or address. Raises GatewayError when the organisation
    or an address does not exist, an address belongs to another organisation, or a scope is unknown.
    """
    if isinstance(organisation, str):
        organisation = find_organisation(session, organisation, actor=actor)
    addresses = [
        a if isinstance(a, FunctionalAddress)
        else find_addresses(session, organisation, [a], create=False, actor=actor)[0]
        for a in functional_addresses
    ]
    addresses = list({id(a): a for a in addresses}.values())
    _check_addresses(organisation, addresses)
    granted = normalise_scopes(scopes)
    # Hex, not base64url: a secret starting with "-" is taken for an option by command-line
    # clients (swaks for SMTP AUTH refuses it outright). 256 bits either way.
    secret = secrets.token_hex(32)
    client = ApiClient(
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
        secret_hash=hash_secret(secret),
        organisation_id=organisation.id,
        scopes=" ".join(granted),
        jwks=normalise_jwks(jwks) if jwks is not None else None,
        active=True,
    )
    client.organisation = organisation
    client.functional_addresses = addresses
    session.add(client)
    session.flush()
    record(session, actor=actor, action="api_client.create", object_type="api_client",
           object_id=client.client_id,
           detail={"organisation": organisation.id,
                   "functional_addresses": [a.address for a in addresses], "scopes": granted,
                   "private_key_jwt": client.jwks is not None})
    return client, secret


# Members of a JWK that only a private key has (RFC 7518 6.2.2, 6.3.2, 6.4.1).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_JWKS_KEY_TYPES = frozenset({"RSA", "EC"})


def normalise_jwks(text: str) -> str:
    """Return the client's public keys (a JWKS, RFC 7517 5) as compact JSON for private_key_jwt;
    raise GatewayError INVALID_JWKS naming the fault. Private key material is refused: it must
    never reach the server."""
    def refuse(detail: str, where: str = "jwks") -> GatewayError:
        return GatewayError.at(codes.INVALID_JWKS, detail, where)

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise refuse(f"inte JSON: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise refuse('väntat {"keys": [...]} med minst en publik nyckel')
    for n, key in enumerate(keys):
        where = f"keys[{n}]"
        if not isinstance(key, dict) or key.get("kty") not in _JWKS_KEY_TYPES:
            raise refuse("varje nyckel ska vara en RSA- eller EC-nyckel (kty)", where)
        private = sorted(_PRIVATE_MEMBERS & set(key))
        if private:
            raise refuse(f"innehåller privat nyckelmaterial ({', '.join(private)}); lämna bara "
                         "den publika nyckeln", where)
    try:
        KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise refuse(f"nyckeln kan inte läsas: {exc}") from None
    return json.dumps({"keys": keys}, separators=(",", ":"), sort_keys=True)


def get_client(session: Session, client_id: str) -> ApiClient | None:
    """Return the client with this client_id, active or not, or None."""
    return session.scalar(
        select(ApiClient)
        .where(ApiClient.client_id == client_id)
        .options(selectinload(ApiClient.functional_addresses))
    )


def list_clients(session: Session) -> list[ApiClient]:
    """Return every client, oldest first, with its addresses loaded."""
    return list(
        session.scalars(
            select(ApiClient)
            .options(selectinload(ApiClient.functional_addresses))
            .order_by(ApiClient.created_at, ApiClient.id)
        )
    )


def revoke_client(session: Session, client_id: str, *, actor: str) -> tuple[ApiClient, bool]:
    """Deactivate the client and revoke its tokens; return it and whether anything changed.

    Raises GatewayError 404 when no such client exists.
    """
    client = get_client(session, client_id.strip())
    if client is None:
        raise GatewayError.at(codes.CLIENT_NOT_FOUND, f"{client_id!r} finns inte", status=404)
    if not client.active:
        return client, False
    client.active = False
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.api_client_id == client.id, ApiToken.revoked.is_(False))
        .values(revoked=True)
    )
    revoked: int = result.rowcount  # type: ignore[attr-defined]
    record(session, actor=actor, action="api_client.revoke", object_type="api_client",
           object_id=client.client_id, detail={"tokens_revoked": revoked})
    return client, True


def hash_secret(secret: str) -> str:
    """Return how a client secret is stored: its HMAC-SHA-256 under the vault's hash key."""
    return SECRET_HASH_PREFIX + get_vault().keyed_hash(secret, SECRET_PURPOSE)


# Failed client authentications (token endpoint, SMTP AUTH) are counted as login attempts under
# this name, per client id and per address, and throttled with the login limits.
ATTEMPT_PREFIX = "client:"


def client_retry_after(
    session: Session, client_id: str, address: str, config: Mapping[str, Any],
    now: dt.datetime,
) -> int | None:
    """Return in how many seconds the client id may try again from address, None if now."""
    until = throttled_until(session, ATTEMPT_PREFIX + client_id, address,
                            configured_throttle(config), now)
    return None if until is None else max(1, math.ceil((until - now).total_seconds()))


def count_client_attempt(session: Session, client_id: str, address: str, *, success: bool) -> None:
    """Count one authentication of the client id from address and commit it (it must stay
    whatever becomes of the request)."""
    record_attempt(session, ATTEMPT_PREFIX + client_id, address, success=success)
    session.commit()


def verify_secret(client: ApiClient | None, secret: str) -> bool:
    """Return whether secret is the client's; an unknown client costs as much as a known one.

    A secret still stored with argon2id (made before keyed hashes) is verified that way and
    re-hashed in the caller's transaction.
    """
    given = hash_secret(secret)
    if client is None:
        return False
    stored = client.secret_hash
    if stored.startswith(SECRET_HASH_PREFIX):
        return hmac.compare_digest(stored, given)
    try:
        ok = _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False
    if ok:
        client.secret_hash = given
    return ok


def client_holds_address(client: ApiClient, address: str) -> bool:
    """Return whether the client holds this functional address."""
    return any(a.address == address.strip() for a in client.functional_addresses)


def client_may_send_as(client: ApiClient, organisation_id: str, address: str) -> bool:
    """Return whether an active client may act for this organisation from this address."""
    try:
        org_id = normalise_organisation_id(organisation_id)
    except GatewayError:
        return False
    return (
        client.active
        and client.organisation_id == org_id
        and any(
            a.address == address.strip() and a.organisation_id == org_id
            for a in client.functional_addresses
        )
    )
