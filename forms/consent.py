"""The consent rules C1–C7 (DESIGN 5.2) as pure functions returning a frozen report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from common.rules import RuleReport, RuleResult, failed, passed
from forms.dates import add_months, local_date
from forms.errors import TITLES, FormError, FormIssue
from forms.halsoforfragan import Mottagare, Mottagarkategori, Samtycke, SamtyckeForm
from forms.labels import RECIPIENT_LABELS

DEFAULT_MAX_MONTHS = 12

# Below the form's samtycke element, whatever the form type's root.
_PATHS = {
    "C1": "samtycke/givet",
    "C2": "samtycke/giltigtTill",
    "C3": "samtycke/giltigtTill",
    "C4": "samtycke/uppgiftslamnare",
    "C5": "samtycke/mottagare",
    "C6": "samtycke/form",
    "C7": "samtycke/givet",
}


class ConsentedForm(Protocol):
    """What the consent rules read of a form of any type: its consent, its recipient, the day
    it was created and where its elements are (forms.halsoforfragan.Located)."""

    ROOT: ClassVar[str]

    @property
    def samtycke(self) -> Samtycke: ...

    @property
    def mottagare(self) -> Mottagare: ...

    @property
    def skapad_datum(self) -> dt.date: ...

    def line(self, path: str) -> int | None: ...


def as_issue(result: RuleResult) -> FormIssue:
    """Return a (failed) rule result as a FormIssue with the rule's Swedish title."""
    return FormIssue(result.code, TITLES.get(result.code, result.code), result.message,
                     result.line, result.path)


@dataclass(frozen=True)
class ConsentReport(RuleReport):
    """One result per rule checked; `ok` is the verdict."""

    results: tuple[RuleResult, ...]

    def raise_for_failures(self) -> None:
        """Raise FormError listing every failed rule; return quietly if all passed."""
        if not self.ok:
            raise FormError(as_issue(result) for result in self.failed)


Withdrawal = dt.date | dt.datetime


def check_consent(
    form: ConsentedForm,
    *,
    sender_kind: str,
    max_months: int = DEFAULT_MAX_MONTHS,
    withdrawals: Iterable[Withdrawal] = (),
    today: dt.date | None = None,
) -> ConsentReport:
    """Return the report of rules C1–C7 at intake.

    `sender_kind` is the kind of the sending unit ("socialtjanst" for EBB, "arbetsmarknad"
    for AMA). `withdrawals` are the dates of registered withdrawals of consent for this
    person and VC. `today`, when given, also counts for C2: a consent that has expired by
    the day of intake is refused even if it was valid when the form was created. C3 allows
    at most `max_months` calendar months: giltigtTill ≤ givet + max_months, where a day that
    does not exist in the target month becomes that month's last day.
    Raises ValueError for an unknown `sender_kind` or a `max_months` below 1.
    """
    kind = _sender_kind(sender_kind)
    if max_months < 1:
        raise ValueError("max_months must be at least 1")
    reference = form.skapad_datum if today is None else max(form.skapad_datum, today)
    results = [
        _c1(form),
        _c2(form, reference),
        _c3(form, max_months),
        _c4(form),
        _c5(form, kind),
        _c6(form),
        _c7(form, withdrawals),
    ]
    return ConsentReport(tuple(_located(form, result) for result in results))


def check_consent_at_answer(
    form: ConsentedForm,
    *,
    today: dt.date,
    withdrawals: Iterable[Withdrawal] = (),
    care_unit_hsa_id: str | None = None,
) -> ConsentReport:
    """Return the report of C2 (not expired `today`), C4 (the consent covers the VC that
    answers, `care_unit_hsa_id`, by default the form's) and C7 (not withdrawn) when the REKO
    answers: any failing blocks disclosure."""
    results = [_c2(form, today), _c4(form, care_unit_hsa_id), _c7(form, withdrawals)]
    return ConsentReport(tuple(_located(form, result) for result in results))


def _sender_kind(value: str) -> Mottagarkategori:
    try:
        return Mottagarkategori(value)
    except ValueError:
        raise ValueError(f"unknown sender kind {value!r}") from None


def _located(form: ConsentedForm, result: RuleResult) -> RuleResult:
    path = f"/{form.ROOT}/{_PATHS[result.code]}"
    return dataclasses.replace(result, path=path, line=form.line(path))


def _c1(form: ConsentedForm) -> RuleResult:
    givet, skapad = form.samtycke.givet, form.skapad_datum
    if givet > skapad:
        return failed("C1", f"Samtycket är givet {givet}, efter att förfrågan skapades {skapad}.")
    return passed("C1", f"Samtycket är givet {givet}, senast den dag förfrågan skapades.")


def _c2(form: ConsentedForm, reference: dt.date) -> RuleResult:
    giltigt = form.samtycke.giltigt_till
    if giltigt < reference:
        return failed("C2", f"Samtycket gällde till och med {giltigt} och har gått ut.")
    return passed("C2", f"Samtycket gäller till och med {giltigt}.")


def _c3(form: ConsentedForm, max_months: int) -> RuleResult:
    givet, giltigt = form.samtycke.givet, form.samtycke.giltigt_till
    latest = add_months(givet, max_months)
    if giltigt < givet:
        return failed("C3", f"Slutdatumet {giltigt} ligger före dagen samtycket gavs, {givet}.")
    if giltigt > latest:
        return failed("C3", f"Samtycket gäller för lång tid: högst {max_months} månader, alltså "
                            f"till och med {latest}, inte till {giltigt}.")
    return passed("C3", f"Samtycket gäller högst {max_months} månader.")


def consent_covers(form: ConsentedForm, care_unit_hsa_id: str) -> RuleResult:
    """Return C4 for the care unit: whether the consent lets it disclose (a re-route's check)."""
    return _located(form, _c4(form, care_unit_hsa_id))


def _c4(form: ConsentedForm, care_unit_hsa_id: str | None = None) -> RuleResult:
    lamnare = form.samtycke.uppgiftslamnare_hsa_id
    vardcentral = care_unit_hsa_id or form.mottagare.hsa_id
    if lamnare != vardcentral:
        return failed("C4", f"Samtycket gäller uppgifter från {_named(form, lamnare)}, men "
                            f"förfrågan går till {_named(form, vardcentral)}.")
    return passed("C4", f"Samtycket gäller uppgifter från {_named(form, vardcentral)}.")


def _named(form: ConsentedForm, hsa_id: str) -> str:
    """The VC's name beside its HSA-id where the form names it (its own recipient)."""
    return f"{form.mottagare.namn} ({hsa_id})" if hsa_id == form.mottagare.hsa_id else hsa_id


def _c5(form: ConsentedForm, kind: Mottagarkategori) -> RuleResult:
    if kind not in form.samtycke.mottagare:
        return failed("C5", f"Samtycket tillåter inte att svaret lämnas till "
                            f"{RECIPIENT_LABELS[kind]}.")
    return passed("C5", f"Samtycket tillåter att svaret lämnas till {RECIPIENT_LABELS[kind]}.")


def _c6(form: ConsentedForm) -> RuleResult:
    samtycke = form.samtycke
    if samtycke.form is SamtyckeForm.MUNTLIGT and not samtycke.dokumenterat_av:
        return failed("C6", "Ett muntligt samtycke måste ange vem som dokumenterat det.")
    if samtycke.form is SamtyckeForm.MUNTLIGT:
        return passed("C6", "Det muntliga samtycket anger vem som dokumenterat det.")
    return passed("C6", "Samtycket är skriftligt.")


def _c7(form: ConsentedForm, withdrawals: Iterable[Withdrawal]) -> RuleResult:
    givet = form.samtycke.givet
    later = sorted(day for day in map(_as_date, withdrawals) if day > givet)
    if later:
        return failed("C7", f"Samtycket återkallades {later[-1]}, efter att det gavs {givet}.")
    return passed("C7", "Samtycket har inte återkallats efter att det gavs.")


def _as_date(value: Withdrawal) -> dt.date:
    # A datetime is a date subclass but does not compare with one: take its Swedish date.
    if isinstance(value, dt.datetime):
        return local_date(value) if value.tzinfo else value.date()
    return value
