"""`gateway stats import` and `gateway stats response-times` on a real, committing database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from gateway.db import database
from gateway.stats.cli import stats_group
from gateway.stats.demo import load_demo_history
from gateway.stats.models import HistoryInquiry, HistorySip

DATA = Path(__file__).parent / "data"
PROJECT = DATA / "history-project.csv"


def run(app: Flask, *args: str, stdin: str | None = None) -> Result:
    env = {
        "GATEWAY_DATABASE_URL": database(app).url,
        "GATEWAY_INSTANCE_PATH": app.instance_path,
        "GATEWAY_SECRET_KEY": "test",
    }
    return CliRunner().invoke(stats_group, list(args), env=env, input=stdin)


def stored(app: Flask) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(HistoryInquiry)) or 0)


# --- refusals first ---------------------------------------------------------------------------


def test_a_bad_file_names_every_bad_row_and_imports_nothing(committing_app: Flask) -> None:
    bad = DATA / "history-invalid.csv"
    result = run(committing_app, "import", str(bad))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{bad}: line ")]
    assert len(lines) == 9
    assert f"{bad}: line 3: care_unit is not an HSA-id ('SE123'" in result.stderr
    assert f"{bad}: line 8: reference 'MAL-2023-0001' repeats line 2" in result.stderr
    assert "nothing imported" in result.stderr
    assert "Traceback" not in result.output
    assert stored(committing_app) == 0


def test_a_missing_file_is_a_message(committing_app: Flask, tmp_path: Path) -> None:
    result = run(committing_app, "import", str(tmp_path / "finns-inte.csv"))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.output


def test_a_year_after_the_measurement_is_refused(committing_app: Flask) -> None:
    result = run(committing_app, "response-times", "--year", "2025", "--as-of", "2024-04-30")
    assert result.exit_code == 1
    assert "mellan 2000 och mätdatumets år 2024" in result.stderr


def test_a_malformed_date_is_a_usage_error(committing_app: Flask) -> None:
    result = run(committing_app, "response-times", "--year", "2023", "--as-of", "30/4/2024")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# --- import and report ------------------------------------------------------------------------


def test_import_twice_then_report_in_every_format(committing_app: Flask) -> None:
    first = run(committing_app, "import", str(PROJECT))
    assert first.exit_code == 0, first.output
    assert "408 new, 0 updated, 0 unchanged" in first.stdout
    again = run(committing_app, "import", "-", stdin=PROJECT.read_text(encoding="utf-8"))
    assert "imported <stdin>: 0 new, 0 updated, 408 unchanged" in again.stdout
    assert stored(committing_app) == 408

    as_json = run(committing_app, "response-times", "--year", "2023", "--as-of", "2024-04-30",
                  "--format", "json")
    body = json.loads(as_json.stdout)
    assert (body["total"], body["per_month"]) == (276, 23.0)
    assert [v["percent"] for v in body["buckets"].values()] == [38, 15, 26, 14, 7]

    table = run(committing_app, "response-times", "--year", "2022", "--as-of", "2024-04-30")
    assert table.exit_code == 0
    assert "Svarstider 2022 – mätning gjord 2024-04-30" in table.stdout
    assert "Ej svar, ok anledning      21 %      27" in table.stdout
    assert "2022: 11,0 st/månad (jan–dec)" in table.stdout

    as_csv = run(committing_app, "response-times", "--year", "2022", "--as-of", "2024-04-30",
                 "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    overview = [r["percent"] for r in rows if r["section"] == "overview" and r["bucket"] != "total"]
    assert overview == ["43", "6", "30", "21", "0"]


def test_the_volume_counts_the_month_the_measurement_date_ends(committing_app: Flask) -> None:
    with database(committing_app).transaction() as session:
        load_demo_history(session, actor="cli:test")
    for as_of, label in (("2024-03-31", "jan–mars"), ("2024-04-10", "jan–mars"),
                         ("2024-04-30", "jan–april")):
        table = run(committing_app, "response-times", "--year", "2024", "--as-of", as_of)
        assert f"2024: 21,0 st/månad ({label})" in table.stdout, table.output
        as_json = json.loads(run(committing_app, "response-times", "--year", "2024",
                                 "--as-of", as_of, "--format", "json").stdout)
        assert (as_json["per_month"], as_json["volume"]["label"]) == (21.0, label)


# --- SIPs -------------------------------------------------------------------------------------

SIP_FILE = (
    "reference,care_unit,sender_unit,invited_on,held_on,cancelled_on,reko_attended\n"
    "SIP-1,SE2321000255-K001,EBB Öster,2024-01-02,2024-01-20,,ja\n"
    "SIP-2,SE2321000255-K001,EBB Öster,2024-01-03,2024-02-20,,nej\n"
    "SIP-3,SE2321000255-K001,EBB Öster,2024-02-03,2024-03-01,,ja\n"
    "SIP-4,SE2321000255-K001,EBB Öster,2024-02-03,,2024-02-10,\n"
)


def test_a_bad_sip_file_names_its_rows_and_imports_nothing(
    committing_app: Flask, tmp_path: Path
) -> None:
    bad = tmp_path / "sip.csv"
    bad.write_text(SIP_FILE + "SIP-5,SE2321000255-K001,EBB Öster,2024-02-03,,2024-02-10,ja\n",
                   encoding="utf-8")
    result = run(committing_app, "import", str(bad))
    assert result.exit_code == 1
    assert f"{bad}: line 6: reko_attended without held_on" in result.stderr
    with database(committing_app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(HistorySip)) == 0


def test_import_a_sip_history_then_the_sip_report_in_every_format(committing_app: Flask) -> None:
    imported = run(committing_app, "import", "-", stdin=SIP_FILE)
    assert imported.exit_code == 0, imported.output
    assert "imported <stdin>: 4 new, 0 updated, 0 unchanged (SIPs)" in imported.stdout
    assert stored(committing_app) == 0  # no inquiry among them

    as_json = json.loads(run(committing_app, "sip", "--year", "2024", "--as-of", "2024-03-31",
                             "--format", "json").stdout)
    assert (as_json["held"], as_json["per_month"], as_json["cancelled"]) == (3, 1.0, 1)
    assert as_json["reko_attended"] == {"count": 2, "percent": 67, "of": 3, "not_recorded": 0}

    table = run(committing_app, "sip", "--year", "2024", "--as-of", "2024-02-29")
    assert table.exit_code == 0, table.output
    assert "SIP 2024 – mätning gjord 2024-02-29" in table.stdout
    assert "2024: 1,0 st/månad (jan–feb)" in table.stdout
    assert "67 %" not in table.stdout and "50 % (1 av 2; ej registrerat 0)" in table.stdout

    as_csv = run(committing_app, "sip", "--year", "2024", "--as-of", "2024-03-31",
                 "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    overview = {r["bucket"]: (r["count"], r["percent"]) for r in rows
                if r["section"] == "overview"}
    assert overview["held"] == ("3", "") and overview["reko_attended"] == ("2", "67")
    assert {r["section"] for r in rows} == {
        "overview", "volume", "days_to_meeting", "cancellation", "month", "care_unit",
        "sender_unit",
    }


def test_a_sip_year_after_the_measurement_is_refused(committing_app: Flask) -> None:
    result = run(committing_app, "sip", "--year", "2025", "--as-of", "2024-04-30")
    assert result.exit_code == 1
    assert "mellan 2000 och mätdatumets år 2024" in result.stderr
