"""The directory's read API (an SDK-style address book) and the route preview of DESIGN 5.4.

Every endpoint takes any valid bearer token (`require_token()` with no scope): the directory is
what every client needs to address an inquiry. Nothing here is personal data beyond the REKOs'
work contact details; absences and the units' manager addresses are not shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from forms.dates import stockholm_today
from gateway import codes
from gateway.auth.oauth import require_token
from gateway.db import get_session
from gateway.directory import identifiers as ids
from gateway.directory.models import AssignmentRole
from gateway.directory.routing import route, route_preview_json
from gateway.directory.service import (
    DirectoryError,
    Record,
    export_directory,
)
from gateway.params import date_parameter
from gateway.params import shown as _shown

bp = Blueprint("directory_api", __name__, url_prefix="/api/v1/directory")

ROUTE_PARAMETERS = ("care_unit", "date")


def checked_hsa_id(value: str, name: str) -> str:
    """Return value when it is an HSA-id; raise a 400 naming the parameter otherwise."""
    if ids.check_hsa_id(value) is not None:
        raise DirectoryError.at(
            codes.INVALID_HSA_ID,
            f"Parametern {name} är inte ett HSA-id ({_shown(value)}); "
            "exempel: SE2321000255-K001.",
            name,
        )
    return value


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise DirectoryError.at(
            codes.REPEATED_PARAMETER, f"Parametern {name} får anges en gång.", name,
        )
    return values[0] if values else None


def route_parameters(args: MultiDict[str, str]) -> tuple[str, dt.date]:
    """Return (care unit HSA-id, date) from the query; raise 400 naming a bad parameter.

    An unknown parameter is refused too: a misspelt `date` would otherwise silently give
    today's routing, which looks like an answer but is not the one asked for.
    """
    for name in args:
        if name not in ROUTE_PARAMETERS:
            raise DirectoryError.at(
                codes.UNKNOWN_PARAMETER,
                f"Parametern {_shown(name)} finns inte; tillåtna: care_unit, date.", name[:40],
            )
    care_unit = _single(args, "care_unit")
    if not care_unit:
        raise DirectoryError.at(
            codes.MISSING_PARAMETER, "Parametern care_unit (vårdcentralens HSA-id) krävs.",
            "care_unit",
        )
    raw_date = _single(args, "date")
    return checked_hsa_id(care_unit, "care_unit"), _parse_date(raw_date)


def _parse_date(raw: str | None) -> dt.date:
    if raw is None:
        return stockholm_today()
    return date_parameter(raw, "date", DirectoryError)


def _current(record: Record, on: dt.date) -> bool:
    """Whether an assignment is in force on `on` or starts later (not yet ended)."""
    return record["valid_to"] is None or record["valid_to"] >= on.isoformat()


def public_care_unit(record: Record) -> dict[str, Any]:
    """A care unit as the address book shows it; a unit outside the model with its contact."""
    unit = {
        "hsa_id": record["hsa_id"],
        "name": record["name"],
        "organisation": record["organisation"],
        "connected": record["connected"],
        "functional_address": record.get("functional_address"),
    }
    if not record["connected"]:
        unit["contact"] = record.get("contact")
    return unit


def _role_order(record: Record) -> tuple[bool, str]:
    return record["role"] != AssignmentRole.PRIMARY.value, record["valid_from"]


def _covering(directory: dict[str, list[Record]], hsa_id: str, on: dt.date) -> list[Record]:
    """The unit's current and coming assignments with the REKO's work contact details."""
    people = {c["hsa_id"]: c for c in directory["coordinators"]}
    rows = [a for a in directory["assignments"] if a["care_unit"] == hsa_id and _current(a, on)]
    return [
        {
            "hsa_id": a["coordinator"],
            "name": people[a["coordinator"]]["name"],
            "email": people[a["coordinator"]]["email"],
            "phone": people[a["coordinator"]].get("phone"),
            "role": a["role"],
            "valid_from": a["valid_from"],
            "valid_to": a["valid_to"],
        }
        for a in sorted(rows, key=_role_order)
    ]


def public_coordinator(
    record: Record, assignments: list[Record], units: dict[str, Record], on: dt.date
) -> dict[str, Any]:
    """A REKO's work contact details and the units they cover now or will cover."""
    covers = [a for a in assignments if a["coordinator"] == record["hsa_id"] and _current(a, on)]
    return {
        "hsa_id": record["hsa_id"],
        "name": record["name"],
        "email": record["email"],
        "phone": record.get("phone"),
        "care_units": [
            {
                "hsa_id": a["care_unit"],
                "name": units[a["care_unit"]]["name"],
                "role": a["role"],
                "valid_from": a["valid_from"],
                "valid_to": a["valid_to"],
            }
            for a in sorted(covers, key=_role_order)
        ],
    }


def _users_of(directory: dict[str, list[Record]]) -> dict[str, dict[str, str]]:
    """Which care unit or sender unit uses each functional address."""
    users: dict[str, dict[str, str]] = {}
    for unit in directory["care_units"]:
        if unit.get("functional_address"):
            users[unit["functional_address"]] = {
                "type": "care_unit", "hsa_id": unit["hsa_id"], "name": unit["name"],
            }
    for sender in directory["sender_units"]:
        users[sender["functional_address"]] = {"type": "sender_unit", "name": sender["name"]}
    return users


@bp.get("/care-units")
@require_token()
def care_units() -> ResponseReturnValue:
    """List every care unit (HSA-id, name, organisation, connected, functional address; a unit
    that is not connected with its contact details). Any valid bearer token; no scope needed."""
    units = [public_care_unit(u) for u in export_directory(get_session())["care_units"]]
    return jsonify(care_units=units, count=len(units))


@bp.get("/care-units/<hsa_id>")
@require_token()
def care_unit(hsa_id: str) -> ResponseReturnValue:
    """One care unit with its current and coming REKOs (work contact details). Any valid bearer
    token; 400 for a malformed HSA-id, 404 for an unknown one."""
    checked_hsa_id(hsa_id, "hsa_id")
    directory = export_directory(get_session())
    found = next((u for u in directory["care_units"] if u["hsa_id"] == hsa_id), None)
    if found is None:
        raise DirectoryError.at(
            codes.UNKNOWN_CARE_UNIT, f"Ingen vårdcentral med HSA-id {hsa_id} finns i katalogen.",
            status=404,
        )
    body = public_care_unit(found)
    body["coordinators"] = _covering(directory, hsa_id, stockholm_today())
    return jsonify(body)


@bp.get("/functional-addresses")
@require_token()
def functional_addresses() -> ResponseReturnValue:
    """List the functional addresses with their owner organisation, label and the unit that uses
    each (`used_by`, null when none). Any valid bearer token; no scope needed."""
    directory = export_directory(get_session())
    users = _users_of(directory)
    addresses = [
        {
            "address": a["address"],
            "organisation": a["organisation"],
            "label": a["label"],
            "used_by": users.get(a["address"]),
        }
        for a in directory["functional_addresses"]
    ]
    return jsonify(functional_addresses=addresses, count=len(addresses))


@bp.get("/sender-units")
@require_token()
def sender_units() -> ResponseReturnValue:
    """List the sending units (EBB: socialtjanst, AMA: arbetsmarknad) with their functional
    addresses. Any valid bearer token; no scope needed."""
    units = export_directory(get_session())["sender_units"]
    return jsonify(sender_units=units, count=len(units))


@bp.get("/coordinators")
@require_token()
def coordinators() -> ResponseReturnValue:
    """List the REKOs: work contact details only (HSA-id, name, e-mail, phone) and the units they
    cover now or later, with role and dates. Any valid bearer token; no scope needed."""
    directory = export_directory(get_session())
    units = {u["hsa_id"]: u for u in directory["care_units"]}
    today = stockholm_today()
    people = [
        public_coordinator(c, directory["assignments"], units, today)
        for c in directory["coordinators"]
    ]
    return jsonify(coordinators=people, count=len(people))


@bp.get("/route")
@require_token()
def route_preview() -> ResponseReturnValue:
    """Who would receive an inquiry to `care_unit` on `date` (default: today in Sweden), and why.

    Any valid bearer token; no scope needed. Refusals (problem+json): a missing, repeated,
    unknown or malformed parameter 400 naming it; an unknown care unit 404; a unit that is not
    connected 422 with its contact details (`care_unit`).
    """
    hsa_id, on = route_parameters(request.args)
    return jsonify(route_preview_json(route(get_session(), hsa_id, on)))
