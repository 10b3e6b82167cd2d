"""Sample SIP invitations for `gateway demo`, one in each live state, made through the real
services (DESIGN 5.8): received, opened, replied KOMMER / KOMMER_INTE / NYTT_FORSLAG, held with
and without the REKO (the first with its plan shared), and cancelled.

As the sample hälsoförfrågningar (gateway.demo_inquiries): fixed ids, so a second run adds
nothing; the case workers send through the shared intake some days before `now`; the REKO opens
and replies through the reply service with the sipSvar its page would send; the case worker
records the outcome through the outcome service. The notifications are left for the worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from flask import Flask
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy.orm import Session

from forms.dates import STOCKHOLM, local_date
from forms.sip import Beslut
from forms.writer import (
    HeadText,
    SipKallelseText,
    SipSvarText,
    halsoforfragan_text,
    write_sip_kallelse_text,
    write_sip_svar_text,
)
from gateway.auth.models import User
from gateway.demo_inquiries import (
    ANNA,
    CHANNEL,
    KRYDDGARDEN,
    LIMHAMN,
    LINDANGEN,
    PEOPLE,
    REKO_USER,
    ROSENGARD,
    TOLVAN,
    DemoPerson,
    demo_id,
    demo_user,
    load_samples,
    open_as_reko,
    sent_form,
)
from gateway.inquiries import sip
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import FormType, SipCancelReason
from gateway.inquiries.workflow import SipStatus

REKO_NAME = "Anna Rekosson"
_HEAD = [f.name for f in dataclasses.fields(HeadText)]


@dataclass(frozen=True)
class DemoSip:
    """One sample: who invites which VC about whom, when (days before `now`; a meeting in the
    future has negative days), the reply and the outcome, and the state it ends in."""

    id: str
    title: str
    sender: str
    care_unit: str
    person: DemoPerson
    received_days_ago: float
    meeting_days_ago: float
    expected: SipStatus
    opened_days_ago: float | None = None
    reply: tuple[Beslut, float] | None = None
    held: bool | None = None  # held: whether the REKO came
    cancelled: tuple[SipCancelReason, float] | None = None
    digital: bool = False
    plan: bool = False  # the plan shared with the VC the day after the meeting


DEMO_SIPS: tuple[DemoSip, ...] = (
    DemoSip(demo_id(101), "SIP hållen, REKO deltog", "ebb.oster", KRYDDGARDEN, PEOPLE[5], 26,
            14, SipStatus.HELD, opened_days_ago=25, reply=(Beslut.KOMMER, 24), held=True,
            plan=True),
    DemoSip(demo_id(102), "SIP hållen utan REKO", "ama", LIMHAMN, PEOPLE[2], 20, 10,
            SipStatus.HELD, opened_days_ago=19, reply=(Beslut.KOMMER_INTE, 18), held=False),
    DemoSip(demo_id(103), "SIP inställd", "ebb.oster", ROSENGARD, PEOPLE[3], 12, -3,
            SipStatus.CANCELLED, opened_days_ago=11,
            cancelled=(SipCancelReason.PERSON_CANCELLED, 5)),
    DemoSip(demo_id(104), "SIP-kallelse, svar: kommer (mötet i morgon)", "ebb.oster",
            KRYDDGARDEN, PEOPLE[7], 8, -1, SipStatus.REPLIED, opened_days_ago=7,
            reply=(Beslut.KOMMER, 7)),
    DemoSip(demo_id(105), "SIP-kallelse, svar: kommer inte", "ama", LINDANGEN, PEOPLE[6], 6, -5,
            SipStatus.REPLIED, opened_days_ago=5, reply=(Beslut.KOMMER_INTE, 5), digital=True),
    DemoSip(demo_id(106), "SIP-kallelse, svar: ny tid föreslagen", "ebb.oster", KRYDDGARDEN,
            PEOPLE[8], 5, -6, SipStatus.REPLIED, opened_days_ago=4,
            reply=(Beslut.NYTT_FORSLAG, 4)),
    DemoSip(demo_id(107), "SIP-kallelse öppnad, inte besvarad", "ama", ROSENGARD, PEOPLE[4], 3,
            -9, SipStatus.OPENED, opened_days_ago=2),
    DemoSip(demo_id(108), "SIP-kallelse mottagen, svara senast snart", "ebb.oster", KRYDDGARDEN,
            TOLVAN, 1, -4, SipStatus.RECEIVED),
)


def load_demo_sips(app: Flask, now: dt.datetime) -> list[str]:
    """Create the sample SIP invitations that do not exist yet, oldest first, one transaction
    each; return the ids created (none on a second run). Needs what load_demo_inquiries needs
    (the demo directory and users, the development PKI for the receipts)."""
    return load_samples(app, now, DEMO_SIPS, lambda session, sample: _play(session, sample, now),
                        "load_demo_sips")


def _ago(now: dt.datetime, days: float) -> dt.datetime:
    return now - dt.timedelta(days=days)


def _play(session: Session, sample: DemoSip, now: dt.datetime) -> None:
    """Send the invitation and move it through its reply and outcome, in the caller's
    transaction."""
    received = _ago(now, sample.received_days_ago)
    user = demo_user(session, sample.sender)
    result = submit(session, invitation_xml(session, sample, user, received),
                    submitter=Submitter.from_user(user), channel=CHANNEL, now=received,
                    form_type=FormType.SIP)
    inquiry = result.inquiry
    if sample.opened_days_ago is not None:
        open_as_reko(session, inquiry, _ago(now, sample.opened_days_ago))
    meeting = sip.meeting_of(session, inquiry)
    if sample.reply is not None:
        decision, days_ago = sample.reply
        at = _ago(now, days_ago).replace(microsecond=0)
        proposed = meeting.starts_at + dt.timedelta(days=2)
        sip.reply(session, inquiry, write_sip_svar_text(SipSvarText(
            id=demo_id(200 + int(sample.id[-3:])), kallelse=inquiry.id,
            skapad=at.astimezone(STOCKHOLM).isoformat(), besvarare=REKO_NAME,
            besvarare_hsa_id=ANNA, beslut=decision.value,
            ny_tid=(proposed.astimezone(STOCKHOLM).isoformat()
                    if decision is Beslut.NYTT_FORSLAG else None),
            deltagare=(REKO_NAME,) if decision is Beslut.KOMMER else (),
            kommentar=("Passar tyvärr inte, men torsdagen efter går bra."
                       if decision is Beslut.NYTT_FORSLAG else None),
        )), actor=f"user:{REKO_USER}", channel="web", now=at)
    if sample.held is not None:
        sip.record_outcome(session, inquiry, {
            "held_on": local_date(meeting.starts_at).isoformat(), "reko_attended": sample.held,
        }, actor=f"user:{sample.sender}", now=meeting.starts_at + dt.timedelta(hours=3))
    if sample.plan:
        sip.share_plan(session, inquiry, plan_pdf(sample.title), actor=f"user:{sample.sender}",
                       channel=CHANNEL, now=meeting.starts_at + dt.timedelta(days=1))
    if sample.cancelled is not None:
        reason, days_ago = sample.cancelled
        sip.record_outcome(session, inquiry, {"cancelled": reason.value},
                           actor=f"user:{sample.sender}", now=_ago(now, days_ago))


def plan_pdf(title: str) -> bytes:
    """Return a one-page plan as the case worker would share it (made up: no person named)."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setTitle("Samordnad individuell plan")
    canvas.drawString(72, 770, "Samordnad individuell plan (påhittad demoplan)")
    canvas.drawString(72, 750, title)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def invitation_xml(session: Session, sample: DemoSip, user: User,
                   received: dt.datetime) -> bytes:
    """Return the sample's sipKallelse as a case worker would send it: the head (sender,
    person, consent for SIP) as a demo hälsoförfrågan's, a meeting at 09:00 Swedish time on its
    day, the reply due two days before it."""
    form = sent_form(session, sample.id, user, sample.sender, sample.care_unit, sample.person,
                     received)
    head = halsoforfragan_text(form)
    day = local_date(received) + dt.timedelta(days=round(sample.received_days_ago
                                                         - sample.meeting_days_ago))
    starts = dt.datetime.combine(day, dt.time(9), STOCKHOLM)
    due = max(day - dt.timedelta(days=2), local_date(form.skapad))
    values: dict[str, Any] = {name: getattr(head, name) for name in _HEAD}
    values.update(
        syfte="SIP",
        sip_syfte="Påhittad demokallelse. Personen behöver samordnat stöd från socialtjänst, "
                  "vårdcentral och psykiatri inför arbetsträning.",
        mote_tid=starts.isoformat(),
        langd_minuter="60",
        plats=None if sample.digital else "Stadshuset, rum 12",
        digital_lank="https://mote.example.org/sip-demo" if sample.digital else None,
        deltagare=(("SOCIALTJANST", user.display_name or user.username),
                   ("VARDCENTRAL", "Rehabkoordinator"), ("PSYKIATRI", "Psykiatrimottagningen")),
        svar_senast=due.isoformat(),
    )
    return write_sip_kallelse_text(SipKallelseText(**values))
