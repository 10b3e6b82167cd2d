"""OAuth2 client credentials (authlib) and bearer-token checks for the APIs."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Set up the token endpoint (filled by the API clients work)."""
