"""Personnummer, HSA-id, SDK organisation id and functional address checks (forms.identifiers)."""

from __future__ import annotations

import datetime as dt

import pytest

from forms.dates import add_months
from forms.identifiers import (
    IdentifierError,
    check_functional_address,
    check_hsa_id,
    check_organisation_id,
    luhn_check_digit,
    parse_personnummer,
)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "format"),
        ("19121212121", "format"),  # 11 digits
        ("1912121212120", "format"),  # 13 digits
        ("19121212-1212", "format"),
        ("121212-1212", "format"),
        ("19121212121a", "format"),
        ("１９１２１２１２１２１２", "format"),  # full-width digits are not ASCII digits
        (" 191212121212", "format"),
        ("191212121212\n", "format"),
        ("191212121213", "check_digit"),
        ("197802022388", "check_digit"),
        ("202302301234", "date"),  # 30 February
        ("190002291234", "date"),  # 1900 was no leap year
        ("191213121212", "date"),  # month 13
        ("191212001212", "date"),  # day 0
        ("191212321212", "date"),  # day 32
        ("191211911212", "date"),  # samordningsnummer day 91 - 60 = 31 November
        ("191212601212", "date"),  # day 60: neither a date nor a samordningsnummer
    ],
)
def test_bad_personnummer_is_refused_with_reason(value: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_personnummer(value)
    assert info.value.code == "PERSONNUMMER"
    assert info.value.reason == reason
    assert value.strip() == "" or value.strip() not in str(info.value)  # never echoed


@pytest.mark.parametrize(
    ("value", "born", "samordning"),
    [
        ("191212121212", dt.date(1912, 12, 12), False),
        ("197802022389", dt.date(1978, 2, 2), False),
        ("199001012385", dt.date(1990, 1, 1), False),
        ("200002292381", dt.date(2000, 2, 29), False),
        ("191212721219", dt.date(1912, 12, 12), True),  # samordningsnummer: day 12 + 60
    ],
)
def test_valid_personnummer(value: str, born: dt.date, samordning: bool) -> None:
    number = parse_personnummer(value)
    assert number.birth_date == born
    assert number.samordningsnummer is samordning
    assert value not in repr(number)


def test_luhn_check_digit_matches_skatteverket_test_numbers() -> None:
    assert luhn_check_digit("121212121") == 2
    assert luhn_check_digit("780202238") == 9
    assert luhn_check_digit("212000112") == 4  # Malmö stad, 212000-1124


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "format"),
        ("SE2321000255K001", "format"),  # no hyphen
        ("SE232100025-K001", "format"),  # 9 digits
        ("SE23210002555-K001", "format"),  # 11 digits
        ("SE2321000255-", "format"),  # empty suffix
        ("se2321000255-K001", "format"),
        ("SE2321000255-K0_1", "format"),
        ("SE2321000255-K00 1", "format"),
        ("SE2321000255-Å001", "format"),
        ("SE2321000255-" + "A" * 19, "length"),  # 32 characters
        ("DK2321000255-K001", "format"),
    ],
)
def test_bad_hsa_id_is_refused(value: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        check_hsa_id(value)
    assert (info.value.code, info.value.reason) == ("HSA_ID", reason)


@pytest.mark.parametrize(
    "value", ["SE2321000255-K001", "SE2321000016-15CQ", "SE2321000255-" + "A" * 18]
)
def test_valid_hsa_id(value: str) -> None:
    assert check_hsa_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("malmo.se", "format"),
        ("0203:", "format"),
        ("0203:malmo", "format"),  # no top-level domain
        ("0203:Malmo.se", "format"),
        ("0203:-malmo.se", "format"),
        ("0203:malmo..se", "format"),
        ("0204:malmo.se", "format"),
        ("0007:212000112", "format"),
        ("0007:212000-1124", "format"),
        ("0007:2120001125", "check_digit"),
        ("0203:" + "a" * 250 + ".se", "format"),
    ],
)
def test_bad_organisation_id_is_refused(value: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        check_organisation_id(value)
    assert (info.value.code, info.value.reason) == ("ORG_ID", reason)


@pytest.mark.parametrize("value", ["0203:malmo.se", "0203:skane.se", "0007:2120001124"])
def test_valid_organisation_id(value: str) -> None:
    assert check_organisation_id(value) == value


@pytest.mark.parametrize(
    ("value", "organisation", "reason"),
    [
        ("ebb-oster@malmo.se", None, "format"),
        ("sdk::0203:malmo.se", None, "format"),
        ("sdk:EBB:0203:malmo.se", None, "format"),
        ("sdk:ebb-oster-:0203:malmo.se", None, "format"),
        ("sdk:ebb-oster", None, "organisation"),
        ("sdk:ebb-oster:0203:malmo", None, "organisation"),
        ("sdk:ebb-oster:0203:lund.se", "0203:malmo.se", "other_organisation"),
    ],
)
def test_bad_functional_address_is_refused(
    value: str, organisation: str | None, reason: str
) -> None:
    with pytest.raises(IdentifierError) as info:
        check_functional_address(value, organisation)
    assert (info.value.code, info.value.reason) == ("FUNKTIONSADRESS", reason)


@pytest.mark.parametrize(
    "value", ["sdk:ebb-oster:0203:malmo.se", "sdk:reko.vc-kryddgarden:0203:skane.se"]
)
def test_valid_functional_address(value: str) -> None:
    assert check_functional_address(value, value.split(":", 2)[2]) == value


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (dt.date(2024, 2, 20), 12, dt.date(2025, 2, 20)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),  # clamped to month end
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),
        (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 12, 15), 1, dt.date(2025, 1, 15)),
        (dt.date(2024, 8, 31), 6, dt.date(2025, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(start: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(start, months) == expected
