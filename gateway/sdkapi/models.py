"""SDK API models: which client hid (deleted) which message from its view."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


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
