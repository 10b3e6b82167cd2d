"""Sample hälsoförfrågningar for `gateway demo`, one in each state, made through the real services.

Each sample has a fixed id, so a second demo run adds nothing. The case workers send through the
intake as the web form does, received some days before `now` so the inbox shows near and past
deadlines; the REKO opens, closes, or answers with a PDF rendered by `forms.render` and signed
with the demo .p12 of the REKO assigned to the care unit; the sender fetches and registers the
answer. Signatures carry the real signing time, so answers are accepted at `now` (P9 refuses a
signature made after the time it is accepted at). The notification jobs are left for the demo's
worker, which sends them once the mail sink runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.answer import Besvarare, Lakare, StructuredAnswer, Svar, build_answer_xml
from forms.dates import local_date
from forms.halsoforfragan import (
    Fraga,
    FragaKod,
    Halsoforfragan,
    Mottagare,
    Mottagarkategori,
    Person,
    Samtycke,
    SamtyckeForm,
    Syfte,
    default_svar_senast,
)
from forms.render import SIGNATURE_FIELD_PHYSICIAN, SIGNATURE_FIELD_REKO, render_answer_pdf
from forms.writer import write_halsoforfragan
from gateway.audit.service import record
from gateway.auth.models import User
from gateway.db import database
from gateway.directory.models import Coordinator
from gateway.directory.service import care_unit_by_hsa_id
from gateway.inquiries.access import Side
from gateway.inquiries.answers import (
    accept_answer,
    deliver_answer,
    inquiry_form,
    mark_registered,
)
from gateway.inquiries.closing import CloseReason, close_inquiry
from gateway.inquiries.intake import Submitter, submit
from gateway.inquiries.models import Inquiry, LegKind
from gateway.inquiries.statements import facts_of
from gateway.inquiries.webform import Sender
from gateway.inquiries.workflow import Status, add_leg
from signing.devpki import DEMO_PASSPHRASE, PkiLayout
from signing.pdfsign import sign_answer

ACTOR = "cli:demo"
REKO_USER = "reko.anna"
PHYSICIAN = ("SE2321000255-L001", "Lena Läkarsson")
KRYDDGARDEN, ROSENGARD, LINDANGEN, LIMHAMN = (
    "SE2321000255-K001", "SE2321000255-K002", "SE2321000255-K003", "SE2321000255-K004",
)
ANNA = "SE2321000255-P001"
# The web form's channel: the demo's case workers send as they would in the browser.
CHANNEL = "web"
CASE_WORKER_PHONE = {"ebb.oster": "040-34 10 00", "ama": "040-34 20 00"}
CASE_WORKER_EMAIL = {"ebb.oster": "sara.socialsekreterare@example.org",
                     "ama": "ali.arbetsmarknadssekreterare@example.org"}


@dataclass(frozen=True)
class DemoPerson:
    """A clearly fictional person: Skatteverket-style test personnummer (serials 98x and 99x)."""

    personnummer: str = field(repr=False)
    namn: str = field(repr=False)


TOLVAN = DemoPerson("191212121212", "Tolvan Tolvansson")
PEOPLE = (
    TOLVAN,
    DemoPerson("198503129820", "Testa Testsson"),
    DemoPerson("197706249849", "Demo Demosdotter"),
    DemoPerson("199209159863", "Exempel Exempelsson"),
    DemoPerson("196811029880", "Påhitt Påhittsson"),
    DemoPerson("200105079909", "Fiktiva Fiktivsdotter"),
    DemoPerson("195901309921", "Prova Provsson"),
    DemoPerson("198808199940", "Låtsas Låtsasdotter"),
    DemoPerson("199502289961", "Övning Övningsson"),
)

QUESTIONS_WORK = (("AKTIVITETSFORMAGA", None), ("BEGRANSNINGAR", None), ("PROGNOS", None))
QUESTIONS_SIP = (("BEHANDLING", None), ("SIP", None),
                 ("OVRIGT", "Kan personen delta i ett möte på förmiddagstid?"))
ANSWER_TEXTS = {
    FragaKod.AKTIVITETSFORMAGA: "Klarar lättare arbete fyra timmar om dagen (påhittat demosvar).",
    FragaKod.BEGRANSNINGAR: "Bör undvika tunga lyft och långvarigt stående.",
    FragaKod.BEHANDLING: "Fysioterapi varannan vecka; uppföljning hos läkare om tre månader.",
    FragaKod.PROGNOS: "God; förmågan väntas öka under det närmaste halvåret.",
    FragaKod.REKOMMENDATIONER: "Arbetsträning med gradvis ökad tid.",
    FragaKod.SIP: "En SIP rekommenderas; vårdcentralen kallar.",
    FragaKod.OVRIGT: "Ja, förmiddagar passar bra.",
}


@dataclass(frozen=True)
class DemoInquiry:
    """One sample: who sends it where about whom, how many days ago things happened, and the
    state it is meant to end in (`expected`, with `repeat_of` for the flagged resend)."""

    id: str
    title: str
    sender: str
    care_unit: str
    person: DemoPerson
    received_days_ago: float
    expected: Status
    questions: tuple[tuple[str, str | None], ...] = QUESTIONS_WORK
    opened_days_ago: float | None = None
    closed: tuple[CloseReason, float] | None = None
    signer: str | None = None
    co_signed: bool = False
    delivered: bool = False
    registered: bool = False
    repeat_of: str | None = None


def demo_id(n: int) -> str:
    # Fixed ids, recognisable as the demo's: 00000000-0000-4000-8000-0000000000NN.
    return str(uuid.UUID(f"00000000-0000-4000-8000-{n:012d}"))


DEMO_INQUIRIES: tuple[DemoInquiry, ...] = (
    DemoInquiry(demo_id(1), "obesvarad, sista svarsdag passerad", "ebb.oster", LIMHAMN,
                PEOPLE[1], 36, Status.RECEIVED),
    DemoInquiry(demo_id(2), "registrerad i verksamhetssystemet", "ebb.oster", ROSENGARD,
                PEOPLE[2], 29, Status.REGISTERED, opened_days_ago=27, signer=ANNA,
                co_signed=True, delivered=True, registered=True),
    DemoInquiry(demo_id(3), "öppnad, nära sista svarsdag", "ama", KRYDDGARDEN, PEOPLE[3], 26,
                Status.OPENED, opened_days_ago=20),
    DemoInquiry(demo_id(4), "svar hämtat av avsändaren", "ama", LINDANGEN, PEOPLE[4], 21,
                Status.ANSWER_DELIVERED, opened_days_ago=19, signer=ANNA, delivered=True),
    DemoInquiry(demo_id(5), "avslutad utan svar (information via SIP)", "ebb.oster",
                KRYDDGARDEN, PEOPLE[5], 18, Status.CLOSED, questions=QUESTIONS_SIP,
                opened_days_ago=17, closed=(CloseReason.INFO_VIA_SIP, 12)),
    DemoInquiry(demo_id(6), "besvarad, väntar på att hämtas", "ebb.oster", KRYDDGARDEN,
                PEOPLE[6], 14, Status.ANSWERED, questions=QUESTIONS_SIP, opened_days_ago=11,
                signer=ANNA),
    DemoInquiry(demo_id(7), "öppnad", "ebb.oster", LINDANGEN, PEOPLE[7], 9, Status.OPENED,
                opened_days_ago=8),
    DemoInquiry(demo_id(8), "mottagen, REKO aviserad", "ama", ROSENGARD, PEOPLE[8], 3,
                Status.RECEIVED),
    DemoInquiry(demo_id(9), "upprepad förfrågan om samma person", "ebb.oster", LIMHAMN,
                PEOPLE[1], 2, Status.RECEIVED, repeat_of=demo_id(1)),
    DemoInquiry(demo_id(10), "just mottagen", "ebb.oster", KRYDDGARDEN, TOLVAN, 2 / 24,
                Status.RECEIVED),
)


def load_demo_inquiries(app: Flask, now: dt.datetime) -> list[str]:
    """Create the sample inquiries that do not exist yet, oldest first, one transaction each;
    return the ids created (none on a second run).

    `now` is the current time (aware): ages count back from it and answers are accepted at it.
    Needs the demo directory, the demo users and the development PKI. Raises RuntimeError when
    those are missing, and GatewayError when a service refuses a sample (a bug in the samples).
    """
    pki = PkiLayout.for_instance(app.instance_path)
    return load_samples(app, now, DEMO_INQUIRIES, lambda session, sample: _play(
        session, sample, now, pki), "load_demo_inquiries")


class Sample(Protocol):
    """What load_samples needs of a sample: its fixed id and its age."""

    @property
    def id(self) -> str: ...

    @property
    def received_days_ago(self) -> float: ...


SampleT = TypeVar("SampleT", bound=Sample)


def load_samples(app: Flask, now: dt.datetime, samples: Sequence[SampleT],
                 play: Callable[[Session, SampleT], None], what: str) -> list[str]:
    """Play each sample that does not exist yet, oldest first, one transaction each; return
    the ids created. `what` names the caller in the error for a naive `now`."""
    if now.tzinfo is None:
        raise ValueError(f"{what} needs an aware `now`")
    created: list[str] = []
    with app.app_context():
        db = database(app)
        for sample in sorted(samples, key=lambda s: -s.received_days_ago):
            with db.transaction() as session:
                if session.get(Inquiry, sample.id) is not None:
                    continue
                play(session, sample)
            created.append(sample.id)
    return created


def _play(session: Session, sample: DemoInquiry, now: dt.datetime, pki: PkiLayout) -> None:
    """Send the sample and move it through its legs, in the caller's transaction."""
    user = demo_user(session, sample.sender)
    received = now - dt.timedelta(days=sample.received_days_ago)
    xml = inquiry_xml(session, sample, user, received)
    result = submit(session, xml, submitter=Submitter.from_user(user), channel=CHANNEL,
                    now=received)
    inquiry = result.inquiry
    if sample.opened_days_ago is not None:
        open_as_reko(session, inquiry, now - dt.timedelta(days=sample.opened_days_ago))
    if sample.closed is not None:
        reason, days_ago = sample.closed
        close_inquiry(session, inquiry, reason=reason, text=None, actor=f"user:{REKO_USER}",
                      now=now - dt.timedelta(days=days_ago), sides=frozenset({Side.CARE_UNIT}))
    if sample.signer is not None:
        pdf, structured = _signed_answer(session, inquiry, sample, pki, now)
        accept_answer(session, inquiry.id, pdf, submitter=f"user:{REKO_USER}",
                      channel="web-composer", now=now, structured=structured)
    if sample.delivered:
        deliver_answer(session, inquiry, actor=f"user:{sample.sender}", channel=CHANNEL, now=now)
    if sample.registered:
        mark_registered(session, inquiry, actor=f"user:{sample.sender}", now=now)


def demo_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.sender_unit is None:
        raise RuntimeError(f"the demo user {username} with a sender unit must exist first")
    return user


def open_as_reko(session: Session, inquiry: Inquiry, at: dt.datetime) -> None:
    """The REKO opened it on `at`. The inbox records this when a page is shown, so there is no
    service to call; the leg is the inbox's, and the audit entry says the demo wrote it."""
    add_leg(session, inquiry.id, LegKind.OPENED, at=at, actor=f"user:{REKO_USER}")
    record(session, actor=ACTOR, action="inquiry.opened", object_type="inquiry",
           object_id=inquiry.id, detail={"as": f"user:{REKO_USER}", "demo": True})


# --- the hälsoförfrågan --------------------------------------------------------------------


def inquiry_xml(session: Session, sample: DemoInquiry, user: User,
                received: dt.datetime) -> bytes:
    """Return the sample's hälsoförfrågan (DESIGN 5.1) as the web form would build it."""
    return write_halsoforfragan(sent_form(session, sample.id, user, sample.sender,
                                          sample.care_unit, sample.person, received,
                                          sample.questions))


def sent_form(session: Session, form_id: str, user: User, sender: str, care_unit_hsa_id: str,
              person: DemoPerson, received: dt.datetime,
              questions: tuple[tuple[str, str | None], ...] = QUESTIONS_WORK) -> Halsoforfragan:
    """Return the demo hälsoförfrågan the case worker `user` (the demo user `sender`) sent a
    few minutes before `received`; a SIP invitation takes its head (sender, person, consent)."""
    assert user.sender_unit is not None  # checked by demo_user
    care_unit = care_unit_by_hsa_id(session, care_unit_hsa_id)
    if care_unit is None:
        raise RuntimeError(f"the demo directory must hold {care_unit_hsa_id}")
    # The case worker pressed "send" a few minutes before the gateway took it in.
    skapad = (received - dt.timedelta(minutes=4)).replace(microsecond=0)
    return demo_halsoforfragan(
        form_id, skapad, Sender.of(user, user.sender_unit),
        Mottagarkategori(user.sender_unit.kind.value), (care_unit.hsa_id, care_unit.name),
        person, questions, telefon=CASE_WORKER_PHONE.get(sender, "040-34 10 00"),
        epost=CASE_WORKER_EMAIL.get(sender, "handlaggare@example.org"),
    )


def demo_halsoforfragan(
    form_id: str, skapad: dt.datetime, sender: Sender, sender_kind: Mottagarkategori,
    care_unit: tuple[str, str], person: DemoPerson,
    questions: tuple[tuple[str, str | None], ...] = QUESTIONS_WORK,
    *, telefon: str = "040-34 10 00", epost: str = "handlaggare@example.org",
) -> Halsoforfragan:
    """Return a valid demo hälsoförfrågan from `sender` to `care_unit` (HSA-id, name) about
    `person`: consent given a week before `skapad`, valid half a year (C1-C3 hold, and still
    when the REKO answers), for the sender's kind of unit (C5)."""
    given = local_date(skapad) - dt.timedelta(days=7)
    hsa_id, name = care_unit
    return Halsoforfragan(
        id=form_id,
        skapad=skapad,
        avsandare=sender.avsandare(telefon, epost),
        mottagare=Mottagare(hsa_id, name),
        person=Person(person.personnummer, person.namn),
        samtycke=Samtycke(
            givet=given,
            giltigt_till=given + dt.timedelta(days=180),
            form=SamtyckeForm.SKRIFTLIGT,
            uppgiftslamnare_hsa_id=hsa_id,
            mottagare=(sender_kind,),
            syfte=Syfte.PLANERING_ARBETE_STUDIER,
            dokumenterat_av=sender.namn,
        ),
        bakgrund="Påhittad demoförfrågan. Personen har ekonomiskt bistånd och vi planerar "
                 "insatser mot arbete eller studier.",
        planerade_insatser="Arbetsträning 50 procent.",
        fragor=tuple(Fraga(FragaKod(code), text) for code, text in questions),
        svar_senast=default_svar_senast(skapad),
    )


# --- the answer ----------------------------------------------------------------------------


def _signed_answer(session: Session, inquiry: Inquiry, sample: DemoInquiry, pki: PkiLayout,
                   now: dt.datetime) -> tuple[bytes, bytes]:
    """Return the answer PDF (rendered as the composer does, signed by the sample's REKO and,
    when co-signed, the physician) and its structured XML."""
    assert sample.signer is not None
    coordinator = session.scalar(select(Coordinator).where(Coordinator.hsa_id == sample.signer))
    if coordinator is None:
        raise RuntimeError(f"the demo directory must hold the REKO {sample.signer}")
    form = inquiry_form(inquiry)
    answer = StructuredAnswer(
        forfragan_id=inquiry.id,
        besvarad=now.replace(microsecond=0),
        besvarad_av=Besvarare(coordinator.name, coordinator.hsa_id),
        svar=tuple(Svar(q.kod, ANSWER_TEXTS[q.kod]) for q in form.fragor),
        sip_rekommenderas=any(q.kod is FragaKod.SIP for q in form.fragor),
        i_samrad_med=Lakare(PHYSICIAN[1], PHYSICIAN[0]) if sample.co_signed else None,
    )
    pdf = render_answer_pdf(answer, inquiry.id, form.fragor, facts=facts_of(inquiry, form))
    pdf = sign_answer(pdf, pki.reko_pkcs12(sample.signer).read_bytes(), DEMO_PASSPHRASE,
                      SIGNATURE_FIELD_REKO)
    if sample.co_signed:
        pdf = sign_answer(pdf, pki.physician_pkcs12(PHYSICIAN[0]).read_bytes(), DEMO_PASSPHRASE,
                          SIGNATURE_FIELD_PHYSICIAN)
    return pdf, build_answer_xml(answer)

