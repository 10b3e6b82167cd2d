"""The REKO-status: a short status a REKO sets on a case as a memory aid (Kontaktad, Aktiv,
Uppföljning, Avslutad), shared with the colleagues of the care unit; every change audited."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway import codes
from gateway.audit.service import record
from gateway.errors import GatewayError
from gateway.inquiries.models import Inquiry, InquiryMark, MarkKind

MARK_LABELS: dict[MarkKind, str] = {
    MarkKind.KONTAKTAD: "Kontaktad",
    MarkKind.AKTIV: "Aktiv",
    MarkKind.UPPFOLJNING: "Uppföljning",
    MarkKind.AVSLUTAD: "Avslutad",
}


def parse_mark(text: str | None) -> MarkKind | None:
    """Return the REKO-status chosen ("" clears it); 422 for any other value."""
    if not text:
        return None
    try:
        return MarkKind(text)
    except ValueError:
        raise GatewayError.at(codes.MARK_INVALID, "Välj en av REKO-statusarna i listan.",
                              status=422) from None


def mark_of(session: Session, inquiry: Inquiry) -> MarkKind | None:
    """Return the REKO-status set on the inquiry at the care unit it is routed to now."""
    return session.scalar(select(InquiryMark.mark).where(
        InquiryMark.inquiry_id == inquiry.id, InquiryMark.care_unit_id == inquiry.care_unit_id))


def set_mark(session: Session, inquiry: Inquiry, mark: MarkKind | None, *, actor: str,
             now: dt.datetime) -> None:
    """Set (or with None clear) the inquiry's REKO-status at its care unit, in the caller's
    transaction, and audit the change with the status before and after."""
    before = mark_of(session, inquiry)
    session.execute(delete(InquiryMark).where(InquiryMark.inquiry_id == inquiry.id))
    if mark is not None:
        session.add(InquiryMark(inquiry_id=inquiry.id, care_unit_id=inquiry.care_unit_id,
                                mark=mark, set_by=actor, set_at=now))
    record(session, actor=actor, action="inquiry.marked", object_type="inquiry",
           object_id=inquiry.id,
           detail={"care_unit": inquiry.care_unit.hsa_id,
                   "before": before.value if before else None,
                   "after": mark.value if mark else None})
