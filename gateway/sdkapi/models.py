"""SDK API models: what an SDK envelope adds to an inquiry, and which client hid which message."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base
from gateway.types import Created


class SdkEnvelope(Base):
    """The SDK header fields of a message (an inquiry or its answer) that the content does not
    carry. Messages that came another way have none; the message view then uses defaults.
    """

    __tablename__ = "sdk_envelopes"
    __table_args__ = (UniqueConstraint("inquiry_id", "kind"),)

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(ForeignKey("inquiries.id"))
    # "inquiry" or "answer".
    kind: Mapped[str] = mapped_column(String(10))
    conversation_id: Mapped[str] = mapped_column(String(36))
    label: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[Created]


class SdkDeletion(Base):
    """A client's DELETE of a message: the message leaves that client's view, nothing else.

    Legs, statistics and the other party's view stay; this row is the record of the deletion.
    """

    __tablename__ = "sdk_deletions"
    __table_args__ = (UniqueConstraint("api_client_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    deleted_at: Mapped[dt.datetime]
