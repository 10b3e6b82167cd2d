"""The SIP report as text (for the terminal) and as CSV in the inquiry export's tidy columns.

CSV rows are `section,year,as_of,key,name,bucket,count,percent` (gateway.stats.export), the
"bucket" naming the figure: sections `overview`, `volume`, `days_to_meeting`, `cancellation`
(key: the reason), `month`, `care_unit` and `sender_unit` (bucket: an outcome or `total`;
suppressed counts read "<5" or "..").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.inquiries.labels import SIP_CANCEL_LABELS
from gateway.stats.export import csv_text, swedish_number
from gateway.stats.sip import OUTCOME_LABELS, OUTCOMES, SipReport

CANCEL_REASON_LABELS: dict[str, str] = {
    **{reason.value: label for reason, label in SIP_CANCEL_LABELS.items()},
    "NOT_RECORDED": "orsak ej registrerad",
}
# The sections and figures as Swedish Excel users read them (gateway.csvexport).
SWEDISH_SECTIONS = {
    "overview": "Översikt", "volume": "Volym", "days_to_meeting": "Dagar till mötet",
    "cancellation": "Inställda", "month": "Månad", "care_unit": "Vårdcentral",
    "sender_unit": "Avsändande enhet",
}
SWEDISH_FIGURES = {
    **OUTCOME_LABELS, "held": "Hållna", "reko_attended": "REKO deltog",
    "reko_not_recorded": "REKO ej registrerat", "planned": "Planerade (inget utfall än)",
    "months": "Månader i snittet", "per_month": "Antal per månad", "total": "Totalt",
    "count": "Antal möten", "median": "Median (dagar)", "p90": "90:e percentil (dagar)",
}


def _share(data: dict[str, Any]) -> str:
    attended = data["reko_attended"]
    percent = "–" if attended["percent"] is None else f"{attended['percent']} %"
    return (
        f"{percent} ({attended['count']} av {attended['of']}; "
        f"ej registrerat {attended['not_recorded']})"
    )


def _days(value: int | None) -> str:
    return "–" if value is None else str(value)


def text_table(report: SipReport) -> str:
    """The report as lines of Swedish text: the project's measure first."""
    data = report.to_json()
    period = report.period
    days = data["days_to_meeting"]
    reasons = ", ".join(
        f"{CANCEL_REASON_LABELS.get(reason, reason)} {count}"
        for reason, count in data["cancellations"].items()
    )
    lines = [
        f"SIP {period.year} – mätning gjord {period.as_of.isoformat()}",
        f"{period.year}: {swedish_number(report.per_month)} st/månad ({period.volume_label})",
        f"{'Hållna':<32}{data['held']:>8}",
        f"{'REKO deltog':<32}{_share(data)}",
        f"{'Inställda':<32}{data['cancelled']:>8}" + (f" ({reasons})" if reasons else ""),
        f"{'Planerade (inget utfall än)':<32}{data['planned']:>8}",
        f"Dagar från kallelse till möte: median {_days(days['median'])}, "
        f"90:e percentil {_days(days['p90'])} ({days['count']} st)",
    ]
    return "\n".join(lines)


def _base(report: SipReport, section: str, key: str = "", name: str = "") -> list[object]:
    return [section, report.period.year, report.period.as_of.isoformat(), key, name]


def _unit_rows(report: SipReport, section: str, rows: list[dict[str, Any]],
               key: str) -> Iterator[list[object]]:
    for row in rows:
        base = _base(report, section, row[key], row["name"])
        for outcome in OUTCOMES:
            cell = row["outcomes"][outcome]
            percent = "" if cell["percent"] is None else cell["percent"]
            yield [*base, outcome, cell["count"], percent]
        yield [*base, "total", row["total"], ""]


def csv_rows(report: SipReport) -> Iterator[list[object]]:
    data = report.to_json()
    attended = data["reko_attended"]
    overview = _base(report, "overview")
    yield [*overview, "held", data["held"], ""]
    yield [*overview, "reko_attended", attended["count"],
           "" if attended["percent"] is None else attended["percent"]]
    yield [*overview, "reko_not_recorded", attended["not_recorded"], ""]
    yield [*overview, "cancelled", data["cancelled"], ""]
    yield [*overview, "planned", data["planned"], ""]
    volume = data["volume"]
    base = _base(report, "volume", volume["first_month"], volume["label"])
    yield [*base, "held", volume["held"], ""]
    yield [*base, "months", volume["months"], ""]
    yield [*base, "per_month", data["per_month"], ""]
    for figure, value in data["days_to_meeting"].items():
        yield [*_base(report, "days_to_meeting"), figure, "" if value is None else value, ""]
    for reason, count in data["cancellations"].items():
        label = CANCEL_REASON_LABELS.get(reason, reason)
        yield [*_base(report, "cancellation", reason, label), "cancelled", count, ""]
    for month in data["months"]:
        base = _base(report, "month", month["month"], month["name"])
        for figure in ("held", "reko_attended", "cancelled"):
            yield [*base, figure, month[figure], ""]
    yield from _unit_rows(report, "care_unit", data["care_units"], "hsa_id")
    yield from _unit_rows(report, "sender_unit", data["sender_units"], "name")


def to_csv(report: SipReport) -> str:
    return csv_text(csv_rows(report))



def swedish_rows(report: SipReport) -> Iterator[list[object]]:
    """csv_rows(report) with the section and the figure in Swedish words, for
    gateway.csvexport (gateway.stats.export.SWEDISH_COLUMNS)."""
    for section, year, as_of, key, name, figure, count, percent in csv_rows(report):
        yield [SWEDISH_SECTIONS[str(section)], year, as_of, key, name,
               SWEDISH_FIGURES.get(str(figure), figure), count, percent]
