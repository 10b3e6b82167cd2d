"""The `gateway directory` commands: import, export, check, route and history."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from forms.dates import stockholm_today
from gateway.clitools import DATE, echo_json, fail, read_input, with_app
from gateway.db import get_session
from gateway.directory.check import check_directory
from gateway.directory.importexport import export_json, import_json
from gateway.directory.routing import route, route_preview_json
from gateway.directory.service import changed_fields, history
from gateway.directory.validation import MAX_FILE_BYTES
from gateway.errors import GatewayError

IMPORT_ACTOR = "cli:directory-import"


@click.group("directory", help="Import, export and check the directory; preview routing.")
def directory_group() -> None:
    pass



def _fail_with(source: str, exc: GatewayError) -> None:
    """Print a refusal and every issue in it, one per line, then exit 1."""
    click.echo(f"error: {exc.title}: {exc.detail}", err=True)
    for issue in exc.issues:
        where = f"{issue.location}: " if issue.location else ""
        click.echo(f"{source}: {where}{issue.title}", err=True)
    sys.exit(1)


@directory_group.command("import", help="Import FILE (the JSON of DESIGN 5.6; '-' reads stdin).")
@click.argument("file")
@click.option("--replace", is_flag=True, help="Remove entries that are not in the file.")
@click.option("--dry-run", is_flag=True, help="Validate and show the changes; write nothing.")
@with_app
def import_command(file: str, replace: bool, dry_run: bool) -> None:
    session = get_session()
    source = "<stdin>" if file == "-" else file
    try:
        result = import_json(
            session,
            read_input(file, MAX_FILE_BYTES),
            actor=IMPORT_ACTOR,
            replace=replace,
            source=source,
        )
    except GatewayError as exc:
        session.rollback()
        _fail_with(source, exc)
        return
    for change in result.changes:
        click.echo(change.describe())
    if dry_run:
        session.rollback()
        click.echo(f"dry run: would have {result.summary()}; nothing written")
        return
    session.commit()
    click.echo(f"imported {source}: {result.summary()}")


@directory_group.command("export", help="Write the directory as JSON to FILE, or to stdout.")
@click.argument("file", required=False)
@with_app
def export_command(file: str | None) -> None:
    text = export_json(get_session())
    if file is None or file == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot write: {exc.strerror or exc}")
    click.echo(f"exported to {file}", err=True)


@directory_group.command("check", help="Report problems in the directory; exit 1 on errors.")
@click.option("--date", "on", type=DATE, help="Check as of this date (YYYY-MM-DD); default today.")
@click.option(
    "--require-fingerprints",
    is_flag=True,
    help="Report REKOs without a registered certificate fingerprint.",
)
@with_app
def check_command(on: dt.datetime | None, require_fingerprints: bool) -> None:
    day = on.date() if on else stockholm_today()
    report = check_directory(get_session(), day, require_fingerprints=require_fingerprints)
    for finding in report.findings:
        click.echo(finding.line())
    click.echo(f"{len(report.errors)} errors, {len(report.warnings)} warnings ({day.isoformat()})")
    if not report.ok:
        sys.exit(1)


@directory_group.command("route", help="Show who would receive an inquiry to care unit HSA_ID.")
@click.argument("hsa_id")
@click.option("--date", "on", type=DATE, help="Route as of this date (YYYY-MM-DD); default today.")
@with_app
def route_command(hsa_id: str, on: dt.datetime | None) -> None:
    day = on.date() if on else stockholm_today()
    try:
        decision = route(get_session(), hsa_id, day)
    except GatewayError as exc:
        click.echo(f"error: {exc.code}: {exc.title}: {exc.detail}", err=True)
        sys.exit(1)
    echo_json(route_preview_json(decision))


@directory_group.command("history", help="Show the newest directory changes: who, when, what.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--key", help="Only changes to this entry (e.g. an HSA-id).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes with before and after.")
@with_app
def history_command(limit: int, key: str | None, as_json: bool) -> None:
    changes = history(get_session(), limit=limit, key=key)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "at": c.at.isoformat(),
                        "actor": c.actor,
                        "action": c.action,
                        "entity": c.entity,
                        "key": c.entity_key,
                        "before": c.before,
                        "after": c.after,
                    }
                    for c in changes
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for c in changes:
        fields = ", ".join(changed_fields(c.before, c.after)) if c.action == "update" else ""
        click.echo(
            f"{c.at:%Y-%m-%d %H:%M:%S}Z  {c.actor}  {c.action} {c.entity} {c.entity_key}"
            + (f"  ({fields})" if fields else "")
        )
