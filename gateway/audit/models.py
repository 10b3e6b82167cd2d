"""Audit models: the hash-chained, append-only log, its head, its timestamp anchors and the
marks of reads already logged in an access session."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class AuditEntry(Base):
    """One audited event; `entry_hash` covers the fields and the previous entry's hash: an
    HMAC-SHA256 under the vault's audit chain key `key_id`, or for entries made before the chain
    was keyed (key_id None) a plain SHA-256."""

    __tablename__ = "audit_entries"
    # The auditor's search (gateway.auditlog) filters by object, actor, action and time.
    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_actor", "actor"),
        Index("ix_audit_entries_action", "action"),
        Index("ix_audit_entries_at", "at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The single row holding the chain's last sequence number and hash; its lock orders appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """An RFC 3161 timestamp token over the chain head at some sequence number."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    token: Mapped[bytes | None] = mapped_column(LargeBinary)
    tsa: Mapped[str] = mapped_column(String(200), default="")


class AuditReadMark(Base):
    """A read of personal data already logged in one access session (see gateway.audit.reads).

    `digest` is the SHA-256 of the session key, the activity and the object read: the key is
    never stored, so a mark cannot be used to find or resume a session.
    """

    __tablename__ = "audit_read_marks"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
