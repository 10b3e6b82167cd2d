"""The directory's routing data kept per process, by the directory's version.

Every intake looked up its sender unit, its care unit (with its organisation and functional
address), the unit's assignments with their REKOs and the REKOs' absences: eight SELECTs per
inquiry for data that changes a few times a day. A process now keeps what it looked up under
the directory's version token (`directory_version`), which a trigger on each of those tables
replaces with a new random value on any INSERT, UPDATE or DELETE, whoever makes it (the admin
pages, `gateway directory import`, another process, SQL by hand). A reader reads the token (one
SELECT, in its own transaction: its own changes included; the intake reads it in its first
read, with the inquiries it must know of) and finds what it needs under it, or loads it once.
So a change takes effect for the next read after its commit, in every process.

Random, not a counter: a change rolled back restores the token it replaced, and a counter would
then give the next change the number of the rolled-back one, whose data a reader inside that
transaction may have kept. The token is read before the data, so what is kept under a token is
never older than the state the token names.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import AnySelect
from gateway.directory.models import CareUnit, DirectoryVersion, SenderKind, SenderUnit
from gateway.directory.service import care_unit_by_hsa_id, sender_unit_by_address
from gateway.errors import GatewayError

T = TypeVar("T")

VERSION_ID = 1
# Versions kept per process (a change makes a new one; the old ones only serve readers that
# read their token before it) and what one version keeps at most before it starts afresh.
KEEP_VERSIONS = 4
KEEP_PER_VERSION = 20_000


@dataclass(frozen=True)
class SenderUnitInfo:
    """What the intake needs of a sender unit."""

    id: int
    name: str
    organisation_id: str
    kind: SenderKind
    address: str

    @classmethod
    def of(cls, unit: SenderUnit) -> SenderUnitInfo:
        return cls(unit.id, unit.name, unit.organisation_id, unit.kind,
                   unit.functional_address.address)


@dataclass(frozen=True)
class CareUnitInfo:
    """What the intake needs of a care unit: `peer_endpoint` is its organisation's gateway,
    where another gateway serves it (DESIGN 7.1)."""

    id: int
    hsa_id: str
    name: str
    organisation_id: str
    peer_endpoint: str | None

    @classmethod
    def of(cls, unit: CareUnit) -> CareUnitInfo:
        return cls(unit.id, unit.hsa_id, unit.name, unit.organisation_id,
                   unit.organisation.endpoint or None)


@dataclass(frozen=True)
class _Refused:
    """A refusal kept instead of a value: raised again (a copy) on every read."""

    error: GatewayError


class _Version:
    """What one version of the directory has been asked for, by key."""

    def __init__(self) -> None:
        self.found: dict[Hashable, Any] = {}


class _Versions:
    """The versions this process keeps, the newest last; thread-safe (gunicorn's threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, _Version] = OrderedDict()

    def get(self, token: str) -> _Version:
        with self._lock:
            version = self._versions.get(token)
            if version is None:
                version = self._versions[token] = _Version()
                while len(self._versions) > KEEP_VERSIONS:
                    self._versions.popitem(last=False)
            else:
                self._versions.move_to_end(token)
            return version

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()


_VERSIONS = _Versions()


class DirectoryView:
    """The directory as of one version token, for one session (which loads what is missing).
    Without a token (a database without `directory_version`) nothing is kept."""

    def __init__(self, session: Session, version: _Version | None) -> None:
        self.session = session
        self._version = version

    def cached(self, key: Hashable, load: Callable[[], T]) -> T:
        """Return what `load` returns for `key` in this version, loading it only once; a
        GatewayError it raises is kept too and raised again."""
        found = self._version.found if self._version is not None else None
        if found is not None and key in found:
            value = found[key]
        else:
            try:
                value = load()
            except GatewayError as error:
                value = _Refused(error)
            if found is not None:
                if len(found) >= KEEP_PER_VERSION:
                    found.clear()
                found[key] = value
        if isinstance(value, _Refused):
            raise dataclasses.replace(value.error)
        return value

    def sender_unit(self, address: str) -> SenderUnitInfo | None:
        """The sender unit whose functional address is `address`, or None."""
        def load() -> SenderUnitInfo | None:
            unit = sender_unit_by_address(self.session, address)
            return SenderUnitInfo.of(unit) if unit is not None else None

        return self.cached(("sender_unit", address), load)

    def care_unit(self, hsa_id: str) -> CareUnitInfo | None:
        """The care unit with HSA-id `hsa_id`, or None."""
        def load() -> CareUnitInfo | None:
            unit = care_unit_by_hsa_id(self.session, hsa_id)
            return CareUnitInfo.of(unit) if unit is not None else None

        return self.cached(("care_unit", hsa_id), load)


def version_token(session: Session) -> str | None:
    """Return the directory's version token as this session's transaction sees it (its own
    changes flushed first), or None where the database has none."""
    token: str | None = session.scalar(version_token_query(select(DirectoryVersion.token)))
    return token


def version_token_query(query: AnySelect) -> AnySelect:
    """`query`, selecting from `directory_version`, narrowed to the token's row: for a statement
    that reads the token beside other things, before `directory_view_at`."""
    return query.where(DirectoryVersion.id == VERSION_ID)


def directory_view(session: Session) -> DirectoryView:
    """Return the directory as the session's transaction sees it now (one SELECT)."""
    return directory_view_at(session, version_token(session))


def directory_view_at(session: Session, token: str | None) -> DirectoryView:
    """Return the directory as of `token`, which the session's transaction has just read (with
    `version_token_query`, before any of the directory's data)."""
    return DirectoryView(session, _VERSIONS.get(token) if token is not None else None)


def forget() -> None:
    """Drop everything this process keeps (tests that compare with and without it)."""
    _VERSIONS.clear()
