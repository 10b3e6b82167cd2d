"""The login blueprint: password step, TOTP step, logout and the start page per role."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from forms.dates import stockholm_today
from gateway.audit.service import record, record_denied
from gateway.auth import certlogin, users
from gateway.auth.login import role_required, safe_next, start_session
from gateway.auth.models import Role, User
from gateway.db import get_session, utcnow
from gateway.directory.identifiers import check_email, check_phone
from gateway.directory.models import CareUnit
from gateway.directory.service import covered_units
from gateway.inquiries import counts

bp = Blueprint("auth", __name__)

PENDING_KEY = "login_pending"
# How long the second step may wait after a correct password.
PENDING_SECONDS = 300
BAD_CREDENTIALS = "Fel användarnamn eller lösenord."
BAD_CODE = (
    "Engångskoden stämmer inte, har gått ut eller har redan använts. "
    "Vänta på nästa kod i appen och försök igen."
)
INACTIVE = "Kontot är avstängt. Kontakta din administratör."
CERTIFICATE_REFUSALS = {
    "untrusted_proxy": "Inloggningen med certifikat kom inte via tjänstens egen server.",
    "no_certificate": (
        "Inget giltigt certifikat visades upp. Kontrollera att SITHS-kortet sitter i läsaren "
        "och välj certifikatet när webbläsaren frågar."
    ),
    "bad_hsa_id": "Certifikatet saknar ett giltigt HSA-id.",
    "unknown_hsa_id": (
        "Inget konto hör till certifikatets HSA-id. Kontakta din administratör."
    ),
    "inactive": INACTIVE,
}


def _remote_addr() -> str:
    return request.remote_addr or "unknown"


def _limit() -> users.Throttle:
    return users.configured_throttle(current_app.config)


def _form_value(name: str, limit: int) -> str:
    """Return a form field, bounded: nothing a person types needs more than limit characters."""
    return request.form.get(name, "")[: limit + 1]


def _page(template: str, status: int = 200, **context: object) -> Response:
    return Response(render_template(template, **context), status=status)


def _login_page(context: dict[str, object], error: str) -> Response:
    return _page("auth/login.html", 200, error=error, **context)


def _throttled_page(template: str, until: dt.datetime, **context: object) -> Response:
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    unit = "minut" if minutes == 1 else "minuter"
    message = f"För många misslyckade inloggningsförsök. Försök igen om {minutes} {unit}."
    response = _page(template, status=429, error=message, **context)
    response.headers["Retry-After"] = str(minutes * 60)
    return response


def _refuse(username: str, actor: str, step: str, reason: str) -> None:
    """Count a failed attempt and audit it, both kept whatever happens to the request after."""
    db = get_session()
    users.record_attempt(db, username, _remote_addr(), success=False)
    # Commit before record_denied: it writes on its own connection (see login._deny).
    db.commit()
    record_denied(
        actor=actor, action="login", object_type="user",
        detail={"step": step, "reason": reason, "remote_addr": _remote_addr()},
    )


def _check_throttle(username: str, actor: str, step: str) -> dt.datetime | None:
    until = users.throttled_until(get_session(), username, _remote_addr(), _limit())
    if until is not None:
        get_session().commit()
        record_denied(
            actor=actor, action="login", object_type="user",
            detail={"step": step, "reason": "throttled", "remote_addr": _remote_addr()},
        )
    return until


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("auth.home"))
    if request.method == "GET":
        return _page("auth/login.html", next=next_url, username="")
    username = users.normalize_username(_form_value("username", 100))
    password = _form_value("password", users.PASSWORD_MAX_LENGTH)
    context: dict[str, object] = {"next": next_url, "username": username}
    anonymous = f"anonymous:{_remote_addr()}"
    until = _check_throttle(username, anonymous, "password")
    if until is not None:
        return _throttled_page("auth/login.html", until, **context)
    user = users.find_user(get_session(), username) if username else None
    if not users.verify_password(user, password) or user is None:
        actor = f"user:{user.username}" if user is not None else anonymous
        _refuse(username, actor, "password", "bad_password" if user else "unknown_user")
        return _login_page(context, BAD_CREDENTIALS)
    if not user.active:
        _refuse(username, f"user:{user.username}", "password", "inactive")
        return _login_page(context, INACTIVE)
    # A rehash by verify_password is worth keeping even though the login is not finished.
    get_session().commit()
    session[PENDING_KEY] = {"uid": user.id, "at": time.time(), "next": next_url}
    return redirect(url_for("auth.otp"))


def _pending_user() -> User | None:
    """Return the user who passed the password step recently in this session, if any."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("uid"), int):
        return None
    started = pending.get("at")
    if not isinstance(started, int | float) or time.time() - started > PENDING_SECONDS:
        return None
    user = get_session().get(User, pending["uid"])
    return user if user is not None and user.active else None


@bp.route("/login/otp", methods=["GET", "POST"])
def otp() -> ResponseReturnValue:
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash("Börja med användarnamn och lösenord.", "info")
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return _page("auth/otp.html")
    actor = f"user:{user.username}"
    until = _check_throttle(user.username, actor, "totp")
    if until is not None:
        return _throttled_page("auth/otp.html", until)
    if not users.verify_totp(get_session(), user, _form_value("code", 20)):
        _refuse(user.username, actor, "totp", "bad_code")
        return _page("auth/otp.html", error=BAD_CODE)
    return _finish_login(user)


@bp.post("/login/certifikat")
def certificate_login() -> ResponseReturnValue:
    """Log in with the client certificate nginx verified (SITHS): no password, no TOTP, since
    the card and its PIN are the two factors."""
    if not certlogin.enabled():
        abort(404)
    next_url = safe_next(request.form.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("auth.home"))
    claim = certlogin.claim_from(request)
    user = users.find_user_by_hsa_id(get_session(), claim.hsa_id) if claim.hsa_id else None
    reason = claim.reason or ("unknown_hsa_id" if user is None else "")
    if user is not None and not user.active:
        reason = "inactive"
    if reason or user is None:
        actor = f"user:{user.username}" if user is not None else f"anonymous:{_remote_addr()}"
        record_denied(
            actor=actor, action="login", object_type="user",
            detail={"step": "certificate", "reason": reason, "remote_addr": _remote_addr()},
        )
        message = CERTIFICATE_REFUSALS[reason or "unknown_hsa_id"]
        return _page("auth/login.html", 403, error=message, next=next_url, username="")
    return _finish_login(user, next_url, method="certificate")


def _finish_login(
    user: User, next_url: str | None = None, method: str = "password"
) -> ResponseReturnValue:
    db = get_session()
    next_url = next_url or safe_next(session.get(PENDING_KEY, {}).get("next"))
    users.record_attempt(db, user.username, _remote_addr(), success=True)
    record(
        db, actor=f"user:{user.username}", action="login", object_type="user",
        detail={"remote_addr": _remote_addr(), "method": method},
    )
    db.commit()
    # A fresh session: nothing set before login (a planted cookie, the old CSRF token) survives.
    session.clear()
    login_user(user)
    start_session()
    return redirect(next_url or url_for("auth.home"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        db = get_session()
        # Every session of the user ends, including copies of this cookie kept elsewhere.
        users.end_sessions(current_user)
        record(db, actor=f"user:{current_user.username}", action="logout", object_type="user")
        db.commit()
    logout_user()
    session.clear()
    flash("Du är utloggad.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/konto/kontakt", methods=["GET", "POST"])
@role_required()
def contact() -> ResponseReturnValue:
    """The user's own work phone and e-mail (the web form pre-fills them)."""
    user: User = current_user._get_current_object()
    if request.method == "GET":
        return _page("auth/contact.html", values={"phone": user.phone or "",
                                                  "email": user.email or ""}, errors={})
    values = {name: request.form.get(name, "").strip() for name in ("phone", "email")}
    errors = {name: message for name, value, check, message in (
        ("phone", values["phone"], check_phone, "Skriv ett telefonnummer, t.ex. 040-34 10 00."),
        ("email", values["email"], check_email, "Skriv en e-postadress, t.ex. namn@malmo.se."),
    ) if value and check(value) is not None}
    if errors:
        return _page("auth/contact.html", 422, values=values, errors=errors)
    db = get_session()
    users.set_contact(db, user, phone=values["phone"], email=values["email"],
                      actor=f"user:{user.username}")
    db.commit()
    flash("Dina kontaktuppgifter är sparade.", "info")
    return redirect(url_for("auth.home"))


@dataclass(frozen=True)
class Section:
    """One entry on the start page: a heading, what it is for, and where it lives when built."""

    title: str
    text: str
    endpoint: str


SECTIONS: dict[Role, list[Section]] = {
    Role.CASE_WORKER: [
        Section("Mina ärenden", "Dina hälsoförfrågningar och SIP-kallelser, vems tur det är "
                "och svaren.", "inquiries.mine"),
        Section("Ny hälsoförfrågan", "Fråga vårdcentralen om personens hälsa, med personens "
                "samtycke.", "inquiries.compose"),
        Section("Ny SIP-kallelse", "Kalla vårdcentralens REKO till ett SIP-möte (samordnad "
                "individuell plan).", "inquiries.sip_compose"),
        Section("Sök person", "Er enhets förfrågningar om en person; registrera ett "
                "återkallat samtycke.", "persons.search_form"),
    ],
    Role.COORDINATOR: [
        Section("Inkorg", "Hälsoförfrågningar till dina vårdcentraler som väntar på svar.",
                "reko.inbox"),
    ],
    Role.DIRECTORY_ADMIN: [
        Section("Katalog", "Vårdcentraler, rehabkoordinatorer och funktionsadresser.",
                "directory.index"),
    ],
    Role.STATISTICIAN: [
        Section("Statistik", "Svarstider per år, vårdcentral och enhet, utan personuppgifter.",
                "stats.index"),
    ],
    Role.AUDITOR: [
        Section("Granskningslogg", "Vem gjorde vad och när, utan innehåll.", "audit.index"),
    ],
}


def _care_units(user: User) -> list[CareUnit]:
    """Return the care units user's coordinator covers today."""
    # Assignments run by Swedish calendar dates, whatever the server's zone.
    return covered_units(get_session(), user.coordinator_id, stockholm_today())


def _waiting(user: User, units: list[CareUnit]) -> list[str]:
    """Return what waits for the user, in words: a case worker's new answers, waiting and
    overdue inquiries of their unit; a REKO's waiting and overdue inquiries of their units."""
    today = stockholm_today()
    if user.role is Role.CASE_WORKER:
        return counts.for_sender_unit(get_session(), user.sender_unit_id, today).phrases(
            sender=True)
    if user.role is Role.COORDINATOR:
        return counts.for_care_units(get_session(), [u.id for u in units], today).phrases(
            sender=False)
    return []


@bp.get("/")
@role_required()
def home() -> ResponseReturnValue:
    user: User = current_user._get_current_object()
    sections = [
        (section, section.endpoint in current_app.view_functions)
        for section in SECTIONS.get(user.role, [])
    ]
    units = _care_units(user)
    return _page(
        "home.html", user=user, sections=sections, care_units=[u.name for u in units],
        waiting=_waiting(user, units),
    )
