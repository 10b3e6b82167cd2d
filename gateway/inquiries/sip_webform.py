"""The case worker's web form for a new SIP invitation (Ny SIP-kallelse, Swedish) and the builder
that turns it into the sipKallelse XML of DESIGN 5.8 (forms.writer).

The person, consent and contact fields are the hälsoförfrågan form's (webform.CaseForm); this
form adds the meeting, the participants and the reply due date. As there, the form checks only
what a person can get wrong while typing; the intake's findings (C1–C7, S1–S4) come back on the
fields they name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from wtforms import (
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from forms.dates import STOCKHOLM
from forms.halsoforfragan import Mottagare, Mottagarkategori, Syfte
from forms.sip import Deltagare, Mote, Roll, SipKallelse
from forms.writer import write_sip_kallelse
from gateway.auth.models import User
from gateway.directory.models import SenderUnit
from gateway.inquiries.labels import ROLE_LABELS
from gateway.inquiries.webform import (
    DATE_REQUIRED,
    REQUIRED,
    CaseForm,
    Sender,
    person_of_form,
    samtycke_of_form,
    strip,
)

MAX_SYFTE = 2000
PARTICIPANT_ROWS = 6
ROLE_CHOICES = [SelectChoice("", "Välj roll"),
                *(SelectChoice(roll.value, label) for roll, label in ROLE_LABELS.items())]
# The sender's own role by the kind of their unit.
ROLE_OF_KIND = {Mottagarkategori.SOCIALTJANST: Roll.SOCIALTJANST,
                Mottagarkategori.ARBETSMARKNAD: Roll.ARBETSMARKNAD}


def _participant(number: int) -> tuple[SelectField, StringField]:
    """One row of the participants: a role and who."""
    return (
        SelectField(f"Deltagare {number}: roll", choices=ROLE_CHOICES, validate_choice=False),
        StringField(f"Deltagare {number}: namn eller funktion", [Optional(), Length(max=200)],
                    filters=[strip]),
    )


class SipForm(CaseForm):
    """Ny SIP-kallelse: person, samtycke (syfte SIP), vårdcentral, syfte, mötet, deltagare and
    the reply due date."""

    vardcentral = SelectField("Vårdcentral som kallas", [InputRequired("Välj en vårdcentral.")])
    syfte = TextAreaField("Varför behövs samordning?", [REQUIRED, Length(max=MAX_SYFTE)],
                          filters=[strip])
    mote_datum = DateField("Mötets datum", [DATE_REQUIRED])
    mote_tid = TimeField("Mötets starttid (svensk tid)",
                         [InputRequired("Ange en tid (TT:MM).")])
    langd_minuter = IntegerField("Mötets längd i minuter", [
        InputRequired("Ange längden i minuter."),
        NumberRange(15, 480, "Mötet ska vara mellan 15 och 480 minuter."),
    ])
    plats = StringField("Plats (för ett fysiskt möte)", [Optional(), Length(max=200)],
                        filters=[strip])
    digital_lank = StringField("Länk till digitalt möte (https)",
                               [Optional(), Length(max=2000)], filters=[strip])
    deltagare_1_roll, deltagare_1_namn = _participant(1)
    deltagare_2_roll, deltagare_2_namn = _participant(2)
    deltagare_3_roll, deltagare_3_namn = _participant(3)
    deltagare_4_roll, deltagare_4_namn = _participant(4)
    deltagare_5_roll, deltagare_5_namn = _participant(5)
    deltagare_6_roll, deltagare_6_namn = _participant(6)
    svar_senast = DateField("Svar senast", [DATE_REQUIRED])
    # The form's id: a second click on Skicka is the same invitation.
    form_id = StringField("Id", [Optional()])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if bool(self.plats.data) == bool(self.digital_lank.data):
            self.plats.errors = [*self.plats.errors,
                                 "Ange antingen en plats eller en länk till ett digitalt möte."]
            ok = False
        for number in range(1, PARTICIPANT_ROWS + 1):
            roll, namn = self.participant(number)
            if roll.data and roll.data not in ROLE_LABELS:
                roll.errors = [*roll.errors, "Välj en roll i listan."]
                ok = False
            elif namn.data and not roll.data:
                roll.errors = [*roll.errors, "Välj deltagarens roll."]
                ok = False
            elif roll.data and not namn.data:
                namn.errors = [*namn.errors, "Skriv vem som deltar (namn eller funktion)."]
                ok = False
        if not self.participants():
            self.deltagare_1_roll.errors = [*self.deltagare_1_roll.errors,
                                            "Ange minst en deltagare."]
            ok = False
        return ok

    def participant(self, number: int) -> tuple[Any, Any]:
        return self[f"deltagare_{number}_roll"], self[f"deltagare_{number}_namn"]

    def participants(self) -> list[Deltagare]:
        """Return the rows filled in, in order."""
        found = []
        for number in range(1, PARTICIPANT_ROWS + 1):
            roll, namn = self.participant(number)
            if roll.data in ROLE_LABELS and namn.data:
                found.append(Deltagare(Roll(roll.data), namn.data))
        return found

    def prefill(self, user: User, unit: SenderUnit) -> None:
        """A new invitation: the case worker's contact and consent recipient (CaseForm), the
        case worker as the first participant and the VC's REKO as the second (S3)."""
        super().prefill(user, unit)
        self.deltagare_1_roll.data = ROLE_OF_KIND[Mottagarkategori(unit.kind.value)].value
        self.deltagare_1_namn.data = user.display_name or user.username
        self.deltagare_2_roll.data = Roll.VARDCENTRAL.value
        self.deltagare_2_namn.data = "Rehabkoordinator"
        self.langd_minuter.data = 60


def meeting_start(form: SipForm) -> dt.datetime:
    """Return the meeting's start the form gives, in Swedish time."""
    assert form.mote_datum.data is not None and form.mote_tid.data is not None
    return dt.datetime.combine(form.mote_datum.data, form.mote_tid.data.replace(second=0),
                               STOCKHOLM)


def build_sip_xml(form: SipForm, sender: Sender, *, care_unit: tuple[str, str],
                  consent_pdf: tuple[str, bytes] | None, now: dt.datetime) -> bytes:
    """Return the sipKallelse XML (DESIGN 5.8) of a validated form, created `now` (in Swedish
    time), to the care unit (HSA-id, name), with the signed consent (file name, bytes) if
    any."""
    hsa_id, name = care_unit
    assert form.svar_senast.data is not None and form.langd_minuter.data is not None
    return write_sip_kallelse(SipKallelse(
        id=form.form_id.data or str(uuid.uuid4()),
        skapad=now.astimezone(STOCKHOLM).replace(microsecond=0),
        avsandare=sender.avsandare(form.handlaggare_telefon.data or "",
                                   form.handlaggare_epost.data or ""),
        mottagare=Mottagare(hsa_id, name),
        person=person_of_form(form),
        # C4: the consent lets the called vårdcentral disclose, for the SIP.
        samtycke=samtycke_of_form(form, hsa_id, consent_pdf, Syfte.SIP),
        syfte=form.syfte.data or "",
        mote=Mote(tid=meeting_start(form), langd_minuter=form.langd_minuter.data,
                  plats=form.plats.data or None, digital_lank=form.digital_lank.data or None),
        deltagare=tuple(form.participants()),
        svar_senast=form.svar_senast.data,
    ))
