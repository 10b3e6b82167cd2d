"""The short reference an inquiry is quoted by ("HF-2026-000123", a SIP "SIP-2026-000124"):
numbered per Swedish calendar year at intake, one series for every form type (so a number alone
names one case), the prefix saying the type; read back from what a user types."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.inquiries.models import Inquiry, ReferenceCounter

PREFIX = "HF"
SIP_PREFIX = "SIP"
PREFIXES = (PREFIX, SIP_PREFIX)
_TYPED = re.compile(r"^(?:HF|SIP)?[-\s]*(\d{4})?[-\s]*0*(\d{1,6})$")


# Core statements on the tables, built once: an intake numbers every inquiry, and an ORM-enabled
# UPDATE, built anew each time, cost more than its round trip (it also looks through the
# session's objects to synchronise them; no counter object is ever loaded). No parameter is
# named as a column of a table updated: it would be SET too.
_COUNTERS = ReferenceCounter.metadata.tables[ReferenceCounter.__tablename__]
_INQUIRIES = Inquiry.metadata.tables[Inquiry.__tablename__]
_COUNT = (update(_COUNTERS).where(_COUNTERS.c.year == bindparam("of_year"))
          .values(last=_COUNTERS.c.last + 1).returning(_COUNTERS.c.last))
_SET_REFERENCE = (update(_INQUIRIES).where(_INQUIRIES.c.id == bindparam("inquiry_id"))
                  .values(reference=bindparam("v_reference")))


def next_reference(session: Session, now: dt.datetime, prefix: str = PREFIX) -> str:
    """Return the next reference of `now`'s Swedish year, counted in the caller's transaction.

    The counter row is updated in place, so concurrent intakes wait for each other's number
    (PostgreSQL's row lock, SQLite's write lock); the year's first row is inserted, and a
    concurrent insert of the same year makes this one update instead.
    """
    year = local_date(now).year
    for _ in range(2):
        number = session.scalar(_COUNT, {"of_year": year})
        if number is not None:
            return format_reference(year, number, prefix)
        try:
            with session.begin_nested():
                session.execute(insert(_COUNTERS).values(year=year, last=1))
        except IntegrityError:
            continue
        return format_reference(year, 1, prefix)
    raise RuntimeError(f"reference counter of {year} could neither be updated nor created")


def number_inquiry(session: Session, inquiry_id: str, now: dt.datetime,
                   prefix: str = PREFIX) -> str:
    """Give the inquiry `inquiry_id`, stored in this transaction, the next reference of `now`'s
    Swedish year (as `next_reference` counts it) and return it. On PostgreSQL the counter and
    the inquiry are one statement (a data-modifying CTE), so the counter's lock, held to the
    commit, waits one round trip less (issue 17); on SQLite two. A year's first number, with
    no counter row yet, takes `next_reference`'s way and then the inquiry's UPDATE."""
    year = local_date(now).year
    if session.get_bind().dialect.name == "postgresql":
        reference = session.scalar(_NUMBERING,
                                   {"of_year": year, "prefix": prefix, "inquiry_id": inquiry_id})
        if reference is not None:
            return str(reference)
    reference = next_reference(session, now, prefix)
    session.execute(_SET_REFERENCE, {"inquiry_id": inquiry_id, "v_reference": reference})
    return reference


def _numbering() -> Any:
    """`number_inquiry`'s statement on PostgreSQL: the reference formatted as
    `format_reference` does (at least six digits, never cut)."""
    counted = _COUNT.cte("counted")
    digits = cast(counted.c.last, String)
    number = select(func.lpad(digits, func.greatest(6, func.length(digits)), "0"))
    reference = (bindparam("prefix", type_=String) + "-" + cast(bindparam("of_year"), String) + "-"
                 + number.scalar_subquery())
    # No row of the year: nothing counted, nothing numbered (the caller makes the row).
    return (update(_INQUIRIES)
            .where(_INQUIRIES.c.id == bindparam("inquiry_id"), select(counted.c.last).exists())
            .values(reference=reference).returning(_INQUIRIES.c.reference))


_NUMBERING = _numbering()


def placeholder_reference() -> str:
    """Return what an inquiry's reference column holds from its INSERT until the intake gives
    it its number at the end of the same transaction (never committed; not a reference's shape).
    Random, not derived from the inquiry's id: a concurrent send of the same id would otherwise
    wait on the reference's unique index while its own speculative entry under the id is in
    place, and the first send's UPDATE of the reference would wait on that entry (PostgreSQL
    reports the deadlock)."""
    return f"~{secrets.token_hex(9)}"


def format_reference(year: int, number: int, prefix: str = PREFIX) -> str:
    return f"{prefix}-{year}-{number:06d}"


def typed_reference(text: str) -> tuple[int | None, int] | None:
    """Return (year or None, number) of a reference as typed ("HF-2026-000123", "2026-123",
    "123"); None when the text is no reference."""
    found = _TYPED.match(text.strip().upper())
    if found is None:
        return None
    year, number = found.groups()
    return (int(year) if year else None, int(number))
