"""Valid hälsoförfrågningar for the benchmarks: from EBB Öster to Vårdcentralen Kryddgården in
the demo directory, each with its own id and person, written by forms.writer."""

from __future__ import annotations

import datetime as dt
import uuid

from forms.halsoforfragan import Mottagarkategori
from forms.identifiers import make_personnummer
from forms.writer import write_halsoforfragan
from gateway.demo_inquiries import DemoPerson, demo_halsoforfragan
from gateway.inquiries.webform import Sender

SENDER = Sender("0203:malmo.se", "Ekonomiskt bistånd och boende Öster",
                "sdk:ebb-oster:0203:malmo.se", "Bänk Bänksson", "socialsekreterare")
KRYDDGARDEN = ("SE2321000255-K001", "Vårdcentralen Kryddgården")


def halsoforfragan(n: int) -> bytes:
    """Return the n-th form: a fresh id, a person of its own, created a few minutes ago."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=(n * 37) % 18000)
    person = DemoPerson(make_personnummer(born, n), f"Bänkperson {n}")
    skapad = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).replace(microsecond=0)
    form = demo_halsoforfragan(str(uuid.uuid4()), skapad, SENDER, Mottagarkategori.SOCIALTJANST,
                               KRYDDGARDEN, person)
    return write_halsoforfragan(form)
