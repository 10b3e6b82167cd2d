"""Retention: an inquiry's personal content is purged GATEWAY_RETENTION_DAYS after closure; the
legs and statistics stay, each purge is audited, and nothing open or recent is touched."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import Table, select, text

from gateway.audit.models import AuditEntry
from gateway.db import database, get_session
from gateway.inquiries.access import Side
from gateway.inquiries.closing import close_inquiry, closing_text, withdraw_consent, withdrawal_note
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import (
    CloseReason,
    ConsentWithdrawal,
    FormType,
    Inquiry,
    Leg,
    LegKind,
)
from gateway.inquiries.retention import RETENTION_JOB, purge_expired
from gateway.inquiries.sip import record_outcome
from gateway.jobs.registry import recurring_kinds
from gateway.migrate import current_revision, downgrade, upgrade
from gateway.vault.service import get_vault
from tests.conftest import AppMaker
from tests.support.forms import EBB_OSTER, MALMO, halsoforfragan, nth_personnummer
from tests.support.pdfs import TestPki
from tests.support.reko import leg_kinds, parties
from tests.support.sip import sip_kallelse

UTC = dt.UTC
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))
NOW = dt.datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
LEGS = cast(Table, Leg.__table__)
WITHDRAWALS = cast(Table, ConsentWithdrawal.__table__)
# The revision before closing text and withdrawal notes were sealed.
BEFORE_SEALING = "c4d8e2f1a7b5"


def _inquiry(n: int, received: dt.datetime, closed_days_later: int | None) -> str:
    session = get_session()
    result = submit(session, halsoforfragan(received, personnummer=nth_personnummer(n)),
                    submitter=SUBMITTER, channel="api", now=received)
    if closed_days_later is not None:
        close_inquiry(session, result.inquiry, reason=CloseReason.OTHER,
                      text=CLOSING_TEXT, actor="client:test",
                      now=received + dt.timedelta(days=closed_days_later),
                      sides=frozenset({Side.SENDER}))
    session.commit()
    return result.inquiry.id


def test_content_is_purged_after_the_retention_time_and_legs_stay(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    app: Flask = make_app()
    with app.app_context():
        parties()
        old_closed = _inquiry(1, NOW - dt.timedelta(days=400), 10)
        recent_closed = _inquiry(2, NOW - dt.timedelta(days=40), 10)
        old_open = _inquiry(3, NOW - dt.timedelta(days=400), None)
        legs_before = leg_kinds(old_closed)
        session = get_session()
        purged = purge_expired(session, NOW, days=180)
        session.commit()
        assert purged == [old_closed]
        gone = session.get(Inquiry, old_closed)
        assert gone is not None and gone.content is None and gone.personnummer is None
        assert gone.purged_at is not None
        # The legs stay (statistics), but not the free text written at closing.
        assert leg_kinds(old_closed) == legs_before
        details = session.scalars(select(Leg.detail).where(Leg.inquiry_id == old_closed))
        assert all("text" not in (d or {}) for d in details)
        for kept in (recent_closed, old_open):
            inquiry = session.get(Inquiry, kept)
            assert inquiry is not None and inquiry.content is not None
        [entry] = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "inquiry.purged")).all()
        assert (entry.object_id, entry.detail) == (old_closed, {"reason": "retention",
                                                                "days": 180})
        # Running again purges nothing twice.
        assert purge_expired(session, NOW, days=180) == []


def _sip(n: int, sent: dt.datetime, outcome: dict[str, Any] | None) -> str:
    """A SIP invitation sent at `sent`, its meeting a week later, with the outcome recorded the
    day after the meeting (none: the meeting is still ahead as far as anyone has said)."""
    session = get_session()
    result = submit(session, sip_kallelse(sent, personnummer=nth_personnummer(n)),
                    submitter=SUBMITTER, channel="api", now=sent, form_type=FormType.SIP)
    if outcome is not None:
        record_outcome(session, result.inquiry, outcome, actor="client:test",
                       now=sent + dt.timedelta(days=8))
    session.commit()
    return result.inquiry.id


def test_a_sip_invitations_content_is_purged_after_its_meeting_was_held_or_cancelled(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    app: Flask = make_app()
    with app.app_context():
        parties()
        long_ago = NOW - dt.timedelta(days=400)
        held_long_ago = _sip(1, long_ago, {"held_on": (long_ago + dt.timedelta(days=7))
                                          .date().isoformat()})
        cancelled_long_ago = _sip(2, long_ago, {"cancelled": "PERSON_CANCELLED"})
        never_recorded = _sip(3, long_ago, None)
        held_recently = _sip(4, NOW - dt.timedelta(days=40), {
            "held_on": (NOW - dt.timedelta(days=33)).date().isoformat()})
        session = get_session()
        purged = purge_expired(session, NOW, days=180)
        session.commit()
        assert sorted(purged) == sorted([held_long_ago, cancelled_long_ago])
        for gone_id in purged:
            gone = session.get(Inquiry, gone_id)
            assert gone is not None and gone.content is None and gone.personnummer is None
        for kept in (never_recorded, held_recently):
            inquiry = session.get(Inquiry, kept)
            assert inquiry is not None and inquiry.content is not None


def test_the_worker_runs_retention_daily() -> None:
    assert recurring_kinds()[RETENTION_JOB] == dt.timedelta(days=1)


# --- free text written at closing and in withdrawals: sealed, shown, purged -------------------

CLOSING_TEXT = "Personen har flyttat till Lund."
NOTE = "Ringde in och återkallade samtycket."


def _stored(table: Table, column: str, **where: Any) -> Any:
    """The raw value in the database, as someone reading the tables (or a dump) sees it."""
    query = select(table.c[column])
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    return get_session().execute(query).scalar_one()


def test_closing_text_is_sealed_shown_and_purged(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    app: Flask = make_app()
    with app.app_context():
        parties()
        inquiry_id = _inquiry(1, NOW - dt.timedelta(days=400), 10)
        session = get_session()
        closed = session.scalars(select(Leg).where(
            Leg.inquiry_id == inquiry_id, Leg.kind == LegKind.CLOSED)).one()
        stored = _stored(LEGS, "text", id=closed.id)
        assert stored and CLOSING_TEXT.encode() not in bytes(stored)
        assert "text" not in (_stored(LEGS, "detail", id=closed.id) or {})
        assert closing_text(closed) == CLOSING_TEXT
        purge_expired(session, NOW, days=180)
        session.commit()
        assert _stored(LEGS, "text", id=closed.id) is None
        assert closing_text(closed) is None
        assert session.scalars(select(AuditEntry.object_id).where(
            AuditEntry.action == "inquiry.purged")).all() == [inquiry_id]


def test_withdrawal_note_is_sealed_and_purged_with_an_audit_entry(
    make_app: AppMaker, installed_pki: TestPki
) -> None:
    app: Flask = make_app()
    with app.app_context():
        parties()
        inquiry = get_session().get(Inquiry, _inquiry(1, NOW - dt.timedelta(days=400), None))
        assert inquiry is not None
        session = get_session()
        registered = NOW - dt.timedelta(days=200)
        withdraw_consent(
            session, personnummer=nth_personnummer(1), care_unit=inquiry.care_unit,
            sender_unit_id=inquiry.sender_unit_id, withdrawn_on=registered.date(),
            actor="user:handlaggare", now=registered, note=NOTE,
        )
        session.commit()
        withdrawal = session.scalars(select(ConsentWithdrawal)).one()
        stored = _stored(WITHDRAWALS, "note", id=withdrawal.id)
        assert stored and NOTE.encode() not in bytes(stored)
        assert withdrawal_note(withdrawal) == NOTE
        purge_expired(session, NOW, days=180)
        session.commit()
        assert _stored(WITHDRAWALS, "note", id=withdrawal.id) is None
        [entry] = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "consent_withdrawal.note_purged")).all()
        assert entry.detail == {"reason": "retention", "days": 180,
                                "withdrawals": [withdrawal.id]}
        # The withdrawal itself stays: it still blocks new inquiries (C7).
        assert session.get(ConsentWithdrawal, withdrawal.id) is not None


def test_migration_seals_free_text_kept_in_clear(
    committing_app: Flask, installed_pki: TestPki
) -> None:
    parties()
    inquiry = get_session().get(Inquiry, _inquiry(1, NOW - dt.timedelta(days=10), 1))
    assert inquiry is not None
    session = get_session()
    withdraw_consent(
        session, personnummer=nth_personnummer(1), care_unit=inquiry.care_unit,
        sender_unit_id=inquiry.sender_unit_id, withdrawn_on=NOW.date(), actor="user:a",
        now=NOW, note=NOTE,
    )
    session.commit()
    session.close()
    engine, vault = database(committing_app).engine, get_vault(committing_app)
    # Back to the schema before sealing: the values as they were kept then, in clear.
    downgrade(engine, BEFORE_SEALING, vault=vault)
    with engine.connect() as connection:
        details = connection.execute(text("SELECT detail FROM legs WHERE reason = 'OTHER'"))
        assert CLOSING_TEXT in str(details.scalar_one())
        notes = connection.execute(text("SELECT note FROM consent_withdrawals"))
        assert notes.scalar_one() == NOTE
    # Without the vault nothing can be sealed: the migration stops and changes nothing.
    with pytest.raises(RuntimeError, match="gateway db upgrade"):
        upgrade(engine)
    assert current_revision(engine) == BEFORE_SEALING
    upgrade(engine, vault=vault)
    session = get_session()
    closed = session.scalars(select(Leg).where(Leg.reason == "OTHER")).one()
    assert closing_text(closed) == CLOSING_TEXT
    assert "text" not in (closed.detail or {})
    withdrawal = session.scalars(select(ConsentWithdrawal)).one()
    assert NOTE.encode() not in bytes(withdrawal.note or b"")
    assert withdrawal_note(withdrawal) == NOTE
