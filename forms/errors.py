"""FormError: the one exception of the forms library, a list of issues each with a rule code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Reports are bounded: a hostile document must not make a problem of a million lines (or the
# work of finding each). The first MAX_ISSUES are listed; `FormError.total` counts them all.
MAX_ISSUES = 50

# Swedish, user-facing titles per code; the detail says what exactly was wrong.
TITLES: dict[str, str] = {
    "XML_EMPTY": "Dokumentet är tomt",
    "XML_SYNTAX": "Dokumentet är inte korrekt XML",
    "XML_DTD": "Dokumentet innehåller en DOCTYPE, vilket inte är tillåtet",
    "XML_PI": "Dokumentet innehåller en processinstruktion, vilket inte är tillåtet",
    "XML_ENCODING": "Dokumentet måste vara kodat i UTF-8",
    "XML_TOO_LARGE": "Dokumentet är för stort",
    "XML_TOO_DEEP": "Dokumentet är för djupt nästlat",
    "XML_TOO_MANY_ELEMENTS": "Dokumentet har för många element",
    "XML_NAMESPACE": "Dokumentet är inte en hälsoförfrågan",
    "VERSION": "Versionen av hälsoförfrågan stöds inte",
    "XSD": "Formuläret följer inte schemat för hälsoförfrågan",
    "PERSONNUMMER": "Personnumret är inte giltigt",
    "HSA_ID": "HSA-id är inte giltigt",
    "ORG_ID": "Organisations-id är inte giltigt",
    "FUNKTIONSADRESS": "Funktionsadressen är inte giltig",
    "SVAR_SENAST": "Sista svarsdag är inte giltig",
    "FRAGA_OVRIGT_TEXT": "Frågan Övrigt saknar text",
    "FRAGA_DUPLICATE": "Samma fråga förekommer flera gånger",
    "SAMTYCKE_MOTTAGARE_DUPLICATE": "Samma mottagare av samtycket förekommer flera gånger",
    "BILAGA": "Bilagan med samtycket är inte en giltig PDF",
    "S1": "Mötet ligger inte efter att kallelsen skapades",
    "S2": "Sista svarsdag ligger efter mötet eller före kallelsen",
    "S3": "Vårdcentralen är inte kallad som deltagare",
    "S4": "Den digitala länken är inte https",
    "SVAR_NY_TID": "Ett nytt förslag saknar ny tid",
    "SVAR_NY_TID_PASSERAD": "Den föreslagna nya tiden har redan passerat",
    "C1": "Samtycket är givet efter att förfrågan skapades",
    "C2": "Samtycket har gått ut",
    "C3": "Samtyckets giltighetstid är inte tillåten",
    "C4": "Samtycket gäller inte den vårdcentral som förfrågan skickas till",
    "C5": "Samtycket omfattar inte avsändarens verksamhet",
    "C6": "Muntligt samtycke saknar uppgift om vem som dokumenterat det",
    "C7": "Samtycket har återkallats",
}


@dataclass(frozen=True)
class FormIssue:
    """One finding: a rule code, a Swedish title and detail, and where in the document it is."""

    code: str
    title: str
    detail: str = ""
    line: int | None = None
    path: str = ""

    @property
    def location(self) -> str:
        """Where the issue is, for a problem's `in`: "/halsoforfragan/samtycke/givet, rad 27"."""
        parts = [self.path] if self.path else []
        if self.line is not None:
            parts.append(f"rad {self.line}")
        return ", ".join(parts)


def issue(code: str, detail: str = "", *, line: int | None = None, path: str = "") -> FormIssue:
    """Return a FormIssue whose title is the standard Swedish title of `code`."""
    return FormIssue(code, TITLES.get(code, code), detail, line, path)


class FormError(Exception):
    """Raised when a form cannot be accepted; `issues` lists the reasons (at least one, at most
    MAX_ISSUES) and `total` how many were found (more where the caller stopped listing)."""

    def __init__(self, issues: Iterable[FormIssue], total: int | None = None) -> None:
        found = tuple(issues)
        if not found:
            raise ValueError("FormError needs at least one issue")
        self.issues: tuple[FormIssue, ...] = found[:MAX_ISSUES]
        self.total = max(total or 0, len(found))
        super().__init__("; ".join(f"{i.code}: {i.title}" for i in self.issues))

    def __reduce__(self) -> tuple[type[FormError], tuple[tuple[FormIssue, ...], int]]:
        # Exception pickling re-calls __init__ with self.args; ours takes the issues.
        return (FormError, (self.issues, self.total))

    @property
    def codes(self) -> tuple[str, ...]:
        """The issue codes in order, e.g. ("C2", "C6")."""
        return tuple(i.code for i in self.issues)
