"""The directory admin's web forms (flask-wtf, CSRF on each), in Swedish, speaking service records.

A form checks what a person can get wrong while typing (formats, lengths, required fields) with
Swedish messages; the service then checks the rest (references, duplicates, periods) exactly as
for an import. The service's findings come back with JSON paths such as
`care_units[0].manager_email`; `add_service_errors` puts each on the field it names, in Swedish.
Form field names equal the record keys so that this mapping needs no table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
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
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from gateway.directory import identifiers as ids
from gateway.directory.models import AssignmentRole, SenderKind
from gateway.directory.service import DirectoryError, Record
from gateway.errors import Issue

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

ROLE_CHOICES = [SelectChoice(role.value, role.heading) for role in AssignmentRole]
KIND_CHOICES = [
    SelectChoice(SenderKind.SOCIALTJANST.value, "Socialtjänst (EBB)"),
    SelectChoice(SenderKind.ARBETSMARKNAD.value, "Arbetsmarknad (AMA)"),
]


def choices(pairs: list[tuple[str, str]], blank: str | None = None) -> list[SelectChoice]:
    """Return select options from (value, label) pairs, after a blank "choose" option if given."""
    options = [SelectChoice(value, label) for value, label in pairs]
    return [SelectChoice("", blank), *options] if blank is not None else options


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def none_if_empty(value: str | None) -> str | None:
    return value or None


class Identifier:
    """A validator from one of the directory's identifier checks, with a Swedish message."""

    def __init__(self, check: Callable[[str], str | None], message: str) -> None:
        self.check = check
        self.message = message

    def __call__(self, _form: Any, field: Field) -> None:
        if field.data and self.check(field.data) is not None:
            raise ValidationError(self.message)


def no_control_characters(_form: Any, field: Field) -> None:
    forbidden = CONTROL_MULTILINE if isinstance(field, TextAreaField) else CONTROL
    if isinstance(field.data, str) and forbidden.search(field.data):
        raise ValidationError("Fältet får inte innehålla styrtecken (t.ex. tabb).")


def _check_address(value: str) -> str | None:
    return None if ids.address_owner(value) is not None else "not an address"


HSA_ID = Identifier(ids.check_hsa_id, "Inte ett HSA-id. Exempel: SE2321000255-K001.")
# Identifiers are checked for control characters first, so that a pasted tab gets a clear word.
EMAIL = Identifier(ids.check_email, "Inte en e-postadress. Exempel: namn@example.org.")
PHONE = Identifier(ids.check_phone, "Inte ett telefonnummer. Exempel: 040-00 00 00.")
ADDRESS = Identifier(
    _check_address, "Inte en funktionsadress. Formen är sdk:<funktion>:<organisation>."
)
REQUIRED = DataRequired(message="Fältet måste fyllas i.")
NAME = [REQUIRED, Length(max=200), no_control_characters]
EMAIL_CHECKS = [Length(max=254), no_control_characters, EMAIL]


def address_matches_organisation(form: Any, field: Field) -> None:
    """The address must end in the unit's organisation id (as the import requires)."""
    owner = ids.address_owner(field.data) if field.data else None
    organisation = form.organisation.data
    if owner is not None and organisation and owner != organisation:
        raise ValidationError(
            f"Adressen hör till organisationen {owner}, inte till enhetens ({organisation})."
        )


# Swedish messages for the service's findings: by (field, code), then by code.
FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("functional_address", "MISSING"): "Krävs när vårdcentralen är ansluten.",
    ("manager_email", "MISSING"): "Krävs när vårdcentralen är ansluten.",
    ("functional_address", "DUPLICATE"): "Adressen används redan av en annan enhet.",
    ("hsa_id", "DUPLICATE"): "HSA-id:t används redan av en rehabkoordinator.",
    ("certificate_fingerprints", "DUPLICATE"): (
        "Ett av fingeravtrycken är redan registrerat för en annan rehabkoordinator."
    ),
    ("valid_to", "INVALID_VALUE"): "Slutdatum får inte vara före startdatum.",
    ("ends_on", "INVALID_VALUE"): "Sista dagen får inte vara före första dagen.",
    ("functional_address", "INVALID_VALUE"): (
        "Adressen ska ha formen sdk:<funktion>:<organisation> och höra till enhetens organisation."
    ),
    ("organisation", "UNKNOWN_REFERENCE"): "Organisationen finns inte i katalogen.",
    ("coordinator", "UNKNOWN_REFERENCE"): "Rehabkoordinatorn finns inte i katalogen.",
    ("care_unit", "UNKNOWN_REFERENCE"): "Vårdcentralen finns inte i katalogen.",
}
CODE_MESSAGES = {
    "MISSING": "Fältet måste fyllas i.",
    "DUPLICATE": "Finns redan i katalogen.",
    "UNKNOWN_REFERENCE": "Finns inte i katalogen.",
    "UNKNOWN_KEY": "Okänt fält.",
    "WRONG_TYPE": "Fel sorts värde.",
}
GENERIC = "Ogiltigt värde."


def swedish_message(field: str, issue: Issue) -> str:
    """Return the Swedish text for one service finding about `field`."""
    return FIELD_MESSAGES.get((field, issue.code)) or CODE_MESSAGES.get(issue.code, GENERIC)


class DirectoryForm(FlaskForm):
    """A form with Swedish validator messages that can take the service's findings."""

    class Meta:
        locales = ("sv",)

        def get_translations(self, form: Any) -> Any:
            # flask-wtf wants flask-babel for translations; WTForms ships Swedish itself.
            return get_translations(self.locales)

    form_errors: list[str]

    def add_service_errors(self, error: DirectoryError) -> None:
        """Put each finding of a refused save on the field it names, or on the whole form."""
        issues = error.issues or [Issue(error.code, error.title, error.detail)]
        for issue in issues:
            name = issue.location.rsplit(".", 1)[-1] if "." in issue.location else ""
            field = self._fields.get(name) if name else None
            if field is not None and name != "csrf_token":
                field.errors = [*field.errors, swedish_message(name, issue)]
            else:
                text = f"{error.title}: {error.detail}" if not error.issues else error.title
                if text not in self.form_errors:
                    self.form_errors = [*self.form_errors, text]

    def all_errors(self) -> list[tuple[Field | None, str, str]]:
        """Every error in page order: (field, its label, message), field None for the whole
        form (the shape of the error summary in directory/macros.html)."""
        found: list[tuple[Field | None, str, str]] = [(None, "", m) for m in self.form_errors]
        for field in self:
            found.extend((field, field.label.text, m) for m in field.errors)
        return found


class CareUnitForm(DirectoryForm):
    """Create or edit a vårdcentral (the HSA-id only on create: it is the unit's key)."""

    hsa_id = StringField("HSA-id", [REQUIRED, no_control_characters, HSA_ID], filters=[strip])
    name = StringField("Namn", NAME, filters=[strip])
    organisation = SelectField("Organisation", [InputRequired("Välj en organisation.")])
    connected = BooleanField("Ansluten (tar emot hälsoförfrågningar digitalt)")
    functional_address = StringField(
        "Funktionsadress",
        [Optional(), Length(max=ids.ADDRESS_MAX), no_control_characters, ADDRESS,
         address_matches_organisation],
        filters=[strip],
    )
    manager_email = StringField(
        "Chefens e-postadress", [Optional(), *EMAIL_CHECKS], filters=[strip]
    )
    contact = TextAreaField(
        "Kontaktuppgifter", [Length(max=500), no_control_characters], filters=[strip]
    )

    def record(self, hsa_id: str) -> Record:
        return {
            "hsa_id": hsa_id,
            "name": self.name.data,
            "organisation": self.organisation.data,
            "connected": bool(self.connected.data),
            "functional_address": none_if_empty(self.functional_address.data),
            "manager_email": none_if_empty(self.manager_email.data),
            "contact": none_if_empty(self.contact.data),
        }


def fingerprint_lines(_form: Any, field: Field) -> None:
    for number, line in enumerate((field.data or "").splitlines(), start=1):
        if line.strip() and ids.normalise_fingerprint(line) is None:
            raise ValidationError(
                f"Rad {number} är inte ett SHA-256-fingeravtryck (64 hexadecimala tecken, "
                "kolon tillåtna)."
            )


class CoordinatorForm(DirectoryForm):
    """Create or edit a REKO: work contact details and certificate fingerprints."""

    hsa_id = StringField("HSA-id", [REQUIRED, no_control_characters, HSA_ID], filters=[strip])
    name = StringField("Namn", NAME, filters=[strip])
    email = StringField(
        "E-postadress (arbete)", [REQUIRED, *EMAIL_CHECKS], filters=[strip]
    )
    phone = StringField(
        "Telefon (arbete)", [Optional(), no_control_characters, PHONE], filters=[strip]
    )
    certificate_fingerprints = TextAreaField(
        "Certifikatfingeravtryck (SHA-256, ett per rad)", [Length(max=5000), fingerprint_lines]
    )

    def record(self, hsa_id: str) -> Record:
        lines = (self.certificate_fingerprints.data or "").splitlines()
        cleaned = (ids.normalise_fingerprint(line) for line in lines if line.strip())
        prints = sorted({p for p in cleaned if p})
        return {
            "hsa_id": hsa_id,
            "name": self.name.data,
            "email": self.email.data,
            "phone": none_if_empty(self.phone.data),
            "certificate_fingerprints": prints,
        }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


class AssignmentForm(DirectoryForm):
    """Add an assignment: a REKO covers a vårdcentral as primary or deputy from a date."""

    coordinator = SelectField("Rehabkoordinator", [InputRequired("Välj en rehabkoordinator.")])
    care_unit = SelectField("Vårdcentral", [InputRequired("Välj en vårdcentral.")])
    role = SelectField("Roll", [InputRequired("Välj en roll.")], choices=ROLE_CHOICES)
    valid_from = DateField("Från och med", [InputRequired("Ange ett datum.")])
    valid_to = DateField("Till och med (tomt: tills vidare)", [Optional()])

    def record(self) -> Record:
        return {
            "coordinator": self.coordinator.data,
            "care_unit": self.care_unit.data,
            "role": self.role.data,
            "valid_from": _iso(self.valid_from.data),
            "valid_to": _iso(self.valid_to.data),
        }


class EndAssignmentForm(DirectoryForm):
    """End an assignment: its last day."""

    valid_to = DateField("Sista dag", [InputRequired("Ange ett datum.")])


class AbsenceForm(DirectoryForm):
    """Add an absence: deputies cover the REKO's units on these days."""

    coordinator = SelectField("Rehabkoordinator", [InputRequired("Välj en rehabkoordinator.")])
    starts_on = DateField("Första dag", [InputRequired("Ange ett datum.")])
    ends_on = DateField("Sista dag", [InputRequired("Ange ett datum.")])
    note = StringField(
        "Anteckning (valfri, ingen känslig information)",
        [Length(max=200), no_control_characters],
        filters=[strip],
    )

    def record(self) -> Record:
        return {
            "coordinator": self.coordinator.data,
            "starts_on": _iso(self.starts_on.data),
            "ends_on": _iso(self.ends_on.data),
            "note": self.note.data or "",
        }


class SenderUnitForm(DirectoryForm):
    """Create or edit a sending unit (the name only on create: it is the unit's key)."""

    name = StringField("Namn", NAME, filters=[strip])
    organisation = SelectField("Organisation", [InputRequired("Välj en organisation.")])
    kind = SelectField("Slag", [InputRequired("Välj slag.")], choices=KIND_CHOICES)
    functional_address = StringField(
        "Funktionsadress",
        [REQUIRED, Length(max=ids.ADDRESS_MAX), no_control_characters, ADDRESS,
         address_matches_organisation],
        filters=[strip],
    )

    def record(self, name: str) -> Record:
        return {
            "name": name,
            "organisation": self.organisation.data,
            "kind": self.kind.data,
            "functional_address": self.functional_address.data,
        }


class RoutePreviewForm(DirectoryForm):
    """Who would get an inquiry to this vårdcentral on this day (a GET form: no CSRF needed)."""

    class Meta(DirectoryForm.Meta):
        csrf = False

    care_unit = SelectField("Vårdcentral", [InputRequired("Välj en vårdcentral.")])
    date = DateField("Datum", [InputRequired("Ange ett datum.")])


class FilterForm(DirectoryForm):
    """A list's search box (GET: no CSRF needed)."""

    class Meta(DirectoryForm.Meta):
        csrf = False

    q = StringField("Sök (namn eller HSA-id)", [Length(max=100)], filters=[strip])


class HistoryFilterForm(DirectoryForm):
    """Which kind of entry the history shows (GET: no CSRF needed)."""

    class Meta(DirectoryForm.Meta):
        csrf = False

    entity = SelectField("Visa ändringar av", [Optional()])
