"""Account models: web users with roles, login attempts, API clients and their tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.db import Base
from gateway.directory.models import Coordinator, FunctionalAddress, Organisation, SenderUnit
from gateway.types import Created, HsaId, OrgId, enum_column
from gateway.vault.columns import sealed_column


class Role(enum.StrEnum):
    CASE_WORKER = "case_worker"
    COORDINATOR = "coordinator"
    DIRECTORY_ADMIN = "directory_admin"
    STATISTICIAN = "statistician"
    AUDITOR = "auditor"


# How each role is named in the Swedish UI.
ROLE_LABELS: dict[Role, str] = {
    Role.CASE_WORKER: "Handläggare",
    Role.COORDINATOR: "Rehabkoordinator (REKO)",
    Role.DIRECTORY_ADMIN: "Katalogadministratör",
    Role.STATISTICIAN: "Statistiker",
    Role.AUDITOR: "Granskare",
}


class User(Base):
    """A person who logs in to the web UI; scope follows from role and binding."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    # Sealed by the vault (gateway.auth.users.totp_secret opens it).
    totp_secret: Mapped[bytes] = sealed_column()
    # The last TOTP time step accepted: a code is good once.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[Role] = enum_column(Role)
    hsa_id: Mapped[HsaId | None]
    sender_unit_id: Mapped[int | None] = mapped_column(ForeignKey("sender_units.id"))
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of every session's id (get_id): raising it ends all of the user's sessions
    # (logout, a new password, deactivation), cookies saved before included.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The REKO's inbox choices, remembered across sessions: the care unit (HSA-id, or "alla"
    # for every unit covered; None until chosen) and the "Visa personuppgifter" switch.
    inbox_scope: Mapped[str | None] = mapped_column(String(31))
    show_personal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Staff contact (never a citizen's): what the web form pre-fills as the case worker's.
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[Created]

    sender_unit: Mapped[SenderUnit | None] = relationship()
    coordinator: Mapped[Coordinator | None] = relationship()

    # flask-login's user protocol, written out rather than taken from UserMixin, whose
    # __eq__ by id would change how SQLAlchemy's identity map compares instances.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}.{self.session_version}"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


class LoginAttempt(Base):
    """A login attempt, kept for throttling by username and by address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[Created] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)


api_client_addresses = Table(
    "api_client_addresses",
    Base.metadata,
    Column("api_client_id", ForeignKey("api_clients.id", ondelete="CASCADE"), primary_key=True),
    Column("functional_address_id", ForeignKey("functional_addresses.id"), primary_key=True),
)


class ApiClient(Base):
    """A machine client of one organisation, allowed its own functional addresses only."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[OrgId] = mapped_column(ForeignKey("organisations.id"))
    scopes: Mapped[str] = mapped_column(Text)
    # For private_key_jwt: the client's public keys (JWKS JSON).
    jwks: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[Created]

    organisation: Mapped[Organisation] = relationship()
    functional_addresses: Mapped[list[FunctionalAddress]] = relationship(
        secondary=api_client_addresses
    )


class UsedAssertion(Base):
    """A private_key_jwt assertion already used (RFC 7523 3: jti once), kept until it expires."""

    __tablename__ = "used_assertions"

    # SHA-256 of client_id and jti: the pair is what must not come again.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class ApiToken(Base):
    """An issued bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[Created]
    expires_at: Mapped[dt.datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    client: Mapped[ApiClient] = relationship()
