"""Personal data in lists: the person of an inquiry opened from the vault, the audit of showing
it, and finding an inquiry by name or personnummer without either in clear in the database.

Names are sealed in the form's content. They are found through a blind index: one keyed hash
(the vault's hash key, purpose "namn") of each word of the name, folded to lower case, written
at intake. A search matches whole words (every word typed must be a word of the name), never
parts of words: a prefix index would let anyone with the table guess names letter by letter.
Personnummer are found by the keyed hash the repeat check already keeps (`person_hash`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, delete, exists, insert, select
from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from forms.errors import FormError
from forms.formtypes import IntakeForm, kind_named, parse_form
from forms.halsoforfragan import Halsoforfragan
from forms.identifiers import IdentifierError, hyphenated, parse_personnummer
from gateway import codes
from gateway.audit.reads import record_read
from gateway.db import Rows
from gateway.errors import GatewayError
from gateway.inquiries.models import Inquiry, InquiryNameToken
from gateway.vault.service import get_vault

NAME_PURPOSE = "namn"
_TOKENS = cast(Table, InquiryNameToken.__table__)
_ADD_TOKENS = insert(_TOKENS)
MAX_WORDS = 5
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def name_words(text: str) -> list[str]:
    """Return the words of a name, folded (NFC, lower case), in order, without repeats."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).casefold())
    return list(dict.fromkeys(words))


def index_name(session: Session, inquiry_id: str, name: str, *, new: bool = False) -> None:
    """Write the blind index of the person's name for the inquiry (in the caller's
    transaction), replacing any earlier one (none to replace for a `new` inquiry)."""
    if not new:
        session.execute(delete(InquiryNameToken).where(InquiryNameToken.inquiry_id == inquiry_id))
    rows = name_rows(inquiry_id, name).rows
    if rows:
        # Core, not the unit of work: nothing reads the tokens back as objects, and the unit
        # of work's per-object bookkeeping cost more than the INSERT (issue 17). Pending
        # objects (the inquiry) are still flushed before it.
        session.execute(_ADD_TOKENS, list(rows))


def name_rows(inquiry_id: str, name: str) -> Rows:
    """The blind index of a new inquiry's name (`index_name`'s rows), for gateway.db.insert_with
    to write with the inquiry."""
    vault = get_vault()
    return Rows(_TOKENS, tuple({"inquiry_id": inquiry_id,
                                "token_hash": vault.keyed_hash(word, NAME_PURPOSE)}
                               for word in name_words(name)))


def forget_name(session: Session, inquiry_id: str) -> None:
    """Remove the blind index of the inquiry's name (its content is purged)."""
    session.execute(delete(InquiryNameToken).where(InquiryNameToken.inquiry_id == inquiry_id))


def name_matches(text: str) -> ColumnElement[bool] | None:
    """Return an SQL condition on Inquiry: every word typed is a word of the person's name;
    None when the text has no word."""
    words = name_words(text)[:MAX_WORDS]
    if not words:
        return None
    vault = get_vault()
    return and_(*(exists(select(InquiryNameToken.inquiry_id).where(
        InquiryNameToken.inquiry_id == Inquiry.id,
        InquiryNameToken.token_hash == vault.keyed_hash(word, NAME_PURPOSE),
    )) for word in words))


def personnummer_hash(text: str) -> str | None:
    """Return the keyed hash of a personnummer typed with or without hyphen (12 digits, or 10
    with the most recent century that makes the birth date past); None when the text is none."""
    digits = re.sub(r"[\s-]", "", text)
    if not digits.isdigit() or len(digits) not in (10, 12):
        return None
    if len(digits) == 10:
        year = stockholm_today().year
        born = year // 100 * 100 + int(digits[:2])
        digits = str(born if born <= year else born - 100)[:2] + digits
    try:
        parse_personnummer(digits)
    except IdentifierError:
        return None
    return get_vault().keyed_hash(digits)


def inquiry_form(inquiry: Inquiry) -> Halsoforfragan:
    """Return the stored hälsoförfrågan, opened from the vault; 410 when its content has been
    purged."""
    form = stored_form(inquiry)
    assert isinstance(form, Halsoforfragan), inquiry.form_type
    return form


def stored_form(inquiry: Inquiry) -> IntakeForm:
    """Return the stored form of the inquiry's form type (a hälsoförfrågan, a sipKallelse),
    opened from the vault; 410 when its content has been purged."""
    if inquiry.content is None:
        raise GatewayError.at(
            codes.CONTENT_PURGED,
            "Förfrågans innehåll har raderats (återkallat samtycke eller gallring).", status=410,
        )
    data = get_vault().open(inquiry.content, f"inquiries.content:{inquiry.id}")
    try:
        return parse_form(data, kind=kind_named(inquiry.form_type))[1]
    except FormError:  # it was valid when stored; a schema change must not crash a page
        raise GatewayError.at(
            codes.CONTENT_UNREADABLE, "Den lagrade förfrågan kan inte läsas med nuvarande schema.",
            status=500,
        ) from None


def person_of(inquiry: Inquiry) -> tuple[str, str] | None:
    """Return (name, personnummer with hyphen) opened from the vault, or None when purged."""
    if inquiry.content is None:
        return None
    try:
        form = stored_form(inquiry)
    except GatewayError:
        return None
    return form.person.namn, hyphenated(form.person.personnummer)


def audit_reads(session: Session, actor: str, ids: list[str], purpose: str) -> None:
    """Log the read of each inquiry shown, with its purpose (once per access session)."""
    for inquiry_id in ids:
        record_read(session, actor=actor, action="inquiry.read", object_type="inquiry",
                    object_id=inquiry_id, purpose=purpose, channel="web")


def index_missing_names(session: Session) -> int:
    """Write the blind index of the name of every inquiry that still has its content and no
    index yet (inquiries taken in before the index existed); return how many. In the caller's
    transaction."""
    indexed = select(InquiryNameToken.inquiry_id)
    missing = session.scalars(select(Inquiry).where(
        Inquiry.content.is_not(None), Inquiry.id.not_in(indexed)).order_by(Inquiry.id))
    count = 0
    for inquiry in missing:
        person = person_of(inquiry)
        if person is not None:
            index_name(session, inquiry.id, person[0])
            count += 1
    return count
