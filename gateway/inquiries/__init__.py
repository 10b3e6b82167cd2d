"""Inquiries: the hälsoförfrågan, its legs and answers; intake, workflow, receipts and the API."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from gateway import openapi
    from gateway.inquiries import (  # noqa: F401 - sip_case_views adds the SIP pages to views.bp
        api,
        labels,
        person_views,
        receipts,
        sip_api,
        sip_case_views,
        views,
    )

    labels.init_app(app)
    receipts.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(sip_api.bp)
    # The case worker's pages (blueprint "inquiries": Mina ärenden, Ny hälsoförfrågan, SIP).
    app.register_blueprint(views.bp)
    app.register_blueprint(person_views.bp)
    openapi.init_app(app)
    openapi.register_schemas(app, api.OPENAPI_SCHEMAS)
    openapi.register_paths(app, api.openapi_paths())
    openapi.register_schemas(app, sip_api.OPENAPI_SCHEMAS)
    openapi.register_paths(app, sip_api.openapi_paths())
    _init_reko_side(app)


def _init_reko_side(app: Flask) -> None:
    """The REKO's side: job handlers, the inbox blueprint, the answer operations."""
    from gateway import openapi
    from gateway.health.service import register_check
    from gateway.inquiries import (  # noqa: F401
        answers,
        api,
        deadlines,
        inbox_views,
        notify,
        reko_views,
        retention,
        sip_views,
    )

    register_check(app, "trust", answers.check_trust, at_startup=True)
    app.register_blueprint(reko_views.bp)
    openapi.register_paths(app, api.answer_openapi_paths())
