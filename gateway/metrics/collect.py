"""Gauges read from the database at each scrape: the job backlog, inquiries past their deadline
and envelopes by status. Computed, not counted, so every process (and a restart) agrees."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, inspect, or_, select, text
from sqlalchemy.orm import Session

from forms.dates import local_date
from gateway.inquiries.models import Inquiry, InquirySummary
from gateway.inquiries.workflow import Status, is_open
from gateway.jobs.models import Job, JobState

# The federation's table of envelopes between gateways, when it exists.
ENVELOPE_TABLES = ("envelopes", "federation_envelopes")


class DatabaseCollector(Collector):
    """Gauges from one session at one moment."""

    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._jobs()
        yield self._past_deadline()
        yield self._envelopes()

    def _jobs(self) -> Iterator[GaugeMetricFamily]:
        due = GaugeMetricFamily(
            "gateway_jobs_due", "Jobs due now and not running (or whose lease ran out), by kind.",
            labels=["kind"])
        oldest = GaugeMetricFamily(
            "gateway_jobs_oldest_due_seconds",
            "How long the oldest due job of the kind has waited past its run time.",
            labels=["kind"])
        dead = GaugeMetricFamily(
            "gateway_jobs_dead", "Jobs given up after their last attempt, by kind.",
            labels=["kind"])
        now = self.now
        is_due = or_(
            (Job.state == JobState.PENDING) & (Job.run_at <= now),
            (Job.state == JobState.RUNNING) & (Job.lease_until < now),
        )
        rows = self.session.execute(
            select(Job.kind, func.count(), func.min(Job.run_at)).where(is_due).group_by(Job.kind)
        )
        for kind, count, first in rows:
            due.add_metric([kind], count)
            waited = (now - _aware(first)).total_seconds() if first is not None else 0.0
            oldest.add_metric([kind], max(waited, 0.0))
        for kind, count in self.session.execute(
            select(Job.kind, func.count()).where(Job.state == JobState.DEAD).group_by(Job.kind)
        ):
            dead.add_metric([kind], count)
        yield from (due, oldest, dead)

    def _past_deadline(self) -> GaugeMetricFamily:
        # The summary's status, not "has an answer or close leg": a close the sender took back
        # by sending the inquiry on (RELISTED, then rerouted) leaves it open again.
        waiting = [status.value for status in Status if is_open(status)]
        count = self.session.scalar(
            select(func.count()).select_from(Inquiry)
            .join(InquirySummary, InquirySummary.inquiry_id == Inquiry.id)
            .where(Inquiry.deadline < local_date(self.now), Inquiry.purged_at.is_(None),
                   InquirySummary.status.in_(waiting))
        )
        return GaugeMetricFamily(
            "gateway_inquiries_past_deadline",
            "Inquiries whose answer day has passed without an answer or a close.",
            value=count or 0)

    def _envelopes(self) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "gateway_envelopes", "Envelopes between gateways by status (0 before federation).",
            labels=["status"])
        names = set(inspect(self.session.connection()).get_table_names())
        for table in ENVELOPE_TABLES:
            if table not in names:
                continue
            columns = {c["name"] for c in inspect(self.session.connection()).get_columns(table)}
            column = next((c for c in ("status", "state") if c in columns), None)
            if column is None:
                continue
            # Names from the fixed lists above, never from input.
            rows = self.session.execute(
                text(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}")  # noqa: S608
            )
            for status, count in rows:
                gauge.add_metric([str(status)], count)
            break
        return gauge


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
