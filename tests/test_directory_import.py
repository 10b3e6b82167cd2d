"""Directory import and export: all-or-nothing, every error named, lossless, idempotent, logged."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit.models import AuditEntry
from gateway.auth.models import Role, User
from gateway.db import get_session
from gateway.directory.importexport import (
    export_json,
    import_directory,
    import_json,
    remove_entry,
)
from gateway.directory.models import Coordinator, DirectoryChange
from gateway.directory.routing import route
from gateway.directory.service import DirectoryError, export_directory, history

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "gateway" / "directory" / "demo_directory.json"
ACTOR = "user:katalogansvarig"

SKANE = "0203:skane.se"
K001 = "SE2321000255-K001"
P001 = "SE2321000255-P001"
P002 = "SE2321000255-P002"


def small() -> dict[str, Any]:
    """A valid directory of one region, one VC, two REKOs and one EBB unit."""
    return {
        "organisations": [
            {"id": SKANE, "name": "Region Skåne"},
            {"id": "0203:malmo.se", "name": "Malmö stad"},
        ],
        "care_units": [
            {
                "hsa_id": K001,
                "name": "Vårdcentralen Kryddgården",
                "organisation": SKANE,
                "connected": True,
                "functional_address": "sdk:reko-kryddgarden:0203:skane.se",
                "manager_email": "chef.kryddgarden@example.org",
            },
        ],
        "coordinators": [
            {
                "hsa_id": P001,
                "name": "Anna Rekosson",
                "email": "anna.rekosson@example.org",
                "phone": "040-00 00 01",
            },
            {
                "hsa_id": P002,
                "name": "Bertil Exempelsson",
                "email": "bertil.exempelsson@example.org",
                "phone": None,
            },
        ],
        "assignments": [
            {
                "coordinator": P001,
                "care_unit": K001,
                "role": "primary",
                "valid_from": "2024-09-01",
                "valid_to": None,
            },
        ],
        "absences": [],
        "sender_units": [
            {
                "name": "EBB Öster",
                "organisation": "0203:malmo.se",
                "kind": "socialtjanst",
                "functional_address": "sdk:ebb-oster:0203:malmo.se",
            },
        ],
    }


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def issues_of(excinfo: pytest.ExceptionInfo[DirectoryError]) -> list[tuple[str, str]]:
    return [(i.location, i.title) for i in excinfo.value.issues]


def assert_named(issues: list[tuple[str, str]], path: str, fragment: str) -> None:
    assert any(loc == path and fragment in title for loc, title in issues), (path, fragment, issues)


def self_signed_pem(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# --- bad input first --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "where", "fragment"),
    [
        ('{"organisations": [', "line 1, column 20", "not valid JSON"),
        ('{"organisations": []}\n}', "line 2, column 1", "not valid JSON"),
        ('{"care_units": [], "care_units": []}', "", "appears twice"),
        (b"\xff\xfe{}", "byte 0", "not UTF-8"),
        ("[" * 100_000, "", "nested too deeply"),
        ("[]", "", "expected a JSON object"),
        ('"directory"', "", "expected a JSON object"),
    ],
    ids=["truncated", "trailing", "duplicate-key", "not-utf8", "deep", "array", "string"],
)
def test_unreadable_json_is_refused_with_its_place(
    app: Flask, raw: str | bytes, where: str, fragment: str
) -> None:
    session = get_session()
    with pytest.raises(DirectoryError) as excinfo:
        import_json(session, raw, actor=ACTOR, source="katalog.json")
    assert excinfo.value.code == "INVALID_DIRECTORY"
    assert excinfo.value.status == 422
    assert_named(issues_of(excinfo), where, fragment)
    assert count(session, DirectoryChange) == 0


def test_invalid_file_names_every_error_and_changes_nothing(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    before = export_json(session)
    changes, audits = count(session, DirectoryChange), count(session, AuditEntry)

    with pytest.raises(DirectoryError) as excinfo:
        import_json(
            session,
            (DATA / "directory-invalid.json").read_bytes(),
            actor=ACTOR,
            source="directory-invalid.json",
        )

    issues = issues_of(excinfo)
    expected = [
        ("care_units[1].hsa_id", "not an HSA-id ('SE123'"),
        ("care_units[2]", "same key (SE2321000255-K001) as care_units[0]"),
        ("care_units[3].organisation", "unknown organisation '0203:lund.se'"),
        ("care_units[4].functional_address", "belongs to organisation 0203:malmo.se"),
        ("coordinators[0].mobile", "unknown key"),
        ("assignments[0].role", "must be primary or deputy, got 'boss'"),
        ("assignments[1].coordinator", "unknown coordinator 'SE2321000255-P404'"),
        ("assignments[2].valid_to", "before valid_from"),
        ("assignments[3].valid_from", "not a date YYYY-MM-DD"),
        ("sender_units[0].kind", "must be socialtjanst or arbetsmarknad"),
    ]
    for path, fragment in expected:
        assert_named(issues, path, fragment)
    assert len(issues) == len(expected), issues
    assert "10 fel" in excinfo.value.detail
    assert export_json(session) == before
    assert (count(session, DirectoryChange), count(session, AuditEntry)) == (changes, audits)


def _set(path: str, value: Any) -> Any:
    """Return a mutation of small() that sets a value at a dotted path ('care_units.0.contact')."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (
            _set("care_units.0.manager_email", None),
            "care_units[0].manager_email",
            "required when connected is true",
        ),
        (
            _set("care_units.0.connected", "yes"),
            "care_units[0].connected",
            "expected true or false, got text",
        ),
        (_set("care_units.0.name", "Vård\x00central"), "care_units[0].name", "control characters"),
        (_set("care_units.0.name", "   "), "care_units[0].name", "must not be empty"),
        (_set("care_units.0.name", _DELETE), "care_units[0].name", "missing"),
        (_set("care_units.0.hsa_id", P001), "care_units[0].hsa_id", "coordinator's"),
        (
            _set("care_units.0.functional_address", "reko-kryddgarden"),
            "care_units[0].functional_address",
            "not a functional address",
        ),
        (
            _set("care_units.0.manager_email", "chef-at-example.org"),
            "care_units[0].manager_email",
            "not an e-mail address",
        ),
        (_set("organisations.0.id", "0007:5561234568"), "organisations[0].id", "wrong check digit"),
        (
            _set("organisations.0.endpoint", "https://gw.skane.se/sdk"),
            "organisations[0]",
            "missing signing_certificate, encryption_certificate",
        ),
        (_set("organisations.0.endpoint", "ftp://gw"), "organisations[0].endpoint", "not an http"),
        (
            _set("organisations.0.signing_certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n"),
            "organisations[0].signing_certificate",
            "not a PEM certificate",
        ),
        (
            _set("coordinators.0.certificate_fingerprints", ["abc"]),
            "coordinators[0].certificate_fingerprints",
            "not a SHA-256 fingerprint",
        ),
        (_set("coordinators.0.phone", "ring mig"), "coordinators[0].phone", "not a phone number"),
        (_set("coordinators.1.email", 42), "coordinators[1].email", "expected text, got a number"),
        (
            _set("assignments.0.care_unit", "SE2321000255-K999"),
            "assignments[0].care_unit",
            "unknown care unit",
        ),
        (
            _set("assignments.0.valid_from", "20240901"),
            "assignments[0].valid_from",
            "not a date YYYY-MM-DD",
        ),
        (
            _set(
                "absences",
                [{"coordinator": P001, "starts_on": "2025-02-10", "ends_on": "2025-02-01"}],
            ),
            "absences[0].ends_on",
            "before starts_on",
        ),
        (
            _set(
                "absences",
                [
                    {
                        "coordinator": "SE2321000255-P777",
                        "starts_on": "2025-02-01",
                        "ends_on": "2025-02-10",
                    }
                ],
            ),
            "absences[0].coordinator",
            "unknown coordinator",
        ),
        (
            _set("sender_units.0.functional_address", "sdk:reko-kryddgarden:0203:skane.se"),
            "sender_units[0].functional_address",
            "belongs to organisation 0203:skane.se",
        ),
        (
            _set("sender_units.0.organisation", "0203:nowhere.se"),
            "sender_units[0].organisation",
            "unknown organisation",
        ),
        (
            _set(
                "functional_addresses",
                [{"address": "sdk:x:0203:skane.se", "organisation": "0203:malmo.se"}],
            ),
            "functional_addresses[0].organisation",
            "belongs to organisation 0203:skane.se",
        ),
        (_set("sender_units", {"name": "EBB Öster"}), "sender_units", "expected an array"),
        (_set("care_units.0", "Kryddgården"), "care_units[0]", "expected an object, got text"),
        (_set("units", []), "units", "unknown section"),
    ],
    ids=lambda v: v if isinstance(v, str) and "[" in v else None,
)
def test_bad_entry_is_named_by_its_path(app: Flask, mutate: Any, path: str, fragment: str) -> None:
    doc = small()
    mutate(doc)
    session = get_session()
    with pytest.raises(DirectoryError) as excinfo:
        import_directory(session, doc, actor=ACTOR)
    assert_named(issues_of(excinfo), path, fragment)
    assert count(session, DirectoryChange) == 0
    assert export_directory(session)["care_units"] == []


def test_fingerprint_registered_to_another_coordinator_is_refused(app: Flask) -> None:
    fingerprint = "ab" * 32
    session = get_session()
    doc = small()
    doc["coordinators"][0]["certificate_fingerprints"] = [fingerprint]
    import_directory(session, doc, actor=ACTOR)
    taken = {
        "coordinators": [{**small()["coordinators"][1], "certificate_fingerprints": [fingerprint]}]
    }
    with pytest.raises(DirectoryError) as excinfo:
        import_directory(session, taken, actor=ACTOR)
    assert_named(
        issues_of(excinfo), "coordinators[0].certificate_fingerprints", f"also registered to {P001}"
    )


# --- what a good import does -----------------------------------------------------------------

PRIVATE = "SE5561234567-V001"


def design_shape() -> dict[str, Any]:
    """DESIGN 5.6's example, key for key, plus a unit outside the model in the same shape."""
    return {
        "organisations": [{"id": "0203:skane.se", "name": "Region Skåne"},
                          {"id": "0203:malmo.se", "name": "Malmö stad"}],
        "care_units": [{"hsa_id": "SE2321000255-K001", "name": "Vårdcentralen Kryddgården",
                        "organisation": "0203:skane.se", "connected": True,
                        "functional_address": "sdk:reko-kryddgarden:0203:skane.se",
                        "manager_email": "chef.kryddgarden@example.org"},
                       {"hsa_id": PRIVATE, "name": "Privata Vårdcentralen Ribersborg",
                        "organisation": "0203:skane.se", "connected": False,
                        "functional_address": None,
                        "manager_email": "chef.ribersborg@example.org"}],
        "coordinators": [{"hsa_id": "SE2321000255-P001", "name": "Anna Rekosson",
                          "email": "anna.rekosson@example.org", "phone": "040-000000"}],
        "assignments": [{"coordinator": "SE2321000255-P001", "care_unit": "SE2321000255-K001",
                         "role": "primary", "valid_from": "2024-09-01", "valid_to": None}],
        "sender_units": [{"name": "EBB Öster", "organisation": "0203:malmo.se",
                          "kind": "socialtjanst",
                          "functional_address": "sdk:ebb-oster:0203:malmo.se"}],
    }


def test_a_file_in_design_shape_imports_and_its_export_imports_unchanged(app: Flask) -> None:
    session = get_session()
    result = import_directory(session, design_shape(), actor=ACTOR)
    assert result.count("create") >= 6

    exported = export_json(session)
    assert not import_json(session, exported, actor=ACTOR).changed
    assert export_json(session) == exported
    unit = next(u for u in json.loads(exported)["care_units"] if u["hsa_id"] == PRIVATE)
    assert unit["connected"] is False and "contact" not in unit


def test_a_unit_without_contact_is_refused_with_what_the_directory_has(app: Flask) -> None:
    session = get_session()
    import_directory(session, design_shape(), actor=ACTOR)
    with pytest.raises(DirectoryError) as excinfo:
        route(session, PRIVATE, dt.date(2025, 3, 10))
    problem = excinfo.value.problem("/api/v1/directory/route")
    assert (excinfo.value.code, excinfo.value.status) == ("CARE_UNIT_NOT_CONNECTED", 422)
    assert problem["care_unit"]["manager_email"] == "chef.ribersborg@example.org"
    assert "contact" not in problem["care_unit"]
    assert "chef.ribersborg@example.org" in problem["detail"]


def test_demo_file_is_in_export_form(app: Flask) -> None:
    session = get_session()
    result = import_json(session, DEMO.read_bytes(), actor=ACTOR)
    assert result.count("create") > 90 and result.count("update") == 0
    assert export_json(session) == DEMO.read_text(encoding="utf-8")


def test_export_import_export_is_lossless_with_every_extra(app: Flask) -> None:
    session = get_session()
    import_json(session, DEMO.read_bytes(), actor=ACTOR)
    extras = {
        "organisations": [
            {
                "id": "0203:lund.se",
                "name": "Lunds kommun",
                "endpoint": "https://gateway.lund.example/sdk",
                "signing_certificate": self_signed_pem("Lund signering"),
                "encryption_certificate": self_signed_pem("Lund kryptering"),
            }
        ],
        "functional_addresses": [
            {"address": "sdk:reko-reserv:0203:skane.se", "label": "Reservadress, ännu oanvänd"}
        ],
        "coordinators": [
            {
                "hsa_id": P001,
                "name": "Anna Rekosson",
                "email": "anna.rekosson@example.org",
                "phone": "040-00 00 01",
                "certificate_fingerprints": ["AB:" * 31 + "AB", "cd" * 32],
            }
        ],
        "absences": [
            {
                "coordinator": P002,
                "starts_on": "2025-07-01",
                "ends_on": "2025-07-31",
                "note": "Semester",
            }
        ],
    }
    import_directory(session, extras, actor=ACTOR)
    first = export_json(session)
    assert '"certificate_fingerprints"' in first and '"endpoint"' in first

    import_directory(session, {}, actor=ACTOR, replace=True)
    assert all(not entries for entries in export_directory(session).values())

    import_json(session, first, actor=ACTOR)
    assert export_json(session) == first


def test_importing_the_same_file_twice_changes_nothing(app: Flask) -> None:
    session = get_session()
    import_json(session, DEMO.read_bytes(), actor=ACTOR)
    changes, audits = count(session, DirectoryChange), count(session, AuditEntry)

    again = import_json(session, DEMO.read_bytes(), actor=ACTOR)

    assert not again.changed and again.summary() == "nothing changed"
    assert (count(session, DirectoryChange), count(session, AuditEntry)) == (changes, audits)


def test_every_change_is_history_and_audited_without_names(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    renamed = {
        "care_units": [{**small()["care_units"][0], "name": "Vårdcentralen Nya Kryddgården"}]
    }

    result = import_directory(session, renamed, actor="user:projektledare")

    assert [c.describe() for c in result.changes] == [f"update care_unit {K001} (name)"]
    latest = history(session, limit=1)[0]
    assert (latest.actor, latest.action, latest.entity, latest.entity_key) == (
        "user:projektledare",
        "update",
        "care_unit",
        K001,
    )
    assert latest.before is not None and latest.after is not None
    assert latest.before["name"] == "Vårdcentralen Kryddgården"
    assert latest.after["name"] == "Vårdcentralen Nya Kryddgården"
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.object_id) == (
        "user:projektledare",
        "directory.update",
        K001,
    )
    assert entry.detail == {"fields": ["name"]}
    assert "Kryddgården" not in json.dumps(entry.detail)


def test_merge_keeps_what_the_file_leaves_out_and_null_clears(app: Flask) -> None:
    session = get_session()
    doc = small()
    doc["care_units"][0]["contact"] = "Telefon 040-00 00 00"
    import_directory(session, doc, actor=ACTOR)

    minimal = {"care_units": [{k: v for k, v in doc["care_units"][0].items() if k != "contact"}]}
    assert not import_directory(session, minimal, actor=ACTOR).changed
    assert export_directory(session)["care_units"][0]["contact"] == "Telefon 040-00 00 00"
    assert len(export_directory(session)["coordinators"]) == 2

    cleared = {"care_units": [{**doc["care_units"][0], "contact": None}]}
    import_directory(session, cleared, actor=ACTOR)
    assert "contact" not in export_directory(session)["care_units"][0]


def test_replace_removes_what_the_file_leaves_out(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    doc = small()
    del doc["coordinators"][1]

    result = import_directory(session, doc, actor=ACTOR, replace=True)

    assert [c.describe() for c in result.changes] == [f"delete coordinator {P002}"]
    assert [c["hsa_id"] for c in export_directory(session)["coordinators"]] == [P001]
    removed = history(session, limit=1, key=P002)[0]
    assert removed.action == "delete" and removed.after is None


def test_replace_refuses_to_remove_what_an_account_uses(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    coordinator = session.scalars(select(Coordinator).where(Coordinator.hsa_id == P002)).one()
    session.add(
        User(
            username="bertil",
            password_hash="x",
            totp_secret=b"x",
            role=Role.COORDINATOR,
            coordinator=coordinator,
        )
    )
    session.flush()
    before = export_json(session)
    doc = small()
    del doc["coordinators"][1]
    del doc["sender_units"][0]
    doc["care_units"][0]["name"] = "Ändrat namn"

    with pytest.raises(DirectoryError) as excinfo:
        import_directory(session, doc, actor=ACTOR, replace=True)

    assert excinfo.value.code == "DIRECTORY_ENTRY_IN_USE" and excinfo.value.status == 409
    assert_named(issues_of(excinfo), f"coordinators {P002}", "still used")
    assert export_json(session) == before


def test_a_fingerprint_can_move_between_coordinators_in_one_import(app: Flask) -> None:
    fingerprint = "ef" * 32
    session = get_session()
    doc = small()
    doc["coordinators"][0]["certificate_fingerprints"] = [fingerprint]
    import_directory(session, doc, actor=ACTOR)
    doc["coordinators"][0]["certificate_fingerprints"] = []
    doc["coordinators"][1]["certificate_fingerprints"] = [fingerprint]

    import_directory(session, doc, actor=ACTOR)

    coordinators = export_directory(session)["coordinators"]
    assert "certificate_fingerprints" not in coordinators[0]
    assert coordinators[1]["certificate_fingerprints"] == [fingerprint]


def test_units_addresses_are_created_with_their_owner(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    addresses = export_directory(session)["functional_addresses"]
    assert addresses == [
        {
            "address": "sdk:ebb-oster:0203:malmo.se",
            "organisation": "0203:malmo.se",
            "label": "EBB Öster",
        },
        {
            "address": "sdk:reko-kryddgarden:0203:skane.se",
            "organisation": SKANE,
            "label": "Vårdcentralen Kryddgården",
        },
    ]


def test_a_document_is_not_modified_by_import(app: Flask) -> None:
    doc = small()
    original = copy.deepcopy(doc)
    import_directory(get_session(), doc, actor=ACTOR)
    assert doc == original


def test_one_entry_can_be_removed_and_the_removal_is_history(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    key = (P001, K001, "primary", "2024-09-01")

    remove_entry(session, actor="user:projektledare", section="assignments", key=key)

    assert export_directory(session)["assignments"] == []
    latest = history(session, limit=1)[0]
    assert (latest.actor, latest.action, latest.entity) == (
        "user:projektledare",
        "delete",
        "assignment",
    )


def test_removing_an_unknown_or_used_entry_is_refused(app: Flask) -> None:
    session = get_session()
    import_directory(session, small(), actor=ACTOR)
    with pytest.raises(DirectoryError) as unknown:
        remove_entry(session, actor=ACTOR, section="care_units", key=("SE2321000255-K404",))
    assert unknown.value.status == 404
    with pytest.raises(DirectoryError) as used:
        remove_entry(session, actor=ACTOR, section="care_units", key=(K001,))
    assert (used.value.code, used.value.status) == ("DIRECTORY_ENTRY_IN_USE", 409)
    assert len(export_directory(session)["care_units"]) == 1
