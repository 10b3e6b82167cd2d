"""Live cases for the statistics tests, stored directly as intake and the workflow would store
them: an inquiry (or a SIP invitation) in the demo directory, its legs, and a SIP's meeting.

The `directory` fixture (registered in conftest) loads the demo directory they need."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import get_session
from gateway.directory.demo import load_demo_directory
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries.models import FormType, Inquiry, LegKind, SipMeeting
from gateway.inquiries.workflow import add_leg
from gateway.stats.sqltime import STOCKHOLM

KRYDDGARDEN = "SE2321000255-K001"
ROSENGARD = "SE2321000255-K002"
LINDANGEN = "SE2321000255-K003"


@pytest.fixture
def directory(app: Flask) -> Session:
    """The demo directory, committed (as of 2024-01-01, when the units already existed)."""
    session = get_session()
    load_demo_directory(session, actor="cli:test", today=dt.date(2024, 1, 1))
    session.commit()
    return session


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def local(text: str) -> dt.datetime:
    """A Stockholm wall-clock time, as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM).astimezone(dt.UTC)


def live(
    legs: dict[str, dt.datetime],
    *,
    care_unit: str = KRYDDGARDEN,
    sender: str = "EBB Öster",
    deadline: dt.date | None = None,
    form_type: FormType = FormType.HALSOFORFRAGAN,
) -> str:
    """Store an inquiry and its legs directly, as intake and workflow would; return its id."""
    session = get_session()
    unit = session.scalars(select(CareUnit).where(CareUnit.hsa_id == care_unit)).one()
    sender_unit = session.scalars(select(SenderUnit).where(SenderUnit.name == sender)).one()
    first = min(legs.values())
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "form_type": form_type,
        "reference": f"HF-T-{uuid.uuid4().hex[:12]}",
        "sender_unit_id": sender_unit.id,
        "care_unit_id": unit.id,
        "routed_to": "sdk:reko-kryddgarden:0203:skane.se",
        "reply_to": "sdk:ebb-oster:0203:malmo.se",
        "content_digest": "0" * 64,
        "person_hash": "1" * 64,
        "channel": "api",
        "deadline": deadline or (first.astimezone(STOCKHOLM).date() + dt.timedelta(days=30)),
        "consent_valid_to": first.date() + dt.timedelta(days=180),
        "submitted_by": "client:test",
        "created_at": first,
    }
    inquiry = Inquiry(**fields)
    session.add(inquiry)
    session.flush()
    for kind, at in legs.items():
        reason = "DUPLICATE" if kind in ("closed", "cancelled") else None
        add_leg(session, inquiry.id, LegKind(kind), at=at, actor="system:test", reason=reason)
    session.commit()
    return inquiry.id


def live_sip(
    invited: dt.datetime,
    *,
    held_on: dt.date | None = None,
    cancelled_on: dt.date | None = None,
    cancel_reason: str | None = None,
    reko_attended: bool | None = None,
    care_unit: str = KRYDDGARDEN,
    sender: str = "EBB Öster",
) -> str:
    """Store a SIP invitation received at `invited`, its meeting and its outcome (a `held` or
    `cancelled` leg at noon of the day, as the sender records it); return its id."""
    legs = {"received": invited}
    outcome = held_on or cancelled_on
    if outcome is not None:
        legs["held" if held_on else "cancelled"] = local(f"{outcome.isoformat()}T12:00:00")
    sip_id = live(legs, care_unit=care_unit, sender=sender, form_type=FormType.SIP)
    session = get_session()
    starts = held_on or cancelled_on or invited.astimezone(STOCKHOLM).date() + dt.timedelta(14)
    session.add(SipMeeting(
        inquiry_id=sip_id,
        starts_at=local(f"{starts.isoformat()}T09:00:00"),
        length_minutes=60,
        reply_due=starts - dt.timedelta(days=2),
        decision="KOMMER" if reko_attended else None,
        held_on=held_on,
        cancelled_on=cancelled_on,
        cancel_reason=cancel_reason,
        reko_attended=reko_attended,
    ))
    session.commit()
    return sip_id
