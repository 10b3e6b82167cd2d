"""The demo directory: Malmö's vårdcentraler, a fictional REKO team, Malmö stad's sender units."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.dates import stockholm_today
from gateway.directory.importexport import ImportResult, import_directory, import_json
from gateway.directory.models import Absence, Coordinator

DEMO_FILE = "demo_directory.json"
# The REKO shown on leave around the demo's day, so the route preview shows a deputy covering.
ON_LEAVE = "SE2321000255-P005"


def demo_directory_bytes() -> bytes:
    """Return the demo directory file shipped with the package."""
    return resources.files("gateway.directory").joinpath(DEMO_FILE).read_bytes()


def load_demo_directory(session: Session, actor: str, today: dt.date | None = None) -> ImportResult:
    """Import the demo directory (merge) plus a leave around `today`; the caller commits.

    Running it again the same day changes nothing; on another day it adds that day's leave.
    """
    result = import_json(session, demo_directory_bytes(), actor=actor, source=DEMO_FILE)
    day = today or stockholm_today()
    leave = {
        "coordinator": ON_LEAVE,
        "starts_on": (day - dt.timedelta(days=2)).isoformat(),
        "ends_on": (day + dt.timedelta(days=12)).isoformat(),
        "note": "Semester",
    }
    if _has_leave_on(session, day):
        return result
    extra = import_directory(session, {"absences": [leave]}, actor=actor, source="demo leave")
    return ImportResult(result.changes + extra.changes)


def _has_leave_on(session: Session, day: dt.date) -> bool:
    query = (
        select(Absence.id)
        .join(Absence.coordinator)
        .where(Coordinator.hsa_id == ON_LEAVE, Absence.starts_on <= day, Absence.ends_on >= day)
    )
    return session.scalar(query) is not None
