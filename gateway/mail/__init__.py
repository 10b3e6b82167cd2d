"""Mail: the outgoing mailer (outbox jobs through the relay) and the SMTP intake listener."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Choose the mail transport and its breaker from the config; register the `mail.send` job
    handler."""
    from gateway.mail import outbox  # noqa: F401  - registers the mail.send handler
    from gateway.mail.jobs import RelayBreaker
    from gateway.mail.mailer import check_sender, make_transport

    check_sender(app.config)
    app.extensions["gateway.mail"] = make_transport(app.config)
    app.extensions["gateway.mail.breaker"] = RelayBreaker(
        float(app.config.get("SMTP_RELAY_PAUSE_SECONDS") or 60))
