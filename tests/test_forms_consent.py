"""The consent rules C1–C7 (DESIGN 5.2) at intake and again when the REKO answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from forms import FormError, check_consent, check_consent_at_answer, parse_halsoforfragan
from forms.halsoforfragan import Halsoforfragan

VALID = (Path(__file__).parent / "data" / "halsoforfragan-valid.xml").read_text(encoding="utf-8")
# The valid form: skapad 2024-03-01, givet 2024-02-20, giltigtTill 2025-02-20, skriftligt,
# uppgiftslämnare = the VC, mottagare socialtjanst and arbetsmarknad.


def form_with(*replacements: tuple[str, str]) -> Halsoforfragan:
    text = VALID
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_halsoforfragan(text.encode())


def given(day: str) -> tuple[str, str]:
    return ("<givet>2024-02-20", f"<givet>{day}")


def valid_to(day: str) -> tuple[str, str]:
    return ("<giltigtTill>2025-02-20", f"<giltigtTill>{day}")


ORAL = ("<form>skriftligt", "<form>muntligt")
UNDOCUMENTED = ("<dokumenteratAv>Åsa Lindqvist</dokumenteratAv>", "")
ONLY_AMA = ("<mottagare>socialtjanst</mottagare>", "")
ONLY_EBB = ("<mottagare>arbetsmarknad</mottagare>", "")
OTHER_VC = ('hsaId="SE2321000255-K001"/>', 'hsaId="SE2321000255-K002"/>')


@pytest.mark.parametrize(
    ("replacements", "kwargs", "failed"),
    [
        pytest.param([given("2024-03-02")], {}, {"C1"}, id="C1 given the day after skapad"),
        pytest.param(
            [given("2025-01-01"), valid_to("2025-06-01")], {}, {"C1"}, id="C1 far in the future"
        ),
        pytest.param([valid_to("2024-02-29")], {}, {"C2"}, id="C2 expired before skapad"),
        pytest.param(
            [valid_to("2024-03-10")],
            {"today": dt.date(2024, 3, 11)},
            {"C2"},
            id="C2 expired by the day of intake",
        ),
        pytest.param([valid_to("2025-02-21")], {}, {"C3"}, id="C3 12 months and a day"),
        pytest.param(
            [valid_to("2024-08-21")],
            {"max_months": 6},
            {"C3"},
            id="C3 configured 6 months",
        ),
        pytest.param([OTHER_VC], {}, {"C4"}, id="C4 consent names another VC"),
        pytest.param([ONLY_AMA], {}, {"C5"}, id="C5 EBB sender, consent only for AMA"),
        pytest.param(
            [ONLY_EBB],
            {"sender_kind": "arbetsmarknad"},
            {"C5"},
            id="C5 AMA sender, consent only for EBB",
        ),
        pytest.param([ORAL, UNDOCUMENTED], {}, {"C6"}, id="C6 oral consent undocumented"),
        pytest.param(
            [],
            {"withdrawals": [dt.date(2024, 2, 21)]},
            {"C7"},
            id="C7 withdrawn the day after it was given",
        ),
        pytest.param(
            [],
            {"withdrawals": [dt.datetime(2024, 2, 20, 23, 30, tzinfo=dt.UTC)]},
            {"C7"},
            id="C7 withdrawn at a UTC time that is the next Swedish day",
        ),
        pytest.param(
            [given("2024-03-05"), OTHER_VC, ONLY_AMA, ORAL, UNDOCUMENTED],
            {"withdrawals": [dt.date(2024, 3, 20)]},
            {"C1", "C4", "C5", "C6", "C7"},
            id="several rules at once",
        ),
    ],
)
def test_failing_rules_are_each_reported(
    replacements: list[tuple[str, str]], kwargs: dict[str, object], failed: set[str]
) -> None:
    form = form_with(*replacements)
    options: dict[str, object] = {"sender_kind": "socialtjanst", **kwargs}
    report = check_consent(form, **options)  # type: ignore[arg-type]
    assert not report.ok
    assert {r.code for r in report.failed} == failed
    assert [r.code for r in report.results] == ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    with pytest.raises(FormError) as info:
        report.raise_for_failures()
    assert set(info.value.codes) == failed
    for found in info.value.issues:
        assert found.path.startswith("/halsoforfragan/samtycke/")
        assert found.line is not None and found.detail


@pytest.mark.parametrize(
    ("replacements", "kwargs"),
    [
        pytest.param([], {}, id="the valid form"),
        pytest.param([given("2024-03-01")], {}, id="C1 given on the day of skapad"),
        pytest.param([valid_to("2024-03-01")], {}, id="C2 valid through the day of skapad"),
        pytest.param(
            [valid_to("2024-03-11")], {"today": dt.date(2024, 3, 11)}, id="C2 valid today"
        ),
        pytest.param([valid_to("2025-02-20")], {}, id="C3 exactly 12 months"),
        pytest.param(
            [given("2023-03-31"), valid_to("2024-03-31")], {}, id="C3 12 months from month end"
        ),
        pytest.param(
            [given("2023-10-31"), valid_to("2024-04-30")],
            {"max_months": 6},
            id="C3 six months from October 31 clamped to April 30",
        ),
        pytest.param([ONLY_EBB], {}, id="C5 EBB sender, consent only for EBB"),
        pytest.param([ONLY_AMA], {"sender_kind": "arbetsmarknad"}, id="C5 AMA sender"),
        pytest.param([ORAL], {}, id="C6 oral consent documented"),
        pytest.param([UNDOCUMENTED], {}, id="C6 written consent needs no documenter"),
        pytest.param(
            [], {"withdrawals": [dt.date(2024, 2, 20), dt.date(2023, 5, 1)]}, id="C7 earlier"
        ),
    ],
)
def test_boundaries_that_pass(
    replacements: list[tuple[str, str]], kwargs: dict[str, object]
) -> None:
    options: dict[str, object] = {"sender_kind": "socialtjanst", **kwargs}
    report = check_consent(form_with(*replacements), **options)  # type: ignore[arg-type]
    assert report.ok, report.failed
    report.raise_for_failures()
    assert all(r.message for r in report.results)


def test_c3_six_months_from_october_31_ends_april_30() -> None:
    form = form_with(given("2023-10-31"), valid_to("2024-05-01"))
    report = check_consent(form, sender_kind="socialtjanst", max_months=6)
    assert [r.code for r in report.failed] == ["C3"]
    assert "2024-04-30" in report.result("C3").message


def test_at_answer_checks_expiry_the_answering_vc_and_withdrawal() -> None:
    form = form_with(valid_to("2024-03-20"))
    assert check_consent_at_answer(form, today=dt.date(2024, 3, 20)).ok
    expired = check_consent_at_answer(form, today=dt.date(2024, 3, 21))
    assert [r.code for r in expired.failed] == ["C2"]
    # A VC the consent does not name (a re-routed inquiry) may not disclose.
    elsewhere = check_consent_at_answer(form, today=dt.date(2024, 3, 15),
                                        care_unit_hsa_id="SE2321000255-K005")
    assert [r.code for r in elsewhere.failed] == ["C4"]
    withdrawn = check_consent_at_answer(
        form, today=dt.date(2024, 3, 15), withdrawals=[dt.date(2024, 3, 14)]
    )
    assert [r.code for r in withdrawn.failed] == ["C7"]
    assert [r.code for r in withdrawn.results] == ["C2", "C4", "C7"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sender_kind": "vard"},
        {"sender_kind": ""},
        {"sender_kind": "socialtjanst", "max_months": 0},
    ],
)
def test_programming_errors_raise_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check_consent(form_with(), **kwargs)  # type: ignore[arg-type]


def test_report_is_frozen() -> None:
    report = check_consent(form_with(), sender_kind="socialtjanst")
    with pytest.raises(AttributeError):
        report.results = ()  # type: ignore[misc]
    with pytest.raises(KeyError):
        report.result("C9")


def issue_text(form: Halsoforfragan, code: str, **kwargs: object) -> str:
    """The refusal as a user reads it: the rule's title and its detail."""
    with pytest.raises(FormError) as raised:
        check_consent(form, **{"sender_kind": "socialtjanst", **kwargs}).raise_for_failures()  # type: ignore[arg-type]
    [found] = [i for i in raised.value.issues if i.code == code]
    return f"{found.title}: {found.detail}"


def test_an_end_before_the_start_is_not_called_too_long() -> None:
    text = issue_text(form_with(valid_to("2024-02-19")), "C3")
    assert "för lång" not in text
    assert "2024-02-19" in text and "2024-02-20" in text and "före" in text


def test_too_long_says_how_long_is_allowed() -> None:
    text = issue_text(form_with(valid_to("2025-02-21")), "C3")
    assert "för lång tid" in text and "12 månader" in text and "2025-02-20" in text


@pytest.mark.parametrize(("replacement", "kind", "words"), [
    pytest.param(ONLY_AMA, "socialtjanst", "Socialtjänsten (EBB)", id="EBB"),
    pytest.param(ONLY_EBB, "arbetsmarknad", "Arbetsmarknadsavdelningen (AMA)", id="AMA"),
])
def test_the_recipient_is_named_in_words(
    replacement: tuple[str, str], kind: str, words: str
) -> None:
    text = issue_text(form_with(replacement), "C5", sender_kind=kind)
    assert words in text and kind not in text


def test_the_vc_is_named_beside_its_hsa_id() -> None:
    text = issue_text(form_with(OTHER_VC), "C4")
    assert "Vårdcentralen Kryddgården (SE2321000255-K001)" in text, text
