"""The REKO's answer drafts: the composer's fields kept sealed between sessions until the
answer is sent or the draft discarded; gone when the inquiry is answered, closed, re-routed or
purged."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.audit.service import record
from gateway.inquiries.models import AnswerDraft, Inquiry
from gateway.vault.service import get_vault

# At most this many fields of at most FIELD_LIMIT characters: a draft holds the composer's
# answers (one per question), the physician's name and HSA-id and the SIP choice.
FIELD_COUNT_LIMIT = 20
FIELD_LIMIT = 20_000


def _draft_of(session: Session, inquiry_id: str, author: str) -> AnswerDraft | None:
    return session.scalars(select(AnswerDraft).where(
        AnswerDraft.inquiry_id == inquiry_id, AnswerDraft.author == author)).one_or_none()


def _bounded(fields: dict[str, str]) -> dict[str, str]:
    """Return the fields worth keeping: non-empty, within the limits (the composer's own)."""
    kept = {name[:100]: value[:FIELD_LIMIT] for name, value in fields.items() if value.strip()}
    return dict(list(kept.items())[:FIELD_COUNT_LIMIT])


def save_draft(session: Session, inquiry: Inquiry, *, author: str, fields: dict[str, str],
               now: dt.datetime) -> None:
    """Keep `fields` as the author's draft of the answer to `inquiry` (replacing an earlier
    one), sealed; audited. The caller commits."""
    draft = _draft_of(session, inquiry.id, author)
    if draft is None:
        draft = AnswerDraft(inquiry_id=inquiry.id, author=author, saved_at=now)
        session.add(draft)
        session.flush()  # the draft's id is in the sealing context
    payload = json.dumps(_bounded(fields), ensure_ascii=False).encode("utf-8")
    draft.content = get_vault().seal(payload, draft.content_context)
    draft.saved_at = now
    record(session, actor=author, action="answer.draft_saved", object_type="inquiry",
           object_id=inquiry.id)


def load_draft(session: Session, inquiry: Inquiry, *, author: str) -> tuple[dict[str, str],
                                                                            dt.datetime] | None:
    """Return the author's draft fields and when they were saved; None without a draft."""
    draft = _draft_of(session, inquiry.id, author)
    if draft is None or draft.content is None:
        return None
    fields = json.loads(get_vault().open(draft.content, draft.content_context))
    return {str(k): str(v) for k, v in fields.items()}, draft.saved_at


def discard_draft(session: Session, inquiry: Inquiry, *, author: str) -> bool:
    """Delete the author's draft; return whether there was one (audited when there was)."""
    draft = _draft_of(session, inquiry.id, author)
    if draft is None:
        return False
    session.delete(draft)
    record(session, actor=author, action="answer.draft_discarded", object_type="inquiry",
           object_id=inquiry.id)
    return True


def drop_drafts(session: Session, inquiry_id: str) -> None:
    """Delete every draft of the inquiry: it was answered, closed, re-routed or purged, so no
    draft can be sent any more (the event itself is audited by its caller)."""
    session.execute(delete(AnswerDraft).where(AnswerDraft.inquiry_id == inquiry_id))
