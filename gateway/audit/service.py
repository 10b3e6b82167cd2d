"""The audit log service: append hash-chained entries, record denials, verify the chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

from flask import Flask, g, has_app_context
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from gateway.audit.models import AuditAnchor, AuditEntry, AuditHead
from gateway.db import Database, database, utcnow
from gateway.vault.keys import ChainKeys, Kek
from gateway.vault.rotation import add_chain_key, ensure_chain_keys
from gateway.vault.service import Vault, get_vault

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1
VERIFY_BATCH = 1000
# Where a session finds the vault that holds the chain keys (see init_app).
_VAULT_KEY = "gateway.audit.vault"

ENTRIES = cast(Table, AuditEntry.__table__)
HEAD = cast(Table, AuditHead.__table__)

# Column widths of audit_entries: longer values are cut (and marked) rather than refused,
# because a denial whose actor carries a hostile username must still be recorded.
_LIMITS = {"actor": 200, "action": 60, "object_type": 40, "object_id": 200, "outcome": 20}


# --- canonical form and hashing -------------------------------------------------------------


def canonical_time(at: dt.datetime) -> str:
    """Return `at` as UTC ISO 8601 with microseconds, the form the hash covers."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_digest(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str,
    detail: dict[str, Any],
    prev_hash: str,
    key_id: str | None = None,
    key: bytes | None = None,
) -> str:
    """Return the entry's hash (hex) over its canonical JSON, which includes prev_hash: the
    HMAC-SHA256 under the chain key `key` (whose id the JSON includes too), or for a legacy
    entry made before the chain was keyed (key_id None) the plain SHA-256.

    Raises ValueError for a key_id without its key.
    """
    payload = {
        "seq": seq,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    if key_id is not None:
        payload["key_id"] = key_id
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    if key_id is None:
        return hashlib.sha256(text).hexdigest()
    if key is None:
        raise ValueError("a keyed audit entry needs its chain key")
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def _clean(value: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text; SQLite would store it. Same result on both.
    value = str(value).replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _normalise_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Return detail as plain JSON values, exactly as it will read back from the database."""
    if detail is None:
        return {}
    if not isinstance(detail, dict):
        raise TypeError("audit detail must be a dict")
    # Round-trip so the stored value and the hashed value are the same (tuples, dates, ids).
    normalised: dict[str, Any] = json.loads(
        json.dumps(detail, default=str, ensure_ascii=False, allow_nan=False)
    )
    return normalised


@dataclass(frozen=True)
class _Event:
    """The fields of one entry before it has a place in the chain."""

    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    detail: dict[str, Any]

    @classmethod
    def build(cls, **fields: Any) -> _Event:
        detail = _normalise_detail(fields.pop("detail"))
        clean = {name: _clean(value, _LIMITS[name]) for name, value in fields.items()}
        return cls(detail=detail, **clean)


# --- appending --------------------------------------------------------------------------------


def _create_head(session: Session) -> None:
    """Insert the head row; a concurrent creator wins and we use its row."""
    try:
        with session.begin_nested():
            session.execute(insert(HEAD).values(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH))
    except IntegrityError:
        pass


_BUMP_HEAD = (update(HEAD).where(HEAD.c.id == HEAD_ID).values(seq=HEAD.c.seq + 1)
              .returning(HEAD.c.seq, HEAD.c.entry_hash))


def _advance_head(session: Session) -> tuple[int, str]:
    """Take the chain's lock by bumping the head; return (new seq, previous entry hash)."""
    # One statement takes the lock and reads the head: on PostgreSQL the UPDATE takes the head
    # row's lock, so appenders queue here, and its RETURNING gives the head as the previous
    # appender committed it (the row is re-read once its lock is free); the hash is not yet
    # changed by this UPDATE, so it is the previous entry's.
    row = session.execute(_BUMP_HEAD).first()
    if row is None:
        _create_head(session)
        row = session.execute(_BUMP_HEAD).first()
        if row is None:
            raise RuntimeError("audit head row could not be created")
    return int(row.seq), str(row.entry_hash)


class Head(NamedTuple):
    """The chain head: the last entry's seq and hash (0 and 64 zeros before the first)."""

    seq: int
    entry_hash: str


def read_head(session: Session) -> Head | None:
    """Return the head row, or None before the first entry was ever made."""
    row = session.execute(
        select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == HEAD_ID)
    ).first()
    return None if row is None else Head(int(row.seq), str(row.entry_hash))


def _vault(session: Session) -> Vault:
    """Return the vault holding the chain keys: the session's app's (see init_app)."""
    vault = session.info.get(_VAULT_KEY)
    return vault if isinstance(vault, Vault) else get_vault()


def _chain_key(session: Session, seq: int) -> Kek:
    """Return the chain key for the entry `seq`. A key file made before the chain was keyed gets
    its first chain key now, under the head's lock, recording seq - 1 as the last unkeyed entry."""
    return ensure_chain_keys(_vault(session), legacy_until=seq - 1).active_key()


def rotate_chain_key(session: Session, *, actor: str) -> str:
    """Make a new chain key active in the vault's key file (old ones stay, for the entries made
    under them), audit it in the caller's transaction and return its id. Needs an app context."""
    head = read_head(session)
    # Only a key file made before the chain was keyed uses this: every entry so far is legacy.
    key_id = add_chain_key(_vault(session), legacy_until=head.seq if head else 0)
    record(session, actor=actor, action="audit.key_added", object_type="audit_chain_key",
           object_id=key_id)
    return key_id


# Built once: every audited act appends, and building the statements with their values cost
# more than running them (issue 17); the values are bound per entry.
# (The parameters are prefixed: a bind named as a column is reserved for that column's value.)
_ADD_ENTRY = insert(ENTRIES).values({column.key: bindparam(f"v_{column.key}")
                                     for column in ENTRIES.columns})
_SET_HEAD = update(HEAD).where(HEAD.c.id == HEAD_ID).values(entry_hash=bindparam("v_entry_hash"))
# On PostgreSQL one round trip: the INSERT rides along as a data-modifying CTE of the UPDATE.
_SET_HEAD_WITH_ENTRY = _SET_HEAD.add_cte(_ADD_ENTRY.cte("audit_entry"))


def _append(session: Session, event: _Event) -> AuditEntry:
    # The caller's pending rows are written before the chain's lock is taken, not under it.
    session.flush()
    seq, prev_hash = _advance_head(session)
    # On PostgreSQL this transaction now holds the head row's lock until it ends.
    session.info[_HOLDS_HEAD_KEY] = True
    key = _chain_key(session, seq)
    # The time is taken under the lock, so times never run backwards along the chain.
    fields: dict[str, Any] = dict(
        seq=seq, at=utcnow(), actor=event.actor, action=event.action,
        object_type=event.object_type, object_id=event.object_id, outcome=event.outcome,
        detail=event.detail, prev_hash=prev_hash, key_id=key.id,
    )
    entry_hash = entry_digest(**fields, key=key.key)
    values = {f"v_{name}": value for name, value in fields.items()}
    values["v_entry_hash"] = entry_hash
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_SET_HEAD_WITH_ENTRY, values)
    else:
        session.execute(_ADD_ENTRY, values)
        session.execute(_SET_HEAD, values)
    # The entry as written (Core, not the unit of work: no flush of the caller's objects).
    return AuditEntry(entry_hash=entry_hash, **fields)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction and return it; it commits or rolls back with it.

    `detail` must hold no personal data (no names, no personnummer): ids and codes only.
    Raises TypeError when detail is not a JSON-able dict.
    """
    event = _Event.build(
        actor=actor, action=action, object_type=object_type, object_id=object_id,
        outcome=outcome, detail=detail,
    )
    return _append(session, event)


# --- denied attempts: their own transaction ---------------------------------------------------

_PENDING_KEY = "gateway.audit.pending_denied"
_HOLDS_HEAD_KEY = "gateway.audit.holds_head"
_holders = threading.local()


def _held_sessions() -> weakref.WeakSet[Session]:
    """Return this thread's sessions with an open transaction (weakly: dropped ones vanish)."""
    sessions: weakref.WeakSet[Session] | None = getattr(_holders, "sessions", None)
    if sessions is None:
        sessions = _holders.sessions = weakref.WeakSet()
    return sessions


def _on_begin(session: Session, _transaction: SessionTransaction, _connection: Any) -> None:
    _held_sessions().add(session)


def _on_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    _held_sessions().discard(session)
    session.info.pop(_HOLDS_HEAD_KEY, None)
    pending: list[tuple[Database, _Event]] = session.info.pop(_PENDING_KEY, [])
    for db, event in pending:
        try:
            _append_denied(db, event)
        except SQLAlchemyError:
            # The caller's work is already done; say what was lost, without personal data.
            log.exception("audit: could not record a denied %s", event.action)


def _blocking_session(db: Database) -> Session | None:
    """Return this thread's session that a second connection to db would wait on, if any.

    SQLite: any open transaction holds the write lock (transactions begin IMMEDIATE).
    PostgreSQL: a transaction that appended to the chain holds the head row's lock.
    Tests bind every session to one connection, where nothing waits: None.
    """
    bind = db.sessionmaker.kw.get("bind")
    if isinstance(bind, Connection):
        return None
    for session in list(_held_sessions()):
        if session.bind is not bind or not session.in_transaction():
            continue
        if db.dialect == "sqlite" or session.info.get(_HOLDS_HEAD_KEY):
            return session
    return None


def _append_denied(db: Database, event: _Event) -> None:
    with db.transaction() as session:
        _append(session, event)


def record_denied(
    *,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append a denied attempt (outcome "denied") in its own transaction, committed at once.

    It survives the caller's rollback. One exception to "at once": when this thread's own
    session holds what the new transaction would wait for (SQLite's write lock, or on
    PostgreSQL the chain head after a record() in it), waiting would never end; the entry is
    then written, in a transaction of its own, the moment that session's transaction ends
    (commit or rollback). Needs an app context.
    """
    event = _Event.build(
        actor=actor, action=action, object_type=object_type, object_id=object_id,
        outcome="denied", detail=detail,
    )
    _end_request_transaction()
    db = database()
    holder = _blocking_session(db)
    if holder is None:
        _append_denied(db, event)
    else:
        holder.info.setdefault(_PENDING_KEY, []).append((db, event))


def _end_request_transaction() -> None:
    # A denied request keeps none of its work. Ending its transaction first also means the
    # denial neither waits on that transaction's locks nor is nested in (and lost with) it.
    session = g.get("db_session") if has_app_context() else None
    if session is not None and session.in_transaction():
        session.rollback()


def track_sessions() -> None:
    """Follow which sessions hold a transaction on each thread (see record_denied); idempotent."""
    if not sa_event.contains(Session, "after_begin", _on_begin):
        sa_event.listen(Session, "after_begin", _on_begin)
        sa_event.listen(Session, "after_transaction_end", _on_transaction_end)


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """The verdict on the chain: entries checked, and the first broken entry and why; `ok` is
    derived from them."""

    checked: int
    first_broken: int | None = None
    reason: str = ""
    broken_at: dt.datetime | None = None
    broken_action: str | None = None
    # Of the entries checked, those made before the chain was keyed (plain SHA-256).
    legacy: int = 0

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def describe(self) -> str:
        """Return one line for people: the count, or the broken entry and why."""
        if self.ok:
            legacy = (
                f" ({self.legacy} from before the chain was keyed, plain SHA-256)"
                if self.legacy else ""
            )
            return f"audit chain ok: {self.checked} entries{legacy}"
        where = f"entry seq {self.first_broken}"
        facts = [canonical_time(self.broken_at) if self.broken_at else "", self.broken_action or ""]
        known = ", ".join(fact for fact in facts if fact)
        if known:
            where += f" ({known})"
        return f"audit chain broken at {where}: {self.reason}"


@dataclass
class _Walk:
    """The state carried along the chain while verifying."""

    chain: ChainKeys | None
    expected_seq: int = 1
    prev_hash: str = GENESIS_HASH
    checked: int = 0
    legacy: int = 0
    broken: ChainReport | None = field(default=None)

    def report(
        self,
        first_broken: int | None = None,
        reason: str = "",
        at: dt.datetime | None = None,
        action: str | None = None,
    ) -> ChainReport:
        """Return the verdict so far: intact, or broken at first_broken for reason."""
        return ChainReport(self.checked, first_broken, reason, at, action, legacy=self.legacy)


class _Unverifiable(Exception):
    """An entry whose hash cannot be checked: why, for the report."""


def _chain_key_of(chain: ChainKeys | None, row: Row[Any]) -> bytes | None:
    """Return the key row's hash must be made with (None: plain SHA-256, a legacy entry)."""
    if row.key_id is None:
        if chain is not None and row.seq > chain.legacy_until:
            raise _Unverifiable(
                "it is not keyed (plain SHA-256), but the chain is keyed after seq "
                f"{chain.legacy_until}: it was rewritten without the chain key"
            )
        return None
    key = None if chain is None else chain.keys.get(row.key_id)
    if key is None:
        raise _Unverifiable(
            f"its chain key {row.key_id!r} is not in the vault's key file, so it cannot be "
            "checked; restore a key file that holds that key"
        )
    return key.key


def _batches(session: Session, size: int) -> Iterator[Sequence[Row[Any]]]:
    # No lower bound at first: a forged entry at seq 0 or below must be seen too.
    query = select(ENTRIES).order_by(ENTRIES.c.seq).limit(size)
    rows = session.execute(query).all()
    while rows:
        yield rows
        rows = session.execute(query.where(ENTRIES.c.seq > rows[-1].seq)).all()


def _check_row(walk: _Walk, row: Row[Any]) -> ChainReport | None:
    """Check one entry against its predecessor; return the break, if any."""

    def broken(seq: int, reason: str) -> ChainReport:
        return walk.report(seq, reason, row.at, row.action)

    if row.seq < walk.expected_seq:
        return broken(row.seq, f"it is out of place: seq {row.seq} comes before the chain's start")
    if row.seq != walk.expected_seq:
        missing = walk.expected_seq
        return walk.report(
            missing, f"entry {missing} is missing (the next entry found is seq {row.seq})"
        )
    if row.prev_hash != walk.prev_hash:
        return broken(row.seq, "its prev_hash does not match the previous entry's hash "
                               "(an entry was removed, inserted or altered before it)")
    try:
        key = _chain_key_of(walk.chain, row)
    except _Unverifiable as exc:
        return broken(row.seq, str(exc))
    try:
        digest = entry_digest(
            seq=row.seq, at=row.at, actor=row.actor, action=row.action,
            object_type=row.object_type, object_id=row.object_id, outcome=row.outcome,
            detail=row.detail, prev_hash=row.prev_hash, key_id=row.key_id, key=key,
        )
    except (TypeError, ValueError, AttributeError):
        return broken(row.seq, "its fields cannot be read as an audit entry (altered)")
    if digest != row.entry_hash:
        return broken(row.seq, "its content does not match its entry_hash (altered)")
    return None


def _check_head(session: Session, walk: _Walk) -> ChainReport | None:
    head = read_head(session)
    last = walk.expected_seq - 1
    if head is None:
        if last == 0:
            return None
        return walk.report(last, "the chain head row is missing")
    if head.seq > last:
        return walk.report(
            last + 1,
            f"entries {last + 1}..{head.seq} are missing at the end (the head is at {head.seq})",
        )
    if head.seq < last:
        return walk.report(
            head.seq + 1, f"entries after the head (seq {head.seq}) were added outside the log"
        )
    if head.entry_hash != walk.prev_hash:
        return walk.report(last, "the last entry's hash differs from the chain head's")
    return None


def verify(session: Session, *, batch_size: int = VERIFY_BATCH) -> ChainReport:
    """Walk the whole chain in seq order, in batches; return the verdict (never raises on damage).

    Detects an altered entry (any column), a removed one (first, middle or last, the last by
    comparing with the head row) and an inserted one. Entries are checked with the chain keys
    from the vault's key file (outside the database): one rewritten with plain SHA-256 or a
    wrong key, or whose key is not in the file, breaks the chain there. Needs an app context.
    """
    walk = _Walk(_vault(session).keys(reload=True).chain)
    batches = _batches(session, batch_size)
    while True:
        try:
            rows = next(batches, None)
        except (ValueError, TypeError) as exc:
            # A column altered into something its type cannot read (a bad time, bad JSON).
            seq = walk.expected_seq
            reason = f"an entry at or after seq {seq} cannot be read ({type(exc).__name__})"
            return walk.report(seq, reason)
        if rows is None:
            break
        for row in rows:
            found = _check_row(walk, row)
            if found is not None:
                return found
            walk.expected_seq = row.seq + 1
            walk.prev_hash = row.entry_hash
            walk.checked += 1
            walk.legacy += row.key_id is None
    return _check_head(session, walk) or walk.report()


# --- anchoring (the RFC 3161 timestamper arrives in a later issue) ---------------------------


class Timestamper(Protocol):
    """Something that timestamps a SHA-256 digest: an RFC 3161 TSA client."""

    name: str

    def timestamp(self, digest: bytes) -> bytes:
        """Return a timestamp token over digest."""
        ...


def latest_anchor(session: Session) -> AuditAnchor | None:
    """Return the anchor of the highest seq (the newest), or None before the first."""
    return session.scalars(
        select(AuditAnchor).order_by(AuditAnchor.seq.desc(), AuditAnchor.id.desc()).limit(1)
    ).first()


def anchor(session: Session, timestamper: Timestamper) -> AuditAnchor | None:
    """Timestamp the current chain head and store the token; None while the chain is empty or
    when its head is anchored already (nothing was appended since the last anchor)."""
    head = read_head(session)
    if head is None or head.seq == 0:
        return None
    last = latest_anchor(session)
    if last is not None and last.seq >= head.seq:
        return None
    token = timestamper.timestamp(bytes.fromhex(head.entry_hash))
    anchored = AuditAnchor(
        seq=head.seq, entry_hash=head.entry_hash, at=utcnow(), token=token, tsa=timestamper.name
    )
    session.add(anchored)
    session.flush()
    return anchored


def init_app(app: Flask) -> None:
    """Give the app's sessions the vault with the chain keys, and follow open transactions so
    record_denied never waits on its own thread's session."""
    database(app).session_info[_VAULT_KEY] = get_vault(app)
    track_sessions()
