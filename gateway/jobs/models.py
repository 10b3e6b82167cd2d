"""Job model: work written in the same transaction as the change that causes it (outbox)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base
from gateway.types import Created, enum_column


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Job(Base):
    """One unit of background work; a claim is a lease that expires when its worker dies."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "run_at"),
        Index("ix_jobs_lane_due", "lane", "state", "run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    # Which lane's turn the job waits for (registry.LANES), from its kind's handler.
    lane: Mapped[str] = mapped_column(String(20), default="default", server_default="default")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Enqueueing twice with one key makes one job.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[JobState] = enum_column(JobState, default=JobState.PENDING)
    run_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=25)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]
    finished_at: Mapped[dt.datetime | None]
