"""Anchoring the audit chain: RFC 3161 timestamps of the chain head, taken every
GATEWAY_AUDIT_ANCHOR_MINUTES that saw appends, and verified."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.models import AuditAnchor, AuditEntry
from gateway.audit.service import anchor
from gateway.jobs.models import Job
from gateway.jobs.registry import SCHEDULED_LANE, JobError, job_handler, recurring
from signing.devpki import PkiLayout
from signing.timestamps import Rfc3161Timestamper, TimestampError, verify_token

log = logging.getLogger(__name__)

ANCHOR_JOB = "audit.anchor"


def timestamper_for(app: Flask) -> Rfc3161Timestamper | None:
    """Return the configured TSA (GATEWAY_TSA_URL), else the development TSA if made, else None."""
    if app.config.get("TSA_URL"):
        return Rfc3161Timestamper.over_http(app.config["TSA_URL"])
    layout = PkiLayout.for_instance(app.instance_path)
    if layout.tsa_cert.exists() and layout.tsa_key.exists():
        return Rfc3161Timestamper.development(layout.tsa_cert, layout.tsa_key)
    return None


def anchor_now(session: Session, app: Flask) -> AuditAnchor | None:
    """Timestamp the chain head now; None when no TSA is configured, the chain is empty, or its
    head is anchored already."""
    timestamper = timestamper_for(app)
    if timestamper is None:
        return None
    return anchor(session, timestamper)


@job_handler(ANCHOR_JOB, lane=SCHEDULED_LANE)
def _anchor_job(session: Session, _payload: dict[str, Any], _job: Job) -> None:
    try:
        anchored = anchor_now(session, current_app)
    except TimestampError as exc:
        raise JobError(str(exc)) from None
    if anchored is None:
        log.info("audit anchor skipped: no TSA configured, or nothing appended since the last")


def _trust_roots(app: Flask) -> list[asn1_x509.Certificate]:
    roots = []
    for path in app.config["TRUST_ROOTS"]:
        data = Path(path).read_bytes()
        if pem.detect(data):
            for _type, _headers, der in pem.unarmor(data, multiple=True):
                roots.append(asn1_x509.Certificate.load(der))
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return roots


@dataclass(frozen=True)
class AnchorReport:
    """How many anchors hold, the newest anchored time and seq, and the first that does not
    hold, and why."""

    checked: int
    latest: dt.datetime | None
    problem: str = ""
    latest_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


def verify_anchors(session: Session, app: Flask) -> AnchorReport:
    """Check each anchor's token over its hash, and that the chain still has that hash there."""
    anchors = session.scalars(select(AuditAnchor).order_by(AuditAnchor.id)).all()
    if not anchors:
        return AnchorReport(0, None)
    try:
        roots = _trust_roots(app)
    except OSError as exc:
        return AnchorReport(0, None, f"trust roots unreadable ({type(exc).__name__})")
    checked, latest, latest_seq = 0, None, None
    for item in anchors:
        entry_hash = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == item.seq))
        if entry_hash != item.entry_hash:
            return AnchorReport(
                checked,
                latest,
                f"anchor {item.id}: entry seq {item.seq} no "
                "longer has the hash that was timestamped",
            )
        result = verify_token(item.token or b"", bytes.fromhex(item.entry_hash), roots)
        if not result.ok:
            return AnchorReport(
                checked,
                latest,
                f"anchor {item.id} (seq {item.seq}): timestamp invalid: {result.reason}",
            )
        checked += 1
        if latest_seq is None or item.seq >= latest_seq:
            latest, latest_seq = result.at, item.seq
    return AnchorReport(checked, latest, latest_seq=latest_seq)


def init_app(app: Flask) -> None:
    recurring(ANCHOR_JOB, dt.timedelta(minutes=app.config["AUDIT_ANCHOR_MINUTES"]))
