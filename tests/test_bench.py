"""The benchmarks keep working: `python -m bench --quick` (tiny sizes, numbers meaningless)
runs every one and writes a row of each name with the fields results.json promises. No timing
is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NAMES = {"intake_service", "intake_http", "intake_latency", "answer_validation", "stats_live",
         "stats_history", "inbox", "large_message", "large_answer_pdf", "smtp_concurrency",
         "smtp_memory", "federation"}
FIELDS = ["name", "database", "unit", "value", "floor", "ratio", "goal", "met", "peak_rss_mb"]


@pytest.mark.slow
def test_every_benchmark_runs_at_tiny_sizes_and_writes_its_rows(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=1800, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert {row["name"] for row in rows} == NAMES
    for row in rows:
        assert list(row)[: len(FIELDS)] == FIELDS
        assert isinstance(row["value"], float)
        assert row["met"] in (True, False, None)
        if row["floor"] is not None:
            assert row["ratio"] == pytest.approx(row["value"] / row["floor"], rel=1e-2)
