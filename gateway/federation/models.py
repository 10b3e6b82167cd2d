"""Federation models: every SDK envelope sent to or received from a peer gateway (DESIGN 7)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forms.sdk.statuses import MessageStatus
from gateway.db import Base
from gateway.types import Created
from gateway.vault.columns import sealed_column


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class Kind(enum.StrEnum):
    MESSAGE = "message"
    RECEIPT = "receipt"


# Outgoing statuses after which nothing is sent any more.
FINAL_OUT = frozenset({
    MessageStatus.ACKNOWLEDGE, MessageStatus.WAITING_FOR_RECEIPT, MessageStatus.ACCEPTED,
    MessageStatus.REJECTED, MessageStatus.MESSAGE_EXCHANGE_ERROR,
})


def new_key() -> str:
    return str(uuid.uuid4())


class FederationEnvelope(Base):
    """One XHE envelope in or out: the exact bytes (sealed), who, what and how it went.

    `xhe_id` is the XHE Header/ID (the messageId for a message); a receipt's `ref_id` is the
    XHE ID it acknowledges. The row's own `key` names it in the vault context.
    """

    __tablename__ = "federation_envelopes"
    __table_args__ = (
        UniqueConstraint("direction", "xhe_id"),
        Index("ix_federation_envelopes_ref", "ref_id"),
        Index("ix_federation_envelopes_message", "message_id"),
    )

    key: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_key)
    xhe_id: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(10))
    peer: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(100))
    ref_id: Mapped[str | None] = mapped_column(String(100))
    inquiry_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(40))
    # {"code": "ACCEPTED"|"REJECTED", "reasons": [{"code", "reason", "line"}]}: the receipt
    # this envelope got (out) or was given (in).
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes | None] = sealed_column()
    created: Mapped[Created]
    updated: Mapped[dt.datetime | None]

    @property
    def vault_context(self) -> str:
        return f"federation_envelopes.content:{self.key}"
