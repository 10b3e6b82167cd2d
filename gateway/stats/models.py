"""Statistics models: the pre-gateway manual histories (inquiries, SIPs), without personal data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base
from gateway.inquiries.models import BucketChanges, CloseReason
from gateway.types import Created, HsaId, Name, enum_column


class HistoryInquiry(Base):
    """One inquiry from the manual history (DESIGN 5.7): Swedish calendar dates, no times.

    The reference is the project's own case reference, not a personal identifier; the row
    names the care unit and the sending unit only.
    """

    __tablename__ = "history_inquiries"
    # The yearly report reads a range of sent_on and these columns only, grouped in this
    # order: SQLite then scans the index alone, in order, without sorting (about 1 s for a
    # million rows, against 7 s with an index on sent_on alone).
    __table_args__ = (
        Index(
            "ix_history_inquiries_report",
            "sent_on", "care_unit", "sender_unit", "answer_registered_on", "closed_on",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    care_unit: Mapped[HsaId]
    sender_unit: Mapped[Name]
    sent_on: Mapped[dt.date]
    answer_registered_on: Mapped[dt.date | None]
    closed_on: Mapped[dt.date | None]
    close_reason: Mapped[CloseReason | None] = enum_column(CloseReason, nullable=True)
    imported_at: Mapped[Created]


class HistoryDayCount(BucketChanges, Base):
    """The history's counts in the yearly report (DESIGN 5.7) as changes per day: per cohort
    month (the first day of the month of `sent_on`), care unit, sending unit and day, how much
    each bucket (engine.BUCKETS, in that order) changes from that day on; the counts as of a
    date are the sums over the days up to it (gateway.stats.historycounts). Kept as rows are
    imported; derived data: historycounts.rebuild makes it again from the rows."""

    __tablename__ = "history_day_counts"
    # On SQLite the rows are stored in key order (the report reads a range of months).
    __table_args__ = {"sqlite_with_rowid": False}

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    care_unit: Mapped[HsaId] = mapped_column(primary_key=True)
    sender_unit: Mapped[Name] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)


class HistorySip(Base):
    """One SIP from the manual history counted before the gateway (DESIGN 5.8): Swedish calendar
    dates only, the care unit and the sending unit, never the person."""

    __tablename__ = "history_sips"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    care_unit: Mapped[HsaId]
    sender_unit: Mapped[Name]
    invited_on: Mapped[dt.date] = mapped_column(index=True)
    held_on: Mapped[dt.date | None] = mapped_column(index=True)
    cancelled_on: Mapped[dt.date | None] = mapped_column(index=True)
    # Whether the VC's REKO came to the meeting (None: not recorded, or not held).
    reko_attended: Mapped[bool | None]
    imported_at: Mapped[Created]
