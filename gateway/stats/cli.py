"""The `gateway stats` commands: import the manual history; print the yearly report."""

from __future__ import annotations

import datetime as dt
import sys

import click

from forms.dates import stockholm_today
from gateway.clitools import DATE, echo_json, fail, read_input, with_app
from gateway.db import get_session
from gateway.stats import export
from gateway.stats.engine import response_times
from gateway.stats.history import MAX_FILE_BYTES, import_history_csv
from gateway.stats.period import StatsError, make_period

IMPORT_ACTOR = "cli:stats-import"


@click.group("stats", help="Response-time statistics: the yearly report and the manual history.")
def stats_group() -> None:
    pass



@stats_group.command(
    "import",
    help="Import the manual history from FILE ('-' reads stdin): CSV with the header "
    "reference,care_unit,sender_unit,sent_on,answer_registered_on,closed_on,close_reason. "
    "Rows are merged by reference; any bad row stops the import.",
)
@click.argument("file")
@with_app
def import_command(file: str) -> None:
    session = get_session()
    source = "<stdin>" if file == "-" else file
    try:
        data = read_input(file, MAX_FILE_BYTES)
        summary = import_history_csv(session, data, actor=IMPORT_ACTOR, source=source)
    except StatsError as exc:
        session.rollback()
        click.echo(f"error: {exc.title}: {exc.detail}", err=True)
        for issue in exc.issues:
            where = f"{issue.location}: " if issue.location else ""
            click.echo(f"{source}: {where}{issue.title}", err=True)
        sys.exit(1)
    session.commit()
    click.echo(f"imported {source}: {summary.describe()}")


@stats_group.command(
    "response-times",
    help="The yearly report (DESIGN 5.7) for the inquiries sent in YEAR, as of a measurement "
    "date (default today).",
)
@click.option("--year", type=int, required=True, help="The cohort's calendar year.")
@click.option("--as-of", "as_of", type=DATE, help="Measurement date YYYY-MM-DD (default today).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True,
)
@with_app
def response_times_command(year: int, as_of: dt.datetime | None, fmt: str) -> None:
    try:
        period = make_period(year, as_of.date() if as_of else stockholm_today())
    except StatsError as exc:
        fail(exc.detail)
        return
    report = response_times(get_session(), period)
    if fmt == "json":
        echo_json(report.to_json())
    elif fmt == "csv":
        click.echo(export.to_csv(report), nl=False)
    else:
        click.echo(export.text_table(report))
