"""The answer statement of an inquiry (forms.statement): the facts the composer renders into the
PDF, and the same statement for the case worker's page, from the stored structured answer."""

from __future__ import annotations

from dataclasses import dataclass

from forms.answer import parse_answer_xml
from forms.dates import local_date
from forms.errors import FormError
from forms.halsoforfragan import Halsoforfragan
from forms.statement import InquiryFacts, Section, Statement, inquiry_sections, statement
from gateway.inquiries.answers import StoredAnswer
from gateway.inquiries.models import Inquiry


def facts_of(inquiry: Inquiry, form: Halsoforfragan) -> InquiryFacts:
    """Return what the statement says about the inquiry: the person, the sender, the dates and
    the care unit it is routed to now (the one that answers)."""
    return InquiryFacts.of(
        form,
        reference=inquiry.reference or inquiry.id,
        care_unit=(inquiry.care_unit.name, inquiry.care_unit.hsa_id),
        received=local_date(inquiry.created_at),
        deadline=inquiry.deadline,
    )


@dataclass(frozen=True)
class CaseWorkerStatement:
    """What the case worker's answer page shows: the full statement when the answer came with
    its structured part, else the inquiry's sections only (the rest is in the signed PDF)."""

    sections: tuple[Section, ...]
    full: Statement | None


def statement_of(inquiry: Inquiry, form: Halsoforfragan, stored: StoredAnswer
                 ) -> CaseWorkerStatement:
    """Return the statement of the stored answer as the PDF shows it."""
    facts = facts_of(inquiry, form)
    if stored.structured is not None:
        try:
            answer = parse_answer_xml(stored.structured)
        except FormError:  # valid when stored; a schema change must not break the page
            answer = None
        if answer is not None:
            full = statement(answer, form.fragor, facts)
            return CaseWorkerStatement(full.sections, full)
    return CaseWorkerStatement(inquiry_sections(facts), None)
