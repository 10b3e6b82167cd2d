"""Federation: SDK envelopes between gateways (DESIGN 7), the sending and receiving sides."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # The job handlers, so that every process built by the factory knows the kinds.
    from gateway.federation import incoming, outgoing  # noqa: F401
    from gateway.federation.ap import bp as ap
    from gateway.federation.views import bp as pages

    # /ap/ is among gateway.http's API_PREFIXES: problem JSON, no CSRF (machines, not forms).
    app.register_blueprint(ap)
    app.register_blueprint(pages)
