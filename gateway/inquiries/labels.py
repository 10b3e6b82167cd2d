"""Swedish labels of an inquiry's status, turn, legs and close reasons, defined once."""

from __future__ import annotations

from gateway.inquiries.models import CloseReason, LegKind, SipCancelReason
from gateway.inquiries.workflow import Status, Turn

# As headings and table cells: "Öppnad av vårdcentralen".
STATUS_LABELS: dict[Status, str] = {
    Status.RECEIVED: "Mottagen",
    Status.OPENED: "Öppnad av vårdcentralen",
    Status.ANSWERED: "Besvarad",
    Status.ANSWER_DELIVERED: "Svaret hämtat",
    Status.REGISTERED: "Registrerad",
    Status.CLOSED: "Avslutad",
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

