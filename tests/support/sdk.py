"""Test helpers for the SDK message API: a createMessage body (JSON:API) around a form's XML."""

from __future__ import annotations

import base64
from typing import Any

from lxml import etree

from tests.support.forms import EBB_OSTER, KRYDDGARDEN_ADDRESS, MALMO, NS, SKANE

MESSAGES = "/v1/sdk/messages"
FA_ROOT = "urn:riv:infrastructure:messaging:functionalAddress"


def form_id(xml: bytes) -> str:
    """Return the `id` of a hälsoförfrågan XML."""
    root = etree.fromstring(xml)
    found = root.find(f"{{{NS}}}id")
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
