"""Inquiry models: the hälsoförfrågan, its legs, its answer, their SDK messages and registered
consent withdrawals."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from gateway.db import Base
from gateway.directory.models import CareUnit, SenderUnit
from gateway.types import Created, enum_column
from gateway.vault.columns import sealed_column


class LegKind(enum.StrEnum):
    SUBMITTED = "submitted"
    RECEIVED = "received"
    ROUTED = "routed"
    NOTIFIED = "notified"
    OPENED = "opened"
    ANSWERED = "answered"
    ANSWER_DELIVERED = "answer_delivered"
    REGISTERED = "registered"
    CLOSED = "closed"
    REJECTED = "rejected"
    REROUTED = "rerouted"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    # SIP (DESIGN 5.8): the VC's reply, the meeting held or cancelled, the plan shared.
    REPLIED = "replied"
    HELD = "held"
    CANCELLED = "cancelled"
    PLAN_SHARED = "plan_shared"


class FormType(enum.StrEnum):
    """The form types the gateway carries (DESIGN 5.8): each is a module in `forms/`."""

    HALSOFORFRAGAN = "halsoforfragan"
    SIP = "sip"


class CloseReason(enum.StrEnum):
    """Why an inquiry was closed without an answer; every one counts as "Ej svar, ok anledning"."""

    RELISTED = "RELISTED"
    INFO_VIA_SIP = "INFO_VIA_SIP"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    WITHDRAWN_BY_SENDER = "WITHDRAWN_BY_SENDER"
    PERSON_MOVED = "PERSON_MOVED"
    PERSON_DECEASED = "PERSON_DECEASED"
    DUPLICATE = "DUPLICATE"
    OTHER = "OTHER"


class SipCancelReason(enum.StrEnum):
    """Why a SIP meeting was cancelled (sip_meetings.cancel_reason; DESIGN 5.8)."""

    PERSON_CANCELLED = "PERSON_CANCELLED"
    PERSON_ABSENT = "PERSON_ABSENT"
    SENDER_CANCELLED = "SENDER_CANCELLED"
    CARE_UNIT_CANCELLED = "CARE_UNIT_CANCELLED"
    RESCHEDULED = "RESCHEDULED"
    OTHER = "OTHER"


class Inquiry(Base):
    """A case of one form type sent to a care unit: a hälsoförfrågan or a SIP invitation.
    Personal data only in sealed (encrypted) columns."""

    __tablename__ = "inquiries"
    # The repeat check looks for earlier inquiries about one person to one care unit.
    __table_args__ = (
        Index("ix_inquiries_person_care_unit", "person_hash", "care_unit_id"),
        Index("ix_inquiries_reference", "reference", unique=True),
    )

    # The sender's UUID from the form: the idempotency key and the SDK messageId.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    form_type: Mapped[FormType] = enum_column(
        FormType, default=FormType.HALSOFORFRAGAN, server_default="halsoforfragan", index=True
    )
    # The short reference both sides quote ("HF-2026-000123"), given at intake (references.py).
    reference: Mapped[str] = mapped_column(String(20))
    sender_unit_id: Mapped[int] = mapped_column(ForeignKey("sender_units.id"))
    care_unit_id: Mapped[int] = mapped_column(ForeignKey("care_units.id"))
    routed_to: Mapped[str] = mapped_column(String(200))
    reply_to: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the received bytes: the same id with other content is a conflict.
    content_digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = sealed_column()
    personnummer: Mapped[bytes | None] = sealed_column()
    person_hash: Mapped[str] = mapped_column(String(64), index=True)
    # The signed receipt exactly as issued (canonical JSON) and its detached CMS signature
    # (DER, carrying the signer's certificate): a repeat of the same send returns these bytes.
    # Not sealed: it holds ids, times and digests, no personal data.
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary)
    receipt_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How it arrived: "api", "sdk", "web", "smtp" (the intake always says).
    channel: Mapped[str] = mapped_column(String(20), default="unknown")
    # Flags the sender and the REKO see: [{"code": "REPEAT", "title": ..., "inquiry": id}, ...].
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deadline: Mapped[dt.date]
    consent_valid_to: Mapped[dt.date]
    repeat_of: Mapped[str | None] = mapped_column(ForeignKey("inquiries.id"))
    submitted_by: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the secret in the REKO's reply address (svar+<token>@domain): answers by mail
    # find their inquiry by it; the token itself is never stored.
    reply_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the gateway received it (the `received` leg's time).
    created_at: Mapped[Created]
    purged_at: Mapped[dt.datetime | None]

    sender_unit: Mapped[SenderUnit] = relationship()
    care_unit: Mapped[CareUnit] = relationship()
    legs: WriteOnlyMapped[Leg] = relationship(order_by="Leg.id", passive_deletes=True)


class ReferenceCounter(Base):
    """The last reference number given in a year (Swedish calendar year of intake)."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int]


class MarkKind(enum.StrEnum):
    """The REKO's own short status of a case, a memory aid (Rehabstöd's REKO-status)."""

    KONTAKTAD = "KONTAKTAD"
    AKTIV = "AKTIV"
    UPPFOLJNING = "UPPFOLJNING"
    AVSLUTAD = "AVSLUTAD"


class InquiryMark(Base):
    """The REKO-status set on an inquiry at one care unit: colleagues of that unit see it; a
    re-routed inquiry starts without one at its new unit."""

    __tablename__ = "inquiry_marks"

    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), primary_key=True
    )
    care_unit_id: Mapped[int] = mapped_column(ForeignKey("care_units.id"))
    mark: Mapped[MarkKind] = enum_column(MarkKind)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime]


class InquiryNameToken(Base):
    """A blind index of the person's name: one keyed hash (vault, purpose "namn") per word of
    the name, so the inbox finds a name without the name being stored or searched in clear.
    Removed with the content when it is purged."""

    __tablename__ = "inquiry_name_tokens"

    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Leg(Base):
    """One append-only event in an inquiry's journey, in UTC; statistics derive from these."""

    __tablename__ = "legs"

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(ForeignKey("inquiries.id"), index=True)
    kind: Mapped[LegKind] = enum_column(LegKind, index=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Free text written at closing (may name the person's circumstances): sealed like other
    # content and purged with it (closing.closing_text reads it).
    text: Mapped[bytes | None] = sealed_column()


class InquirySummary(Base):
    """Per inquiry, kept as its legs are written (workflow.add_leg): the status the legs give,
    and the first time of each kind the statistics read. Derived data: rebuildable from the
    legs (workflow.rebuild_summaries) and always equal to what they give."""

    __tablename__ = "inquiry_summaries"
    __table_args__ = (
        Index("ix_inquiry_summaries_status", "status"),
        Index("ix_inquiry_summaries_started", "started"),
        # The leg times' percentiles walk one of these from a value on (extras._at_rank), reading
        # no row.
        *(
            Index(f"ix_inquiry_summaries_{name}", name, "started", "form_type",
                  sqlite_where=text(f"{name} IS NOT NULL"),
                  postgresql_where=text(f"{name} IS NOT NULL"))
            for name in ("received_opened_s", "opened_answered_s", "answered_delivered_s",
                         "delivered_registered_s")
        ),
    )

    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), primary_key=True
    )
    # The workflow's status after the legs in the order written (workflow.Status values).
    status: Mapped[str] = mapped_column(String(40))
    # The earliest leg of each kind (None: none yet).
    submitted: Mapped[dt.datetime | None]
    received: Mapped[dt.datetime | None]
    opened: Mapped[dt.datetime | None]
    answered: Mapped[dt.datetime | None]
    answer_delivered: Mapped[dt.datetime | None]
    registered: Mapped[dt.datetime | None]
    closed: Mapped[dt.datetime | None]
    # When the cohort counts it from: submitted, else received.
    started: Mapped[dt.datetime | None]
    # The inquiry's form type, units and deadline as counted in inquiry_day_counts (a reroute
    # moves its counts to the new care unit when the transaction commits).
    form_type: Mapped[str | None] = mapped_column(String(40))
    care_unit_id: Mapped[int | None]
    sender_unit_id: Mapped[int | None]
    deadline: Mapped[dt.date | None]
    # The seconds of each leg (daycounts.PAIRS) between the first times, as the database computes
    # them (sqltime.epoch_seconds of each end); None where either end is missing.
    received_opened_s: Mapped[int | None] = mapped_column(BigInteger)
    opened_answered_s: Mapped[int | None] = mapped_column(BigInteger)
    answered_delivered_s: Mapped[int | None] = mapped_column(BigInteger)
    delivered_registered_s: Mapped[int | None] = mapped_column(BigInteger)

    inquiry: Mapped[Inquiry] = relationship()


class InquiryLegTimeCount(Base):
    """How many hälsoförfrågningar of a cohort month (the first day of the Stockholm month of
    sending) have a leg (daycounts.PAIRS index) whose seconds fall in a bin (daycounts.bin_of):
    the percentiles of the leg times find their bin here and walk only that bin's summaries.
    Counts every leg once both its ends exist (not as of a date). Kept with the summaries."""

    __tablename__ = "inquiry_leg_time_counts"
    # On SQLite the rows are stored in key order (the report reads a range of months).
    __table_args__ = {"sqlite_with_rowid": False}

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    leg: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bin: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(default=0)


class BucketChanges:
    """The yearly report's five buckets (engine.BUCKETS) as columns of a table of changes per
    day: how much each bucket changes from that day on."""

    n_1_39: Mapped[int] = mapped_column(default=0)
    n_40_59: Mapped[int] = mapped_column(default=0)
    n_60: Mapped[int] = mapped_column(default=0)
    n_closed_ok: Mapped[int] = mapped_column(default=0)
    n_ongoing: Mapped[int] = mapped_column(default=0)


class InquiryDayCount(BucketChanges, Base):
    """The yearly report's live counts (DESIGN 5.7) as changes per day: per cohort month (the
    first day of the Stockholm month of sending), care unit, sending unit and day, how much each
    measure (daycounts.MEASURES) changes from that day on; the counts as of a date are the sums
    over the days up to it. Kept with the summaries (workflow.add_leg), derived data:
    workflow.rebuild_summaries makes them again from the legs."""

    __tablename__ = "inquiry_day_counts"
    # On SQLite the rows are stored in key order (the report reads a range of months).
    __table_args__ = {"sqlite_with_rowid": False}

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    care_unit_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sender_unit_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    within_target: Mapped[int] = mapped_column(default=0)
    target_due: Mapped[int] = mapped_column(default=0)
    past_deadline: Mapped[int] = mapped_column(default=0)


class Answer(Base):
    """An accepted answer: the exact signed PDF bytes (sealed) and its validation report."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(ForeignKey("inquiries.id"), unique=True)
    pdf_digest: Mapped[str] = mapped_column(String(64))
    structured: Mapped[bytes | None] = sealed_column()
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_at: Mapped[dt.datetime | None]
    accepted_at: Mapped[Created]
    submitted_by: Mapped[str] = mapped_column(String(200))
    # Up to 30 MB: loaded when read, not with every query of answers. Written in pieces after
    # the INSERT (gateway.db.write_blob_in_place); the last column, since on SQLite the pieces
    # go in place, which needs the record to end with it.
    pdf: Mapped[bytes | None] = sealed_column(deferred=True)

    inquiry: Mapped[Inquiry] = relationship()


class AnswerDraft(Base):
    """A REKO's unsent answer to one inquiry, kept between sessions until it is sent or
    discarded: the composer's fields as JSON, sealed (they describe the person's health).
    Each REKO has their own; gone when the inquiry is answered, closed or purged."""

    __tablename__ = "answer_drafts"
    __table_args__ = (UniqueConstraint("inquiry_id", "author"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), index=True
    )
    # The REKO's audit actor ("user:<username>").
    author: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes | None] = sealed_column()
    saved_at: Mapped[dt.datetime]

    @property
    def content_context(self) -> str:
        return f"answer_drafts.content:{self.id}"


class SdkMessage(Base):
    """The SDK message (messagePayload XML, sealed) of an inquiry or of its answer: exactly as
    the client sent it over the SDK API (its own messageId, header values and files), or as the
    gateway built it for a form or answer that came another way. The SDK API reads its header
    values from here. A plain message (kind "message": no form, no answer) belongs to no
    inquiry; it carries its sender's and recipient's functional addresses itself."""

    __tablename__ = "sdk_messages"
    # One inquiry message and one answer message per inquiry; a SIP invitation may have several
    # reply messages (the VC may reply again while the meeting is ahead).
    __table_args__ = (
        Index("uq_sdk_messages_inquiry_id_kind", "inquiry_id", "kind", unique=True,
              sqlite_where=text("kind <> 'reply'"), postgresql_where=text("kind <> 'reply'")),
    )

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    inquiry_id: Mapped[str | None] = mapped_column(ForeignKey("inquiries.id"), index=True)
    # "inquiry", "answer", "reply" (a SIP invitation's reply) or "message" (plain).
    kind: Mapped[str] = mapped_column(String(10))
    # A plain message's functional addresses (an inquiry's and an answer's are the inquiry's).
    sender_address: Mapped[str | None] = mapped_column(String(200), index=True)
    recipient_address: Mapped[str | None] = mapped_column(String(200), index=True)
    # How the message came: "sdk" (as the client sent it), else the channel it was built for.
    channel: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[str] = mapped_column(String(36))
    # SHA-256 of what the sender sent: the same messageId with another digest is a conflict.
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = sealed_column()
    created_at: Mapped[Created]


class SipMeeting(Base):
    """A SIP invitation's meeting, the VC's latest reply and the sender's outcome: what the
    inbox, the reminders and the SIP statistics read without opening the sealed invitation.
    No personal data. The events themselves are legs (replied, held, cancelled)."""

    __tablename__ = "sip_meetings"

    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), primary_key=True
    )
    # The proposed start (mote/tid) in UTC, its length, and the reply due date (svarSenast).
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    length_minutes: Mapped[int]
    reply_due: Mapped[dt.date]
    # The latest reply: KOMMER | KOMMER_INTE | NYTT_FORSLAG (None: no reply yet), and the new
    # time the VC proposed with NYTT_FORSLAG (UTC).
    decision: Mapped[str | None] = mapped_column(String(20))
    proposed_at: Mapped[dt.datetime | None]
    # The outcome the sender recorded: the Swedish date it was held, or cancelled with a
    # reason; whether the VC's REKO came (None: not recorded).
    held_on: Mapped[dt.date | None] = mapped_column(index=True)
    cancelled_on: Mapped[dt.date | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    reko_attended: Mapped[bool | None]


class SipPlan(Base):
    """The plan agreed at a held SIP meeting, as the sender shared it with the VC (DESIGN 5.8):
    the PDF (sealed, context "sip_plans.pdf:<inquiry id>"), its digest and size, and who shared
    it when. A later share replaces it; the row goes when the invitation's content is purged."""

    __tablename__ = "sip_plans"

    inquiry_id: Mapped[str] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), primary_key=True
    )
    pdf_digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    shared_by: Mapped[str] = mapped_column(String(200))
    shared_at: Mapped[dt.datetime]
    # Loaded when read, not with the row; the last column (as answers.pdf).
    pdf: Mapped[bytes | None] = sealed_column(deferred=True)

    @property
    def pdf_context(self) -> str:
        return f"sip_plans.pdf:{self.inquiry_id}"


class ConsentWithdrawal(Base):
    """A person's withdrawal of consent towards one care unit (rule C7)."""

    __tablename__ = "consent_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_hash: Mapped[str] = mapped_column(String(64), index=True)
    care_unit_id: Mapped[int] = mapped_column(ForeignKey("care_units.id"))
    # The unit whose consent was withdrawn: the person consented towards that unit, so the
    # withdrawal blocks its inquiries only. None (registered before units were recorded) blocks
    # every unit's.
    sender_unit_id: Mapped[int | None] = mapped_column(ForeignKey("sender_units.id"))
    withdrawn_on: Mapped[dt.date]
    registered_by: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[Created]
    # The case worker's free-text note: sealed, purged by retention (closing.withdrawal_note).
    note: Mapped[bytes | None] = sealed_column()
    # Only for a care unit a peer gateway serves, until the notice to the peer is sealed in its
    # envelope: the peer's keyed hash differs from ours, so it needs the number itself.
    personnummer: Mapped[bytes | None] = sealed_column()

    @property
    def personnummer_context(self) -> str:
        return f"consent_withdrawals.personnummer:{self.id}"


class IntakeRejection(Base):
    """One refused intake, for error statistics: when, channel, organisation and rule codes only.

    Never the content, the form id or anything about the person.
    """

    __tablename__ = "intake_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str] = mapped_column(String(100))
    codes: Mapped[list[str]] = mapped_column(JSON)
    # The form type it was sent as (FormType values; None: not known, or refused before the
    # type was recorded: the hälsoförfrågan report counts those).
    form_type: Mapped[str | None] = mapped_column(String(40))


class SigningRequest(Base):
    """An answer prepared for a signature made where the key is (the REKO's browser, or a
    central signing service): the prepared PDF and its structured answer, sealed, until the
    signature value comes back or the request expires. The id is the one-time handle."""

    __tablename__ = "signing_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(ForeignKey("inquiries.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    state: Mapped[bytes] = sealed_column()
    structured: Mapped[bytes | None] = sealed_column()
    created_at: Mapped[Created]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
