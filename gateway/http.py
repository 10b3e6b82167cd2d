"""The HTTP edge: GatewayError and HTTP errors as problem+json (APIs) or a Swedish page (web)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, abort, current_app, g, json, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from gateway import codes, logs
from gateway.bodies import LargeBodySlots
from gateway.db import close_session, database
from gateway.errors import GatewayError, Issue
from gateway.metrics import counters

log = logging.getLogger(__name__)
# One line per request, with its id, method, path, status and duration.
access_log = logging.getLogger("gateway.access")

API_PREFIXES = ("/api/", "/v1/", "/oauth/", "/healthz", "/readyz", "/ap/")

HTTP_TITLES = {
    400: "Felaktig begäran",
    401: "Inloggning krävs",
    403: "Behörighet saknas",
    404: "Finns inte",
    405: "Metoden är inte tillåten",
    409: "Konflikt",
    413: "För stort innehåll",
    415: "Fel innehållstyp",
    422: "Innehållet kunde inte godtas",
    429: "För många försök",
}

# What to do, for errors werkzeug describes only in English: (for a person, for an API client).
HTTP_DETAILS = {
    400: ("Begäran kunde inte förstås. Gå tillbaka och försök igen.",
          "Begäran kunde inte förstås."),
    401: ("Du behöver logga in för att se sidan.", "Inloggning krävs."),
    403: ("Du har inte behörighet till sidan.", "Behörighet saknas."),
    404: ("Sidan finns inte. Kontrollera adressen eller gå till startsidan.",
          "Adressen finns inte."),
    405: ("Sidan kan inte användas så. Gå tillbaka och använd knapparna på sidan.",
          "Metoden är inte tillåten för adressen."),
    409: ("Det du försökte göra krockar med en annan ändring. Ladda om sidan och försök igen.",
          "Begäran krockar med det som redan finns."),
    415: ("Innehållet har fel format.", "Fel innehållstyp."),
    429: ("För många försök. Vänta en stund och försök igen.", "För många försök."),
}

# How long a client is asked to wait while the database is out of reach: about as long as a
# restart or a failover takes.
RETRY_AFTER_SECONDS = 30
DATABASE_UNAVAILABLE = codes.DATABASE_UNAVAILABLE.code


def wants_problem_json() -> bool:
    return request.path.startswith(API_PREFIXES)


def problem_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def new_error_id() -> str:
    """Return a fresh error id: what a user quotes to support, and what the log is searched by."""
    return uuid.uuid4().hex[:12]


def log_error_id(error_id: str, error: GatewayError) -> None:
    """Log the error id with the request line (method and path: never the query string, which
    can carry personal data), so support finds the entry the user quotes."""
    log.error(
        "error id %s: %s %s -> %s %s", error_id, request.method, request.path, error.status,
        error.code,
    )


def render_error(error: GatewayError, error_id: str | None = None) -> Response:
    """Render a domain error for whoever asked: problem+json for APIs, a page for people.

    Every error id shown (on a page, or in a 500's detail) is logged with the request line."""
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
    if error.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if wants_problem_json():
        if error_id is not None:
            log_error_id(error_id, error)
        return problem_response(error.problem(request.path), error.status, headers)
    error_id = error_id or new_error_id()
    log_error_id(error_id, error)
    if error.code == DATABASE_UNAVAILABLE:
        _render_as_visitor()
    html = render_template("error.html", error=error, error_id=error_id)
    return Response(html, status=error.status, headers=headers)


def _render_as_visitor() -> None:
    # The page header shows the logged-in user, whom flask-login loads (or refreshes) from the
    # database that has just failed: show this one page as to a visitor instead.
    manager = getattr(current_app, "login_manager", None)
    if manager is not None:
        g._login_user = manager.anonymous_user()


def database_unavailable(**extra: Any) -> GatewayError:
    """Return the 503 for a database out of reach (stopped, restarting, network down)."""
    return GatewayError.at(
        codes.DATABASE_UNAVAILABLE,
        "Tjänsten når inte sin databas just nu. Försök igen om en liten stund.",
        status=503,
        extra=extra,
    )


def _handle_gateway_error(error: GatewayError) -> Response:
    return render_error(error)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    title = HTTP_TITLES.get(status, exc.name)
    detail = exc.description or title
    if detail == type(exc).description and status in HTTP_DETAILS:
        # werkzeug's own English text: ours instead (a view's own description is kept).
        for_person, for_client = HTTP_DETAILS[status]
        detail = for_client if wants_problem_json() else for_person
    if status == 413:
        detail = f"Innehållet är större än gränsen ({request.max_content_length} byte)"
    error = GatewayError(f"HTTP_{status}", title, detail, status=status)
    response = render_error(error)
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _handle_database_error(exc: OperationalError | InterfaceError) -> Response:
    # Only the class is logged: the driver's text names hosts, ports and SQL.
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__
    )
    return render_error(database_unavailable())


def _handle_unexpected(exc: Exception) -> Response:
    error_id = new_error_id()
    # The traceback goes to the server log under the error id, never to the client.
    log.exception("unexpected error %s on %s %s", error_id, request.method, request.path)
    error = GatewayError.at(
        codes.INTERNAL,
        f"Felid {error_id}. Kontakta i första hand din lokala IT-support och ange felid.",
        status=500, issues=[Issue(codes.INTERNAL.code, codes.INTERNAL.title, f"Felid {error_id}")],
    )
    return render_error(error, error_id)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _refuse_oversize_early() -> None:
    # Refuse by the declared length before any view reads (or buffers) the body.
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413)
    # Then take one of the process's slots for large bodies, or say to come back.
    taken = current_app.extensions["gateway.large_bodies"].take(request.content_length)
    if taken is False:
        counters.large_body_refused()
        raise GatewayError.at(
            codes.BUSY_WITH_LARGE_BODIES,
            "Tjänsten tar just nu emot så många stora meddelanden den kan. Försök igen om en "
            "liten stund.",
            status=503,
        )
    g.large_body_slot = bool(taken)


def _give_back_large_body_slot(_exc: BaseException | None) -> None:
    if g.pop("large_body_slot", False):
        # libpq keeps a connection's buffers at the largest size they ever had: the request's
        # session ends now (as it would just after), and the pooled connections are closed.
        close_session()
        db = database(current_app)
        if not db.joined:
            db.engine.dispose()
        current_app.extensions["gateway.large_bodies"].give_back()


def _begin_request() -> None:
    g.request_id = logs.sane_request_id(request.headers.get(logs.REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()
    g.request_log_token = logs.bind_request_id(g.request_id)


def _log_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers[logs.REQUEST_ID_HEADER] = request_id
    duration = (time.perf_counter() - g.request_started) * 1000
    # The path only: a query string could carry identifiers.
    access_log.info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={"method": request.method, "path": request.path,
               "status": response.status_code, "duration_ms": round(duration, 1)},
    )
    return response


def _end_request(_exc: BaseException | None) -> None:
    token = g.pop("request_log_token", None)
    if token is not None:
        logs.unbind(token)


def init_app(app: Flask) -> None:
    app.extensions["gateway.large_bodies"] = LargeBodySlots(app.config["LARGE_BODIES_PER_PROCESS"])
    # First of all hooks, so that every line logged for the request carries its id.
    app.before_request(_begin_request)
    app.before_request(_refuse_oversize_early)
    app.register_error_handler(GatewayError, _handle_gateway_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    # SQLAlchemy's wrappers of the driver's (psycopg's, sqlite3's) connection-level errors.
    app.register_error_handler(OperationalError, _handle_database_error)
    app.register_error_handler(InterfaceError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_security_headers)
    app.after_request(_log_request)
    app.teardown_request(_give_back_large_body_slot)
    app.teardown_request(_end_request)
