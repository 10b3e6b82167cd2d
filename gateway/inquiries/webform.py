"""The case worker's web form for a new hälsoförfrågan (flask-wtf, Swedish) and the builder that
turns it, with the sender taken from the user's unit, into the XML of DESIGN 5.1 (forms.writer).

The form checks only what a person can get wrong while typing; the intake then checks the XML
as it does on every channel, and its findings come back on the field they name
(`issue_field` maps a place such as `/halsoforfragan/samtycke/giltigtTill` to `giltigt_till`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    DateField,
    Field,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.i18n import get_translations
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from forms.halsoforfragan import (
    Avsandare,
    Bilaga,
    Fraga,
    FragaKod,
    Halsoforfragan,
    Handlaggare,
    Mottagare,
    Mottagarkategori,
    Person,
    Samtycke,
    SamtyckeForm,
    Syfte,
    Titel,
    default_svar_senast,
)
from forms.labels import (
    LANGUAGE_LABELS,
    QUESTION_CHOICES,
    RECIPIENT_LABELS,
    TITLE_OF_KIND,
    language_choices,
)
from forms.writer import write_halsoforfragan
from gateway.auth.models import User
from gateway.directory.models import SenderUnit
from gateway.errors import GatewayError

MAX_BAKGRUND = 4000
MAX_CONSENT_PDF = 5 * 1024 * 1024

REQUIRED = DataRequired("Fyll i fältet.")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Checkbox groups: an error on the group's first box is about the group, named by its legend.
GROUP_LEGENDS = {"mottagare_socialtjanst": "Svaret får lämnas till",
                 "fraga_aktivitetsformaga": "Frågor"}
DATE_REQUIRED = InputRequired("Ange ett datum (ÅÅÅÅ-MM-DD).")


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def question_field(code: str) -> str:
    return f"fraga_{code.lower()}"


class IntakeForm(FlaskForm):
    """A case worker's form whose XML goes through the intake: Swedish messages, one error
    summary, and the intake's findings put back on the fields they name."""

    class Meta:
        locales = ("sv",)

        def get_translations(self, form: Any) -> Any:
            return get_translations(self.locales)

    form_errors: list[str]

    def all_errors(self) -> list[tuple[Field | None, str, str]]:
        """Every error in page order: (field, its label or its group's legend, message); field
        None for the whole form."""
        found: list[tuple[Field | None, str, str]] = [(None, "", m) for m in self.form_errors]
        for field in self:
            label = GROUP_LEGENDS.get(field.name, field.label.text)
            found.extend((field, label, str(m)) for m in field.errors)
        return found

    def add_intake_errors(self, error: GatewayError) -> None:
        """Put each of the intake's findings on the field it names, or on the whole form."""
        issues = error.issues or []
        if not issues:
            self.form_errors = [*self.form_errors, f"{error.title}. {error.detail}".strip()]
        for issue in issues:
            name = issue_field(issue.location, issue.code)
            message = f"{issue.title}" + (f": {issue.detail}" if issue.detail else "")
            field = self._fields.get(name) if name else None
            if field is not None:
                field.errors = [*field.errors, message]
            else:
                self.form_errors = [*self.form_errors, message]


class CaseForm(IntakeForm):
    """The parts every case worker's form has, whatever its type: the case worker's contact,
    the person and the consent (one set of fields, serving Ny hälsoförfrågan, Ny SIP-kallelse
    and, for the consent, Skicka till annan vårdcentral)."""

    # Fields in the page's order: the error summary lists errors in this order.
    # Handläggare: pre-filled from the user's profile, editable for this case.
    handlaggare_telefon = StringField("Ditt telefonnummer", [REQUIRED, Length(max=40)],
                                      filters=[strip])
    handlaggare_epost = StringField("Din e-postadress", [
        REQUIRED, Length(max=254), Regexp(EMAIL_PATTERN, message="Skriv en e-postadress."),
    ], filters=[strip])
    # Person
    personnummer = StringField("Personnummer (12 siffror)", [
        REQUIRED, Regexp(r"^\d{8}-?\d{4}$", message="Skriv 12 siffror, t.ex. 19121212-1212."),
    ], filters=[strip])
    person_namn = StringField("Namn", [REQUIRED, Length(max=200)], filters=[strip])
    person_telefon = StringField("Telefon (frivilligt)", [Optional(), Length(max=40)],
                                 filters=[strip])
    # The XML carries the ISO 639-1 code; the case worker chooses the language by name.
    tolkbehov = SelectField("Tolkbehov (frivilligt)", choices=[
        SelectChoice("", "Ingen tolk behövs"),
        *(SelectChoice(code, name) for code, name in language_choices()),
    ], validate_choice=False)
    # Samtycke
    givet = DateField("Samtycket gavs", [DATE_REQUIRED])
    giltigt_till = DateField("Samtycket gäller till och med", [DATE_REQUIRED])
    samtycke_form = SelectField("Samtyckets form", choices=[
        SelectChoice("skriftligt", "Skriftligt"), SelectChoice("muntligt", "Muntligt"),
    ])
    mottagare_socialtjanst = BooleanField(RECIPIENT_LABELS[Mottagarkategori.SOCIALTJANST])
    mottagare_arbetsmarknad = BooleanField(RECIPIENT_LABELS[Mottagarkategori.ARBETSMARKNAD])
    dokumenterat_av = StringField("Dokumenterat av (krävs vid muntligt samtycke)",
                                  [Optional(), Length(max=200)], filters=[strip])
    bilaga = FileField("Underskrivet samtycke (PDF, frivilligt)", [
        FileAllowed(["pdf"], "Bifoga samtycket som PDF."),
    ])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.form_errors = []
        if self.tolkbehov.data and self.tolkbehov.data not in LANGUAGE_LABELS:
            self.tolkbehov.errors = [*self.tolkbehov.errors, "Välj ett språk i listan."]
            ok = False
        return _recipient_chosen(self) and ok

    def prefill(self, user: User, unit: SenderUnit) -> None:
        """Fill in a new form: the consent's recipient by the unit's kind, the case worker's
        contact from their profile (changeable here)."""
        self.mottagare_socialtjanst.data = unit.kind.value == "socialtjanst"
        self.mottagare_arbetsmarknad.data = unit.kind.value == "arbetsmarknad"
        self.handlaggare_telefon.data = user.phone or ""
        self.handlaggare_epost.data = user.email or ""


class InquiryForm(CaseForm):
    """Ny hälsoförfrågan: person, samtycke, bakgrund, frågor and the vårdcentral."""

    # Bakgrund
    bakgrund = TextAreaField("Bakgrund", [REQUIRED, Length(max=MAX_BAKGRUND)], filters=[strip])
    planerade_insatser = TextAreaField("Planerade insatser (frivilligt)",
                                       [Optional(), Length(max=MAX_BAKGRUND)], filters=[strip])
    # Frågor
    fraga_aktivitetsformaga = BooleanField(QUESTION_CHOICES[FragaKod.AKTIVITETSFORMAGA])
    fraga_begransningar = BooleanField(QUESTION_CHOICES[FragaKod.BEGRANSNINGAR])
    fraga_behandling = BooleanField(QUESTION_CHOICES[FragaKod.BEHANDLING])
    fraga_prognos = BooleanField(QUESTION_CHOICES[FragaKod.PROGNOS])
    fraga_rekommendationer = BooleanField(QUESTION_CHOICES[FragaKod.REKOMMENDATIONER])
    fraga_sip = BooleanField(QUESTION_CHOICES[FragaKod.SIP])
    fraga_ovrigt = BooleanField(QUESTION_CHOICES[FragaKod.OVRIGT])
    ovrigt_text = TextAreaField("Fråga under Övrigt", [Optional(), Length(max=2000)],
                                filters=[strip])
    # Mottagare
    vardcentral = SelectField("Vårdcentral där personen är listad",
                              [InputRequired("Välj en vårdcentral.")])
    svar_senast = DateField("Svar senast (frivilligt; annars 30 dagar)", [Optional()])
    # The form's id, kept across the confirmation step so that a resend is the same inquiry.
    form_id = StringField("Id", [Optional()])
    confirm_repeat = BooleanField("Jag vill skicka förfrågan ändå")

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not any(self[question_field(code)].data for code in QUESTION_CHOICES):
            self.fraga_aktivitetsformaga.errors = [
                *self.fraga_aktivitetsformaga.errors, "Välj minst en fråga."]
            ok = False
        if self.fraga_ovrigt.data and not self.ovrigt_text.data:
            self.ovrigt_text.errors = [*self.ovrigt_text.errors, "Skriv frågan under Övrigt."]
            ok = False
        return ok


class ResendForm(IntakeForm):
    """Skicka till annan vårdcentral: the new consent and the VC it names, where the person is
    listed now (the consent's fields are the new inquiry form's own, not copies)."""

    givet = CaseForm.givet
    giltigt_till = CaseForm.giltigt_till
    samtycke_form = CaseForm.samtycke_form
    mottagare_socialtjanst = CaseForm.mottagare_socialtjanst
    mottagare_arbetsmarknad = CaseForm.mottagare_arbetsmarknad
    dokumenterat_av = CaseForm.dokumenterat_av
    vardcentral = SelectField("Vårdcentral där personen nu är listad (samtycket ska gälla den)",
                              [InputRequired("Välj en vårdcentral.")])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.form_errors = []
        return _recipient_chosen(self) and ok


def _recipient_chosen(form: CaseForm | ResendForm) -> bool:
    """Return whether the consent names who may receive the answer; else say so on the form."""
    if form.mottagare_socialtjanst.data or form.mottagare_arbetsmarknad.data:
        return True
    form.mottagare_socialtjanst.errors = [*form.mottagare_socialtjanst.errors,
                                          "Välj vem svaret får lämnas till."]
    return False


# Places in the XML below the form's root (whatever its type), and rule codes, and the fields
# they come from: a form without the field takes the finding on the whole form.
PATH_FIELDS: dict[str, str] = {
    "person/personnummer": "personnummer",
    "person/namn": "person_namn",
    "person/telefon": "person_telefon",
    "person/tolkbehov": "tolkbehov",
    "samtycke/givet": "givet",
    "samtycke/giltigtTill": "giltigt_till",
    "samtycke/form": "samtycke_form",
    "samtycke/mottagare": "mottagare_socialtjanst",
    "samtycke/dokumenteratAv": "dokumenterat_av",
    "samtycke/bilaga": "bilaga",
    "samtycke/uppgiftslamnare": "vardcentral",
    "mottagare/vardcentral": "vardcentral",
    "bakgrund": "bakgrund",
    "planeradeInsatser": "planerade_insatser",
    "fragor": "ovrigt_text",
    "svarSenast": "svar_senast",
    "avsandare/handlaggare/telefon": "handlaggare_telefon",
    "avsandare/handlaggare/epost": "handlaggare_epost",
    # A SIP invitation's own (DESIGN 5.8).
    "syfte": "syfte",
    "mote/tid": "mote_datum",
    "mote/langdMinuter": "langd_minuter",
    "mote/plats": "plats",
    "mote/digitalLank": "digital_lank",
    "deltagare": "deltagare_1_roll",
}
CODE_FIELDS = {"C1": "givet", "C2": "giltigt_till", "C3": "giltigt_till", "C4": "vardcentral",
               "C5": "mottagare_socialtjanst", "C6": "dokumenterat_av", "C7": "vardcentral",
               "PERSONNUMMER": "personnummer", "FRAGA_OVRIGT_TEXT": "ovrigt_text",
               "SVAR_SENAST": "svar_senast", "BILAGA": "bilaga",
               "S1": "mote_datum", "S2": "svar_senast", "S3": "deltagare_1_roll",
               "S4": "digital_lank"}


def issue_field(location: str, code: str = "") -> str | None:
    """Return the form field an intake issue with rule `code` (or at `location`) is about.

    A rule's code decides first: C6 is found at samtycke/form but asks for dokumenteratAv.
    """
    if code in CODE_FIELDS:
        return CODE_FIELDS[code]
    path = location.split(",")[0].strip()
    path = path.split("/@")[0]
    # Below the root: /halsoforfragan/person/namn and /sipKallelse/person/namn are one field.
    path = path.lstrip("/").partition("/")[2]
    # The longest known prefix: fragor/fraga[2] belongs to the questions.
    for known in sorted(PATH_FIELDS, key=len, reverse=True):
        if path == known or path.startswith(known + "/") or path.startswith(known + "["):
            return PATH_FIELDS[known]
    return None


@dataclass(frozen=True)
class Sender:
    """The sender part of the form, from the logged-in case worker and their unit."""

    organisation: str
    enhet: str
    funktionsadress: str
    namn: str
    titel: str

    @classmethod
    def of(cls, user: User, unit: SenderUnit) -> Sender:
        return cls(unit.organisation_id, unit.name, unit.functional_address.address,
                   user.display_name or user.username,
                   TITLE_OF_KIND[Mottagarkategori(unit.kind.value)].value)

    def avsandare(self, telefon: str, epost: str) -> Avsandare:
        """Return the form's avsandare with the case worker's telephone and e-mail."""
        return Avsandare(self.organisation, self.enhet, self.funktionsadress,
                         Handlaggare(self.namn, Titel(self.titel), telefon, epost))


def build_xml(form: InquiryForm, sender: Sender, *, care_unit: tuple[str, str],
              consent_pdf: tuple[str, bytes] | None, now: dt.datetime) -> bytes:
    """Return the hälsoförfrågan XML (DESIGN 5.1) of a validated form; `care_unit` is
    (HSA-id, name), `consent_pdf` (file name, bytes) or None."""
    hsa_id, name = care_unit
    skapad = now.replace(microsecond=0)
    questions = tuple(
        Fraga(FragaKod(code), (form.ovrigt_text.data or None) if code == "OVRIGT" else None)
        for code in QUESTION_CHOICES if form[question_field(code)].data
    )
    return write_halsoforfragan(Halsoforfragan(
        id=form.form_id.data or str(uuid.uuid4()),
        skapad=skapad,
        avsandare=sender.avsandare(form.handlaggare_telefon.data or "",
                                   form.handlaggare_epost.data or ""),
        mottagare=Mottagare(hsa_id, name),
        person=person_of_form(form),
        # C4: the consent lets the chosen vårdcentral disclose.
        samtycke=samtycke_of_form(form, hsa_id, consent_pdf),
        bakgrund=form.bakgrund.data or "",
        planerade_insatser=form.planerade_insatser.data or None,
        fragor=questions,
        svar_senast=form.svar_senast.data or default_svar_senast(skapad),
        svar_senast_angiven=form.svar_senast.data is not None,
    ))


def build_resend_xml(form: ResendForm, original: Halsoforfragan, *, care_unit: tuple[str, str],
                     now: dt.datetime) -> bytes:
    """Return the amended hälsoförfrågan a validated ResendForm makes of the `original`: the same
    id, person, sender and questions; created `now`, to the new VC (HSA-id, name), with the new
    consent naming it (C4) and the default answer date from now."""
    hsa_id, name = care_unit
    skapad = now.replace(microsecond=0)
    return write_halsoforfragan(dataclasses.replace(
        original, skapad=skapad, mottagare=Mottagare(hsa_id, name),
        samtycke=samtycke_of_form(form, hsa_id, None),
        svar_senast=default_svar_senast(skapad), svar_senast_angiven=False,
    ))


def person_of_form(form: CaseForm) -> Person:
    """Return the person a validated form names."""
    return Person(
        personnummer=(form.personnummer.data or "").replace("-", ""),
        namn=form.person_namn.data or "",
        telefon=form.person_telefon.data or None,
        tolkbehov_sprak=form.tolkbehov.data or None,
    )


def samtycke_of_form(form: CaseForm | ResendForm, hsa_id: str,
                     consent_pdf: tuple[str, bytes] | None,
                     syfte: Syfte = Syfte.PLANERING_ARBETE_STUDIER) -> Samtycke:
    """Return the consent a validated form gives, letting the care unit `hsa_id` disclose
    for `syfte` (the form type's purpose)."""
    recipients = [kind for kind, chosen in ((Mottagarkategori.SOCIALTJANST,
                                             form.mottagare_socialtjanst.data),
                                            (Mottagarkategori.ARBETSMARKNAD,
                                             form.mottagare_arbetsmarknad.data)) if chosen]
    return Samtycke(
        givet=form.givet.data,
        giltigt_till=form.giltigt_till.data,
        form=SamtyckeForm(form.samtycke_form.data),
        uppgiftslamnare_hsa_id=hsa_id,
        mottagare=tuple(recipients),
        syfte=syfte,
        dokumenterat_av=form.dokumenterat_av.data or None,
        bilaga=Bilaga(*consent_pdf) if consent_pdf is not None else None,
    )
