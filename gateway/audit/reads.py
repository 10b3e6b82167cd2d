"""Reads of personal data in the audit log: once per access session, object and activity, always
with a purpose (Patientdatalagen's access logging).

An access session is a web login (a random id made at login, kept in the signed session cookie)
or an API client's bearer token; the edge that authenticates names it with `set_access_session`.
The first read of an object for an activity (action and purpose) in a session appends one entry;
later reads in that session append nothing. A read outside any access session (a command, the
worker) is appended every time. An inquiry concerns exactly one person, so "once per inquiry"
is at least "once per person", and the log still names every inquiry that was read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask import g, has_app_context
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.audit.models import AuditReadMark
from gateway.audit.service import record
from gateway.db import utcnow

_ACCESS_KEY = "audit_access_session"


def set_access_session(kind: str, key: str) -> None:
    """Name this request's access session (`kind` "web" or "token", `key` its id)."""
    setattr(g, _ACCESS_KEY, f"{kind}:{key}")


def _access_session() -> str | None:
    return g.get(_ACCESS_KEY) if has_app_context() else None


def record_read(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    purpose: str,
    channel: str,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Append the read (outcome ok, with channel and purpose in its detail) unless this access
    session already logged it for the same activity; return whether an entry was appended.
    The entry and its mark commit or roll back with the caller's transaction.

    Raises ValueError without a purpose: a read of personal data always says why.
    """
    if not purpose.strip():
        raise ValueError("a read of personal data needs a purpose")
    access = _access_session()
    if access is not None and not _first_in_session(
        session, access, actor, action, purpose, object_type, object_id
    ):
        return False
    record(session, actor=actor, action=action, object_type=object_type, object_id=object_id,
           detail={"channel": channel, "purpose": purpose, **(detail or {})})
    return True


def _first_in_session(session: Session, *parts: str) -> bool:
    """Insert the mark of this read; False when it is there already (insert, then catch the
    conflict: two requests of one session at once log the read once)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    try:
        with session.begin_nested():
            session.add(AuditReadMark(digest=digest, at=utcnow()))
    except IntegrityError:
        return False
    return True


def prune_read_marks(session: Session, before: dt.datetime) -> int:
    """Delete the marks made before `before` (give a time no session begun earlier still
    lasts); return how many. The caller commits."""
    result = session.execute(delete(AuditReadMark).where(AuditReadMark.at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
