"""OAuth2 client credentials at POST /oauth/token (authlib) and bearer-token checks for the APIs."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from gateway import codes
from gateway.audit.reads import set_access_session
from gateway.audit.service import record, record_denied
from gateway.auth.clients import (
    canonical_scope,
    client_holds_address,
    client_may_send_as,
    client_retry_after,
    client_scopes,
    count_client_attempt,
    get_client,
    verify_secret,
)
from gateway.auth.models import ApiClient, ApiToken, UsedAssertion
from gateway.codes import Code
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError, Issue
from gateway.http import render_error

__all__ = [
    "BearerTokenError", "client_holds_address", "client_may_send_as", "init_app", "require_token",
]

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("oauth", __name__)

# B1.4.2: client_secret_basic, and private_key_jwt (RFC 7523) for clients with registered
# public keys (`gateway clients add --jwks FILE`).
BASIC = "client_secret_basic"
PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = [BASIC, PRIVATE_KEY_JWT]
# An assertion may live at most this long (authlib's client signs for an hour): its jti is kept
# until it expires.
MAX_ASSERTION_LIFETIME = dt.timedelta(hours=1, minutes=1)

# RFC 6750 b64token; ours are 43 characters, anything far longer is not one of ours.
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]{1,512}=*) *\Z", re.IGNORECASE)
# A claimed client_id is named in the audit log only when it could be one of ours.
_PLAUSIBLE_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_MAX_CREDENTIAL = 256


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _remote_addr() -> str:
    return request.remote_addr or "unknown"


def _remote_actor() -> str:
    return f"anonymous:{_remote_addr()}"


# --- the token endpoint -------------------------------------------------------------------


class _OAuthClient(ClientMixin):
    """ApiClient as authlib sees it: a confidential client with the client credentials grant."""

    def __init__(self, model: ApiClient) -> None:
        self.model = model

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == BASIC or (method == PRIVATE_KEY_JWT and self.model.jwks is not None)

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(self.model, client_secret)

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Return the granted scope: the client's own when none asked; None when not a subset."""
        own = client_scopes(self.model)
        if not scope:
            return " ".join(own)
        # The token carries the spellings the client asked for (B1.4.2's or the OpenAPI file's).
        asked = {canonical_scope(s): s for s in scope.split()}
        if not set(asked) <= set(own):
            return None
        return " ".join(asked[s] for s in own if s in asked)


class _MalformedCredentials(Exception):
    """The Authorization header is not usable HTTP Basic."""


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Return (client_id, secret) from an HTTP Basic header, None when absent.

    Raises _MalformedCredentials for anything else: other schemes, bad base64, non-UTF-8,
    no colon, empty parts or oversized values. RFC 6749 2.3.1 form-encodes both parts.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _MalformedCredentials
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        client_id, sep, secret = text.partition(":")
        client_id = unquote(client_id, errors="strict")
        secret = unquote(secret, errors="strict")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        raise _MalformedCredentials from None
    if not sep or not client_id or not secret or max(len(client_id), len(secret)) > _MAX_CREDENTIAL:
        raise _MalformedCredentials
    return client_id, secret


def _refuse_client(oauth_request: Any, reason: str, description: str) -> InvalidClientError:
    oauth_request.denial = reason
    # 401 with a Basic challenge: RFC 6749 5.2 when the client tried the Authorization header.
    return InvalidClientError(status_code=401, description=description)


_FAILED = "Client authentication failed: wrong client_id or client_secret, or a revoked client."
# Failed token requests are counted as login attempts under this name, per client id and address.

class _Throttled(OAuth2Error):
    """Too many failed client authentications for this client id or from this address."""

    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description=f"Too many failed attempts; try again in {retry_after} s.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def _check_throttle(oauth_request: Any, client_id: str) -> None:
    """Raise _Throttled (429) while the client id or the address has too many recent failures."""
    retry_after = client_retry_after(get_session(), client_id, _remote_addr(),
                                     current_app.config, utcnow())
    if retry_after is not None:
        oauth_request.denial = "throttled"
        raise _Throttled(retry_after)


def _count_attempt(client_id: str, *, success: bool) -> None:
    count_client_attempt(get_session(), client_id, _remote_addr(), success=success)


def _authenticate_basic(_query_client: Any, oauth_request: Any) -> _OAuthClient | None:
    """authlib's client_secret_basic, strict about the header; notes any refusal for the audit.

    Raises InvalidClientError (401) for every refusal; which one is told only to the audit log.
    """
    try:
        credentials = _basic_credentials(oauth_request.headers.get("Authorization"))
    except _MalformedCredentials:
        raise _refuse_client(oauth_request, "malformed_authorization",
                             "The Authorization header is not valid HTTP Basic.") from None
    if credentials is None:
        if oauth_request.form.get("client_assertion_type") == ASSERTION_TYPE:
            return None  # private_key_jwt decides
        raise _refuse_client(oauth_request, "no_client_authentication",
                             "Authenticate with HTTP Basic (client_secret_basic) or "
                             "private_key_jwt.")
    client_id, secret = credentials
    oauth_request.claimed_client_id = client_id
    _check_throttle(oauth_request, client_id)
    model = get_client(get_session(), client_id)
    # Verify even for unknown clients, so that timing does not tell which ids exist.
    if not verify_secret(model, secret) or model is None:
        _count_attempt(client_id, success=False)
        reason = "unknown_client" if model is None else "wrong_secret"
        raise _refuse_client(oauth_request, reason, _FAILED)
    if not model.active:
        _count_attempt(client_id, success=False)
        raise _refuse_client(oauth_request, "inactive_client", _FAILED)
    _count_attempt(client_id, success=True)  # commits a legacy secret's re-hash too
    return _OAuthClient(model)


class _PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523 2.2): an assertion signed with a key of the client's JWKS,
    its audience this token endpoint, its jti used once; throttled and audited like Basic."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT
    ALGORITHMS = ["RS256", "PS256", "ES256"]

    def __call__(self, _query_client: Any, oauth_request: Any) -> _OAuthClient | None:
        if oauth_request.form.get("client_assertion_type") != ASSERTION_TYPE:
            return None
        claimed = _claimed_subject(oauth_request.form.get("client_assertion") or "")
        oauth_request.claimed_client_id = claimed
        _check_throttle(oauth_request, claimed)
        try:
            client: _OAuthClient = super().__call__(_query_jwt_client, oauth_request)
        except InvalidClientError:
            _count_attempt(claimed, success=False)
            oauth_request.denial = "bad_client_assertion"
            raise
        _count_attempt(claimed, success=True)
        return client

    def get_audiences(self) -> list[str]:
        return [url_for("oauth.token", _external=True)]

    def resolve_client_public_key(self, client: _OAuthClient) -> KeySet:
        return KeySet.import_key_set(json.loads(client.model.jwks or '{"keys": []}'))

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=self.ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion does not verify.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """Keep the (client, jti) pair until the assertion expires; False when seen before."""
        now = utcnow()
        expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
        if expires > now + MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="The client assertion lives too long (exp).")
        session = get_session()
        session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
        digest = hashlib.sha256(f"{claims['sub']}\x00{jti}".encode()).hexdigest()
        try:
            with session.begin_nested():
                session.add(UsedAssertion(digest=digest, expires_at=expires))
        except IntegrityError:
            return False
        return True


def _claimed_subject(assertion: str) -> str:
    """Return the unverified `sub` of an assertion, for throttling and the audit only."""
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeError):
        return ""
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and _PLAUSIBLE_ID.match(subject) else ""


def _query_jwt_client(client_id: str) -> _OAuthClient | None:
    """Return the client for an assertion: only an active one with registered public keys."""
    model = get_client(get_session(), client_id)
    if model is None or not model.active or model.jwks is None:
        return None
    return _OAuthClient(model)


class _ClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """Refuse scopes the client does not hold (RFC 6749 invalid_scope)."""
        if self.request.client.get_allowed_scope(self.request.payload.scope) is None:
            self.request.denial = "scope_not_allowed"
            raise InvalidScopeError("The requested scope is not granted to this client.")


class _TokenServer(AuthorizationServer):
    """authlib's server, auditing every refusal it answers with an RFC 6749 error."""

    def handle_error_response(self, oauth_request: Any, error: OAuth2Error) -> Any:
        client = getattr(oauth_request, "client", None)
        claimed = getattr(oauth_request, "claimed_client_id", None) or ""
        record_denied(
            actor=f"client:{client.get_client_id()}" if client else _remote_actor(),
            action="oauth.token",
            object_type="api_client",
            object_id=claimed if _PLAUSIBLE_ID.match(claimed) else "",
            detail={"error": error.error,
                    "reason": getattr(oauth_request, "denial", None) or error.error},
        )
        return super().handle_error_response(oauth_request, error)


def _generate_token(
    grant_type: str, client: _OAuthClient, user: Any = None, scope: str | None = None,
    expires_in: int | None = None, include_refresh_token: bool = True,
) -> dict[str, Any]:
    granted = client.get_allowed_scope(scope)
    if granted is None:
        raise InvalidScopeError("The requested scope is not granted to this client.")
    return {
        "token_type": "Bearer",
        "access_token": secrets.token_urlsafe(32),
        "expires_in": int(current_app.config["TOKEN_LIFETIME"]),
        "scope": granted,
    }


def _save_token(token: dict[str, Any], oauth_request: Any) -> None:
    """Store the token's digest, scope and expiry and audit the issue, in one transaction."""
    session = get_session()
    model: ApiClient = oauth_request.client.model
    issued = utcnow()
    session.add(ApiToken(
        token_digest=token_digest(token["access_token"]),
        api_client_id=model.id,
        scope=token["scope"],
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=token["expires_in"]),
    ))
    record(session, actor=f"client:{model.client_id}", action="oauth.token_issued",
           object_type="api_client", object_id=model.client_id,
           detail={"scope": token["scope"], "expires_in": token["expires_in"]})
    session.commit()


def _request_problem() -> OAuth2Error | None:
    """Return the RFC 6749 error for a request authlib would misread, or None."""
    if request.args:
        return InvalidRequestError("Token request parameters belong in the request body.")
    if "client_secret" in request.form:
        return InvalidRequestError(
            "Authenticate with HTTP Basic (client_secret_basic) or private_key_jwt.")
    if "client_assertion" in request.form or "client_assertion_type" in request.form:
        if request.form.get("client_assertion_type") != ASSERTION_TYPE:
            return InvalidRequestError(f"client_assertion_type must be {ASSERTION_TYPE}.")
        if request.headers.get("Authorization"):
            # RFC 6749 2.3: a client uses one authentication method per request.
            return InvalidRequestError("Use either HTTP Basic or a client assertion, not both.")
    if not request.form.get("grant_type"):
        return InvalidRequestError("Missing grant_type.")
    repeated = [k for k in ("grant_type", "scope", "client_assertion", "client_assertion_type")
                if len(request.form.getlist(k)) > 1]
    if repeated:
        return InvalidRequestError("Each parameter may be sent only once.")
    return None


def _server() -> _TokenServer:
    server: _TokenServer = current_app.extensions["gateway.oauth"]
    return server


@bp.post("/oauth/token")
def token() -> ResponseReturnValue:
    server = _server()
    try:
        # authlib refuses plain HTTP from anything but loopback (behind nginx: ProxyFix).
        oauth_request = server.create_oauth2_request(None)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    problem = _request_problem()
    if problem is not None:
        return server.handle_error_response(oauth_request, problem)
    return server.create_token_response()


@bp.route("/oauth/token", methods=["GET", "PUT", "PATCH", "DELETE"])
def token_wrong_method() -> ResponseReturnValue:
    error = InvalidRequestError("The token endpoint accepts POST only.", status_code=405)
    response: Response = _server().handle_error_response(None, error)
    response.headers["Allow"] = "POST"
    return response


# --- bearer tokens ------------------------------------------------------------------------


@dataclass
class BearerTokenError(GatewayError):
    """A refused bearer token; `challenge` is the WWW-Authenticate value (RFC 6750)."""

    challenge: str = 'Bearer realm="gateway"'
    # The client the token belonged to, when it was known (for the audit actor).
    client_id: str = ""


def _token_error(code: Code, detail: str, client_id: str = "") -> BearerTokenError:
    return BearerTokenError.at(
        code, detail, status=401, client_id=client_id,
        challenge=f'Bearer realm="gateway", error="invalid_token", error_description="{code.code}"',
    )


_TOKEN_HINT = "Hämta en ny åtkomsttoken från /oauth/token."  # noqa: S105 - a hint, no secret


# One round trip with the client and its addresses (every API request starts here), where a
# select-in load of each cost two more; built once, since building it and its cache key cost
# more than running it (issue 17).
_TOKEN_LOOKUP = (
    select(ApiToken)
    .where(ApiToken.token_digest == bindparam("digest"))
    .options(joinedload(ApiToken.client).joinedload(ApiClient.functional_addresses))
)


def authenticate_bearer(header: str | None) -> ApiToken:
    """Return the valid token named by an `Authorization: Bearer` header.

    Raises BearerTokenError (401) when the header is missing or malformed, or the token is
    unknown, expired, revoked, or its client deactivated.
    """
    if not header:
        raise BearerTokenError.at(
            codes.TOKEN_MISSING, "Skicka huvudet Authorization: Bearer <token>. " + _TOKEN_HINT,
            status=401,
        )
    match = _BEARER.match(header)
    if match is None:
        raise _token_error(
            codes.TOKEN_MALFORMED, "Huvudet Authorization ska ha formen 'Bearer <token>'.",
        )
    found = get_session().scalars(
        _TOKEN_LOOKUP, {"digest": token_digest(match.group(1))}
    ).unique().one_or_none()
    if found is None:
        raise _token_error(codes.TOKEN_INVALID, "Okänd token. " + _TOKEN_HINT)
    client_id = found.client.client_id
    if found.revoked or not found.client.active:
        raise _token_error(codes.TOKEN_REVOKED, "Token eller klienten har spärrats.", client_id)
    if found.expires_at <= utcnow():
        raise _token_error(codes.TOKEN_EXPIRED, _TOKEN_HINT, client_id)
    return found


def _check_scopes(found: ApiToken, required: tuple[str, ...]) -> frozenset[str]:
    """Return the token's scopes; raise BearerTokenError 403 naming each required one it lacks."""
    granted = frozenset(canonical_scope(s) for s in found.scope.split())
    missing = [s for s in required if s not in granted]
    wanted = " ".join(required)
    if missing:
        raise BearerTokenError.at(
            codes.INSUFFICIENT_SCOPE, f"Token saknar behörigheten {', '.join(missing)}.",
            status=403,
            issues=[Issue(codes.INSUFFICIENT_SCOPE.code, codes.INSUFFICIENT_SCOPE.title, s, "scope")
                    for s in missing],
            challenge=f'Bearer realm="gateway", error="insufficient_scope", scope="{wanted}"',
            client_id=found.client.client_id,
        )
    return granted


def require_token(*scopes: str) -> Callable[[F], F]:
    """Decorate an API view: require a valid bearer token holding every scope in `scopes`.

    Sets `g.api_client` (ApiClient) and `g.token_scopes` (frozenset). Refusals raise
    BearerTokenError (401, or 403 for a missing scope), each audited as a denied attempt.
    """
    if len(scopes) == 1 and callable(scopes[0]):
        raise TypeError("use @require_token() with parentheses")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize_bearer(*scopes)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def authorize_bearer(*scopes: str) -> None:
    """Require this request's bearer token to be valid and hold every scope in `scopes` (what
    `require_token` does, for a view that also takes another kind of caller).

    Sets `g.api_client` and `g.token_scopes`; raises BearerTokenError (401, or 403 for a missing
    scope), audited as a denied attempt.
    """
    try:
        found = authenticate_bearer(request.headers.get("Authorization"))
        granted = _check_scopes(found, scopes)
    except BearerTokenError as error:
        _audit_denied(error)
        raise
    g.api_client = found.client
    g.token_scopes = granted
    set_access_session("token", str(found.id))


def _audit_denied(error: BearerTokenError) -> None:
    record_denied(
        actor=f"client:{error.client_id}" if error.client_id else _remote_actor(),
        action="api.access",
        object_type="endpoint",
        object_id=request.endpoint or "",
        detail={"reason": error.code, "method": request.method},
    )


def _render_bearer_error(error: BearerTokenError) -> Response:
    response = render_error(error)
    response.headers["WWW-Authenticate"] = error.challenge
    return response


# --- who am I -----------------------------------------------------------------------------


@bp.get("/api/v1/whoami")
@require_token()
def whoami() -> ResponseReturnValue:
    """Tell an integrator which client its token belongs to and what it may do."""
    client: ApiClient = g.api_client
    return jsonify(
        client_id=client.client_id,
        organisation={"id": client.organisation.id, "name": client.organisation.name},
        functional_addresses=sorted(a.address for a in client.functional_addresses),
        scopes=[s for s in client_scopes(client) if s in g.token_scopes],
    )


def init_app(app: Flask) -> None:
    """Set up the token endpoint, the bearer-error rendering and /api/v1/whoami."""
    server = _TokenServer()
    server.init_app(app, query_client=lambda client_id: None, save_token=_save_token)
    server.register_grant(_ClientCredentialsGrant)
    server.register_client_auth_method(BASIC, _authenticate_basic)
    server.register_client_auth_method(PRIVATE_KEY_JWT, _PrivateKeyJWT())
    server.register_token_generator("default", _generate_token)
    app.extensions["gateway.oauth"] = server
    app.register_error_handler(BearerTokenError, _render_bearer_error)
    app.register_blueprint(bp)
