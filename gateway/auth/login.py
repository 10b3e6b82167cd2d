"""Web login plumbing: flask-login, CSRF on every web form, idle timeout, role checks."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from gateway import codes
from gateway.audit.reads import set_access_session
from gateway.audit.service import record_denied
from gateway.auth.models import Role, User
from gateway.db import get_session
from gateway.errors import GatewayError, forbidden
from gateway.http import API_PREFIXES, render_error

F = TypeVar("F", bound=Callable[..., Any])

IDLE_MESSAGE = "Du har loggats ut efter en tids inaktivitet."
MAX_AGE_MESSAGE = "Du har varit inloggad länge och har loggats ut. Logga in igen."
LOGIN_MESSAGE = "Logga in för att se sidan."
LAST_SEEN_KEY = "last_seen"
STARTED_KEY = "started"
# A random id per login: the access session in which reads are logged once (gateway.audit.reads).
SESSION_ID_KEY = "sid"

login_manager = LoginManager()
csrf = CSRFProtect()


def _load_user(session_id: str) -> User | None:
    """Return the logged-in user for flask-login from the session's "<user id>.<version>"; a
    deactivated user, or a session ended since (users.end_sessions), is logged out here."""
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _is_web_request() -> bool:
    """Whether this request is the browser UI's (not the bearer-token APIs, not static files)."""
    return not request.path.startswith((*API_PREFIXES, "/static/"))


def _csrf_protect() -> None:
    # The APIs authenticate with bearer tokens, which a browser never sends by itself, so
    # CSRF does not apply to them; everything else is protected.
    if current_app.config["WTF_CSRF_ENABLED"] and _is_web_request():
        csrf.protect(apply_exemptions=True)


def _csrf_failed(_error: CSRFError) -> ResponseReturnValue:
    return render_error(
        GatewayError.at(
            codes.CSRF,
            "Sidan saknade en giltig säkerhetskod, kanske för att den varit öppen länge. "
            "Ladda om sidan och försök igen.",
            status=400,
        )
    )


def _enforce_idle_timeout() -> None:
    """Log out a user idle longer than SESSION_IDLE_MINUTES or logged in longer than
    SESSION_MAX_HOURS; otherwise note that they were here."""
    if not _is_web_request() or not current_user.is_authenticated:
        return
    now = time.time()
    last_seen = session.get(LAST_SEEN_KEY)
    started = session.get(STARTED_KEY)
    idle_limit = current_app.config["SESSION_IDLE_MINUTES"] * 60
    max_age = current_app.config["SESSION_MAX_HOURS"] * 3600
    if not isinstance(started, int | float) or now - started > max_age:
        _end_session(MAX_AGE_MESSAGE)
    elif not isinstance(last_seen, int | float) or now - last_seen > idle_limit:
        _end_session(IDLE_MESSAGE)
    else:
        session[LAST_SEEN_KEY] = now
        login_id = session.get(SESSION_ID_KEY)
        if isinstance(login_id, str):
            set_access_session("web", login_id)


def _end_session(message: str) -> None:
    logout_user()
    session.clear()
    flash(message, "info")


def start_session() -> None:
    """Mark the just-logged-in session permanent, started and active now, with a new id."""
    session.permanent = True
    session[STARTED_KEY] = session[LAST_SEEN_KEY] = time.time()
    session[SESSION_ID_KEY] = secrets.token_urlsafe(16)


def safe_next(target: str | None) -> str | None:
    """Return target if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def login_redirect() -> ResponseReturnValue:
    """Send a visitor who is not logged in to the login page, keeping where they were going."""
    target = request.full_path if request.query_string else request.path
    flash(LOGIN_MESSAGE, "info")
    next_url = safe_next(target) if request.method == "GET" else None
    return redirect(url_for("auth.login", next=next_url))


def role_required(*roles: Role) -> Callable[[F], F]:
    """Allow the view to users with one of roles: others get the login page or a 403 (audited)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_redirect()
            if roles and current_user.role not in roles:
                _deny(current_user)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _deny(user: User) -> None:
    actor, role = f"user:{user.username}", user.role.value
    record_denied(
        actor=actor, action="web.access", object_type="page",
        object_id=request.endpoint or request.path, detail={"role": role},
    )
    raise forbidden("Din roll har inte tillgång till den här sidan.")


def init_app(app: Flask) -> None:
    """Set up flask-login, CSRF protection, the idle timeout and the login blueprint."""
    from gateway.auth.certlogin import check_config

    check_config(app)
    # The cookie lives no longer than a session may (SESSION_MAX_HOURS); the server checks too.
    app.config.setdefault(
        "PERMANENT_SESSION_LIFETIME", dt.timedelta(hours=app.config["SESSION_MAX_HOURS"])
    )
    # Checked by _csrf_protect below, which skips the bearer-token APIs.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # Strict mode demands a same-origin Referer over HTTPS, but our Referrer-Policy is
    # no-referrer, so browsers send none; the token and SameSite cookie do the work.
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_failed)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = LOGIN_MESSAGE
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_user)
    # flask-login's own login_required then redirects as role_required does (path-only next).
    login_manager.unauthorized_handler(login_redirect)

    app.before_request(_csrf_protect)
    app.before_request(_enforce_idle_timeout)

    from gateway.auth.views import bp

    app.register_blueprint(bp)
