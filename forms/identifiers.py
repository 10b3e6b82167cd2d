"""Swedish identifiers: personnummer, HSA-id, SDK organisation id and SDK functional address."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

_PERSONNUMMER = re.compile(r"[0-9]{12}")
_HSA_ID = re.compile(r"SE[0-9]{10}-[A-Za-z0-9]{1,18}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_ORG_NR = re.compile(r"[0-9]{10}")
_FUNCTION_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?")

HSA_ID_MAX_LENGTH = 31
ORG_ID_MAX_LENGTH = 200
SAMORDNINGSNUMMER_DAY_OFFSET = 60
_ORG_ID_HINT = (
    "Organisations-id ska vara 0203:<domän> (t.ex. 0203:malmo.se) "
    "eller 0007:<organisationsnummer med 10 siffror>."
)


class IdentifierError(ValueError):
    """An identifier that is not valid; `code` is the issue code, `reason` the kind of fault.

    The message never repeats the value: identifiers such as personnummer are personal data.
    """

    def __init__(self, code: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Personnummer:
    """A checked personnummer or samordningsnummer (12 digits)."""

    value: str = field(repr=False)
    birth_date: dt.date = field(repr=False)
    samordningsnummer: bool = False


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn check digit for `digits` (weights 2, 1, 2, … from the left)."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def parse_personnummer(value: str) -> Personnummer:
    """Return the checked personnummer; raise IdentifierError (code PERSONNUMMER) if invalid.

    12 digits YYYYMMDDNNNC: a real calendar date (the day plus 60 for a samordningsnummer)
    and a Luhn check digit over the last ten digits.
    """
    if not _PERSONNUMMER.fullmatch(value):
        raise IdentifierError(
            "PERSONNUMMER", "format", "Personnumret ska vara 12 siffror (ÅÅÅÅMMDDNNNK)."
        )
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    samordning = day > SAMORDNINGSNUMMER_DAY_OFFSET
    if samordning:
        day -= SAMORDNINGSNUMMER_DAY_OFFSET
    try:
        birth_date = dt.date(year, month, day)
    except ValueError:
        raise IdentifierError(
            "PERSONNUMMER", "date", "Personnumrets datumdel är inte ett verkligt datum."
        ) from None
    if luhn_check_digit(value[2:11]) != int(value[11]):
        raise IdentifierError(
            "PERSONNUMMER", "check_digit", "Personnumrets kontrollsiffra stämmer inte."
        )
    return Personnummer(value, birth_date, samordning)


def hyphenated(personnummer: str) -> str:
    """Return a 12-digit personnummer as people write it, with a hyphen before the last four
    digits (19121212-1212); anything else unchanged."""
    if len(personnummer) == 12 and personnummer.isdigit():
        return f"{personnummer[:8]}-{personnummer[8:]}"
    return personnummer


def make_personnummer(born: dt.date, serial: int, *, samordningsnummer: bool = False) -> str:
    """Return the valid personnummer of someone born on `born` with serial number `serial`
    (its last three digits), or the samordningsnummer (day + 60): for demo and test data."""
    day = born.day + (SAMORDNINGSNUMMER_DAY_OFFSET if samordningsnummer else 0)
    body = f"{born:%Y%m}{day:02d}{serial % 1000:03d}"
    return body + str(luhn_check_digit(body[2:]))


def check_hsa_id(value: str) -> str:
    """Return the HSA-id unchanged; raise IdentifierError (code HSA_ID) if malformed.

    SE + 10 digits (the organisation number) + "-" + 1 to 18 letters or digits, at most
    31 characters, e.g. SE2321000255-K001.
    """
    if len(value) > HSA_ID_MAX_LENGTH:
        raise IdentifierError(
            "HSA_ID", "length", f"Ett HSA-id har högst {HSA_ID_MAX_LENGTH} tecken."
        )
    if not _HSA_ID.fullmatch(value):
        raise IdentifierError(
            "HSA_ID",
            "format",
            "Ett HSA-id är SE, 10 siffror, bindestreck och 1–18 bokstäver eller siffror, "
            "t.ex. SE2321000255-K001.",
        )
    return value


def check_organisation_id(value: str) -> str:
    """Return the SDK organisation id unchanged; raise IdentifierError (code ORG_ID) if invalid.

    Either 0203:<domain> (e.g. 0203:malmo.se) or 0007:<organisation number> (10 digits
    with a Luhn check digit).
    """
    scheme, sep, rest = value.partition(":")
    if len(value) > ORG_ID_MAX_LENGTH or not sep:
        raise IdentifierError("ORG_ID", "format", _ORG_ID_HINT)
    if scheme == "0203" and _DOMAIN.fullmatch(rest):
        return value
    if scheme == "0007" and _ORG_NR.fullmatch(rest):
        if luhn_check_digit(rest[:9]) != int(rest[9]):
            raise IdentifierError(
                "ORG_ID", "check_digit", "Organisationsnumrets kontrollsiffra stämmer inte."
            )
        return value
    raise IdentifierError("ORG_ID", "format", _ORG_ID_HINT)


def check_functional_address(value: str, organisation_id: str | None = None) -> str:
    """Return the functional address unchanged; raise IdentifierError (FUNKTIONSADRESS) if not.

    Form: sdk:<function>:<organisation id>, e.g. sdk:ebb-oster:0203:malmo.se. When
    `organisation_id` is given, the address must belong to that organisation.
    """
    prefix, _, rest = value.partition(":")
    name, _, org = rest.partition(":")
    if prefix != "sdk" or not _FUNCTION_NAME.fullmatch(name):
        raise IdentifierError(
            "FUNKTIONSADRESS",
            "format",
            "En funktionsadress ska vara sdk:<funktion>:<organisations-id>, "
            "t.ex. sdk:ebb-oster:0203:malmo.se.",
        )
    try:
        check_organisation_id(org)
    except IdentifierError as exc:
        raise IdentifierError("FUNKTIONSADRESS", "organisation", exc.detail) from None
    if organisation_id is not None and org != organisation_id:
        raise IdentifierError(
            "FUNKTIONSADRESS",
            "other_organisation",
            "Funktionsadressen hör inte till avsändarens organisation.",
        )
    return value
