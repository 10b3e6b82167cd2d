"""The `gateway audit` commands."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.anchoring import AnchorReport, anchor_now, verify_anchors
from gateway.clitools import app, fail, with_app
from signing.timestamps import TimestampError


@click.group("audit", help="The audit log.")
def audit_group() -> None:
    pass


@audit_group.command(
    "verify",
    help="Check the whole hash chain. Exits 0 when intact, 1 naming the first broken entry.",
)
@with_app
def verify_command() -> None:
    from gateway.audit.service import verify
    from gateway.db import database

    session = database().session()
    try:
        report = verify(session)
    except SQLAlchemyError as exc:
        fail(
            f"the audit log cannot be read ({type(exc).__name__}); "
            "is the database migrated? (gateway db upgrade)"
        )
        return
    finally:
        session.close()
    if not report.ok:
        fail(report.describe())
    click.echo(report.describe())
    anchors = _verify_anchors()
    if not anchors.ok:
        fail(f"audit anchors: {anchors.problem}")
    if anchors.checked:
        latest = f"{anchors.latest:%Y-%m-%d %H:%M:%S} UTC" if anchors.latest else "unknown"
        click.echo(
            f"audit anchors ok: {anchors.checked} RFC 3161 timestamps, latest {latest} "
            f"covering entries up to seq {anchors.latest_seq}"
        )
    tail = report.checked - (anchors.latest_seq or 0)
    if tail > 0:
        # Not an error (the next anchor comes within GATEWAY_AUDIT_ANCHOR_MINUTES), but what
        # someone holding the database and the chain key could still rewrite unnoticed.
        click.echo(f"not yet anchored: the last {tail} entries")


def _verify_anchors() -> AnchorReport:
    from gateway.db import database

    session = database().session()
    try:
        return verify_anchors(session, app())
    finally:
        session.close()


@audit_group.command(
    "anchor",
    help="Timestamp the chain head now (RFC 3161: GATEWAY_TSA_URL, or the development TSA).",
)
@with_app
def anchor_command() -> None:
    from gateway.db import database

    try:
        with database().transaction() as session:
            anchored = anchor_now(session, app())
    except TimestampError as exc:
        fail(str(exc))
        return
    if anchored is None:
        fail(
            "nothing anchored: no TSA configured (GATEWAY_TSA_URL, or gateway pki init), "
            "the chain is empty, or its head is anchored already"
        )
        return
    click.echo(f"anchored seq {anchored.seq} ({anchored.entry_hash[:16]}…) by {anchored.tsa}")


@audit_group.command(
    "rotate-key",
    help="Make a new audit chain key (in the vault's key file) the one new entries are keyed "
    "with. Old chain keys stay: entries made under them verify with them. Copy the key file "
    "to every node and back it up afterwards.",
)
@with_app
def rotate_key_command() -> None:
    from gateway.audit.service import rotate_chain_key
    from gateway.db import database

    with database().transaction() as session:
        key_id = rotate_chain_key(session, actor="cli:audit rotate-key")
    click.echo(f"new audit chain key: {key_id}")
