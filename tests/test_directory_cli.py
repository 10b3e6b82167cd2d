"""`gateway directory` on a real, committing database: import, export, check, route, history."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from flask import Flask

from gateway.db import database
from gateway.directory.cli import directory_group
from gateway.directory.service import export_directory

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "gateway" / "directory" / "demo_directory.json"


def run(app: Flask, *args: str, stdin: str | None = None) -> Result:
    env = {
        "GATEWAY_DATABASE_URL": database(app).url,
        "GATEWAY_INSTANCE_PATH": app.instance_path,
        "GATEWAY_SECRET_KEY": "test",
    }
    return CliRunner().invoke(directory_group, list(args), env=env, input=stdin)


def stored(app: Flask) -> dict[str, list[dict[str, object]]]:
    with database(app).transaction() as session:
        return export_directory(session)


def test_a_malformed_file_lists_every_error_and_writes_nothing(committing_app: Flask) -> None:
    bad = DATA / "directory-invalid.json"
    result = run(committing_app, "import", str(bad))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{bad}: ")]
    assert len(lines) == 10
    assert f"{bad}: care_units[1].hsa_id: not an HSA-id ('SE123'" in result.stderr
    assert f"{bad}: assignments[0].role: must be primary or deputy, got 'boss'" in result.stderr
    assert "Traceback" not in result.output
    assert all(not entries for entries in stored(committing_app).values())


def test_bad_json_names_line_and_column(committing_app: Flask, tmp_path: Path) -> None:
    broken = tmp_path / "katalog.json"
    broken.write_text('{\n  "care_units": [\n    {"hsa_id": "SE2321000255-K001",}\n  ]\n}\n')
    result = run(committing_app, "import", str(broken))
    assert result.exit_code == 1
    assert f"{broken}: line 3, column 36: not valid JSON" in result.stderr


def test_a_missing_file_is_a_message_not_a_traceback(committing_app: Flask, tmp_path: Path) -> None:
    result = run(committing_app, "import", str(tmp_path / "finns-inte.json"))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.output


def test_import_export_round_trip_and_idempotent_reimport(
    committing_app: Flask, tmp_path: Path
) -> None:
    first = run(committing_app, "import", str(DEMO))
    assert first.exit_code == 0, first.output
    assert "imported" in first.stdout and "0 updated, 0 removed" in first.stdout

    exported = tmp_path / "export.json"
    assert run(committing_app, "export", str(exported)).exit_code == 0
    assert exported.read_text(encoding="utf-8") == DEMO.read_text(encoding="utf-8")

    again = run(committing_app, "import", str(exported))
    assert again.exit_code == 0 and again.stdout.strip().endswith("nothing changed")
    assert run(committing_app, "export").stdout == DEMO.read_text(encoding="utf-8")


def test_dry_run_shows_changes_and_writes_nothing(committing_app: Flask) -> None:
    result = run(committing_app, "import", "--dry-run", "-", stdin=DEMO.read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert "create care_unit SE2321000255-K001" in result.stdout
    assert "nothing written" in result.stdout
    assert stored(committing_app)["care_units"] == []


def test_check_fails_on_a_unit_without_reko_and_passes_on_the_demo(
    committing_app: Flask, tmp_path: Path
) -> None:
    assert run(committing_app, "import", str(DEMO)).exit_code == 0
    ok = run(committing_app, "check", "--date", "2025-03-10")
    assert ok.exit_code == 0 and "0 errors" in ok.stdout

    orphan = tmp_path / "ny-vc.json"
    orphan.write_text(
        json.dumps(
            {
                "care_units": [
                    {
                        "hsa_id": "SE2321000255-K099",
                        "name": "Vårdcentralen Ny",
                        "organisation": "0203:skane.se",
                        "connected": True,
                        "functional_address": "sdk:reko-ny:0203:skane.se",
                        "manager_email": "chef.ny@example.org",
                    }
                ]
            }
        )
    )
    assert run(committing_app, "import", str(orphan)).exit_code == 0

    failed = run(committing_app, "check", "--date", "2025-03-10")
    assert failed.exit_code == 1
    assert "error: NO_ACTIVE_REKO: SE2321000255-K099" in failed.stdout


def test_route_prints_the_preview_or_the_refusal(committing_app: Flask) -> None:
    assert run(committing_app, "import", str(DEMO)).exit_code == 0
    result = run(committing_app, "route", "SE2321000255-K001", "--date", "2025-03-10")
    assert result.exit_code == 0
    preview = json.loads(result.stdout)
    assert preview["functional_address"] == "sdk:reko-kryddgarden:0203:skane.se"
    assert [c["role"] for c in preview["coordinators"]] == ["primary", "deputy"]

    private = run(committing_app, "route", "SE5561234567-V001")
    assert private.exit_code == 1 and "CARE_UNIT_NOT_CONNECTED" in private.stderr
    assert "040-00 00 90" in private.stderr
    assert run(committing_app, "route", "SE2321000255-K999").exit_code == 1
    assert run(committing_app, "route", "SE2321000255-K001", "--date", "igår").exit_code == 2


def test_history_shows_who_changed_what(committing_app: Flask, tmp_path: Path) -> None:
    assert run(committing_app, "import", str(DEMO)).exit_code == 0
    doc = json.loads(DEMO.read_text(encoding="utf-8"))
    doc["care_units"][0]["manager_email"] = "ny.chef@example.org"
    changed = tmp_path / "andrad.json"
    changed.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert run(committing_app, "import", str(changed)).exit_code == 0

    result = run(committing_app, "history", "--limit", "1")
    assert result.exit_code == 0
    assert (
        "cli:directory-import  update care_unit SE2321000255-K001  (manager_email)" in result.stdout
    )
    entries = json.loads(run(committing_app, "history", "--json", "--limit", "1").stdout)
    assert entries[0]["after"]["manager_email"] == "ny.chef@example.org"
