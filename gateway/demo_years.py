"""The demo's years of use: every hälsoförfrågan Malmö sent through the gateway since it took
over from the post on 2025-01-01, so that the statistics and the inbox look like Malmö's after
some years.

The volume grows a little each year and dips in July and at Christmas; the care units get their
share by size (the weights of the manual history), and a few are slower than the rest. Now and
then a case worker sends to the private VC that is not connected: refused at intake, as the
real intake refuses it. Everything comes from a fixed seed, with fixed ids: the same every run,
and a second run adds nothing.

Cases still open today are sent through the real intake (content, receipt, notification), so a
REKO can open and answer them. Finished cases are written as retention leaves them: the
inquiry's metadata, its legs and summary, no personal content. Sending hundreds through the
intake and signing each answer would make `gateway demo` take minutes; the ten samples of
gateway.demo_inquiries show the full journey with signed answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.halsoforfragan import Mottagarkategori
from forms.identifiers import make_personnummer
from forms.writer import write_halsoforfragan
from gateway.db import database
from gateway.demo_inquiries import CHANNEL, DemoPerson, demo_halsoforfragan
from gateway.directory.models import CareUnit, SenderUnit
from gateway.inquiries.deadlines import WORKER_ACTOR
from gateway.inquiries.intake import GATEWAY_ACTOR, Submitter, submit
from gateway.inquiries.models import FormType, Inquiry, IntakeRejection, LegKind
from gateway.inquiries.references import next_reference
from gateway.inquiries.webform import TITLE_OF_KIND, Sender
from gateway.inquiries.workflow import add_leg, deadline_for, start_summary
from gateway.stats.demo import CARE_UNITS, REASONS, SENDER_UNITS
from gateway.vault.service import get_vault

GATEWAY_START = dt.date(2025, 1, 1)
# Inquiries a month across Malmö, by year (the last one goes on), and the season's shape:
# July's holidays and the weeks around Christmas are quiet.
PER_MONTH = {2025: 24, 2026: 27}
SEASON = {1: 1.0, 2: 1.1, 3: 1.1, 4: 1.0, 5: 1.05, 6: 0.85, 7: 0.35, 8: 0.8, 9: 1.15,
          10: 1.15, 11: 1.1, 12: 0.75}
# Median days from received to answer: most VCs answer in about three weeks, some are slower,
# a few quick; the spread around the median is wide (log-normal).
TYPICAL_DAYS = 19
MEDIAN_DAYS = {
    "SE2321000255-K004": 44, "SE2321000255-K011": 36, "SE2321000255-K017": 50,
    "SE2321000255-K002": 10, "SE2321000255-K009": 12, "SE2321000255-K014": 8,
}
CLOSED_SHARE = 0.13
NEVER_REGISTERED = 0.1  # the sender fetched the answer but never confirmed registration
CHANNELS = {"web": 6, "api": 3, "smtp": 1}
PRIVATE_VC = "SE5561234567-V001"
REFUSALS_PER_MONTH = 1.5
ANSWER_DAYS = 30
REMINDER_DAYS = (21, 28)
# What the demo writes itself is the demo's (as gateway.demo_inquiries' opened legs are).
ACTOR = "cli:demo"
FIRST_NAMES = ("Alva", "Bo", "Cecilia", "David", "Elin", "Fredrik", "Greta", "Hassan", "Ida",
               "Jonas", "Karin", "Leo", "Maja", "Nils", "Olivia", "Per", "Rut", "Samir",
               "Tove", "Ulf", "Vera", "Yusuf")
LAST_NAMES = ("Demosson", "Exempelsdotter", "Testsson", "Påhittsson", "Låtsasson",
              "Fiktivsdotter", "Provsson", "Övningsdotter")


@dataclass(frozen=True)
class Step:
    """One leg after `received`: its kind, time and (closing) reason."""

    kind: LegKind
    at: dt.datetime
    reason: str | None = None


@dataclass(frozen=True)
class Case:
    """One inquiry of the demo's years: where from and to, when, and what happened since."""

    number: int
    received: dt.datetime
    care_unit: str
    sender_unit: str
    channel: str
    steps: tuple[Step, ...]

    @property
    def id(self) -> str:
        # Fixed ids, recognisable as the demo years': 00000000-0000-4000-a000-0000000NNNNN.
        return str(uuid.UUID(f"00000000-0000-4000-a000-{self.number:012d}"))

    @property
    def person(self) -> DemoPerson:
        born = dt.date(1960, 1, 1) + dt.timedelta(days=(self.number * 97) % 14000)
        name = (f"{FIRST_NAMES[self.number % len(FIRST_NAMES)]} "
                f"{LAST_NAMES[self.number % len(LAST_NAMES)]}")
        # Skatteverket-style test serials (98x, 99x), as the samples' people have.
        return DemoPerson(make_personnummer(born, 980 + self.number % 20), name)

    @property
    def finished(self) -> bool:
        """Answered or closed: nothing waits for the REKO any more."""
        return any(s.kind in (LegKind.ANSWERED, LegKind.CLOSED) for s in self.steps)


def _weighted(rng: random.Random, weights: dict[str, int] | dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _months(until: dt.date) -> Iterator[dt.date]:
    month = GATEWAY_START
    while month <= until:
        yield month
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _working_moment(rng: random.Random, month: dt.date, until: dt.datetime) -> dt.datetime:
    """A weekday in `month`, office hours (UTC), not after `until`."""
    length = ((month + dt.timedelta(days=32)).replace(day=1) - month).days
    for _ in range(20):
        day = month + dt.timedelta(days=rng.randrange(length))
        if day.weekday() < 5:
            break
    moment = dt.datetime.combine(day, dt.time(7, 0), dt.UTC)
    moment += dt.timedelta(minutes=rng.randrange(8 * 60))
    return min(moment, until - dt.timedelta(hours=1))


def _steps(rng: random.Random, care_unit: str, received: dt.datetime) -> list[Step]:
    """Everything that happens to one inquiry after it is received, however far ahead."""
    median = MEDIAN_DAYS.get(care_unit, TYPICAL_DAYS)
    opened = received + dt.timedelta(hours=rng.gammavariate(2, 10 + median))
    steps = [Step(LegKind.OPENED, opened)]
    if rng.random() < CLOSED_SHARE:
        reason = _weighted(rng, {r.value: w for r, w in REASONS.items()})
        end = opened + dt.timedelta(days=rng.uniform(2, 35))
        last = Step(LegKind.CLOSED, end, reason)
    else:
        days = min(150.0, max(0.3, rng.lognormvariate(math.log(median), 0.55)))
        end = received + dt.timedelta(days=days)
        last = Step(LegKind.ANSWERED, max(end, opened + dt.timedelta(hours=2)))
    for day in (*REMINDER_DAYS, ANSWER_DAYS):
        if last.at > received + dt.timedelta(days=day):
            at = received + dt.timedelta(days=day, hours=1)
            steps.append(Step(LegKind.ESCALATED, at) if day == ANSWER_DAYS
                         else Step(LegKind.REMINDED, at, str(day)))
    steps.append(last)
    if last.kind is LegKind.ANSWERED:
        delivered = last.at + dt.timedelta(hours=rng.uniform(1, 72))
        steps.append(Step(LegKind.ANSWER_DELIVERED, delivered))
        if rng.random() > NEVER_REGISTERED:
            steps.append(Step(LegKind.REGISTERED,
                              delivered + dt.timedelta(hours=rng.uniform(1, 140))))
    return sorted(steps, key=lambda s: s.at)


def plan_cases(now: dt.datetime) -> tuple[list[Case], list[dt.datetime]]:
    """Return the demo years' cases up to `now` (oldest first, steps after `now` left out) and
    the times of the refused sends to the private VC. The same for the same `now`."""
    rng = random.Random(2025)  # noqa: S311 - demo data, not security
    cases: list[Case] = []
    refused: list[dt.datetime] = []
    for month in _months(now.date()):
        volume = PER_MONTH.get(month.year, PER_MONTH[max(PER_MONTH)]) * SEASON[month.month]
        for _ in range(round(rng.gauss(volume, volume ** 0.5))):
            received = _working_moment(rng, month, now)
            care_unit = _weighted(rng, CARE_UNITS)
            steps = [s for s in _steps(rng, care_unit, received) if s.at <= now]
            cases.append(Case(0, received, care_unit, _weighted(rng, SENDER_UNITS),
                              _weighted(rng, CHANNELS), tuple(steps)))
        refused += [_working_moment(rng, month, now)
                    for _ in range(round(rng.uniform(0, 2 * REFUSALS_PER_MONTH)))]
    cases.sort(key=lambda c: c.received)
    numbered = [Case(n, c.received, c.care_unit, c.sender_unit, c.channel, c.steps)
                for n, c in enumerate(cases, 1)]
    return numbered, sorted(refused)


def load_demo_years(app: Flask, now: dt.datetime) -> int:
    """Add the demo years' cases and refusals unless they are there; return how many cases were
    added (none on a second run). Needs the demo directory and the receipt key (PKI)."""
    cases, refused = plan_cases(now)
    if not cases:
        return 0
    with app.app_context():
        db = database(app)
        with db.transaction() as session:
            if session.get(Inquiry, cases[0].id) is not None:
                return 0
            units = {u.hsa_id: u for u in session.scalars(select(CareUnit))}
            senders = {u.name: u for u in session.scalars(select(SenderUnit))}
            for case in cases:
                if case.finished:
                    # Written in bulk: flushed with the next open case, or at commit.
                    with session.no_autoflush:
                        _write_finished(session, case, units[case.care_unit],
                                        senders[case.sender_unit])
                else:
                    _send_open(session, case, units[case.care_unit], senders[case.sender_unit])
            session.add_all(IntakeRejection(at=at, channel="web", organisation="0203:malmo.se",
                                            codes=["CARE_UNIT_NOT_CONNECTED"]) for at in refused)
    return len(cases)


def _write_finished(session: Session, case: Case, care_unit: CareUnit,
                    sender_unit: SenderUnit) -> None:
    """Write a finished case as retention leaves it: metadata, legs and summary, no content."""
    closed_at = case.steps[-1].at
    inquiry = Inquiry(
        id=case.id,
        form_type=FormType.HALSOFORFRAGAN,
        reference=next_reference(session, case.received),
        sender_unit_id=sender_unit.id,
        care_unit_id=care_unit.id,
        routed_to=_address(care_unit),
        reply_to=sender_unit.functional_address.address,
        content_digest=hashlib.sha256(case.id.encode()).hexdigest(),
        content=None,
        personnummer=None,
        person_hash=get_vault().keyed_hash(case.person.personnummer),
        channel=case.channel,
        flags=[],
        deadline=deadline_for(case.received, current_app.config["ANSWER_DAYS"]),
        consent_valid_to=(case.received + dt.timedelta(days=173)).date(),
        submitted_by=ACTOR,
        created_at=case.received,
        purged_at=closed_at,
    )
    session.add(inquiry)
    start_summary(session, inquiry)
    add_leg(session, case.id, LegKind.SUBMITTED, at=case.received - dt.timedelta(minutes=4),
            actor=ACTOR)
    add_leg(session, case.id, LegKind.RECEIVED, at=case.received, actor=ACTOR,
            detail={"channel": case.channel})
    add_leg(session, case.id, LegKind.ROUTED, at=case.received, actor=GATEWAY_ACTOR,
            detail={"care_unit": care_unit.hsa_id})
    add_leg(session, case.id, LegKind.NOTIFIED, at=case.received + dt.timedelta(minutes=1),
            actor=WORKER_ACTOR)
    _add_steps(session, case)


def _add_steps(session: Session, case: Case) -> None:
    for step in case.steps:
        actor = WORKER_ACTOR if step.kind in (LegKind.REMINDED, LegKind.ESCALATED) else ACTOR
        add_leg(session, case.id, step.kind, at=step.at, actor=actor, reason=step.reason)


def _send_open(session: Session, case: Case, care_unit: CareUnit,
               sender_unit: SenderUnit) -> None:
    """Send a case that is still open through the real intake, then add its legs so far."""
    address = sender_unit.functional_address.address
    kind = Mottagarkategori(sender_unit.kind.value)
    sender = Sender(sender_unit.organisation_id, sender_unit.name, address,
                    f"Handläggare {sender_unit.name}", TITLE_OF_KIND[kind].value)
    form = demo_halsoforfragan(case.id, case.received - dt.timedelta(minutes=4), sender, kind,
                              (care_unit.hsa_id, care_unit.name), case.person)
    submitter = Submitter(ACTOR, sender_unit.organisation_id, frozenset({address}))
    submit(session, write_halsoforfragan(form), submitter=submitter, channel=CHANNEL,
           now=case.received)
    _add_steps(session, case)


def _address(care_unit: CareUnit) -> str:
    if care_unit.functional_address is None:  # the plan sends to connected units only
        raise RuntimeError(f"the demo's {care_unit.hsa_id} has no functional address")
    return care_unit.functional_address.address
