"""GET /api/v1/stats/response-times and /sip: the yearly reports as JSON, for statisticians and
clients.

The report holds aggregates only. It is read with the web session of a user with the
statistician role (the role DESIGN gives the statistics), or, as DESIGN 5.4 has the gateway API,
with a bearer token holding the gateway's scope `urn:kryddgarden:stats` (a client is given it
with `gateway clients add --scope`). No session is 401, another role 403, a token without the
scope 403; each as problem+json and audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from gateway import codes
from gateway.audit.service import record_denied
from gateway.auth.clients import STATS_SCOPE
from gateway.auth.models import Role
from gateway.auth.oauth import authorize_bearer
from gateway.db import get_session
from gateway.errors import forbidden, unauthorized
from gateway.stats.engine import response_times
from gateway.stats.period import Period, StatsError, period_from_text
from gateway.stats.sip import sip_report

bp = Blueprint("stats_api", __name__, url_prefix="/api/v1/stats")

PARAMETERS = ("year", "as_of")


def require_statistics_reader() -> None:
    """Let in a bearer token with the statistics scope, or else a statistician's session."""
    if request.headers.get("Authorization"):
        authorize_bearer(STATS_SCOPE)
        return
    require_statistician()


def require_statistician() -> None:
    """Raise 401 without a logged-in user and 403 for another role; each denial is audited."""
    endpoint = request.endpoint or request.path
    if not current_user.is_authenticated:
        record_denied(
            actor=f"anonymous:{request.remote_addr or 'unknown'}", action="api.access",
            object_type="endpoint", object_id=endpoint,
        )
        raise unauthorized("Statistiken kräver inloggning som statistiker.")
    if current_user.role != Role.STATISTICIAN:
        record_denied(
            actor=f"user:{current_user.username}", action="api.access",
            object_type="endpoint", object_id=endpoint, detail={"role": current_user.role.value},
        )
        raise forbidden("Statistiken är till för rollen statistiker.")


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise StatsError.at(codes.REPEATED_PARAMETER, f"Parametern {name} får anges en gång.", name)
    return values[0] if values else None


def query_period(args: MultiDict[str, str]) -> Period:
    """The period asked for; an unknown, repeated or malformed parameter is a 400."""
    for name in args:
        if name not in PARAMETERS:
            raise StatsError.at(
                codes.UNKNOWN_PARAMETER,
                f"Parametern {name[:40]!r} finns inte; tillåtna: year, as_of.", name[:40],
            )
    return period_from_text(_single(args, "year"), _single(args, "as_of"))


def _json(body: dict[str, Any]) -> Response:
    # Built here rather than with jsonify, which would sort the keys out of DESIGN's order.
    return Response(json.dumps(body, ensure_ascii=False, sort_keys=False),
                    mimetype="application/json")


@bp.get("/response-times")
def response_times_view() -> ResponseReturnValue:
    require_statistics_reader()
    return _json(response_times(get_session(), query_period(request.args)).to_json())


@bp.get("/sip")
def sip_view() -> ResponseReturnValue:
    require_statistics_reader()
    return _json(sip_report(get_session(), query_period(request.args)).to_json())


def _operation(operation_id: str, summary: str) -> dict[str, Any]:
    from gateway.openapi import AUTH_RESPONSES, json_response, problem, secured

    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "security": secured(STATS_SCOPE),
            "parameters": [
                {"name": "year", "in": "query", "required": False,
                 "description": "kalenderår (förval: i år)",
                 "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}},
                {"name": "as_of", "in": "query", "required": False,
                 "description": "mätdatum, ÅÅÅÅ-MM-DD (förval: i dag)",
                 "schema": {"type": "string", "format": "date"}},
            ],
            "responses": {
                "200": json_response("Rapporten", {"type": "object"}),
                "400": problem("Okänd, upprepad eller felaktig parameter"),
                **AUTH_RESPONSES,
            },
        }
    }


def openapi_paths() -> dict[str, Any]:
    return {
        "/api/v1/stats/response-times": _operation(
            "getResponseTimes", "Svarstider för ett år (DESIGN 5.7), bara sammanställningar"
        ),
        "/api/v1/stats/sip": _operation(
            "getSipStatistics",
            "SIP för ett år (DESIGN 5.8): hållna per månad, REKO:s närvaro, dagar till mötet, "
            "inställda; bara sammanställningar",
        ),
    }
