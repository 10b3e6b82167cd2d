"""Web users: creation with role bindings, argon2id passwords, one-time TOTP codes, throttling."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import codes
from gateway.audit.service import record
from gateway.auth.models import LoginAttempt, Role, User
from gateway.db import utcnow
from gateway.directory.identifiers import check_email, check_phone
from gateway.directory.models import Coordinator, FunctionalAddress, SenderUnit
from gateway.errors import GatewayError
from gateway.vault.service import get_vault

PASSWORD_MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing it stays cheap.
PASSWORD_MAX_LENGTH = 1024
TOTP_ISSUER = "Kryddgården Gateway"
TOTP_PERIOD = 30
# One step either side of now, for clocks that drift a little.
TOTP_VALID_WINDOW = 1
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{1,99}")
CODE_RE = re.compile(r"[0-9]{6}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Swedish words an operator might type for a role, beside the role values themselves.
ROLE_ALIASES: dict[str, Role] = {
    "handlaggare": Role.CASE_WORKER,
    "handläggare": Role.CASE_WORKER,
    "socialsekreterare": Role.CASE_WORKER,
    "reko": Role.COORDINATOR,
    "rehabkoordinator": Role.COORDINATOR,
    "koordinator": Role.COORDINATOR,
    "katalogadministrator": Role.DIRECTORY_ADMIN,
    "katalogadministratör": Role.DIRECTORY_ADMIN,
    "katalogadmin": Role.DIRECTORY_ADMIN,
    "statistiker": Role.STATISTICIAN,
    "granskare": Role.AUDITOR,
    "revisor": Role.AUDITOR,
}

_hasher = PasswordHasher()


def parse_role(value: str | Role) -> Role:
    """Return the Role for a role value or Swedish alias; raise GatewayError BAD_ROLE otherwise."""
    if isinstance(value, Role):
        return value
    key = value.strip().lower().replace("-", "_")
    try:
        return Role(key)
    except ValueError:
        pass
    if key in ROLE_ALIASES:
        return ROLE_ALIASES[key]
    choices = ", ".join(r.value for r in Role)
    raise GatewayError.at(codes.BAD_ROLE, f"{value!r}: välj en av {choices}", status=422)


def normalize_username(raw: str) -> str:
    """Return the canonical form of a username as typed (trimmed, lower case, bounded).

    Control characters become U+FFFD: PostgreSQL refuses NUL in text, and no username has one.
    """
    return CONTROL_RE.sub("\ufffd", raw.strip().lower())[:100]


def check_password_rules(password: str) -> None:
    """Raise GatewayError when a new password is too short or too long."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise GatewayError.at(
            codes.PASSWORD_TOO_SHORT, f"Ett lösenord måste ha minst {PASSWORD_MIN_LENGTH} tecken.",
            status=422,
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise GatewayError.at(
            codes.PASSWORD_TOO_LONG, f"Ett lösenord får ha högst {PASSWORD_MAX_LENGTH} tecken.",
            status=422,
        )


def hash_password(password: str) -> str:
    """Return the argon2id hash of a new password; raise GatewayError when it breaks the rules."""
    check_password_rules(password)
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-password-of-anyone")


def verify_password(user: User | None, password: str) -> bool:
    """Return whether password is user's; rehash when the hasher's parameters have changed.

    An unknown user (None) costs as much as a known one, so timing does not tell them apart.
    """
    if len(password) > PASSWORD_MAX_LENGTH:
        return False
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is None:
        return False
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return True


def end_sessions(user: User) -> None:
    """End every web session of user (their ids carry the version): logout, a new password,
    deactivation. The caller commits."""
    user.session_version = (user.session_version or 0) + 1


def set_password(session: Session, user: User, password: str, *, actor: str) -> None:
    """Give user a new password (rules checked), end their sessions and audit the change in
    session's transaction."""
    user.password_hash = hash_password(password)
    end_sessions(user)
    record(
        session, actor=actor, action="user.password", object_type="user", object_id=user.username
    )


def set_active(session: Session, user: User, active: bool, *, actor: str) -> None:
    """Allow or stop user's logins (stopping ends their sessions) and audit the change."""
    user.active = active
    if not active:
        end_sessions(user)
    action = "user.activate" if active else "user.deactivate"
    record(session, actor=actor, action=action, object_type="user", object_id=user.username)


def set_contact(session: Session, user: User, *, phone: str | None, email: str | None,
                actor: str) -> None:
    """Set the user's own phone and e-mail (staff contact; None leaves one as it is, "" clears
    it) and audit the change; raise GatewayError 422 for one that is not a phone number or an
    e-mail address."""
    changed = []
    for name, value, check in (("phone", phone, check_phone), ("email", email, check_email)):
        if value is None:
            continue
        value = value.strip()
        if value and check(value) is not None:
            raise GatewayError.at(codes.BAD_CONTACT, f"{name}", status=422)
        setattr(user, name, value or None)
        changed.append(name)
    if changed:
        record(session, actor=actor, action="user.contact", object_type="user",
               object_id=user.username, detail={"fields": changed})


# --- creation -------------------------------------------------------------------------------


def _find_sender_unit(session: Session, unit: str) -> SenderUnit:
    found = None if CONTROL_RE.search(unit) else session.scalars(
        select(SenderUnit)
        .join(FunctionalAddress, SenderUnit.functional_address_id == FunctionalAddress.id)
        .where(or_(SenderUnit.name == unit.strip(), FunctionalAddress.address == unit.strip()))
    ).first()
    if found is None:
        raise GatewayError.at(
            codes.UNKNOWN_UNIT,
            f"{unit!r}: ange namnet eller funktionsadressen för en avsändande enhet i katalogen.",
            status=422,
        )
    return found


def _find_coordinator(session: Session, hsa_id: str) -> Coordinator:
    query = select(Coordinator).where(Coordinator.hsa_id == hsa_id.strip())
    found = None if CONTROL_RE.search(hsa_id) else session.scalars(query).first()
    if found is None:
        raise GatewayError.at(
            codes.UNKNOWN_COORDINATOR,
            f"{hsa_id!r}: lägg in koordinatorn i katalogen först.", status=422,
        )
    return found


def _bind(session: Session, user: User, unit: str | None, hsa_id: str | None) -> None:
    """Bind user to what their role needs: a sender unit or a coordinator."""
    if user.role == Role.CASE_WORKER:
        if not unit or not unit.strip():
            raise GatewayError.at(codes.UNIT_REQUIRED, "Ange --unit.", status=422)
        user.sender_unit = _find_sender_unit(session, unit)
    elif unit:
        raise GatewayError.at(codes.UNIT_NOT_ALLOWED, status=422)
    if user.role == Role.COORDINATOR:
        if not hsa_id or not hsa_id.strip():
            raise GatewayError.at(codes.HSA_ID_REQUIRED, "Ange --hsa-id.", status=422)
        user.coordinator = _find_coordinator(session, hsa_id)
        user.hsa_id = user.coordinator.hsa_id
    elif hsa_id:
        if len(hsa_id.strip()) > 31 or CONTROL_RE.search(hsa_id):
            raise GatewayError.at(codes.BAD_HSA_ID, "Högst 31 tecken, inga styrtecken.", status=422)
        user.hsa_id = hsa_id.strip()


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise GatewayError.at(
            codes.BAD_USERNAME,
            f"{username!r}: 2–100 tecken: a–z, 0–9, punkt, bindestreck, understreck eller @, "
            "och första tecknet en bokstav eller siffra.",
            status=422,
        )
    return name


def create_user(
    session: Session,
    *,
    username: str,
    role: str | Role,
    password: str,
    display_name: str = "",
    unit: str | None = None,
    hsa_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    actor: str = "cli:users add",
) -> tuple[User, str]:
    """Create a user in session's transaction and return it with its new TOTP secret.

    Raises GatewayError (nothing written) for a bad username, role, password, phone or e-mail,
    unknown unit or coordinator, or a username already taken.
    """
    name = _check_username(username)
    if CONTROL_RE.search(display_name):
        raise GatewayError.at(codes.BAD_DISPLAY_NAME, status=422)
    secret = pyotp.random_base32()
    user = User(
        username=name,
        display_name=display_name.strip()[:200],
        role=parse_role(role),
        password_hash=hash_password(password),
        totp_secret=seal_totp_secret(name, secret),
        totp_last_step=0,
        active=True,
    )
    _bind(session, user, unit, hsa_id)
    try:
        # A savepoint, so a taken name leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise GatewayError.at(codes.USER_EXISTS, f"{name!r}", status=409) from None
    record(
        session, actor=actor, action="user.create", object_type="user", object_id=name,
        detail={"role": user.role.value},
    )
    set_contact(session, user, phone=phone, email=email, actor=actor)
    return user, secret


def display_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Return {username: display name} of the users among `actors` ("user:<name>", as the audit
    log and the directory's history write who acted); users without a display name are left
    out."""
    names = {actor.partition(":")[2] for actor in actors if actor.startswith("user:")}
    if not names:
        return {}
    rows = session.execute(select(User.username, User.display_name)
                           .where(User.username.in_(names)))
    return {username: display for username, display in rows if display}


def find_user(session: Session, username: str) -> User | None:
    name = normalize_username(username)
    return session.scalars(select(User).where(User.username == name)).first()


def find_user_by_hsa_id(session: Session, hsa_id: str) -> User | None:
    """Return the one user with this HSA-id (certificate login); None when there is none or
    more than one, since a certificate must name exactly one account."""
    found = session.scalars(select(User).where(User.hsa_id == hsa_id).limit(2)).all()
    return found[0] if len(found) == 1 else None


# --- TOTP -----------------------------------------------------------------------------------


def seal_totp_secret(username: str, secret: str) -> bytes:
    """Return the TOTP secret sealed by the vault, bound to the username."""
    return get_vault().seal(secret.encode(), f"users.totp_secret:{username}")


def totp_secret(user: User) -> str:
    """Return user's TOTP secret (stored sealed: a database copy alone cannot make codes)."""
    return get_vault().open(user.totp_secret, f"users.totp_secret:{user.username}").decode()


def provisioning_uri(user: User) -> str:
    """Return the otpauth:// URI an authenticator app enrols from."""
    totp = pyotp.TOTP(totp_secret(user))
    return totp.provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def current_code(user: User, now: dt.datetime | None = None) -> str:
    """Return the code user's authenticator shows now (an operator tool for the demo)."""
    return pyotp.TOTP(totp_secret(user)).at(now or utcnow())


def verify_totp(session: Session, user: User, code: str, now: dt.datetime | None = None) -> bool:
    """Return whether code is user's current code, not used before; mark it used if so.

    A code is good within one step either side of now, and only once: its time step must be
    later than the last accepted one, claimed by a conditional UPDATE so that two requests
    racing with the same code cannot both win.
    """
    code = code.strip().replace(" ", "")
    if not CODE_RE.fullmatch(code):
        return False
    totp = pyotp.TOTP(totp_secret(user))
    current = int((now or utcnow()).timestamp()) // TOTP_PERIOD
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            return _claim_step(session, user, step)
    return False


def _claim_step(session: Session, user: User, step: int) -> bool:
    result = session.execute(
        update(User)
        .where(User.id == user.id, User.totp_last_step < step)
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    claimed: bool = result.rowcount == 1  # type: ignore[attr-defined]
    if claimed:
        session.refresh(user, ["totp_last_step"])
    return claimed


# --- throttling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """Login limits within window: max_failures per account, address_max_failures per address
    (higher: many people may share one address behind a NAT or proxy)."""

    max_failures: int
    window: dt.timedelta
    address_max_failures: int | None = None

    @property
    def per_address(self) -> Throttle:
        return Throttle(self.address_max_failures or self.max_failures, self.window)


def configured_throttle(config: Mapping[str, Any]) -> Throttle:
    """Return the limits GATEWAY_LOGIN_MAX_FAILURES and GATEWAY_LOGIN_WINDOW_MINUTES set; they
    apply to web logins and to API clients' token requests alike."""
    return Throttle(
        max_failures=config["LOGIN_MAX_FAILURES"],
        window=dt.timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
        address_max_failures=config["LOGIN_ADDRESS_MAX_FAILURES"],
    )


def record_attempt(session: Session, username: str, remote_addr: str, success: bool) -> None:
    name = normalize_username(username)
    session.add(LoginAttempt(username=name, remote_addr=remote_addr[:64], success=success))


def _retry_at(failures: list[dt.datetime], limit: Throttle) -> dt.datetime | None:
    """Return when enough of failures (oldest first) leave the window, or None if under limit."""
    if len(failures) < limit.max_failures:
        return None
    return failures[len(failures) - limit.max_failures] + limit.window


def _failures(session: Session, since: dt.datetime, *conditions: object) -> list[dt.datetime]:
    rows = session.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.success.is_(False), LoginAttempt.at > since, *conditions)  # type: ignore[arg-type]
        .order_by(LoginAttempt.at)
    )
    return list(rows)


def throttled_until(
    session: Session,
    username: str,
    remote_addr: str,
    limit: Throttle,
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """Return when the next attempt for username from remote_addr may be made, if not now.

    Failures count per username since its last success, and per address regardless (a
    success on one's own account must not reset an attacker's address).
    """
    now = now or utcnow()
    since = now - limit.window
    name = normalize_username(username)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == name, LoginAttempt.success.is_(True)
        )
    )
    user_since = max(since, last_success) if last_success else since
    candidates = [
        _retry_at(_failures(session, user_since, LoginAttempt.username == name), limit),
        _retry_at(_failures(session, since, LoginAttempt.remote_addr == remote_addr[:64]),
                  limit.per_address),
    ]
    blocked = [at for at in candidates if at is not None and at > now]
    return max(blocked) if blocked else None
