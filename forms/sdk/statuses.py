"""KV Meddelandestatus (B1.4.2): the statuses of an SDK message, shared by the message API's
view and the envelopes between gateways (DESIGN 7.3)."""

from __future__ import annotations

import enum


class MessageStatus(enum.StrEnum):
    """KV Meddelandestatus (B1.4.2)."""

    # Outgoing.
    SCHEDULED = "SCHEDULED"
    SUBMITTED = "SUBMITTED"
    SCHEDULED_FOR_RESEND = "SCHEDULED_FOR_RESEND"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    WAITING_FOR_RECEIPT = "WAITING_FOR_RECEIPT"
    MESSAGE_EXCHANGE_ERROR = "MESSAGE_EXCHANGE_ERROR"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    # Incoming.
    RETRIEVED = "RETRIEVED"
    RECEIPT_SENT = "RECEIPT_SENT"
    NEW = "NEW"
    ERROR = "ERROR"
