"""The SDK message API's JSON (DIGG's sdk-api-restful.yml, B1.4.2) and the message: a
createMessage body to a valid message, every problem named with its JSON path; a message to its
JSON:API attributes.

    created = read_create_message(body, now=now)    # MessageError: issues' path is the JSON path
    created.message, created.xml                    # the model and its canonical XML
    attributes = message_attributes(message)        # for getMessage (status and events apart)

The body is mapped onto the XML first and the XML is then checked by the same rules as any
received message (forms.sdk.message_rules), so a JSON client meets DIGG's codes (MessageId,
subOrgRoot, …) at the JSON path of the field. What the JSON gives is kept: a missing
creationDateTime, messageId or conversationId is set (B1.4.2: "ska då sättas av API producent"),
and `defaulted` says which; nothing given is replaced, and a member the message cannot carry is
refused (JSON_UNKNOWN) rather than dropped. The JSON has no place for the organisations' names
(recipient/label, sender/label): `message_attributes` leaves them out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from forms.errors import FormIssue
from forms.sdk.message import (
    Attention,
    Identifier,
    Message,
    TreeBuilder,
    base64_text,
    build_message,
    message_from_tree,
    timestamp_text,
)
from forms.sdk.message_rules import (
    FUNCTIONAL_ADDRESS_ROOT,
    NS,
    ORGANISATION_ROOT,
    Finding,
    MessageError,
    MessageReport,
    make_report,
    rule_issue,
    tree_findings,
)

ATTRIBUTES = "data.attributes"
# Where a required value is missing or of the wrong type, the XML gets a value that breaks no
# rule, so that the one problem is named once (at its JSON path) and not again by the XSD.
_STAND_IN = {
    "organisation": "0203:saknas.invalid",
    "text": "saknas",
    "base64": "c2FrbmFz",
}
_STAND_IN_IDENTIFIER = {"root": "saknas", "extension": "saknas"}
_TOP = frozenset({"data", "meta", "links", "jsonapi"})
_DATA = frozenset({"type", "id", "attributes"})
_ATTRS = frozenset({
    "creationDateTime", "messageId", "conversationId", "refToMessageId", "confidentiality",
    "generatingSystem", "recipientAttention", "senderAttention", "sender", "recipient", "label",
    "digitalDocument",
})
_READ_ONLY = ("messageStatus", "events")
_IDENTIFIER = frozenset({"root", "extension"})
_ATTENTION = frozenset({"subOrganization", "attentionPerson", "referenceId"})
_SUB_ORGANIZATION = frozenset({"root", "extension", "label"})
_LABELLED = frozenset({"root", "extension", "label"})
_DOCUMENT = frozenset({"documentId", "documentName", "index", "contentTextBody", "contentFiles"})
_FILE = frozenset({"fileName", "contentType", "content"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class CreateMessage:
    """A createMessage body read: the message, its canonical XML, the resource id the client
    chose (data.id) and the header fields the service set because the body left them out."""

    message: Message
    xml: bytes
    resource_id: str | None
    defaulted: frozenset[str]


def _new_id() -> str:
    return str(uuid.uuid4())


def read_create_message(
    body: Any,
    *,
    now: dt.datetime,
    new_id: Callable[[], str] = _new_id,
    conversation_id: str | None = None,
) -> CreateMessage:
    """Return the message of a createMessage body; raise MessageError naming every problem
    with its JSON path (e.g. data.attributes.digitalDocument[0].contentFiles[1].content).

    A missing creationDateTime becomes `now`, a missing messageId `new_id()`, a missing
    conversationId `conversation_id` (the answered message's, which the caller knows) or else
    the messageId.
    """
    reader = _Reader()
    if not isinstance(body, dict):
        reader.problem("JSON_TYPE", "body", "Kroppen ska vara ett JSON-objekt med data.")
        raise MessageError(make_report(reader.issues))
    data = reader.object(reader.member(body, "", "data", _TOP), "data")
    given = data.get("attributes")
    attributes = reader.object(  # not said again where data itself is missing or wrong
        reader.member(data, "data", "attributes", _DATA), ATTRIBUTES,
        required=isinstance(body.get("data"), dict),
    )
    resource_id = reader.resource_id(data)
    if not isinstance(given, dict):  # nothing to read: what is wrong is said above
        raise MessageError(make_report(reader.issues))
    root = etree.Element(f"{{{NS}}}messagePayload")
    defaulted = reader.payload(root, attributes, now, new_id, conversation_id)
    found = reader.issues + reader.tree.findings + tree_findings(root)
    if found:
        raise MessageError(_at_json_paths(make_report(found)))
    message = message_from_tree(root)
    try:
        xml = build_message(message)
    except MessageError as exc:  # the size limit: the JSON was readable but too large
        raise MessageError(_at_json_paths(exc.report)) from None
    return CreateMessage(message, xml, resource_id, defaulted)


class _Reader:
    """Walks a createMessage body, writing the XML tree and noting JSON problems."""

    def __init__(self) -> None:
        self.issues: list[Finding] = []
        self.tree = TreeBuilder()

    def problem(self, code: str, path: str, detail: str) -> None:
        self.issues.append(rule_issue(code, detail, path=path))

    def member(self, parent: Any, path: str, key: str, allowed: frozenset[str]) -> Any:
        """Return parent[key] after refusing members outside `allowed` (None if absent)."""
        if not isinstance(parent, dict):
            return None
        self.unknown(parent, path, allowed)
        return parent.get(key)

    def unknown(self, value: dict[str, Any], path: str, allowed: frozenset[str]) -> None:
        for key in value:
            if key not in allowed and not (path == ATTRIBUTES and key in _READ_ONLY):
                where = _join(path, key)
                self.problem("JSON_UNKNOWN", where, f"{where} finns inte i SDK-meddelandet.")

    def object(self, value: Any, path: str, *, required: bool = True) -> dict[str, Any]:
        """Return `value` if it is an object; note the problem and return {} if not."""
        if isinstance(value, dict):
            return value
        if value is not None:
            self.problem("JSON_TYPE", path, f"{path} ska vara ett objekt.")
        elif required:
            self.problem("JSON_REQUIRED", path, f"{path} saknas.")
        return {}

    def array(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem("JSON_TYPE", path, f"{path} ska vara en lista.")
            return []
        return value

    def string(
        self, parent: dict[str, Any], key: str, path: str, *, required: bool = False
    ) -> str | None:
        """Return the string parent[key], or None when it is absent (noted if `required`) or
        not a string (noted)."""
        value = parent.get(key)
        where = _join(path, key)
        if isinstance(value, str):
            return value
        if value is not None:
            self.problem("JSON_TYPE", where, f"{where} ska vara en text.")
        elif required:
            self.problem("JSON_REQUIRED", where, f"{where} saknas.")
        return None

    def resource_id(self, data: Any) -> str | None:
        if not isinstance(data, dict):
            return None
        kind = data.get("type")
        if kind is not None and kind != "messages":
            self.problem("JSON_TYPE", "data.type", 'data.type ska vara "messages".')
        value = self.string(data, "id", "data")
        if value is not None and not _UUID.fullmatch(value):
            self.problem("JSON_TYPE", "data.id", "data.id ska vara ett UUID (B1.4.2).")
            return None
        return value

    def payload(
        self,
        root: etree._Element,
        attrs: dict[str, Any],
        now: dt.datetime,
        new_id: Callable[[], str],
        conversation_id: str | None,
    ) -> frozenset[str]:
        """Write the message of `attrs` under `root`; return the header fields defaulted."""
        self.unknown(attrs, ATTRIBUTES, _ATTRS)
        for key in _READ_ONLY:
            if key in attrs:
                self.problem("JSON_READ_ONLY", _join(ATTRIBUTES, key),
                             f"{key} sätts av meddelandetjänsten.")
        tree = self.tree
        message = tree.element(root, "message")
        header = tree.element(message, "messageHeader")
        defaulted: set[str] = set()
        created = self.defaulted(attrs, "creationDateTime", timestamp_text(now), defaulted)
        tree.element(header, "creationDateTime", created)
        message_id = self.defaulted(attrs, "messageId", new_id(), defaulted)
        tree.element(header, "messageId", message_id)
        tree.element(header, "conversationId", self.defaulted(
            attrs, "conversationId", conversation_id or message_id, defaulted))
        tree.optional(header, "refToMessageId", self.string(attrs, "refToMessageId", ATTRIBUTES))
        tree.optional(header, "label", self.string(attrs, "label", ATTRIBUTES, required=True))
        tree.element(header, "confidentiality", self.confidentiality(attrs))
        system = attrs.get("generatingSystem")
        if system is not None:
            where = f"{ATTRIBUTES}.generatingSystem"
            found = self.object(system, where)
            self.unknown(found, where, _IDENTIFIER)
            self.identifier(header, "generatingSystem", found, where)
        for side in ("recipient", "sender"):
            self.party(header, attrs, side)
        self.body(tree.element(message, "messageBody"), attrs.get("digitalDocument"))
        return frozenset(defaulted)

    def defaulted(self, attrs: dict[str, Any], key: str, default: str, noted: set[str]) -> str:
        """Return attrs[key], or `default` (noted) when the body leaves it out."""
        if attrs.get(key) is None:
            noted.add(key)
            return default
        value = self.string(attrs, key, ATTRIBUTES)
        return value if value is not None else default

    def confidentiality(self, attrs: dict[str, Any]) -> str:
        value = attrs.get("confidentiality")
        where = f"{ATTRIBUTES}.confidentiality"
        if isinstance(value, bool):
            return "true" if value else "false"
        code = "JSON_REQUIRED" if value is None else "JSON_TYPE"
        self.problem(code, where, f"{where} ska vara true eller false.")
        return "true"

    def identifier(
        self, parent: etree._Element, name: str, found: dict[str, Any], path: str,
        default_root: str | None = None,
    ) -> None:
        """Write IIType `name` from found["root"] (`default_root` where absent) and
        found["extension"]; each missing value is noted once and stood in for."""
        element = self.tree.element(parent, name)
        root = self.string(found, "root", path, required=default_root is None)
        self.tree.element(element, "root", _given(root, default_root or _STAND_IN["text"]))
        extension = self.string(found, "extension", path, required=True)
        self.tree.element(element, "extension", _given(extension, _STAND_IN["text"]))

    def party(self, header: etree._Element, attrs: dict[str, Any], side: str) -> None:
        tree = self.tree
        party = tree.element(header, side)
        organisation = tree.element(party, f"{side}ID")
        tree.element(organisation, "root", ORGANISATION_ROOT)
        extension = self.string(attrs, side, ATTRIBUTES, required=True)
        tree.element(organisation, "extension", _given(extension, _STAND_IN["organisation"]))
        key = f"{side}Attention"
        if attrs.get(key) is None and side == "sender":
            return  # DIGG's XSD: sender/attention is optional, recipient/attention is not
        self.attention(tree.element(party, "attention"), attrs.get(key), _join(ATTRIBUTES, key))

    def attention(self, element: etree._Element, value: Any, path: str) -> None:
        found = self.object(value, path)
        self.unknown(found, path, _ATTENTION)
        tree = self.tree
        persons = self.array(found.get("attentionPerson"), f"{path}.attentionPerson")
        for i, person in enumerate(persons):
            where = f"{path}.attentionPerson[{i}]"
            item = self.object(person, where)
            self.unknown(item, where, _LABELLED)
            person_el = tree.element(element, "person")
            if not isinstance(person, dict):  # named above
                tree.element(person_el, "label", _STAND_IN["text"])
                continue
            if "root" in item or "extension" in item:
                self.identifier(person_el, "personId", item, where)
            tree.optional(person_el, "label", self.string(item, "label", where))
        where = f"{path}.subOrganization"
        sub = self.object(found.get("subOrganization"), where, required=isinstance(value, dict))
        self.unknown(sub, where, _SUB_ORGANIZATION)
        sub_el = tree.element(element, "subOrganization")
        if isinstance(found.get("subOrganization"), dict):
            self.identifier(sub_el, "organizationId", sub, where, FUNCTIONAL_ADDRESS_ROOT)
        else:  # named above: missing or not an object
            organization = tree.element(sub_el, "organizationId")
            tree.element(organization, "root", FUNCTIONAL_ADDRESS_ROOT)
            tree.element(organization, "extension", _STAND_IN["text"])
        tree.optional(sub_el, "label", self.string(sub, "label", where))
        references = self.array(found.get("referenceId"), f"{path}.referenceId")
        for i, reference in enumerate(references):
            where = f"{path}.referenceId[{i}]"
            item = self.object(reference, where)
            self.unknown(item, where, _LABELLED)
            reference_el = tree.element(element, "reference")
            if isinstance(reference, dict):
                self.identifier(reference_el, "referenceId", item, where)
            else:
                self.identifier(reference_el, "referenceId", _STAND_IN_IDENTIFIER, where)
            tree.optional(reference_el, "label", self.string(item, "label", where))

    def body(self, element: etree._Element, value: Any) -> None:
        path = f"{ATTRIBUTES}.digitalDocument"
        documents = self.array(value, path)
        if not documents and (value is None or isinstance(value, list)):
            self.problem("JSON_REQUIRED", path, f"{path} ska ha minst ett dokument.")
        for i, document in enumerate(documents or [None]):
            self.document(self.tree.element(element, "documents"), document, f"{path}[{i}]")

    def document(self, element: etree._Element, document: Any, path: str) -> None:
        """Write one document; one that is missing or not an object (noted once) gets
        stand-ins only."""
        given = isinstance(document, dict)
        found = self.object(document, path, required=False)
        self.unknown(found, path, _DOCUMENT)
        tree = self.tree
        document_id = self.string(found, "documentId", path, required=given)
        tree.element(element, "documentID", _given(document_id, _STAND_IN["text"]))
        tree.optional(element, "documentName", self.string(found, "documentName", path))
        tree.optional(element, "index", self.string(found, "index", path))
        for j, file in enumerate(self.array(found.get("contentFiles"), f"{path}.contentFiles")):
            where = f"{path}.contentFiles[{j}]"
            item = self.object(file, where)
            self.unknown(item, where, _FILE)
            file_el = tree.element(element, "ContentFiles")
            for key, stand_in in (("fileName", "text"), ("contentType", "text"),
                                  ("content", "base64")):
                value = self.string(item, key, where, required=isinstance(file, dict))
                tree.element(file_el, key, _given(value, _STAND_IN[stand_in]))
        texts = self.array(found.get("contentTextBody"), f"{path}.contentTextBody")
        for j, text in enumerate(texts):
            where = f"{path}.contentTextBody[{j}]"
            if not isinstance(text, str):
                self.problem("JSON_TYPE", where, f"{where} ska vara en text.")
                text = _STAND_IN["text"]
            tree.element(tree.element(element, "ContentText"), "characterSequence", text)
        if not given:
            tree.element(tree.element(element, "ContentText"), "characterSequence",
                         _STAND_IN["text"])


def _given(value: str | None, stand_in: str) -> str:
    """Return the value the body gave (even "", which the rules then name), else the stand-in."""
    return stand_in if value is None else value


def _join(path: str, key: str) -> str:
    """Return the JSON path of member `key` under `path`: data.attributes.label, or with
    brackets for a key that is not a plain name: data["a.b"]."""
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


# --- XML paths to JSON paths ----------------------------------------------------------------

_STEP = re.compile(r"([^\[/]+)(?:\[(\d+)\])?")
_HEADER_FIELDS = frozenset({
    "creationDateTime", "messageId", "conversationId", "refToMessageId", "label",
    "confidentiality",
})


def _at_json_paths(report: MessageReport) -> MessageReport:
    """Return the report with each element path turned into the JSON path of the same value
    (the JSON problems have theirs already)."""
    return dataclasses.replace(report, issues=tuple(
        FormIssue(i.code, i.title, i.detail, None, json_path(i.path))
        if i.path.startswith("/") else i
        for i in report.issues
    ))


def json_path(xml_path: str) -> str:
    """Return the JSON path (createMessage body) of an element path in the messagePayload,
    e.g. /messagePayload/message/messageBody/documents[2]/ContentFiles/content →
    data.attributes.digitalDocument[1].contentFiles[0].content; a place the JSON does not have
    (an organisation's label) maps to the nearest one it has."""
    steps = [(m.group(1), int(m.group(2) or 1) - 1) for m in _STEP.finditer(xml_path)]
    names = [name for name, _ in steps]
    if names[:2] != ["messagePayload", "message"] or len(steps) < 4:
        return ATTRIBUTES if names[:2] == ["messagePayload", "message"] else "data"
    part, rest = names[2], steps[3:]
    if part == "messageHeader":
        return _header_path(rest)
    return _body_path(rest)


def _header_path(steps: list[tuple[str, int]]) -> str:
    name = steps[0][0]
    if name in _HEADER_FIELDS:
        return f"{ATTRIBUTES}.{name}"
    if name == "generatingSystem":
        return f"{ATTRIBUTES}.generatingSystem" + (f".{steps[1][0]}" if len(steps) > 1 else "")
    if name in ("recipient", "sender"):
        if len(steps) > 1 and steps[1][0] == "attention":
            return _attention_path(f"{ATTRIBUTES}.{name}Attention", steps[2:])
        return f"{ATTRIBUTES}.{name}"
    return ATTRIBUTES


def _attention_path(base: str, steps: list[tuple[str, int]]) -> str:
    if not steps:
        return base
    name, index = steps[0]
    leaf = steps[-1][0] if len(steps) > 1 else ""
    member = f".{leaf}" if leaf in ("root", "extension", "label") else ""
    if name == "person":
        return f"{base}.attentionPerson[{index}]{member}"
    if name == "reference":
        return f"{base}.referenceId[{index}]{member}"
    if name == "subOrganization":
        return f"{base}.subOrganization{member}"
    return base


def _body_path(steps: list[tuple[str, int]]) -> str:
    base = f"{ATTRIBUTES}.digitalDocument"
    if not steps or steps[0][0] != "documents":
        return base
    document = f"{base}[{steps[0][1]}]"
    if len(steps) == 1:
        return document
    name, index = steps[1]
    names = {"documentID": "documentId", "documentName": "documentName", "index": "index"}
    if name in names:
        return f"{document}.{names[name]}"
    if name == "ContentFiles":
        member = f".{steps[2][0]}" if len(steps) > 2 else ""
        return f"{document}.contentFiles[{index}]{member}"
    if name == "ContentText":
        return f"{document}.contentTextBody[{index}]"
    return document


# --- the message as JSON --------------------------------------------------------------------


def message_attributes(
    message: Message, *, documents: bool = True, texts: bool = True, files: bool = True
) -> dict[str, Any]:
    """Return the message's attributes as DIGG's messageAttributesDef has them, without
    messageStatus and events (the service's); digitalDocument only when `documents`, and in it
    the texts and files only when asked (getMessageById's filters)."""
    header = message.header
    attrs: dict[str, Any] = {
        "creationDateTime": timestamp_text(header.creation_date_time),
        "messageId": header.message_id,
        "conversationId": header.conversation_id,
    }
    if header.ref_to_message_id is not None:
        attrs["refToMessageId"] = header.ref_to_message_id
    attrs["confidentiality"] = header.confidentiality
    if header.generating_system is not None:
        attrs["generatingSystem"] = _identifier_json(header.generating_system)
    attrs["recipientAttention"] = _attention_json(header.recipient.attention)
    if header.sender.attention is not None:
        attrs["senderAttention"] = _attention_json(header.sender.attention)
    attrs["sender"] = header.sender.sender_id.extension
    attrs["recipient"] = header.recipient.recipient_id.extension
    if header.label is not None:
        attrs["label"] = header.label
    if documents:
        attrs["digitalDocument"] = [
            _document_json(d, texts=texts, files=files) for d in message.documents
        ]
    return attrs


def _identifier_json(value: Identifier, label: str | None = None) -> dict[str, str]:
    found = {"root": value.root, "extension": value.extension}
    if label is not None:
        found["label"] = label
    return found


def _attention_json(attention: Attention) -> dict[str, Any]:
    sub = attention.sub_organization
    found: dict[str, Any] = {"subOrganization": _identifier_json(sub.organization_id, sub.label)}
    if attention.person:
        found["attentionPerson"] = [
            _identifier_json(p.person_id, p.label) if p.person_id is not None
            else ({"label": p.label} if p.label is not None else {})
            for p in attention.person
        ]
    if attention.reference:
        found["referenceId"] = [
            _identifier_json(r.reference_id, r.label) for r in attention.reference
        ]
    return found


def _document_json(document: Any, *, texts: bool, files: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"documentId": document.document_id}
    if document.document_name is not None:
        found["documentName"] = document.document_name
    if document.index is not None:
        found["index"] = document.index
    if texts and document.content_texts:
        found["contentTextBody"] = list(document.content_texts)
    if files and document.content_files:
        found["contentFiles"] = [
            {"fileName": f.file_name, "contentType": f.content_type,
             "content": base64_text(f.content)}
            for f in document.content_files
        ]
    return found
