"""Web login: flask-login, argon2id passwords, TOTP, throttling, CSRF, idle timeout."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Set up login (filled by the accounts work)."""
