"""The mail outbox: one row per message and recipient, with its Message-ID and the relay's "yes"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base
from gateway.types import Created


class OutboxMail(Base):
    """One mail to one recipient. Its Message-ID is chosen when the row is made and used on
    every attempt; `sent_at` is set, in a commit of its own, as soon as the relay accepts it,
    so a retry never sends it again. Subject and body carry no personal data."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the caller's key (a notification and its recipient): one row per key.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Created]
    sent_at: Mapped[dt.datetime | None]
