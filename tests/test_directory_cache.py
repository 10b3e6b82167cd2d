"""The directory's routing data kept per process (gateway.directory.cache): every change to a
table routing reads, by anyone, gives the directory a new version token, and the next inquiry
is routed by the changed directory, also when another connection made the change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gateway.db import database, get_session, make_engine, utcnow
from gateway.directory.cache import directory_view, forget, version_token
from gateway.directory.models import Absence, CareUnit, Coordinator
from gateway.directory.routing import route
from gateway.directory.service import DirectoryError
from gateway.errors import GatewayError
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Leg, LegKind
from tests.support.forms import EBB_OSTER, KRYDDGARDEN, MALMO, halsoforfragan, nth_personnummer
from tests.support.intake import load_directory
from tests.support.pki import install_pki

PRIMARY, DEPUTY = "SE2321000255-P001", "SE2321000255-P002"
SUBMITTER = Submitter("client:test", MALMO, frozenset({EBB_OSTER}))

# Rows to add and then remove, in the order their foreign keys allow, one per routing table.
ADDED = [
    ("organisations", "INSERT INTO organisations (id, name) VALUES ('0007:1', 'Test AB')"),
    ("functional_addresses",
     "INSERT INTO functional_addresses (id, address, label, organisation_id) "
     "VALUES (9001, 'sdk:test:0007:1', '', '0007:1')"),
    ("care_units",
     "INSERT INTO care_units (id, hsa_id, name, organisation_id, connected, "
     "functional_address_id) VALUES (9001, 'SE0000000000-T001', 'Test', '0007:1', true, 9001)"),
    ("coordinators",
     "INSERT INTO coordinators (id, hsa_id, name, email) "
     "VALUES (9001, 'SE0000000000-T002', 'Test', 't@example.org')"),
    ("sender_units",
     "INSERT INTO sender_units (id, name, organisation_id, kind, functional_address_id) "
     "VALUES (9001, 'Testenheten', '0007:1', 'socialtjanst', 9001)"),
    ("assignments",
     "INSERT INTO assignments (id, coordinator_id, care_unit_id, role, valid_from) "
     "VALUES (9001, 9001, 9001, 'primary', '2025-01-01')"),
    ("absences",
     "INSERT INTO absences (id, coordinator_id, starts_on, ends_on, note) "
     "VALUES (9001, 9001, '2025-01-01', '2025-01-02', '')"),
]
KEY = {"organisations": "'0007:1'"}


def _key(table: str) -> str:
    return KEY.get(table, "9001")


def test_every_change_to_a_routing_table_gives_a_new_token(app: Flask) -> None:
    session = get_session()
    tokens = [version_token(session)]
    assert tokens[0] is not None

    def changed(statement: str) -> None:
        session.execute(text(statement))
        token = version_token(session)
        assert token not in tokens, statement
        tokens.append(token)

    for table, insert in ADDED:
        changed(insert)
        changed(f"UPDATE {table} SET id = id WHERE id = {_key(table)}")
    for table, _ in reversed(ADDED):
        changed(f"DELETE FROM {table} WHERE id = {_key(table)}")


def test_a_change_in_the_same_transaction_is_seen_at_once(app: Flask) -> None:
    session = get_session()
    load_directory(session)
    today = dt.date.today()
    assert route(session, KRYDDGARDEN, today).coordinators[0].hsa_id == PRIMARY
    _away(session, PRIMARY, today)  # not flushed: reading the token flushes it
    decision = route(session, KRYDDGARDEN, today)
    assert [c.hsa_id for c in decision.coordinators] == [DEPUTY]
    unit = session.scalars(select(CareUnit).where(CareUnit.hsa_id == KRYDDGARDEN)).one()
    unit.connected = False
    with pytest.raises(DirectoryError) as refused:
        route(session, KRYDDGARDEN, today)
    assert refused.value.code == "CARE_UNIT_NOT_CONNECTED"
    with pytest.raises(DirectoryError):  # a refusal kept is raised again, as a fresh copy
        route(session, KRYDDGARDEN, today)


def test_a_view_reads_each_thing_once_per_version(app: Flask) -> None:
    session = get_session()
    load_directory(session)
    forget()
    loads: list[str] = []

    def load() -> str:
        loads.append("x")
        return "value"

    view = directory_view(session)
    assert view.cached("k", load) == view.cached("k", load) == "value"
    assert directory_view(session).cached("k", load) == "value"
    assert len(loads) == 1
    session.execute(text("UPDATE care_units SET name = name"))
    assert directory_view(session).cached("k", load) == "value"
    assert len(loads) == 2


def _away(session: Session, hsa_id: str, day: dt.date) -> None:
    coordinator = session.scalars(select(Coordinator).where(Coordinator.hsa_id == hsa_id)).one()
    session.add(Absence(coordinator_id=coordinator.id, starts_on=day - dt.timedelta(days=1),
                        ends_on=day + dt.timedelta(days=1), note="test"))


def _routed_to(app: Flask, n: int) -> Any:
    """Submit the n-th form through the service in a transaction of its own; return the
    coordinators of its routed leg."""
    db = database(app)
    with db.transaction() as session:
        now = utcnow()
        data = halsoforfragan(now, personnummer=nth_personnummer(n))
        inquiry = submit(session, data, submitter=SUBMITTER, channel="api", now=now).inquiry
        detail = session.scalars(select(Leg.detail).where(
            Leg.inquiry_id == inquiry.id, Leg.kind == LegKind.ROUTED)).one()
    return [c["hsa_id"] for c in detail["coordinators"]]


def test_a_change_by_another_connection_routes_the_next_inquiry(
    committing_app: Flask, instance: Path, pki_template: Path
) -> None:
    install_pki(instance, pki_template)
    app = committing_app
    with database(app).transaction() as session:
        load_directory(session)
    assert _routed_to(app, 1) == [PRIMARY, DEPUTY]
    assert _routed_to(app, 2) == [PRIMARY, DEPUTY]  # from the cache: no change in between
    # Another engine, as another process would: the primary is away from today.
    other = make_engine(app.config["DATABASE_URL"])
    today = dt.datetime.now(dt.UTC).date()
    try:
        with other.begin() as connection:
            connection.execute(text(
                "INSERT INTO absences (coordinator_id, starts_on, ends_on, note) "
                "SELECT id, :start, :end, 'test' FROM coordinators WHERE hsa_id = :hsa"
            ), {"start": today - dt.timedelta(days=2), "end": today + dt.timedelta(days=2),
                "hsa": PRIMARY})
        assert _routed_to(app, 3) == [DEPUTY]
        with other.begin() as connection:
            connection.execute(text("UPDATE care_units SET connected = false WHERE hsa_id = :h"),
                               {"h": KRYDDGARDEN})
        with pytest.raises(GatewayError) as refused:
            _routed_to(app, 4)
        assert refused.value.code == "CARE_UNIT_NOT_CONNECTED"
        with other.begin() as connection:  # a sender unit's address changes: unknown sender
            connection.execute(text(
                "UPDATE functional_addresses SET address = 'sdk:annan:0203:malmo.se' "
                "WHERE address = :a"), {"a": EBB_OSTER})
        with pytest.raises(GatewayError) as unknown:
            _routed_to(app, 5)
        assert unknown.value.code == "SENDER_UNIT_UNKNOWN"
    finally:
        other.dispose()
