"""The directory admin's page of envelopes exchanged with peer gateways: who, what, status and
receipt codes, never the content (DESIGN 7.4 on a page)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from forms.dates import STOCKHOLM
from gateway.auth.login import role_required
from gateway.auth.models import Role
from gateway.db import get_session
from gateway.federation.models import FederationEnvelope

bp = Blueprint("federation", __name__, url_prefix="/katalog")

SHOWN = 200

DIRECTION_LABELS = {"in": "In", "out": "Ut"}
KIND_LABELS = {"message": "Meddelande", "receipt": "Kvittens"}
STATUS_LABELS = {
    "SCHEDULED": "Schemalagt",
    "SUBMITTED": "Skickas",
    "SCHEDULED_FOR_RESEND": "Skickas igen",
    "ACKNOWLEDGE": "Mottaget av mottagaren",
    "WAITING_FOR_RECEIPT": "Väntar på kvittens",
    "ACCEPTED": "Accepterat",
    "REJECTED": "Avvisat",
    "MESSAGE_EXCHANGE_ERROR": "Kunde inte levereras",
    "RETRIEVED": "Hämtat",
    "RECEIPT_SENT": "Kvittens skickad",
    "NEW": "Nytt",
}


@bp.get("/kuvert")
@role_required(Role.DIRECTORY_ADMIN)
def envelopes() -> ResponseReturnValue:
    session = get_session()
    total = session.scalar(select(func.count()).select_from(FederationEnvelope)) or 0
    rows = session.scalars(
        select(FederationEnvelope).order_by(FederationEnvelope.created.desc()).limit(SHOWN)
    ).all()
    shown = [
        {
            "created": row.created.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S"),
            "direction": DIRECTION_LABELS.get(row.direction, row.direction),
            "kind": KIND_LABELS.get(row.kind, row.kind),
            "peer": row.peer or "–",
            "id": row.xhe_id,
            "status": STATUS_LABELS.get(row.status, row.status),
            "codes": ", ".join(
                f"{r['code']}/{r.get('detail') or '–'}" for r in (row.receipt or {}).get(
                    "reasons", [])
            ),
            "attempts": row.attempts,
        }
        for row in rows
    ]
    return render_template("directory/envelopes.html", rows=shown, total=total)
