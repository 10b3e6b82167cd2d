"""Sealing and opening values (AES-256-GCM per record, keys wrapped by KEKs) and keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from flask import Flask, current_app

from gateway import codes
from gateway.vault.keys import KEK_ID, KEY_BYTES, KeyRing, KeyStore, VaultError

VERSION = 1
NONCE_BYTES = 12
WRAPPED_BYTES = KEY_BYTES + 8  # RFC 3394 adds one 64-bit block
TAG_BYTES = 16
# seal_file reads and encrypts this much at a time.
SEAL_PIECE = 1024 * 1024
MAX_KEK_ID = 64
# The longest header: version, id length, id, wrapped key, nonce. Scans read only this much.
HEADER_MAX = 2 + MAX_KEK_ID + WRAPPED_BYTES + NONCE_BYTES

KEYS_DIR = "vault"
KEYS_FILE = "keys.json"
READINESS_CONTEXT = "vault.readiness"


def _malformed(detail: str) -> VaultError:
    return VaultError.at(codes.VAULT_MALFORMED, detail, status=500)


@dataclass(frozen=True)
class Header:
    """The envelope's clear header: which KEK wrapped the data key, the wrapped key, the nonce."""

    kek_id: str
    wrapped_key: bytes
    nonce: bytes

    def to_bytes(self) -> bytes:
        kid = self.kek_id.encode("ascii")
        return bytes([VERSION, len(kid)]) + kid + self.wrapped_key + self.nonce

    @property
    def size(self) -> int:
        return 2 + len(self.kek_id) + WRAPPED_BYTES + NONCE_BYTES


def parse_header(data: bytes) -> Header:
    """Return the header at the start of data (an envelope or its first HEADER_MAX bytes).

    Raises VaultError VAULT_MALFORMED when data does not start like an envelope.
    """
    if len(data) < 2 or data[0] != VERSION:
        raise _malformed("not a vault envelope of a known version")
    id_len = data[1]
    end = 2 + id_len + WRAPPED_BYTES + NONCE_BYTES
    if not 0 < id_len <= MAX_KEK_ID or len(data) < end:
        raise _malformed("the envelope's header is cut short")
    try:
        kek_id = data[2 : 2 + id_len].decode("ascii")
    except UnicodeDecodeError:
        raise _malformed("the envelope's key id is not ASCII") from None
    if not KEK_ID.fullmatch(kek_id):
        raise _malformed("the envelope's key id is malformed")
    wrapped = data[2 + id_len : 2 + id_len + WRAPPED_BYTES]
    return Header(kek_id, wrapped, data[end - NONCE_BYTES : end])


def _aad(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise ValueError("a vault context is a non-empty string, e.g. 'inquiries.content:<id>'")
    # The version is bound in too, so a future format cannot be passed off as this one.
    return bytes([VERSION]) + context.encode("utf-8")


class Vault:
    """Seals and opens values with the keys in one key file; reloads it when it is replaced."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._stamp: tuple[int, int, int] | None = None

    @property
    def path(self) -> Path:
        return self.store.path

    def keys(self, *, reload: bool = False) -> KeyRing:
        """Return the current ring; re-read the file when another process (rotate) replaced it."""
        stamp = self.store.stamp()
        with self._lock:
            if self._ring is None or reload or stamp != self._stamp:
                self._ring = self.store.load()
                self._stamp = self.store.stamp()
            return self._ring

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt plaintext under a fresh data key bound to context; return the envelope."""
        envelope, data_key, nonce, start = self._envelope(len(plaintext))
        # Encrypted in place behind the header: a 30 MB answer is not held twice more (the
        # ciphertext, then header + ciphertext). A bytearray binds as a blob like bytes.
        AESGCM(data_key).encrypt_into(nonce, plaintext, _aad(context),
                                      memoryview(envelope)[start:])
        return envelope  # type: ignore[return-value]

    def seal_file(self, source: IO[bytes], size: int, context: str) -> bytes:
        """As `seal`, for the `size` bytes read from source (from where it is) in pieces, so
        that the plaintext and its envelope are never in memory together; the envelope is the
        same as `seal` makes (AES-GCM: ciphertext, then tag)."""
        aad = _aad(context)
        envelope, data_key, nonce, start = self._envelope(size)
        encryptor = Cipher(algorithms.AES(data_key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        view = memoryview(envelope)
        at, end = start, start + size
        while at < end:
            piece = source.read(min(SEAL_PIECE, end - at))
            if not piece:
                raise ValueError("the file ended before its size")
            # update_into wants room for a block less one byte more: the tag's room has it.
            at += encryptor.update_into(piece, view[at : at + len(piece) + 15])
        encryptor.finalize()
        view[at : at + TAG_BYTES] = encryptor.tag
        return envelope  # type: ignore[return-value]

    def _envelope(self, size: int) -> tuple[bytearray, bytes, bytes, int]:
        """Return an envelope for size bytes with its header written, the fresh data key, the
        nonce and where the ciphertext starts."""
        kek = self.keys().active_kek()
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce = os.urandom(NONCE_BYTES)
        head = Header(kek.id, aes_key_wrap(kek.key, data_key), nonce).to_bytes()
        envelope = bytearray(len(head) + size + TAG_BYTES)
        envelope[: len(head)] = head
        return envelope, data_key, nonce, len(head)

    def open(self, envelope: bytes, context: str) -> bytes:
        """Return the plaintext sealed in envelope under context.

        Raises VaultError: VAULT_MALFORMED (not an envelope), VAULT_UNKNOWN_KEY (its KEK is not
        in the key file), VAULT_INTEGRITY (wrong context, or any byte altered).
        """
        aad = _aad(context)
        envelope = bytes(envelope)
        header = parse_header(envelope)
        if len(envelope) < header.size + TAG_BYTES:
            raise _malformed("the envelope is cut short")
        data_key = self._unwrap(header)
        try:
            return AESGCM(data_key).decrypt(header.nonce, envelope[header.size :], aad)
        except InvalidTag:
            raise _integrity() from None

    def rewrap(self, header: Header) -> Header | None:
        """Return header with its data key wrapped by the active KEK, or None if it already is."""
        ring = self.keys()
        if header.kek_id == ring.active:
            return None
        data_key = self._unwrap(header)
        kek = ring.active_kek()
        return Header(kek.id, aes_key_wrap(kek.key, data_key), header.nonce)

    def keyed_hash(self, value: str, purpose: str = "personnummer") -> str:
        """Return HMAC-SHA256 (hex) of value under this instance's hash key, separated by purpose.

        Equal values give equal hashes, so repeats are found without storing the value in clear.
        """
        message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self.keys().hash_key, message, hashlib.sha256).hexdigest()

    def _unwrap(self, header: Header) -> bytes:
        ring = self.keys()
        if header.kek_id not in ring.keks:
            # Perhaps rotated by another process a moment ago: look at the file once more.
            ring = self.keys(reload=True)
        kek = ring.keks.get(header.kek_id)
        if kek is None:
            raise VaultError.at(
                codes.VAULT_UNKNOWN_KEY, f"the key {header.kek_id} is not in {self.path}",
                status=500,
            )
        try:
            return aes_key_unwrap(kek.key, header.wrapped_key)
        except InvalidUnwrap:
            raise _integrity() from None


def _integrity() -> VaultError:
    return VaultError.at(
        codes.VAULT_INTEGRITY, "wrong context, or the envelope was altered", status=500,
    )


def keys_path(app: Flask) -> Path:
    return Path(app.instance_path) / KEYS_DIR / KEYS_FILE


def get_vault(app: Flask | None = None) -> Vault:
    """Return the vault of app (default: the current app)."""
    vault: Vault = (app or current_app).extensions["gateway.vault"]
    return vault


def check_keys() -> tuple[bool, str]:
    """Readiness: the key file is usable, its active key present, a seal/open round trip works."""
    vault = get_vault()
    try:
        ring = vault.keys(reload=True)
        probe = secrets.token_bytes(16)
        if vault.open(vault.seal(probe, READINESS_CONTEXT), READINESS_CONTEXT) != probe:
            return False, "seal/open round trip gave other bytes"
    except VaultError as exc:
        return False, exc.code
    except OSError as exc:
        return False, f"key file: {type(exc).__name__}"
    return True, f"active key {ring.active}"


def init_app(app: Flask) -> None:
    from gateway.health.service import register_check

    app.extensions["gateway.vault"] = Vault(KeyStore(keys_path(app)))
    register_check(app, "keys", check_keys)
