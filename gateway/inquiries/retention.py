"""Retention (DESIGN 6): an inquiry's personal content is purged GATEWAY_RETENTION_DAYS after it
was closed or its answer registered (a SIP invitation's: after its meeting was recorded as held
or cancelled, or its plan shared); its legs and statistics stay, without personal data.

The worker runs `retention.run` daily; `gateway retention run` does the same at once. Each purge
is audited; a purge is never undone and running twice purges nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import click
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit.service import record
from gateway.clitools import app, echo_json, with_app
from gateway.db import database, utcnow
from gateway.inquiries.closing import purge
from gateway.inquiries.models import ConsentWithdrawal, Inquiry, Leg, LegKind, SdkMessage
from gateway.inquiries.sdk_messages import PLAIN_KIND
from gateway.inquiries.workflow import legs_of, machine_for
from gateway.jobs.models import Job
from gateway.jobs.registry import SCHEDULED_LANE, job_handler, recurring
from gateway.jobs.service import slot_time

log = logging.getLogger(__name__)

RETENTION_JOB = "retention.run"
ACTOR = "system:retention"
# The legs that end a case of any form type (the latest counts: a SIP's plan shared after the
# meeting keeps its content as long again).
CLOSING_LEGS = (LegKind.CLOSED, LegKind.REGISTERED, LegKind.HELD, LegKind.CANCELLED,
                LegKind.PLAN_SHARED)

recurring(RETENTION_JOB, dt.timedelta(days=1))


def purge_expired(session: Session, now: dt.datetime, days: int) -> list[str]:
    """Purge the content of every inquiry closed more than `days` ago; return their ids. Free
    text written at closing (in the closing leg) and consent-withdrawal notes of the same age go
    too. The caller commits."""
    cutoff = now - dt.timedelta(days=days)
    closed_at = (
        select(Leg.inquiry_id, func.max(Leg.at).label("at"))
        .where(Leg.kind.in_(CLOSING_LEGS))
        .group_by(Leg.inquiry_id)
        .subquery()
    )
    candidates = session.scalars(
        select(Inquiry)
        .join(closed_at, closed_at.c.inquiry_id == Inquiry.id)
        .where(Inquiry.purged_at.is_(None), closed_at.c.at < cutoff)
        .order_by(closed_at.c.at)
    )
    purged: list[str] = []
    for inquiry in candidates:
        machine = machine_for(inquiry.form_type)
        if machine.derive(leg.kind for leg in legs_of(session, inquiry.id)) not in machine.final:
            continue  # re-opened since (a send-on after a RELISTED close)
        purge(session, inquiry, now)
        record(session, actor=ACTOR, action="inquiry.purged", object_type="inquiry",
               object_id=inquiry.id, detail={"reason": "retention", "days": days})
        purged.append(inquiry.id)
    _purge_plain_messages(session, cutoff, days)
    _purge_withdrawal_notes(session, cutoff, days)
    return purged


def _purge_plain_messages(session: Session, cutoff: dt.datetime, days: int) -> None:
    """Purge the content of plain SDK messages (of no inquiry) older than the cutoff: their
    ids, time and addresses stay."""
    rows = session.scalars(select(SdkMessage).where(
        SdkMessage.kind == PLAIN_KIND, SdkMessage.created_at < cutoff,
        SdkMessage.content.is_not(None),
    ))
    for row in rows:
        row.content = None
        record(session, actor=ACTOR, action="sdk.message.purged", object_type="sdk_message",
               object_id=row.message_id, detail={"reason": "retention", "days": days})


def _purge_withdrawal_notes(session: Session, cutoff: dt.datetime, days: int) -> None:
    """Empty the notes of consent withdrawals registered before cutoff; audit which. The
    withdrawals stay: they still block new inquiries (C7)."""
    withdrawals = session.scalars(
        select(ConsentWithdrawal)
        .where(ConsentWithdrawal.registered_at < cutoff, ConsentWithdrawal.note.is_not(None))
        .order_by(ConsentWithdrawal.id)
    ).all()
    if not withdrawals:
        return
    for withdrawal in withdrawals:
        withdrawal.note = None
    record(session, actor=ACTOR, action="consent_withdrawal.note_purged",
           object_type="consent_withdrawal",
           detail={"reason": "retention", "days": days,
                   "withdrawals": [withdrawal.id for withdrawal in withdrawals]})


@job_handler(RETENTION_JOB, lane=SCHEDULED_LANE)
def retention_job(session: Session, payload: dict[str, Any], job: Job) -> None:
    """The daily run; "now" is the slot the worker queued (its clock), else the time now."""
    now = slot_time(payload)
    purged = purge_expired(session, now, current_app.config["RETENTION_DAYS"])
    if purged:
        log.info("retention: purged the content of %d inquiries", len(purged))


@click.group("retention", help="Purge personal content a set time after closure (DESIGN 6).")
def retention_group() -> None:
    pass


@retention_group.command("run", help="Purge now what the daily job would purge.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Days after closure; default GATEWAY_RETENTION_DAYS.")
@click.option("--json", "as_json", is_flag=True, help='Print {"purged": [ids]}.')
@with_app
def run_command(days: int | None, as_json: bool) -> None:
    keep = days or app().config["RETENTION_DAYS"]
    with database().transaction() as session:
        purged = purge_expired(session, utcnow(), keep)
    if as_json:
        echo_json({"purged": purged, "days": keep})
    else:
        click.echo(f"purged the content of {len(purged)} inquiries closed more than {keep} "
                   "days ago")
