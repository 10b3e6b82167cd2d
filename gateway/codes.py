"""Every code the gateway refuses with, and its Swedish title, defined once; `GatewayError.at`
takes the title from here. A code may have more than one entry where its title says more
about the case (FILTER_INVALID: an unknown status, a time not in UTC, …)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """A refusal: the machine code clients see and its Swedish title."""

    code: str
    title: str


# --- auth ----------------------------------------------------------------------------------------
ADDRESS_NOT_FOUND = Code("ADDRESS_NOT_FOUND", "Funktionsadressen finns inte")
ADDRESS_OF_OTHER_ORGANISATION = Code(
    "ADDRESS_OF_OTHER_ORGANISATION", "Funktionsadressen tillhör en annan organisation"
)
ADDRESS_REQUIRED = Code("ADDRESS_REQUIRED", "Funktionsadress saknas")
BAD_CONTACT = Code("BAD_CONTACT", "Telefonnumret eller e-postadressen är inte giltig")
BAD_DISPLAY_NAME = Code("BAD_DISPLAY_NAME", "Namnet får inte innehålla styrtecken")
BAD_HSA_ID = Code("BAD_HSA_ID", "Ogiltigt HSA-id")
BAD_ROLE = Code("BAD_ROLE", "Okänd roll")
BAD_USERNAME = Code("BAD_USERNAME", "Ogiltigt användarnamn")
CLIENT_NOT_FOUND = Code("CLIENT_NOT_FOUND", "Klienten finns inte")
CSRF = Code("CSRF", "Formuläret kunde inte skickas")
HSA_ID_REQUIRED = Code("HSA_ID_REQUIRED", "En rehabkoordinator måste ha ett HSA-id")
INSUFFICIENT_SCOPE = Code("INSUFFICIENT_SCOPE", "Behörighet saknas")
INVALID_FUNCTIONAL_ADDRESS = Code("INVALID_FUNCTIONAL_ADDRESS", "Ogiltig funktionsadress")
INVALID_ORGANISATION_ID = Code("INVALID_ORGANISATION_ID", "Ogiltigt organisations-id")
INVALID_SCOPE = Code("INVALID_SCOPE", "Okänd behörighet (scope)")
REROUTE_NOT_IN_CONSENT = Code("C4", "Samtycket gäller inte den vårdcentralen")
WITHDRAWAL_NOT_CONFIRMED = Code("WITHDRAWAL_NOT_CONFIRMED", "Återkallelsen är inte bekräftad")
INVALID_JWKS = Code("INVALID_JWKS", "Ogiltig JWKS (klientens publika nycklar)")
ORGANISATION_NOT_FOUND = Code("ORGANISATION_NOT_FOUND", "Organisationen finns inte")
PASSWORD_MISSING = Code("PASSWORD_MISSING", "Inget lösenord på standard in")
PASSWORD_TOO_LONG = Code("PASSWORD_TOO_LONG", "Lösenordet är för långt")
PASSWORD_TOO_SHORT = Code("PASSWORD_TOO_SHORT", "Lösenordet är för kort")
TOKEN_EXPIRED = Code("TOKEN_EXPIRED", "Åtkomsttoken har gått ut")
TOKEN_INVALID = Code("TOKEN_INVALID", "Ogiltig åtkomsttoken")
TOKEN_MALFORMED = Code("TOKEN_MALFORMED", "Felaktig åtkomsttoken")
TOKEN_MISSING = Code("TOKEN_MISSING", "Åtkomsttoken saknas")
TOKEN_REVOKED = Code("TOKEN_REVOKED", "Åtkomsttoken är spärrad")
UNIT_NOT_ALLOWED = Code("UNIT_NOT_ALLOWED", "Bara handläggare hör till en avsändande enhet")
UNIT_REQUIRED = Code("UNIT_REQUIRED", "En handläggare måste höra till en enhet")
UNKNOWN_COORDINATOR = Code(
    "UNKNOWN_COORDINATOR", "Ingen rehabkoordinator med det HSA-id:t finns i katalogen"
)
UNKNOWN_UNIT = Code("UNKNOWN_UNIT", "Enheten finns inte i katalogen")
UNKNOWN_USER = Code("UNKNOWN_USER", "Användaren finns inte")
USER_EXISTS = Code("USER_EXISTS", "Användarnamnet är upptaget")

# --- directory -----------------------------------------------------------------------------------
CARE_UNIT_NOT_CONNECTED = Code("CARE_UNIT_NOT_CONNECTED", "Vårdcentralen är inte ansluten")
DIRECTORY_CONFLICT = Code("DIRECTORY_CONFLICT", "Katalogen ändrades under importen")
DIRECTORY_ENTRIES_IN_USE = Code(
    "DIRECTORY_ENTRY_IN_USE", "Katalogposter används och kan inte tas bort"
)
DIRECTORY_ENTRY_IN_USE = Code("DIRECTORY_ENTRY_IN_USE", "Posten används och kan inte tas bort")
DIRECTORY_ENTRY_EXISTS = Code("DIRECTORY_ENTRY_EXISTS", "Posten finns redan i katalogen")
DIRECTORY_ENTRY_NOT_FOUND = Code("NOT_FOUND", "Posten finns inte i katalogen")
INVALID_DATE = Code("INVALID_DATE", "Ogiltigt datum")
INVALID_DIRECTORY = Code("INVALID_DIRECTORY", "Katalogfilen innehåller fel")
INVALID_HSA_ID = Code("INVALID_HSA_ID", "Ogiltigt HSA-id")
MISSING_PARAMETER = Code("MISSING_PARAMETER", "Parameter saknas")
REPEATED_PARAMETER = Code("REPEATED_PARAMETER", "Parametern anges flera gånger")
UNKNOWN_CARE_UNIT = Code("UNKNOWN_CARE_UNIT", "Vårdcentralen finns inte i katalogen")
UNKNOWN_PARAMETER = Code("UNKNOWN_PARAMETER", "Okänd parameter")

# --- errors --------------------------------------------------------------------------------------
FORBIDDEN = Code("FORBIDDEN", "Behörighet saknas")
UNAUTHORIZED = Code("UNAUTHORIZED", "Inloggning krävs")

# --- http ----------------------------------------------------------------------------------------
DATABASE_UNAVAILABLE = Code("DATABASE_UNAVAILABLE", "Tjänsten är tillfälligt otillgänglig")
BUSY_WITH_LARGE_BODIES = Code(
    "BUSY_WITH_LARGE_BODIES", "Tjänsten tar emot för många stora meddelanden"
)
INTERNAL = Code("INTERNAL", "Ett oväntat fel inträffade")

# --- inquiries -----------------------------------------------------------------------------------
ANSWER_INCOMPLETE = Code("ANSWER_INCOMPLETE", "Alla frågor behöver ett svar")
ANSWER_INVALID = Code("ANSWER_INVALID", "Svaret kan inte skapas")
ANSWER_REFUSED = Code("ANSWER_REFUSED", "Svaret godtas inte")
CARE_UNIT_NOT_CHOSEN = Code("CARE_UNIT_REQUIRED", "Välj vårdcentral")
CARE_UNIT_REQUIRED = Code("CARE_UNIT_REQUIRED", "Vårdcentral saknas")
CLOSE_REASON_INVALID = Code("CLOSE_REASON_INVALID", "Okänd anledning")
CLOSE_REASON_NOT_YOURS = Code("CLOSE_REASON_NOT_YOURS", "Anledningen kan inte väljas av er")
CLOSE_REASON_REQUIRED = Code("CLOSE_REASON_REQUIRED", "Välj en anledning")
CLOSE_TEXT_INVALID = Code("CLOSE_TEXT_INVALID", "Texten ska vara text")
CLOSE_TEXT_REQUIRED = Code("CLOSE_TEXT_REQUIRED", "Ange anledningen")
CLOSE_TEXT_TOO_LONG = Code("CLOSE_TEXT_INVALID", "För lång text")
CONSENT_BLOCKS_ANSWER = Code(
    "CONSENT_BLOCKS_ANSWER", "Samtycket tillåter inte att svaret lämnas ut"
)
CONTENT_PURGED = Code("CONTENT_PURGED", "Innehållet är raderat")
CONTENT_UNREADABLE = Code("CONTENT_UNREADABLE", "Förfrågan kan inte visas")
ID_CONFLICT = Code("ID_CONFLICT", "Id:t används redan")
JSON_INVALID = Code("JSON_INVALID", "Ogiltig JSON")
MARK_INVALID = Code("MARK_INVALID", "Okänd REKO-status")
NOT_ANSWERED = Code("NOT_ANSWERED", "Det finns inget svar att registrera")
NOT_AWAITING_ANSWER = Code("NOT_AWAITING_ANSWER", "Förfrågan väntar inte på svar")
NOT_OPEN = Code("NOT_OPEN", "Förfrågan kan inte avslutas")
NOT_OPEN_FOR_REROUTE = Code("NOT_OPEN", "Förfrågan kan inte skickas vidare")
NOT_PARTY = Code("NOT_PARTY", "Behörighet saknas")
NO_COORDINATOR = Code("NO_COORDINATOR", "Kontot är inte kopplat till en REKO")
NO_SENDER_UNIT = Code("NO_SENDER_UNIT", "Ingen avsändande enhet")
PDF_REQUIRED = Code("PDF_REQUIRED", "Välj en PDF-fil")
PERSONNUMMER_INVALID = Code("PERSONNUMMER_INVALID", "Ogiltigt personnummer")
RECEIPT_DAMAGED = Code("RECEIPT_MISSING", "Kvittensen är skadad")
RECEIPT_KEY_MISSING = Code("RECEIPT_KEY_MISSING", "Kvittensnyckeln saknas")
RECEIPT_MISSING = Code("RECEIPT_MISSING", "Kvittensen saknas")
REGISTERED_AT_INVALID = Code("REGISTERED_AT_INVALID", "Orimlig registreringstid")
REROUTE_SAME_UNIT = Code("REROUTE_SAME_UNIT", "Samma vårdcentral")
REROUTE_NOT_SAME_INQUIRY = Code("REROUTE_NOT_SAME_INQUIRY",
                                "Den ändrade förfrågan är inte samma förfrågan")
REROUTE_PURGED = Code("NOT_OPEN", "Förfrågans innehåll är raderat")
REROUTE_AT_PEER = Code("RECIPIENT_AT_PEER", "Vårdcentralen nås bara genom en annan gateway")
SENDER_NOT_ALLOWED = Code("SENDER_NOT_ALLOWED", "Avsändaren får inte användas")
SENDER_UNIT_UNKNOWN = Code("SENDER_UNIT_UNKNOWN", "Avsändande enhet saknas i katalogen")
SIGNING_EXPIRED = Code("SIGNING_EXPIRED", "Underskriften hann inte slutföras")
SIGNING_FAILED = Code("SIGNING_FAILED", "Underskriften misslyckades")
TIME_INVALID = Code("TIME_INVALID", "Ogiltig tid")
TRUST_ROOTS_MISSING = Code("TRUST_ROOTS_MISSING", "Svar kan inte kontrolleras just nu")
UNSUPPORTED_MEDIA_TYPE = Code("UNSUPPORTED_MEDIA_TYPE", "Fel innehållstyp")
WITHDRAWN_ON_INVALID = Code("WITHDRAWN_ON_INVALID", "Ogiltigt datum")
WITHDRAWN_ON_IN_FUTURE = Code("WITHDRAWN_ON_INVALID", "Datumet ligger i framtiden")

# --- SIP (DESIGN 5.8) -----------------------------------------------------------------------------
SIP_CLOSED = Code("SIP_CLOSED", "SIP-mötet är redan hållet eller inställt")
SIP_REPLY_OTHER = Code("SIP_REPLY_OTHER", "Svaret gäller en annan kallelse")
SIP_REPLY_CONFLICT = Code("ID_CONFLICT", "Svaret finns redan med annat innehåll")
SIP_OUTCOME_INVALID = Code("SIP_OUTCOME_INVALID", "Ogiltigt utfall")
SIP_REPLY_FIELD = Code("SIP_REPLY_FIELD", "Svaret kan inte skickas")
SIP_NOT_HELD = Code("SIP_NOT_HELD", "Planen kan delas först när mötet är registrerat som hållet")
SIP_PLAN_INVALID = Code("SIP_PLAN_INVALID", "Planen är inte en PDF som kan tas emot")
SIP_OUTCOME_FIELD = Code("SIP_OUTCOME_FIELD", "Utfallet kan inte registreras")

# --- sdkapi --------------------------------------------------------------------------------------
CONVERSATION_MISMATCH = Code("CONVERSATION_MISMATCH", "Svaret hör till en annan konversation")
FILTER_EMPTY_INTERVAL = Code("FILTER_INVALID", "Tidsintervallet är tomt")
FILTER_INVALID = Code("FILTER_INVALID", "Ogiltigt värde")
FILTER_INVALID_TIME = Code("FILTER_INVALID", "Ogiltig tidpunkt")
FILTER_REPEATED = Code("FILTER_REPEATED", "Filtret anges flera gånger")
FILTER_TIME_NOT_UTC = Code("FILTER_INVALID", "Tidpunkten ska vara i UTC")
FILTER_UNKNOWN = Code("FILTER_UNKNOWN", "Okänd parameter")
FILTER_UNKNOWN_FILTER = Code("FILTER_UNKNOWN", "Okänt filter")
FILTER_UNKNOWN_STATUS = Code("FILTER_INVALID", "Okänd meddelandestatus")
JSON_INVALID_BODY = Code("JSON_INVALID", "Kroppen är inte JSON")
MESSAGE_ID_CONFLICT = Code("MESSAGE_ID_CONFLICT", "messageId används redan")
FORM_UNDER_OTHER_MESSAGE = Code(
    "MESSAGE_ID_CONFLICT", "Hälsoförfrågan har redan skickats i ett annat meddelande"
)
MESSAGE_DELETED = Code("MESSAGE_DELETED", "Meddelandet har raderats")
MESSAGE_ID_MISMATCH = Code("MESSAGE_ID_MISMATCH", "messageId och data.id skiljer sig")
MESSAGE_NOT_FINAL = Code("MESSAGE_NOT_FINAL", "Meddelandet kan inte raderas ännu")
RECIPIENT_MISMATCH = Code("RECIPIENT_MISMATCH", "Mottagaren är inte förfrågans avsändare")
RECIPIENT_NOT_CARE_UNIT = Code("RECIPIENT_MISMATCH", "Mottagaren skiljer sig från vårdcentralens")
PAGE_INVALID = Code("PAGE_INVALID", "Ogiltig sida")
REF_UNKNOWN = Code("REF_UNKNOWN", "Meddelandet som besvaras finns inte")
SDK_MESSAGE_INVALID = Code("SDK_MESSAGE_INVALID", "Meddelandet följer inte SDK:s regler")
SENDER_MISMATCH = Code("SENDER_MISMATCH", "Avsändaren skiljer sig från vårdcentralens")
SENDER_NOT_FORM_SENDER = Code("SENDER_MISMATCH", "Avsändaren skiljer sig från formulärets")
SENDER_NOT_CLIENT = Code("SENDER_MISMATCH", "Avsändaren är inte klientens funktionsadress")
RECIPIENT_UNKNOWN = Code("RECIPIENT_UNKNOWN", "Mottagarens funktionsadress finns inte här")
RECIPIENT_AT_PEER = Code("RECIPIENT_AT_PEER", "Mottagaren nås bara genom en annan gateway")

# --- stats ---------------------------------------------------------------------------------------
CONCURRENT_IMPORT = Code("CONCURRENT_IMPORT", "Another import ran at the same time")
FUTURE_DATE = Code("FUTURE_DATE", "Mätdatumet ligger i framtiden")
INVALID_HISTORY = Code("INVALID_HISTORY", "The history file cannot be imported")
INVALID_YEAR = Code("INVALID_YEAR", "Ogiltigt år")
YEAR_OUT_OF_RANGE = Code("YEAR_OUT_OF_RANGE", "Året kan inte mätas")

# --- vault ---------------------------------------------------------------------------------------
VAULT_INTEGRITY = Code("VAULT_INTEGRITY", "Krypterat innehåll kunde inte öppnas")
VAULT_KEYS = Code("VAULT_KEYS", "Krypteringsnycklarna kan inte användas")
VAULT_MALFORMED = Code("VAULT_MALFORMED", "Krypterat innehåll är skadat")
VAULT_UNKNOWN_KEY = Code("VAULT_UNKNOWN_KEY", "Krypterat innehåll kan inte öppnas")

# --- federation (the access point) ---------------------------------------------------------------
ENVELOPE_NOT_XHE = Code("ENVELOPE_NOT_XHE", "Det mottagna är inget XHE-kuvert")
ENVELOPE_TOO_LARGE = Code("ENVELOPE_TOO_LARGE", "Kuvertet är större än tillåtet")
