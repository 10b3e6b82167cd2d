"""Accounts: web users (password + TOTP) and API clients (OAuth2 client credentials)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway.auth import login, oauth, pruning  # noqa: F401 - pruning registers its job

    login.init_app(app)
    oauth.init_app(app)
