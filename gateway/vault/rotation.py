"""Key rotation: re-wrapping the sealed columns' data keys under a new KEK, and key usage."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Table, func, select, update

from gateway.db import Base, Database
from gateway.vault.columns import sealed_columns
from gateway.vault.keys import ChainKeys, KeyRing, VaultError
from gateway.vault.service import HEADER_MAX, VERSION, Header, Vault, parse_header

BATCH_SIZE = 200
ROTATE_ACTOR = "cli:vault rotate"


@dataclass
class ColumnTally:
    """What a pass over one sealed column found and did."""

    column: str
    by_key: Counter[str] = field(default_factory=Counter)
    rewrapped: int = 0
    changed_meanwhile: int = 0
    not_sealed: int = 0
    unreadable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "by_key": dict(sorted(self.by_key.items())),
            "rewrapped": self.rewrapped,
            "changed_meanwhile": self.changed_meanwhile,
            "not_sealed": self.not_sealed,
            "unreadable": self.unreadable,
        }


@dataclass(frozen=True)
class _Target:
    """A sealed column as core SQL: its table, primary key and the column itself."""

    name: str
    table: Table
    pk: Column[Any]
    column: Column[Any]


def _targets() -> list[_Target]:
    """The sealed columns the domains declared (gateway.vault.columns), as core SQL."""
    targets = []
    for column in sealed_columns(Base.metadata):
        table = cast(Table, column.table)
        (pk,) = table.primary_key.columns
        targets.append(_Target(f"{table.name}.{column.name}", table, pk, column))
    return targets


def _scan(db: Database, target: _Target, size: int) -> Iterator[Sequence[Any]]:
    """Yield batches of (pk, first HEADER_MAX bytes) of non-null values, in pk order."""
    prefix = func.substr(target.column, 1, HEADER_MAX).label("prefix")
    query = (
        select(target.pk.label("pk"), prefix)
        .where(target.column.is_not(None))
        .order_by(target.pk)
        .limit(size)
    )
    last: Any = None
    while True:
        with db.transaction() as session:
            page = query if last is None else query.where(target.pk > last)
            rows = session.execute(page).all()
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _classify(tally: ColumnTally, prefix: bytes | None) -> Header | None:
    """Count a value by its header; return the header when it is a readable envelope."""
    prefix = bytes(prefix or b"")
    if not prefix or prefix[0] != VERSION:
        tally.not_sealed += 1
        return None
    try:
        header = parse_header(prefix)
    except VaultError:
        tally.unreadable += 1
        return None
    tally.by_key[header.kek_id] += 1
    return header


def key_usage(db: Database, *, batch_size: int = BATCH_SIZE) -> list[ColumnTally]:
    """Return, per sealed column, how many envelopes each KEK wraps (reads headers only)."""
    tallies = []
    for target in _targets():
        tally = ColumnTally(target.name)
        for rows in _scan(db, target, batch_size):
            for row in rows:
                _classify(tally, row.prefix)
        tallies.append(tally)
    return tallies


def _rewrap_one(db: Database, vault: Vault, target: _Target, pk: Any, old: Header) -> bool:
    """Re-wrap one value's data key; False when the row changed since it was read."""
    with db.transaction() as session:
        value = session.execute(select(target.column).where(target.pk == pk)).scalar()
        if value is None or bytes(value[: old.size]) != old.to_bytes():
            return False
        new = vault.rewrap(old)
        if new is None:
            return True
        # Only the header changes: the ciphertext and its data key stay as they were.
        result = session.execute(
            update(target.table)
            .where(target.pk == pk, func.substr(target.column, 1, old.size) == old.to_bytes())
            .values({target.column.name: new.to_bytes() + bytes(value[old.size :])})
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def rewrap_all(db: Database, vault: Vault, *, batch_size: int = BATCH_SIZE) -> list[ColumnTally]:
    """Wrap every sealed value's data key with the active KEK, a row at a time, in batches.

    Each row is its own short transaction, so the service keeps running; a row that changed
    under us was sealed anew meanwhile (with the active key) and is counted, not touched.
    """
    tallies = []
    for target in _targets():
        tally = ColumnTally(target.name)
        active = vault.keys().active
        for rows in _scan(db, target, batch_size):
            for row in rows:
                header = _classify(tally, row.prefix)
                if header is None or header.kek_id == active:
                    continue
                tally.by_key[header.kek_id] -= 1
                try:
                    done = _rewrap_one(db, vault, target, row.pk, header)
                except VaultError:
                    tally.by_key[header.kek_id] += 1
                    tally.unreadable += 1
                    continue
                if done:
                    tally.rewrapped += 1
                    tally.by_key[active] += 1
                else:
                    tally.changed_meanwhile += 1
        tally.by_key = +tally.by_key  # drop keys counted down to zero
        tallies.append(tally)
    return tallies


def keys_in_use(tallies: list[ColumnTally]) -> set[str]:
    return {kid for tally in tallies for kid, count in tally.by_key.items() if count > 0}


def status(db: Database, vault: Vault, *, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Return key ids (never key material), envelopes per key, and per-column counts."""
    ring = vault.keys()
    tallies = key_usage(db, batch_size=batch_size)
    totals: Counter[str] = Counter()
    for tally in tallies:
        totals.update(tally.by_key)
    return {
        "keys_file": str(vault.path),
        "active": ring.active,
        "keys": [
            {**kek.public(), "active": kid == ring.active, "envelopes": totals.get(kid, 0)}
            for kid, kek in sorted(ring.keks.items())
        ],
        "unknown_keys": {kid: n for kid, n in sorted(totals.items()) if kid not in ring.keks},
        "columns": [tally.as_dict() for tally in tallies],
        "audit_chain": None if ring.chain is None else {
            "active": ring.chain.active,
            "keys": [key.public() for _, key in sorted(ring.chain.keys.items())],
            "legacy_until": ring.chain.legacy_until,
        },
    }


@dataclass
class RotationReport:
    """The outcome of `gateway vault rotate`: the new key, per-column counts, retired keys."""

    new_key: str
    columns: list[ColumnTally]
    retired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> int:
        return sum(t.unreadable for t in self.columns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new_key": self.new_key,
            "columns": [t.as_dict() for t in self.columns],
            "rewrapped": sum(t.rewrapped for t in self.columns),
            "unreadable": self.unreadable,
            "retired": self.retired,
            "kept": self.kept,
        }


def add_active_key(vault: Vault) -> str:
    """Add a fresh KEK to the key file and make it the one new seals use; return its id."""
    made: list[str] = []

    def change(ring: KeyRing) -> KeyRing:
        new_ring, kek = ring.with_new_active()
        made.append(kek.id)
        return new_ring

    vault.store.update(change)
    vault.keys(reload=True)
    return made[0]


def add_chain_key(vault: Vault, *, legacy_until: int = 0) -> str:
    """Add a fresh audit chain key and make it the one new entries use; return its id.

    Old chain keys stay (entries made under them verify with them). The first chain key of a
    key file records legacy_until: the chain's last entry made before the chain was keyed.
    """
    made: list[str] = []

    def change(ring: KeyRing) -> KeyRing:
        new_ring, key = ring.with_new_chain_key(legacy_until)
        made.append(key.id)
        return new_ring

    vault.store.update(change)
    vault.keys(reload=True)
    return made[0]


def ensure_chain_keys(vault: Vault, *, legacy_until: int) -> ChainKeys:
    """Return the audit chain keys, first adding one to a key file made before the chain was
    keyed (recording legacy_until); a key another process added meanwhile is kept."""

    def change(ring: KeyRing) -> KeyRing:
        return ring if ring.chain is not None else ring.with_new_chain_key(legacy_until)[0]

    chain = vault.keys().chain
    if chain is None:
        chain = vault.store.update(change).chain
        vault.keys(reload=True)
    assert chain is not None  # just made, or already there
    return chain


def retire_unused(
    db: Database, vault: Vault, *, batch_size: int = BATCH_SIZE
) -> tuple[list[str], list[str]]:
    """Remove KEKs that no sealed value references (never the active one).

    Returns (retired ids, ids kept because values still use them).
    """
    in_use = keys_in_use(key_usage(db, batch_size=batch_size))
    retired: list[str] = []

    def change(ring: KeyRing) -> KeyRing:
        unused = {kid for kid in ring.keks if kid != ring.active and kid not in in_use}
        retired.extend(sorted(unused))
        return ring.without(unused)

    vault.store.update(change)
    ring = vault.keys(reload=True)
    kept = sorted(kid for kid in ring.keks if kid != ring.active)
    return retired, kept


def _preflight(db: Database) -> None:
    """Read each sealed table, so that an unreadable database fails before a key is added."""
    with db.transaction() as session:
        for target in _targets():
            session.execute(select(target.pk).limit(1)).all()


def rotate(
    db: Database,
    vault: Vault,
    *,
    retire_old: bool = False,
    grace_seconds: float = 10.0,
    batch_size: int = BATCH_SIZE,
    actor: str = ROTATE_ACTOR,
) -> RotationReport:
    """Add a new active KEK, re-wrap every sealed value under it, optionally retire old KEKs.

    Every step is audited. Before retiring, waits grace_seconds so that transactions which
    sealed with the old key just before the switch have committed, then re-wraps once more.
    """
    from gateway.audit.service import record

    _preflight(db)
    new_key = add_active_key(vault)
    with db.transaction() as session:
        record(session, actor=actor, action="vault.key_added", object_type="vault_key",
               object_id=new_key)
    tallies = rewrap_all(db, vault, batch_size=batch_size)
    report = RotationReport(new_key, tallies)
    if retire_old:
        time.sleep(grace_seconds)
        rewrap_all(db, vault, batch_size=batch_size)
        report.retired, report.kept = retire_unused(db, vault, batch_size=batch_size)
    with db.transaction() as session:
        summary = report.as_dict()
        record(session, actor=actor, action="vault.rotate", object_type="vault_key",
               object_id=new_key,
               outcome="ok" if report.unreadable == 0 else "partial",
               detail={key: summary[key] for key in ("rewrapped", "unreadable", "retired", "kept")})
    return report
