"""The directory's record fields (service.*_record) by their Swedish names, as its forms name
them: the one place the change history and the audit log take them from."""

from __future__ import annotations

FIELD_LABELS = {
    "id": "Organisations-id", "name": "Namn", "endpoint": "Gatewayens adress",
    "signing_certificate": "Signeringscertifikat",
    "encryption_certificate": "Krypteringscertifikat", "address": "Funktionsadress",
    "label": "Beskrivning", "hsa_id": "HSA-id", "organisation": "Organisation",
    "connected": "Ansluten", "functional_address": "Funktionsadress",
    "manager_email": "Chefens e-post", "contact": "Kontaktuppgift", "email": "E-post",
    "phone": "Telefon", "certificate_fingerprints": "Certifikatens fingeravtryck",
    "kind": "Slag", "coordinator": "Rehabkoordinator", "care_unit": "Vårdcentral",
    "role": "Roll", "valid_from": "Från och med", "valid_to": "Till och med",
    "starts_on": "Första dag", "ends_on": "Sista dag", "note": "Anteckning",
}
