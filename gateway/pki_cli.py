"""The `gateway pki` commands: the development PKI in the instance folder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway.clitools import echo_json, fail, with_app
from gateway.db import database, get_session
from gateway.directory.models import Coordinator, Organisation
from signing.devpki import (
    DEMO_ORGANISATIONS,
    DEMO_PASSPHRASE,
    Person,
    PkiError,
    PkiLayout,
    PkiResult,
    describe_pki,
    init_pki,
)


@click.group("pki", help="Development PKI.")
def pki_group() -> None:
    pass


def _parse_people(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[Person]:
    """Turn each HSA_ID:NAME into a Person, refusing a bad HSA-id or name before anything runs."""
    people = []
    for value in values:
        hsa_id, sep, name = value.partition(":")
        if not sep:
            raise click.BadParameter(f"expected HSA_ID:NAME, got {value!r}", param=param)
        try:
            people.append(Person(hsa_id.strip(), name))
        except PkiError as exc:
            raise click.BadParameter(str(exc), param=param) from None
    return people


@pki_group.command("init", help="Make the development CA and certificates in the instance folder.")
@click.option(
    "--passphrase-stdin", is_flag=True,
    help=f"Read the PKCS#12 passphrase from stdin's first line (default: {DEMO_PASSPHRASE!r}).",
)
@click.option(
    "--reko", "rekos", multiple=True, metavar="HSA_ID:NAME", callback=_parse_people,
    help="A REKO certificate besides those in the directory (repeatable).",
)
@click.option(
    "--physician", "physicians", multiple=True, metavar="HSA_ID:NAME", callback=_parse_people,
    help="A co-signing physician's certificate (repeatable).",
)
@click.option(
    "--encryption-certificates/--no-encryption-certificates", default=True, show_default=True,
    help="An encryption certificate per organisation besides its function certificate.",
)
@click.option("--force", is_flag=True, help="Make everything anew, the CA included.")
@with_app
def init_command(
    passphrase_stdin: bool,
    rekos: list[Person],
    physicians: list[Person],
    encryption_certificates: bool,
    force: bool,
) -> None:
    passphrase = _read_passphrase() if passphrase_stdin else DEMO_PASSPHRASE
    rows = _directory_rows()
    people = rows.rekos + rekos  # --reko last: its name wins for a repeated HSA-id
    layout = PkiLayout.for_instance(current_app.instance_path)
    try:
        result = init_pki(
            layout.root,
            passphrase=passphrase,
            rekos=people,
            physicians=physicians,
            organisations=rows.organisations or DEMO_ORGANISATIONS,
            encryption_certificates=encryption_certificates,
            force=force,
        )
    except (PkiError, OSError) as exc:  # OSError: e.g. an instance folder we may not write
        fail(str(exc))
        return
    _print_result(result, passphrase_stdin)


@pki_group.command("show", help="List the certificates with SHA-256 fingerprints and expiry.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@with_app
def show_command(as_json: bool) -> None:
    try:
        overview = describe_pki(PkiLayout.for_instance(current_app.instance_path).root)
    except PkiError as exc:
        fail(str(exc))
        return
    if as_json:
        echo_json({
            "root": str(overview.root),
            "crl_next_update": (
                overview.crl_next_update.isoformat() if overview.crl_next_update else None
            ),
            "certificates": [
                {
                    "path": str(c.path), "subject": c.subject, "issuer": c.issuer,
                    "sha256": c.fingerprint, "not_before": c.not_before.isoformat(),
                    "not_after": c.not_after.isoformat(), "expired": c.expired(),
                }
                for c in overview.certificates
            ],
            "problems": list(overview.problems),
        })
        return
    click.echo(f"PKI in {overview.root}")
    for cert in overview.certificates:
        state = "EXPIRED" if cert.expired() else "valid"
        click.echo(f"\n{cert.path}\n  subject  {cert.subject}\n  sha256   {cert.fingerprint}")
        click.echo(f"  expires  {cert.not_after:%Y-%m-%d %H:%M} UTC ({state})")
    if overview.crl_next_update:
        click.echo(f"\nca.crl next update {overview.crl_next_update:%Y-%m-%d %H:%M} UTC")
    for problem in overview.problems:
        click.echo(f"warning: {problem}", err=True)


def _read_passphrase() -> str:
    passphrase = sys.stdin.readline().rstrip("\r\n")
    if not passphrase:
        fail("no passphrase on stdin (the first line was empty)")
    return passphrase


@dataclass(frozen=True)
class _DirectoryRows:
    rekos: list[Person]
    organisations: dict[str, str]


def _directory_rows() -> _DirectoryRows:
    """Return the directory's REKOs and the organisations served here (those without an
    endpoint); a missing schema only warns (pki init may come first)."""
    session = get_session()
    try:
        rows = session.execute(select(Coordinator.hsa_id, Coordinator.name)).all()
        served = session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.endpoint.is_(None))
        ).all()
    except SQLAlchemyError:
        click.echo(
            "warning: could not read the directory from the database (run 'gateway db "
            "upgrade'); only --reko certificates and the demo organisations' are made",
            err=True,
        )
        return _DirectoryRows([], {})
    finally:
        # The command needs the database only here: close its connections now rather than
        # leave them to the garbage collector (a ResourceWarning under tests).
        session.close()
        database().engine.dispose()
    people = []
    for hsa_id, name in rows:
        try:
            people.append(Person(hsa_id, name))
        except PkiError as exc:
            fail(f"directory REKO {hsa_id!r}: {exc}")
    return _DirectoryRows(people, {org_id: name for org_id, name in served})


def _print_result(result: PkiResult, passphrase_from_stdin: bool) -> None:
    click.echo(f"development PKI in {result.root}")
    state = "new" if result.ca_created else "kept"
    click.echo(f"CA SHA-256 {result.ca_fingerprint} ({state})")
    for path in result.removed:
        click.echo(f"  removed  {_relative(path, result.root)}")
    for path in result.created:
        click.echo(f"  created  {_relative(path, result.root)}")
    for path in result.kept:
        click.echo(f"  kept     {_relative(path, result.root)}")
    click.echo(f"{len(result.created)} created, {len(result.kept)} kept")
    if any(path.suffix == ".p12" for path in result.kept):
        click.echo("kept PKCS#12 files keep the passphrase they were made with")
    if passphrase_from_stdin:
        click.echo("PKCS#12 passphrase: the one given on stdin")
    else:
        click.echo(
            f"PKCS#12 passphrase: {DEMO_PASSPHRASE!r} (the demo default; see --passphrase-stdin)"
        )


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
