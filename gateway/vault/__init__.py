"""Encryption at rest: per-record keys wrapped by key-encryption keys with ids; keyed hashes."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Give the app its vault (keys load on first use) and the "keys" readiness check."""
    from gateway.vault import service

    service.init_app(app)
