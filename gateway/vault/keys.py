"""The vault's key file in the instance folder: key-encryption keys by id, the keyed-hash key and
the audit chain's HMAC keys by id."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway import codes
from gateway.errors import GatewayError

KEY_BYTES = 32  # AES-256 and HMAC-SHA256
FILE_VERSION = 1
KEK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class VaultError(GatewayError):
    """A refusal of the vault: unusable keys, or an envelope that cannot be opened."""


def keys_error(detail: str) -> VaultError:
    # Never key material in the text: only the file's path and what is wrong with it.
    return VaultError.at(codes.VAULT_KEYS, detail, status=503)


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: its id, its 256 bits and when it was made."""

    id: str
    key: bytes = field(repr=False)
    created: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "created": self.created}


@dataclass(frozen=True)
class ChainKeys:
    """The audit chain's HMAC keys by id, the one new entries use, and `legacy_until`: the last
    entry made before the chain was keyed (those stay plain SHA-256; every later one is keyed).

    Old keys are never removed: the entries made under them verify with them.
    """

    active: str
    keys: Mapping[str, Kek]
    legacy_until: int

    def active_key(self) -> Kek:
        return self.keys[self.active]

    def with_new_active(self) -> tuple[ChainKeys, Kek]:
        key = new_kek(self.keys, prefix="a")
        keys = {**self.keys, key.id: key}
        return replace(self, active=key.id, keys=MappingProxyType(keys)), key

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "keys": _keks_json(self.keys),
            "legacy_until": self.legacy_until,
        }


def new_chain_keys(legacy_until: int) -> ChainKeys:
    key = new_kek({}, prefix="a")
    return ChainKeys(key.id, MappingProxyType({key.id: key}), legacy_until)


@dataclass(frozen=True)
class KeyRing:
    """The keys in force: every KEK by id, which one seals new values, the keyed-hash key, and
    the audit chain's keys (None in key files made before the chain was keyed)."""

    active: str
    keks: Mapping[str, Kek]
    hash_key: bytes = field(repr=False)
    chain: ChainKeys | None = None

    def active_kek(self) -> Kek:
        return self.keks[self.active]

    def with_new_active(self) -> tuple[KeyRing, Kek]:
        """Return a ring with a fresh KEK made active, and that KEK."""
        kek = new_kek(self.keks)
        keks = dict(self.keks)
        keks[kek.id] = kek
        return replace(self, active=kek.id, keks=MappingProxyType(keks)), kek

    def without(self, ids: set[str]) -> KeyRing:
        """Return a ring without the KEKs in ids; the active one is never removed."""
        if self.active in ids:
            raise ValueError("the active key cannot be removed")
        keks = {kid: kek for kid, kek in self.keks.items() if kid not in ids}
        return replace(self, keks=MappingProxyType(keks))

    def with_new_chain_key(self, legacy_until: int) -> tuple[KeyRing, Kek]:
        """Return a ring with a fresh audit chain key made active, and that key. The ring's
        first chain key records legacy_until (the chain's last unkeyed entry); later ones keep
        it."""
        if self.chain is None:
            chain = new_chain_keys(legacy_until)
            return replace(self, chain=chain), chain.active_key()
        chain, key = self.chain.with_new_active()
        return replace(self, chain=chain), key

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": FILE_VERSION,
            "active": self.active,
            "keks": _keks_json(self.keks),
            "hash_key": _b64(self.hash_key),
        }
        if self.chain is not None:
            data["chain"] = self.chain.to_json()
        return data


def _keks_json(keys: Mapping[str, Kek]) -> dict[str, dict[str, str]]:
    return {kid: {"key": _b64(kek.key), "created": kek.created} for kid, kek in keys.items()}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key(value: Any, where: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{where} is not {KEY_BYTES * 8} bits")
    return raw


def _keys_by_id(raw: Any, what: str) -> Mapping[str, Kek]:
    """Return the keys of an {id: {"key", "created"}} part of the file, checked."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"no {what}")
    keys: dict[str, Kek] = {}
    for kid, entry in raw.items():
        if not KEK_ID.fullmatch(kid) or not isinstance(entry, dict):
            raise ValueError(f"bad key entry {kid[:70]!r}")
        keys[kid] = Kek(kid, _key(entry.get("key"), f"key {kid}"), str(entry.get("created", "")))
    return MappingProxyType(keys)


def _chain_from_json(data: Any) -> ChainKeys | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("bad audit chain keys")
    keys = _keys_by_id(data.get("keys"), "audit chain keys")
    if data.get("active") not in keys:
        raise ValueError("the active audit chain key is not among the chain keys")
    legacy_until = data.get("legacy_until")
    if not isinstance(legacy_until, int) or isinstance(legacy_until, bool) or legacy_until < 0:
        raise ValueError("the audit chain's legacy_until is not a sequence number")
    return ChainKeys(data["active"], keys, legacy_until)


def ring_from_json(data: Any) -> KeyRing:
    """Return the ring a parsed key file describes; ValueError names the first problem."""
    if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
        raise ValueError(f"not a version {FILE_VERSION} key file")
    keks = _keys_by_id(data.get("keks"), "key-encryption keys")
    active = data.get("active")
    if active not in keks:
        raise ValueError("the active key is not among the keys")
    hash_key = _key(data.get("hash_key"), "hash_key")
    return KeyRing(str(active), keks, hash_key, _chain_from_json(data.get("chain")))


def new_kek(existing: Mapping[str, Kek], *, prefix: str = "k") -> Kek:
    """Return a fresh key whose id (<prefix>-YYYYMMDD-xxxx) is not among existing."""
    now = dt.datetime.now(dt.UTC)
    while True:
        kid = f"{prefix}-{now:%Y%m%d}-{secrets.token_hex(2)}"
        if kid not in existing:
            return Kek(kid, secrets.token_bytes(KEY_BYTES), now.isoformat(timespec="seconds"))


def new_ring() -> KeyRing:
    """Return the keys of a new instance; its audit chain is keyed from the first entry."""
    kek = new_kek({})
    return KeyRing(
        kek.id, MappingProxyType({kek.id: kek}), secrets.token_bytes(KEY_BYTES),
        new_chain_keys(legacy_until=0),
    )


class KeyStore:
    """The key file (mode 0600, created on first use) and safe replacement of it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def stamp(self) -> tuple[int, int, int] | None:
        """Return what changes when the file is replaced (None when it does not exist yet)."""
        try:
            st = self.path.stat()
        except OSError:
            return None  # load() then says what is wrong
        return st.st_ino, st.st_mtime_ns, st.st_size

    def load(self) -> KeyRing:
        """Return the ring, creating the file with fresh keys if there is none yet.

        Raises VaultError VAULT_KEYS when the file cannot be read, made or trusted.
        """
        with self._os_errors():
            try:
                return self._read()
            except FileNotFoundError:
                return self._create()

    def update(self, change: Callable[[KeyRing], KeyRing]) -> KeyRing:
        """Apply change to the ring on disk under an exclusive lock and return the new ring."""
        with self._os_errors(), self._locked():
            ring = change(self.load())
            self._replace(ring)
            return ring

    # -- internals -------------------------------------------------------------------------

    def _read(self) -> KeyRing:
        fd = os.open(self.path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & 0o077:
                raise keys_error(
                    f"{self.path} is readable by others (mode {mode & 0o777:o}); chmod 600 it"
                )
            raw = handle.read()
        try:
            return ring_from_json(json.loads(raw))
        except ValueError as exc:
            raise keys_error(f"{self.path}: {exc}") from None

    def _write_temp(self, ring: KeyRing) -> Path:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            json.dump(ring.to_json(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def _create(self) -> KeyRing:
        temp = self._write_temp(new_ring())
        try:
            # link() fails if the name exists: of two processes starting at once one creates
            # the file, whole, and the other reads it; no one ever sees half a file.
            os.link(temp, self.path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
        self._sync_dir()
        return self._read()

    def _replace(self, ring: KeyRing) -> None:
        temp = self._write_temp(ring)
        os.replace(temp, self.path)
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _os_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise keys_error(f"{self.path}: {exc.strerror or type(exc).__name__}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
