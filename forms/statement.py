"""The answer as a statement: who it is about, from whom, to whom, the questions and answers, in
labelled sections; one definition that the answer PDF and the case worker's page both show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from forms.answer import StructuredAnswer, ordered_answers
from forms.dates import STOCKHOLM
from forms.halsoforfragan import Fraga, Halsoforfragan
from forms.identifiers import hyphenated
from forms.labels import QUESTION_LABELS, TITLE_LABELS


@dataclass(frozen=True)
class InquiryFacts:
    """What the statement says about the inquiry besides the answer (personal data: no repr).

    `reference` is the reference people quote; the care unit is the one that answers (after a
    re-route, not necessarily the form's recipient).
    """

    reference: str
    person_name: str = field(repr=False)
    personnummer: str = field(repr=False)
    care_unit_name: str
    care_unit_hsa_id: str
    sender_unit: str
    case_worker: str
    sent: dt.date
    received: dt.date
    deadline: dt.date

    @classmethod
    def of(cls, form: Halsoforfragan, *, reference: str, care_unit: tuple[str, str],
           received: dt.date, deadline: dt.date) -> InquiryFacts:
        """Return the facts of `form`, answered by care_unit (name, HSA-id)."""
        worker = form.avsandare.handlaggare
        return cls(
            reference=reference,
            person_name=form.person.namn,
            personnummer=form.person.personnummer,
            care_unit_name=care_unit[0],
            care_unit_hsa_id=care_unit[1],
            sender_unit=form.avsandare.enhet,
            case_worker=f"{worker.namn}, {TITLE_LABELS[worker.titel]}",
            sent=form.skapad_datum,
            received=received,
            deadline=deadline,
        )


@dataclass(frozen=True)
class Section:
    """A titled group of (label, value) rows."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AnsweredQuestion:
    """One question as asked (its heading and, for Övrigt, its text) and its answer."""

    number: int
    heading: str
    question: str | None
    answer: str = field(repr=False)


@dataclass(frozen=True)
class Statement:
    """The statement's parts in reading order: fact sections, the questions, the conclusion."""

    sections: tuple[Section, ...]
    questions: tuple[AnsweredQuestion, ...]
    sip_recommended: bool


def answered_at(answer: StructuredAnswer) -> str:
    """Return the time of the answer in Swedish local time, minutes (2024-03-18 14:02)."""
    return answer.besvarad.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def statement(
    answer: StructuredAnswer, questions: Sequence[Fraga], facts: InquiryFacts | None = None
) -> Statement:
    """Return the statement of `answer` to `questions`; without facts, only who answered."""
    sections = list(inquiry_sections(facts)) if facts is not None else []
    sections.append(Section("Utfärdare", _issuer_rows(answer)))
    asked = {q.kod: q for q in questions}
    answered = tuple(
        AnsweredQuestion(number, QUESTION_LABELS[svar.kod],
                         asked[svar.kod].text if svar.kod in asked else None, svar.text)
        for number, svar in enumerate(ordered_answers(answer, questions), start=1)
    )
    return Statement(tuple(sections), answered, answer.sip_rekommenderas)


def inquiry_sections(facts: InquiryFacts) -> tuple[Section, ...]:
    """Return the sections about the person and the inquiry."""
    return (
        Section("Personen som utlåtandet gäller", (
            ("Namn", facts.person_name),
            ("Personnummer", hyphenated(facts.personnummer)),
        )),
        Section("Förfrågan", (
            ("Referens", facts.reference),
            ("Till", f"{facts.care_unit_name} ({facts.care_unit_hsa_id})"),
            ("Från", facts.sender_unit),
            ("Handläggare", facts.case_worker),
            ("Skickad", facts.sent.isoformat()),
            ("Mottagen", facts.received.isoformat()),
            ("Sista svarsdag", facts.deadline.isoformat()),
        )),
    )


def _issuer_rows(answer: StructuredAnswer) -> tuple[
        tuple[str, str], ...]:
    reko = answer.besvarad_av
    rows = []
    rows.append(("Besvarad av", f"{reko.namn}, {reko.titel} ({reko.hsa_id})"))
    physician = answer.i_samrad_med
    if physician is None:
        rows.append(("I samråd med", "Ingen läkare angiven"))
    else:
        hsa = f" ({physician.hsa_id})" if physician.hsa_id else ""
        rows.append(("I samråd med", f"{physician.namn}, läkare{hsa}"))
    rows.append(("Besvarad", answered_at(answer)))
    return tuple(rows)
