"""Encryption at rest: per-record keys wrapped by key-encryption keys with ids; keyed hashes."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to set up yet."""
