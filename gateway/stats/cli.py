"""The `gateway stats` commands: import the manual history; print the yearly report."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

import click

from forms.dates import stockholm_today
from gateway.clitools import DATE, echo_json, fail, read_input, with_app
from gateway.db import get_session
from gateway.stats import export, sip_export
from gateway.stats.engine import response_times
from gateway.stats.history import INQUIRIES, MAX_FILE_BYTES, import_history_csv
from gateway.stats.period import Period, StatsError, make_period
from gateway.stats.sip import sip_report
from gateway.stats.sip_history import SIPS

IMPORT_ACTOR = "cli:stats-import"
# The kinds of history file `import` reads; the header says which one a file is.
HISTORY_FORMATS = (INQUIRIES, SIPS)
FORMAT_CHOICE = click.Choice(["table", "csv", "json"])


@click.group(
    "stats",
    help="Statistics: the yearly response-time and SIP reports and the manual histories.",
)
def stats_group() -> None:
    pass



@stats_group.command(
    "import",
    help="Import a manual history from FILE ('-' reads stdin): inquiries, CSV with the header "
    "reference,care_unit,sender_unit,sent_on,answer_registered_on,closed_on,close_reason; or "
    "SIPs, with the header "
    "reference,care_unit,sender_unit,invited_on,held_on,cancelled_on,reko_attended "
    "(reko_attended ja, nej or empty). Rows are merged by reference; any bad row stops the "
    "import.",
)
@click.argument("file")
@with_app
def import_command(file: str) -> None:
    session = get_session()
    source = "<stdin>" if file == "-" else file
    try:
        data = read_input(file, MAX_FILE_BYTES)
        summary = import_history_csv(
            session, data, actor=IMPORT_ACTOR, source=source, formats=HISTORY_FORMATS
        )
    except StatsError as exc:
        session.rollback()
        click.echo(f"error: {exc.title}: {exc.detail}", err=True)
        for issue in exc.issues:
            where = f"{issue.location}: " if issue.location else ""
            click.echo(f"{source}: {where}{issue.title}", err=True)
        sys.exit(1)
    session.commit()
    click.echo(f"imported {source}: {summary.describe()} ({summary.kind})")


# A report's outputs by --format: each computes its text (or JSON value) when called.
Outputs = dict[str, Callable[[], Any]]


def _report_command(name: str, help_text: str, outputs: Callable[[Period], Outputs]) -> None:
    """Add `gateway stats NAME --year YYYY [--as-of DATE] [--format table|csv|json]`."""

    @stats_group.command(name, help=help_text)
    @click.option("--year", type=int, required=True, help="The calendar year.")
    @click.option("--as-of", "as_of", type=DATE,
                  help="Measurement date YYYY-MM-DD (default today).")
    @click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
    @with_app
    def command(year: int, as_of: dt.datetime | None, fmt: str) -> None:
        produced = outputs(_period(year, as_of))[fmt]()
        if fmt == "json":
            echo_json(produced)
        else:
            click.echo(produced, nl=fmt != "csv")


def _period(year: int, as_of: dt.datetime | None) -> Period:
    """The period asked for; exits with the reason when it cannot be measured."""
    try:
        return make_period(year, as_of.date() if as_of else stockholm_today())
    except StatsError as exc:
        fail(exc.detail)
        raise AssertionError("unreachable") from None


def _response_times(period: Period) -> Outputs:
    report = response_times(get_session(), period)
    return {"json": report.to_json, "csv": lambda: export.to_csv(report),
            "table": lambda: export.text_table(report)}


def _sip(period: Period) -> Outputs:
    report = sip_report(get_session(), period)
    return {"json": report.to_json, "csv": lambda: sip_export.to_csv(report),
            "table": lambda: sip_export.text_table(report)}


_report_command(
    "response-times",
    "The yearly report (DESIGN 5.7) for the inquiries sent in YEAR, as of a measurement date "
    "(default today).",
    _response_times,
)
_report_command(
    "sip",
    "The SIP report (DESIGN 5.8) for YEAR: SIPs held per month, the REKO's attendance, days "
    "from invitation to meeting, cancellations; as of a measurement date (default today).",
    _sip,
)
