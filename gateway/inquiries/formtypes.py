"""The gateway's side of the form-type seam: per form type, what the shared intake and API do
differently (the reference prefix, where it is found, its deadline, what is stored beside it).
The document side (parse, XSD, rules) is forms.formtypes; the statuses and whose turn are
gateway.inquiries.workflow.machine_for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from forms import formtypes
from forms.formtypes import FormKind, IntakeForm
from forms.sip import SipKallelse
from gateway.inquiries import references, sip
from gateway.inquiries.access import Act
from gateway.inquiries.models import FormType, Inquiry
from gateway.inquiries.sdk_messages import ANSWER_KIND, REPLY_KIND
from gateway.inquiries.workflow import deadline_for


def _answer_deadline(form: IntakeForm, now: dt.datetime, config: Mapping[str, Any]) -> dt.date:
    """A hälsoförfrågan's: ANSWER_DAYS after the Swedish date it was received."""
    return deadline_for(now, config["ANSWER_DAYS"])


def _reply_due(form: IntakeForm, now: dt.datetime, config: Mapping[str, Any]) -> dt.date:
    """A SIP invitation's: the reply due date it gives (svarSenast)."""
    if not isinstance(form, SipKallelse):
        raise TypeError("a SIP deadline needs a sipKallelse")
    return form.svar_senast


def _nothing(session: Session, inquiry: Inquiry, form: IntakeForm) -> None:
    """A hälsoförfrågan stores nothing beside the inquiry."""


@dataclass(frozen=True)
class Handling:
    """How the gateway handles one form type: its document kind, its reference prefix, the
    API path its cases are found under, the audit action of its intake, its deadline, what
    intake stores beside the inquiry (in the same transaction), and its reply: the act the
    access service decides on, and the kind of SDK message it travels in (ANSWER_KIND: a signed
    PDF, one per inquiry; REPLY_KIND: the reply's XML alone, several per inquiry)."""

    form_type: FormType
    kind: FormKind
    reference_prefix: str
    api_path: str
    received_action: str
    deadline: Callable[[IntakeForm, dt.datetime, Mapping[str, Any]], dt.date]
    on_accepted: Callable[[Session, Inquiry, IntakeForm], None]
    reply_act: Act
    reply_kind: str

    def location(self, inquiry_id: str) -> str:
        return f"{self.api_path}/{inquiry_id}"

    @property
    def label(self) -> str:
        """The form type's Swedish name, first letter capital ("Hälsoförfrågan",
        "SIP-kallelse"): the inbox's type column and its SDK message's label."""
        return self.kind.label

    @property
    def document_id(self) -> str:
        """The documentId of its SDK message's form document, and its XML file's stem."""
        return self.kind.name


HALSOFORFRAGAN = Handling(FormType.HALSOFORFRAGAN, formtypes.HALSOFORFRAGAN, references.PREFIX,
                          "/api/v1/inquiries", "inquiry.received", _answer_deadline, _nothing,
                          Act.ANSWER, ANSWER_KIND)
SIP = Handling(FormType.SIP, formtypes.SIP, references.SIP_PREFIX, "/api/v1/sip", "sip.received",
               _reply_due, sip.record_meeting, Act.REPLY, REPLY_KIND)
_HANDLINGS = {handling.form_type: handling for handling in (HALSOFORFRAGAN, SIP)}


def handling_for(form_type: FormType | str) -> Handling:
    """Return the handling of a form type (by its FormType or name)."""
    return _HANDLINGS[FormType(form_type)]


def handling_of(kind: FormKind) -> Handling:
    """Return the handling of a parsed document's kind."""
    return handling_for(kind.name)
