"""Swedish labels of an inquiry's status, turn, legs and close reasons and of a SIP invitation's
status, reply and participants, defined once, and the template filters every page shows codes
through (a language, a time, a consent's terms)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from forms.dates import local_clock
from forms.labels import CONSENT_FORM_LABELS, PURPOSE_LABELS, RECIPIENT_LABELS, language_label
from forms.sip import Beslut, Roll
from gateway.db import utcnow
from gateway.inquiries.models import CloseReason, LegKind, SipCancelReason
from gateway.inquiries.workflow import SipStatus, Status, Turn

# As headings and table cells: "Öppnad av vårdcentralen".
STATUS_LABELS: dict[Status, str] = {
    Status.RECEIVED: "Mottagen",
    Status.OPENED: "Öppnad av vårdcentralen",
    Status.ANSWERED: "Besvarad",
    Status.ANSWER_DELIVERED: "Svaret hämtat",
    Status.REGISTERED: "Registrerad",
    Status.CLOSED: "Avslutad",
}
SIP_STATUS_LABELS: dict[SipStatus, str] = {
    SipStatus.RECEIVED: "Mottagen",
    SipStatus.OPENED: "Öppnad av vårdcentralen",
    SipStatus.REPLIED: "Kallelsen besvarad",
    SipStatus.HELD: "Mötet hållet",
    SipStatus.CANCELLED: "Mötet inställt",
}
DECISION_LABELS: dict[Beslut, str] = {
    Beslut.KOMMER: "Vi kommer",
    Beslut.KOMMER_INTE: "Vi kan inte komma",
    Beslut.NYTT_FORSLAG: "Ny tid föreslagen",
}
# The same reply as the sender reads it: "Vårdcentralen kommer".
SENDER_DECISION_LABELS: dict[Beslut, str] = {
    Beslut.KOMMER: "Vårdcentralen kommer",
    Beslut.KOMMER_INTE: "Vårdcentralen kan inte komma",
    Beslut.NYTT_FORSLAG: "Vårdcentralen föreslår en ny tid",
}
ROLE_LABELS: dict[Roll, str] = {
    Roll.SOCIALTJANST: "Socialtjänsten",
    Roll.ARBETSMARKNAD: "Arbetsmarknadsenheten",
    Roll.VARDCENTRAL: "Vårdcentralen",
    Roll.PSYKIATRI: "Psykiatrin",
    Roll.ARBETSFORMEDLINGEN: "Arbetsförmedlingen",
    Roll.FORSAKRINGSKASSAN: "Försäkringskassan",
    Roll.ANNAN: "Annan",
}
TURN_LABELS: dict[Turn, str] = {
    Turn.CARE_UNIT: "Vårdcentralens tur", Turn.SENDER: "Er tur", Turn.NONE: "Klar",
}
LEG_LABELS: dict[LegKind, str] = {
    LegKind.SUBMITTED: "Skapad av handläggaren",
    LegKind.RECEIVED: "Mottagen av gatewayen",
    LegKind.ROUTED: "Skickad till vårdcentralen",
    LegKind.NOTIFIED: "Vårdcentralen aviserad",
    LegKind.OPENED: "Öppnad av vårdcentralen",
    LegKind.ANSWERED: "Besvarad",
    LegKind.ANSWER_DELIVERED: "Svaret hämtat",
    LegKind.REGISTERED: "Registrerad",
    LegKind.CLOSED: "Avslutad",
    LegKind.REJECTED: "Avvisad",
    LegKind.REROUTED: "Skickad vidare",
    LegKind.REMINDED: "Påminnelse till vårdcentralen",
    LegKind.ESCALATED: "Chefen på vårdcentralen meddelad",
    LegKind.CONSENT_WITHDRAWN: "Samtycket återkallat",
    LegKind.REPLIED: "Vårdcentralen svarade på kallelsen",
    LegKind.HELD: "Mötet registrerat som hållet",
    LegKind.CANCELLED: "Mötet registrerat som inställt",
    LegKind.PLAN_SHARED: "Planen delad med vårdcentralen",
}
# In running text: "Förfrågan är öppnad."
STATUS_TEXT: dict[Status, str] = {
    Status.RECEIVED: "mottagen",
    Status.OPENED: "öppnad",
    Status.ANSWERED: "besvarad",
    Status.ANSWER_DELIVERED: "besvarad och hämtad",
    Status.REGISTERED: "registrerad",
    Status.CLOSED: "avslutad",
}

SIP_CANCEL_LABELS: dict[SipCancelReason, str] = {
    SipCancelReason.PERSON_CANCELLED: "Personen lämnade återbud",
    SipCancelReason.PERSON_ABSENT: "Personen kom inte",
    SipCancelReason.SENDER_CANCELLED: "Avsändaren ställde in",
    SipCancelReason.CARE_UNIT_CANCELLED: "Vårdcentralen ställde in",
    SipCancelReason.RESCHEDULED: "Flyttat till en ny tid",
    SipCancelReason.OTHER: "Annan anledning",
}

REASON_LABELS: dict[CloseReason, str] = {
    CloseReason.RELISTED: "Personen är listad på en annan vårdcentral",
    CloseReason.INFO_VIA_SIP: "Informationen lämnas via SIP",
    CloseReason.CONSENT_WITHDRAWN: "Samtycket är återkallat",
    CloseReason.WITHDRAWN_BY_SENDER: "Återkallad av avsändaren",
    CloseReason.PERSON_MOVED: "Personen har flyttat",
    CloseReason.PERSON_DECEASED: "Personen har avlidit",
    CloseReason.DUPLICATE: "Dubblett",
    CloseReason.OTHER: "Annan anledning (ange vilken)",
}



# How an inquiry (or an audited act) came in, in running text: "via e-post".
CHANNEL_LABELS = {
    "web": "webben",
    "api": "gatewayens API",
    "sdk": "SDK:s meddelande-API",
    "smtp": "e-post",
    "peer": "annan gateway",
    "sdk-peer": "annan gateway (SDK)",
    "unknown": "okänd kanal",
}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def _labelled(labels: dict[Any, str]) -> Any:
    """A filter showing a code (an enum or its value) by its label, else the value itself."""
    by_value = {getattr(code, "value", code): label for code, label in labels.items()}
    return lambda code: by_value.get(getattr(code, "value", code), str(code))


def init_app(app: Flask) -> None:
    """Register the filters: `language` (Arabiska for ar), `local_clock` (Swedish wall-clock
    time), `recipient`, `purpose`, `consent_form`, `close_reason` and `channel` in words."""
    app.add_template_filter(language_label, "language")
    app.add_template_filter(local_clock, "local_clock")
    app.add_template_filter(_labelled(RECIPIENT_LABELS), "recipient")
    app.add_template_filter(_labelled(PURPOSE_LABELS), "purpose")
    app.add_template_filter(_labelled(CONSENT_FORM_LABELS), "consent_form")
    app.add_template_filter(_labelled(REASON_LABELS), "close_reason")
    app.add_template_filter(channel_label, "channel")
    app.add_template_global(lambda: local_clock(utcnow()), "printed_at")

