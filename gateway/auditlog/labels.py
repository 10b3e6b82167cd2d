"""The audit log in Swedish words: actions, outcomes, object types, actors, detail fields and
values. The one place the auditor's pages and the log extract take their labels from."""

from __future__ import annotations

from typing import Any

from gateway.auth.models import ROLE_LABELS
from gateway.directory.labels import FIELD_LABELS
from gateway.inquiries.labels import REASON_LABELS, channel_label

ACTION_LABELS: dict[str, str] = {
    # logins and accounts
    "login": "Inloggning",
    "logout": "Utloggning",
    "web.access": "Öppna sida",
    "api.access": "Anrop till API",
    "smtp.auth": "Inloggning till e-postmottagningen",
    "oauth.token": "Begäran om åtkomstnyckel (API)",
    "oauth.token_issued": "Åtkomstnyckel utfärdad (API)",
    "user.create": "Användare skapad",
    "user.password": "Lösenord bytt",
    "user.activate": "Användare aktiverad",
    "user.deactivate": "Användare avstängd",
    "user.contact": "Kontaktuppgifter ändrade",
    "api_client.create": "API-klient skapad",
    "api_client.revoke": "API-klient spärrad",
    "organisation.create": "Organisation skapad",
    "functional_address.create": "Funktionsadress skapad",
    # hälsoförfrågningar and answers
    "inquiry.submit": "Skicka hälsoförfrågan",
    "inquiry.received": "Hälsoförfrågan mottagen",
    "inquiry.read": "Läsa hälsoförfrågan",
    "person.searched": "Sökning efter person (handläggare)",
    "inquiry.opened": "Hälsoförfrågan öppnad av vårdcentralen",
    "inquiry.close": "Avsluta hälsoförfrågan",
    "inquiry.closed": "Hälsoförfrågan avslutad",
    "inquiry.reroute": "Skicka hälsoförfrågan vidare",
    "inquiry.resend": "Skicka hälsoförfrågan till annan vårdcentral med nytt samtycke",
    # SIP invitations (received and read as cases; their own steps)
    "sip.received": "SIP-kallelse mottagen",
    "sip.reply": "Svara på SIP-kallelse",
    "sip.replied": "Svar på SIP-kallelse lämnat",
    "sip.outcome": "Registrera SIP-mötets utfall",
    "sip.plan": "Dela SIP-plan med vårdcentralen",
    "sip.plan_shared": "SIP-plan delad med vårdcentralen",
    "sip.plan.read": "Läsa SIP-plan",
    "sip.reply.read": "Läsa svar på SIP-kallelse",
    "inquiry.rerouted": "Hälsoförfrågan skickad till annan vårdcentral",
    "inquiry.purged": "Innehåll gallrat",
    "inquiry.mark": "Sätta REKO-status",
    "inquiry.marked": "REKO-status satt",
    "consent.read": "Läsa samtycke",
    "consent.withdrawn": "Återkallat samtycke registrerat",
    "consent_withdrawal.note_purged": "Anteckning om återkallat samtycke gallrad",
    "answer.compose": "Skriva svar",
    "answer.submit": "Lämna svar",
    "answer.accepted": "Svar mottaget",
    "answer.draft_saved": "Utkast till svar sparat",
    "answer.draft_discarded": "Utkast till svar slängt",
    "answer.read": "Läsa svar",
    "answer.registered": "Svar registrerat i verksamhetssystemet",
    # SDK messages
    "sdk.message.send": "Skicka meddelande (SDK)",
    "sdk.message.read": "Läsa meddelande (SDK)",
    "sdk.message.delete": "Ta bort meddelande (SDK)",
    "sdk.message.purged": "Meddelande gallrat (SDK)",
    # the directory
    "directory.create": "Katalog: post tillagd",
    "directory.update": "Katalog: post ändrad",
    "directory.delete": "Katalog: post borttagen",
    # platform
    "stats.history_import": "Historisk statistik importerad",
    "vault.rotate": "Krypteringsnycklar roterade",
    "vault.key_added": "Krypteringsnyckel tillagd",
    "audit.key_added": "Loggens kedjenyckel tillagd",
    # the auditor's own work (gateway.auditlog)
    "audit.search": "Granskning: sökning i loggen",
    "audit.entry.read": "Granskning: läsa loggpost",
    "audit.extract": "Granskning: loggutdrag",
    "audit.verify": "Granskning: kontroll av kedjan",
    "audit.chain.read": "Granskning: kedjans tillstånd",
}

# Actions a later change adds get a word for their family until they get their own label.
FAMILY_LABELS: dict[str, str] = {
    "inquiry": "Annan händelse i hälsoförfrågan",
    "answer": "Annan händelse i svar",
    "consent": "Annan händelse om samtycke",
    "sdk": "Annan händelse i meddelande (SDK)",
    "directory": "Annan ändring i katalogen",
    "federation": "Händelse mellan gatewayer",
    "user": "Annan händelse för användare",
    "audit": "Annan händelse i granskningsloggen",
}
OTHER_ACTION = "Annan händelse"

OUTCOME_LABELS = {"ok": "Genomförd", "denied": "Nekad"}

OBJECT_LABELS = {
    "inquiry": "Hälsoförfrågan",
    "sdk_message": "Meddelande (SDK)",
    "user": "Användare",
    "api_client": "API-klient",
    "organisation": "Organisation",
    "functional_address": "Funktionsadress",
    "care_unit": "Vårdcentral",
    "coordinator": "Rehabkoordinator",
    "assignment": "Uppdrag",
    "absence": "Frånvaro",
    "sender_unit": "Avsändarenhet",
    "consent_withdrawal": "Återkallat samtycke",
    "endpoint": "API-adress",
    "page": "Sida",
    "history": "Historisk statistik",
    "vault_key": "Krypteringsnyckel",
    "audit_chain_key": "Loggens kedjenyckel",
    "audit_log": "Granskningsloggen",
    "audit_entry": "Loggpost",
    "person": "Person (nyckelad kontrollsumma)",
}

DETAIL_LABELS = {
    "channel": "Kanal",
    "purpose": "Ändamål",
    "reason": "Orsak",
    "role": "Roll",
    "step": "Steg",
    "method": "Sätt",
    "remote_addr": "IP-adress",
    "direction": "Riktning",
    "care_unit": "Vårdcentral (HSA-id)",
    "routed_to": "Funktionsadress",
    "flags": "Flaggor",
    "repeat_of": "Upprepning av",
    "codes": "Regler som inte uppfylldes",
    "sha256": "Kontrollsumma (SHA-256)",
    "size": "Storlek (byte)",
    "recorded_at": "Registrerad",
    "closed": "Avslutade förfrågningar",
    "from": "Från",
    "to": "Till",
    "days": "Gallringstid (dagar)",
    "fields": "Ändrade fält",
    "organisation": "Organisation",
    "name": "Namn",
    "scope": "Behörighet",
    "scopes": "Behörigheter",
    "expires_in": "Giltig (sekunder)",
    "tokens_revoked": "Spärrade nycklar",
    "error": "Fel",
    "mechanism": "Inloggningssätt",
    "message_id": "Meddelande-id",
    "kind": "Slag",
    "status": "Status",
    "recipient": "Mottagare",
    "before": "Före",
    "after": "Efter",
    "withdrawals": "Återkallelser",
    "as": "Som",
    "demo": "Demodata",
    "sent_to": "Skickat till",
    "filters": "Sökvillkor",
    "format": "Format",
    "entries": "Antal poster",
    "ok": "Kedjan hel",
    "checked": "Kontrollerade poster",
    "first_broken": "Första brutna post",
    "anchors_ok": "Tidsstämplarna håller",
    "anchors_checked": "Kontrollerade tidsstämplar",
    "person": "Person (nyckelad kontrollsumma)",
    # the auditor's own search (gateway.auditlog.service.Filters.audit_detail)
    "anvandare": "Sökt användare",
    "enhet": "Sökt enhet",
    "handelse": "Sökt händelse",
    "fran": "Från och med",
    "till": "Till och med",
}

# Purposes written as codes; purposes written in Swedish are shown as they are.
PURPOSE_LABELS = {"sdk.getMessage": "hämta meddelande (verksamhetssystem)"}

VALUE_LABELS = {
    "incoming": "inkommande",
    "outgoing": "utgående",
    "password": "lösenord",
    "totp": "engångskod",
    "certificate": "certifikat",
    "bad_password": "fel lösenord",
    "unknown_user": "okänd användare",
    "bad_code": "fel engångskod",
    "throttled": "för många försök",
    "inactive": "avstängt konto",
    "not_party": "inte part i ärendet",
    "other_side": "andra partens åtgärd",
    "retention": "gallring",
    "print": "utskrift",
    "csv": "CSV-fil",
    True: "ja",
    False: "nej",
}


SYSTEM_ACTORS = {
    "gateway": "Gatewayen (mottagning)",
    "worker": "Gatewayen (bakgrundsjobb)",
    "retention": "Gatewayen (gallring)",
}


REASONS = {reason.value: label for reason, label in REASON_LABELS.items()}


def action_label(action: str) -> str:
    """Return the action in Swedish words: its own label, else its family's."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    return FAMILY_LABELS.get(action.partition(".")[0], OTHER_ACTION)


def object_label(object_type: str) -> str:
    return OBJECT_LABELS.get(object_type, "Annat objekt") if object_type else ""


def outcome_label(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, "Annat utfall")


def actor_label(actor: str, names: dict[str, str]) -> str:
    """Return who acted in words: a user's name and username (`names` maps usernames to display
    names), an API client, a peer gateway, a command, or the gateway itself."""
    kind, _, rest = actor.partition(":")
    if kind == "user":
        name = names.get(rest)
        return f"{name} ({rest})" if name else f"Användare {rest}"
    if kind == "client":
        return f"API-klient {rest}"
    if kind == "peer":
        return f"Annan gateway ({rest})"
    if kind == "cli":
        return f"Kommando på servern ({rest})"
    if kind == "anonymous":
        return f"Inte inloggad ({rest})"
    if kind == "smtp":
        return f"E-postmottagningen ({rest})"
    if kind == "system":
        return SYSTEM_ACTORS.get(rest, "Gatewayen (automatiskt)")
    return f"Annan aktör ({actor})"


def purpose_label(purpose: str) -> str:
    return PURPOSE_LABELS.get(purpose, purpose)


def detail_rows(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the entry's detail as (label, value) in words, in a stable order."""
    rows = []
    for key in sorted(detail, key=lambda k: (k not in ("purpose", "channel"), k)):
        rows.append((DETAIL_LABELS.get(key, key), _value_text(key, detail[key])))
    return rows


def _value_text(key: str, value: Any) -> str:
    if key == "channel" and isinstance(value, str):
        return channel_label(value)
    if key == "purpose" and isinstance(value, str):
        return purpose_label(value)
    if key == "handelse" and isinstance(value, str):
        return action_label(value)
    if key == "reason" and isinstance(value, str) and value in REASONS:
        return REASONS[value]
    if key == "fields" and isinstance(value, str):
        return FIELD_LABELS.get(value, value)
    if key == "role" and isinstance(value, str):
        return ROLE_LABELS.get(value, value)  # type: ignore[call-overload]
    if isinstance(value, list):
        return ", ".join(_value_text(key, item) for item in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{DETAIL_LABELS.get(k, k)}: {_value_text(k, v)}"
                         for k, v in sorted(value.items())) or "–"
    if value is None:
        return "–"
    if isinstance(value, bool | str):
        return str(VALUE_LABELS.get(value, value))
    return str(value)
