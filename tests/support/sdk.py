"""Test helpers for the SDK message API: a createMessage body (JSON:API) around a form's XML."""

from __future__ import annotations

import base64
from typing import Any

from lxml import etree

from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, NS, SKANE

MESSAGES = "/v1/sdk/messages"
FA_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"


def form_id(xml: bytes) -> str:
    """Return the `id` of a form's XML (of any form type: the id is in the root's namespace)."""
    root = etree.fromstring(xml)
    found = root.find(f"{{{etree.QName(root).namespace or NS}}}id")
    assert found is not None and found.text
    return found.text


def attention(address: str) -> dict[str, Any]:
    return {"subOrganization": {"root": FA_ROOT, "extension": address}}


def message_body(xml: bytes, **attributes: Any) -> dict[str, Any]:
    """Return a sendMessage body carrying `xml`; `attributes` override (None removes) fields."""
    attrs: dict[str, Any] = {
        "messageId": form_id(xml),
        "confidentiality": True,
        "label": "Hälsoförfrågan",
        "sender": MALMO,
        "recipient": SKANE,
        "senderAttention": attention(EBB_OSTER),
        "recipientAttention": attention(KRYDDGARDEN_ADDRESS),
        "digitalDocument": [{
            "documentId": "1",
            "documentName": "Hälsoförfrågan",
            "contentFiles": [{
                "fileName": "halsoforfragan.xml",
                "contentType": "application/xml",
                "content": base64.b64encode(xml).decode("ascii"),
            }],
        }],
    }
    for key, value in attributes.items():
        if value is None:
            attrs.pop(key, None)
        else:
            attrs[key] = value
    return {"data": {"type": "messages", "attributes": attrs}}


ANSWER_LABEL = "Svar på hälsoförfrågan"


def pdf_file(pdf: bytes, content_type: str = "application/pdf") -> dict[str, Any]:
    return {"fileName": "svar.pdf", "contentType": content_type,
            "content": base64.b64encode(pdf).decode("ascii")}


def answer_body(inquiry_id: str, pdf: bytes, message_id: str | None = None,
                **attributes: Any) -> dict[str, Any]:
    """Return a sendMessage body answering `inquiry_id` with `pdf`, from Kryddgården's address
    to EBB Öster's; `attributes` override (None removes) fields."""
    attrs: dict[str, Any] = {
        "messageId": message_id,
        "refToMessageId": inquiry_id,
        "confidentiality": True,
        "label": ANSWER_LABEL,
        "sender": SKANE,
        "recipient": MALMO,
        "senderAttention": attention(KRYDDGARDEN_ADDRESS),
        "recipientAttention": attention(EBB_OSTER),
        "digitalDocument": [{"documentId": "svar", "documentName": ANSWER_LABEL,
                             "contentFiles": [pdf_file(pdf)]}],
    }
    attrs.update(attributes)
    return {"data": {"type": "messages",
                     "attributes": {k: v for k, v in attrs.items() if v is not None}}}


# --- DIGG's XML messages as createMessage bodies, read leniently (faults kept as text) -------

_MNS = {"m": "urn:riv:infrastructure:messaging:MessageWithAttachments:3"}


def _text(element: Any, path: str) -> str | None:
    found = element.find(path, _MNS)
    return None if found is None else (found.text or "")


def _identifier(element: Any, path: str) -> dict[str, Any] | None:
    found = element.find(path, _MNS)
    if found is None:
        return None
    value = {"root": _text(found, "m:root"), "extension": _text(found, "m:extension")}
    return {k: v for k, v in value.items() if v is not None}


def _attention_json(element: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    persons = []
    for person in element.findall("m:person", _MNS):
        item = _identifier(person, "m:personId") or {}
        if _text(person, "m:label") is not None:
            item["label"] = _text(person, "m:label")
        persons.append(item)
    if persons:
        found["attentionPerson"] = persons
    sub = element.find("m:subOrganization", _MNS)
    if sub is not None:
        found["subOrganization"] = _identifier(sub, "m:organizationId") or {}
        if _text(sub, "m:label") is not None:
            found["subOrganization"]["label"] = _text(sub, "m:label")
    return found


def xml_message_body(data: bytes) -> dict[str, Any]:
    """Return a DIGG message XML as a createMessage body, each value as the XML has it (a bad
    date stays a bad date), so that the API can be asked about the same faults."""
    root = etree.fromstring(data)
    header = root.find("m:message/m:messageHeader", _MNS)
    attrs: dict[str, Any] = {}
    for name in ("creationDateTime", "messageId", "conversationId", "refToMessageId", "label"):
        value = _text(header, f"m:{name}")
        if value is not None:
            attrs[name] = value
    attrs["confidentiality"] = _text(header, "m:confidentiality") == "true"
    system = _identifier(header, "m:generatingSystem")
    if system is not None:
        attrs["generatingSystem"] = system
    for side in ("recipient", "sender"):
        attrs[side] = _text(header, f"m:{side}/m:{side}ID/m:extension")
        attention = header.find(f"m:{side}/m:attention", _MNS)
        if attention is not None:
            attrs[f"{side}Attention"] = _attention_json(attention)
    documents = []
    for document in root.findall("m:message/m:messageBody/m:documents", _MNS):
        item: dict[str, Any] = {"documentId": _text(document, "m:documentID")}
        for name, key in (("documentName", "documentName"), ("index", "index")):
            if _text(document, f"m:{name}") is not None:
                item[key] = _text(document, f"m:{name}")
        files = [{"fileName": _text(f, "m:fileName"), "contentType": _text(f, "m:contentType"),
                  "content": "".join((_text(f, "m:content") or "").split())}
                 for f in document.findall("m:ContentFiles", _MNS)]
        if files:
            item["contentFiles"] = files
        texts = [_text(t, "m:characterSequence") or ""
                 for t in document.findall("m:ContentText", _MNS)]
        if texts:
            item["contentTextBody"] = texts
        documents.append(item)
    attrs["digitalDocument"] = documents
    return {"data": {"type": "messages", "attributes": attrs}}
