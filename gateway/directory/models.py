"""Directory models: organisations, functional addresses, care units, REKOs and who covers what."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.db import Base
from gateway.types import Created, HsaId, Name, OrgId, enum_column


class AssignmentRole(enum.StrEnum):
    PRIMARY = "primary"
    DEPUTY = "deputy"

    @property
    def label(self) -> str:
        """The role in Swedish running text: "… som primär REKO på …"."""
        return ROLE_LABELS[self]

    @property
    def heading(self) -> str:
        """The role as a heading or choice: "Primär REKO"."""
        return self.label[:1].upper() + self.label[1:]


ROLE_LABELS: dict[AssignmentRole, str] = {
    AssignmentRole.PRIMARY: "primär REKO",
    AssignmentRole.DEPUTY: "ersättare",
}


class SenderKind(enum.StrEnum):
    SOCIALTJANST = "socialtjanst"
    ARBETSMARKNAD = "arbetsmarknad"


class Organisation(Base):
    """An SDK organisation (0203:malmo.se); endpoint and certificates if another gateway has it."""

    __tablename__ = "organisations"

    id: Mapped[OrgId] = mapped_column(primary_key=True)
    name: Mapped[Name]
    endpoint: Mapped[str | None] = mapped_column(String(500))
    signing_certificate: Mapped[str | None] = mapped_column(Text)
    encryption_certificate: Mapped[str | None] = mapped_column(Text)


class FunctionalAddress(Base):
    """An SDK functional address: messages go to functions, never to persons."""

    __tablename__ = "functional_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(200), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[OrgId] = mapped_column(ForeignKey("organisations.id"))

    organisation: Mapped[Organisation] = relationship()


class CareUnit(Base):
    """A vårdcentral, identified by HSA-id; `connected` false means known but outside the model."""

    __tablename__ = "care_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    hsa_id: Mapped[HsaId] = mapped_column(unique=True)
    name: Mapped[Name]
    organisation_id: Mapped[OrgId] = mapped_column(ForeignKey("organisations.id"))
    connected: Mapped[bool] = mapped_column(Boolean, default=True)
    functional_address_id: Mapped[int | None] = mapped_column(
        ForeignKey("functional_addresses.id")
    )
    manager_email: Mapped[str | None] = mapped_column(String(254))
    contact: Mapped[str | None] = mapped_column(String(500))

    organisation: Mapped[Organisation] = relationship()
    functional_address: Mapped[FunctionalAddress | None] = relationship()


class Coordinator(Base):
    """A rehabkoordinator (REKO); certificates identify them when they sign an answer."""

    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(primary_key=True)
    hsa_id: Mapped[HsaId] = mapped_column(unique=True)
    name: Mapped[Name]
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))

    certificates: Mapped[list[CoordinatorCertificate]] = relationship(
        back_populates="coordinator", cascade="all, delete-orphan"
    )


class CoordinatorCertificate(Base):
    """A registered signing-certificate fingerprint (SHA-256, hex) for a REKO."""

    __tablename__ = "coordinator_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)

    coordinator: Mapped[Coordinator] = relationship(back_populates="certificates")


class Assignment(Base):
    """A REKO covering a care unit, as primary or deputy, between two dates (inclusive)."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("coordinator_id", "care_unit_id", "role", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id"))
    care_unit_id: Mapped[int] = mapped_column(ForeignKey("care_units.id"))
    role: Mapped[AssignmentRole] = enum_column(AssignmentRole)
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date | None]

    coordinator: Mapped[Coordinator] = relationship()
    care_unit: Mapped[CareUnit] = relationship()

    def _in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or self.valid_to >= on)

    @classmethod
    def _in_force_sql(cls, on: dt.date) -> ColumnElement[bool]:
        return and_(cls.valid_from <= on, or_(cls.valid_to.is_(None), cls.valid_to >= on))

    # Whether the assignment is in force on a date (both ends inclusive): `a.active_on(day)` on
    # a row, `Assignment.active_on(day)` in a query. The one place this rule is written.
    active_on = hybrid_method(_in_force, _in_force_sql)


class Absence(Base):
    """A period a REKO is away; deputies cover their units."""

    __tablename__ = "absences"
    # The natural key of the directory's import and admin forms.
    __table_args__ = (UniqueConstraint("coordinator_id", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id"))
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    note: Mapped[str] = mapped_column(String(200), default="")

    coordinator: Mapped[Coordinator] = relationship()


class SenderUnit(Base):
    """A social-services unit that sends inquiries (EBB: socialtjanst, AMA: arbetsmarknad)."""

    __tablename__ = "sender_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[Name] = mapped_column(unique=True)
    organisation_id: Mapped[OrgId] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[SenderKind] = enum_column(SenderKind)
    functional_address_id: Mapped[int] = mapped_column(ForeignKey("functional_addresses.id"))

    organisation: Mapped[Organisation] = relationship()
    functional_address: Mapped[FunctionalAddress] = relationship()


class DirectoryChange(Base):
    """One change to the directory: who, when, what it was and what it became."""

    __tablename__ = "directory_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[Created]
    actor: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40))
    entity_key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DirectoryVersion(Base):
    """The directory's version: one row whose `token` a trigger on every table routing reads
    (organisations, functional addresses, care units, REKOs, sender units, assignments,
    absences) replaces with a new random value on any INSERT, UPDATE or DELETE, by whoever
    makes it (gateway.directory.cache keys its copies by it)."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))
