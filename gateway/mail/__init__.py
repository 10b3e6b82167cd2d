"""Mail: the outgoing mailer (outbox jobs through the relay) and the SMTP intake listener."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Choose the mail transport from the config and register the `mail.send` job handler."""
    from gateway.mail import outbox  # noqa: F401  - registers the mail.send handler
    from gateway.mail.mailer import check_sender, make_transport

    check_sender(app.config)
    app.extensions["gateway.mail"] = make_transport(app.config)
